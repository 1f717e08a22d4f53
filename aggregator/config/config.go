package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid"
)

// Defaults for the intervals, the pusher's (one source); DESIGN.md
// explains each.
const (
	DefaultBatchInterval  = push.DefaultBatchInterval
	DefaultMaxBatch       = push.DefaultMaxBatch
	DefaultResyncInterval = push.DefaultResyncInterval
	DefaultTagTTL         = push.DefaultTagTTL
	// MinTagTTL and MaxTagTTL bound a tagTTL other than 0 (off): refreshes
	// must not flood the targets, and PAN-OS caps the tag timeout. The
	// chart's template checks the same bounds (charts/values_test.go).
	MinTagTTL = time.Minute
	MaxTagTTL = userid.MaxTagTimeout
)

// Target kinds.
const (
	KindFirewall = "firewall"
	KindPanorama = "panorama"
)

// Config is the aggregator's configuration file.
type Config struct {
	// Cluster names this cluster in tags (required).
	Cluster string `json:"cluster"`
	// Tags is the tag policy.
	Tags Tags `json:"tags"`
	// Targets are the firewalls and Panoramas to keep in step (at least one).
	Targets []Target `json:"targets"`

	// BatchInterval is the longest the aggregator holds a change back on
	// its own: changes go to a target at once when no call to it is in
	// flight and coalesce while one is; only a target's maxCallsPerSecond
	// holds them back, by at most this. Default 50ms.
	BatchInterval Duration `json:"batchInterval,omitempty"`
	// MaxBatch is the most entries per API call. Default 1000.
	MaxBatch int `json:"maxBatch,omitempty"`
	// ResyncInterval is the period of full reconciles. Default 5m.
	ResyncInterval Duration `json:"resyncInterval,omitempty"`
	// TagTTL is the PAN-OS timeout on registered tags, so that tags age out
	// if kubedag dies. Default 1h; "0s" disables; at most 30 days.
	TagTTL *Duration `json:"tagTTL,omitempty"`

	// Sandwich programs the EKS load-balancer sandwich (optional).
	Sandwich Sandwich `json:"sandwich,omitempty"`
}

// Tags is the tag policy section.
type Tags struct {
	Preset        string `json:"preset,omitempty"`
	Prefix        string `json:"prefix,omitempty"`
	Template      string `json:"template,omitempty"`
	Labels        Labels `json:"labels,omitempty"`
	Pods          *bool  `json:"pods,omitempty"`
	Services      *bool  `json:"services,omitempty"`
	NamespaceTags *bool  `json:"namespaceTags,omitempty"`
	// MaxTags per IP, default and maximum 32.
	MaxTags int `json:"maxTags,omitempty"`
	// Nodes tags the Nodes' own addresses (off by default).
	Nodes Nodes `json:"nodes,omitempty"`
}

// Nodes is the node tag section: see tags.Config.Nodes.
type Nodes struct {
	// Enabled tags every Node's InternalIPs.
	Enabled bool `json:"enabled,omitempty"`
	// ExternalIPs also tags their ExternalIPs (needs Enabled).
	ExternalIPs bool `json:"externalIPs,omitempty"`
	// Labels are glob patterns of node label keys to tag; absent means
	// tags.DefaultNodeLabels, [] none.
	Labels []string `json:"labels,omitempty"`
}

// Labels filters which label keys become tags (glob patterns).
type Labels struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// Target is one firewall (vsys) or Panorama.
type Target struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Kind is firewall (default) or panorama.
	Kind string `json:"kind,omitempty"`
	// Vsys is the firewall vsys for User-ID calls (optional).
	Vsys string `json:"vsys,omitempty"`
	// Serial makes Panorama forward User-ID calls to that firewall (optional).
	Serial string `json:"serial,omitempty"`

	// Credentials: an API key, or a username and password for keygen, each
	// from a file (a mounted Secret) or an environment variable.
	APIKeyFile   string `json:"apiKeyFile,omitempty"`
	APIKeyEnv    string `json:"apiKeyEnv,omitempty"`
	UsernameFile string `json:"usernameFile,omitempty"`
	UsernameEnv  string `json:"usernameEnv,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
	PasswordEnv  string `json:"passwordEnv,omitempty"`

	// CAFile is a PEM bundle to verify the target's certificate (optional:
	// system roots otherwise).
	CAFile string `json:"caFile,omitempty"`
	// InsecureSkipVerify turns TLS verification off. Explicit opt-in only.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Timeout per API request. Default 30s.
	Timeout Duration `json:"timeout,omitempty"`
	// MaxCallsPerSecond limits User-ID update calls to this target, for
	// devices that need fewer, larger calls (optional; 0 is no limit). At
	// least 1/batchInterval.
	MaxCallsPerSecond float64 `json:"maxCallsPerSecond,omitempty"`

	// DAGs reads the target's Dynamic Address Groups, optionally to prune
	// tags no DAG references (dags.go).
	DAGs *TargetDAGs `json:"dags,omitempty"`
}

// Duration is a time.Duration written as "50ms", "5m", ... in the file.
type Duration struct{ time.Duration }

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"50ms\" or \"5m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		// A type error gets the field's name added by the decoder.
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("string %q (want a duration such as \"50ms\" or \"5m\")", s), Type: reflect.TypeFor[Duration]()}
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML strictly (unknown fields are errors) and validates it.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var targetName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate fills defaults and checks every field, naming the first bad one.
func (c *Config) Validate() error {
	if c.BatchInterval.Duration == 0 {
		c.BatchInterval.Duration = DefaultBatchInterval
	}
	if c.BatchInterval.Duration < 0 {
		return errors.New("batchInterval: must be positive")
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBatch < 0 {
		return fmt.Errorf("maxBatch: %d: must be positive", c.MaxBatch)
	}
	if c.ResyncInterval.Duration == 0 {
		c.ResyncInterval.Duration = DefaultResyncInterval
	}
	if c.ResyncInterval.Duration < 0 {
		return errors.New("resyncInterval: must be positive")
	}
	if c.TagTTL == nil {
		c.TagTTL = &Duration{DefaultTagTTL}
	}
	if ttl := c.TagTTL.Duration; ttl < 0 || ttl > MaxTagTTL {
		return fmt.Errorf("tagTTL: %s: must be between 0 (off) and %s", ttl, MaxTagTTL)
	} else if ttl != 0 && ttl < MinTagTTL {
		return fmt.Errorf("tagTTL: %s: must be 0 (off) or at least 1m, so refreshes do not flood the targets", ttl)
	}

	if c.Tags.Pods != nil && c.Tags.Services != nil && !*c.Tags.Pods && !*c.Tags.Services {
		return errors.New("tags.pods, tags.services: at least one must be true")
	}
	tc := c.TagsConfig()
	if err := tc.Validate(); err != nil {
		return fieldErr(err)
	}

	if len(c.Targets) == 0 {
		return errors.New("targets: at least one target is required")
	}
	seen := map[string]bool{}
	for i := range c.Targets {
		t := &c.Targets[i]
		if err := t.validate(); err != nil {
			name := t.Name
			if name == "" {
				name = fmt.Sprint(i)
			}
			return fmt.Errorf("targets[%s].%w", name, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("targets[%d].name: %q is used twice", i, t.Name)
		}
		if r := t.MaxCallsPerSecond; r < 0 || (r > 0 && float64(time.Second)/r > float64(c.BatchInterval.Duration)) {
			return fmt.Errorf("targets[%s].maxCallsPerSecond: %v: must be 0 (no limit) or at least %v (1/batchInterval)",
				t.Name, r, float64(time.Second)/float64(c.BatchInterval.Duration))
		}
		seen[t.Name] = true
	}
	if err := c.Sandwich.validate(c); err != nil {
		return err
	}
	return c.Sandwich.validateAWS()
}

// fieldErr names a tags.Config error's field as the file does.
func fieldErr(err error) error {
	var fe *tags.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	field, ok := map[string]string{
		"Cluster":    "cluster",
		"Preset":     "tags.preset",
		"Prefix":     "tags.prefix",
		"Template":   "tags.template",
		"LabelAllow": "tags.labels.allow",
		"LabelDeny":  "tags.labels.deny",
		"Kinds":      "tags.pods/tags.services",
		"MaxTags":    "tags.maxTags",
		// Nodes is a bool the file sets, never at fault itself.
		"NodeExternalIPs": "tags.nodes.externalIPs",
		"NodeLabels":      "tags.nodes.labels",
	}[fe.Field]
	if !ok {
		field = "tags." + fe.Field
	}
	if fe.Index >= 0 {
		return fmt.Errorf("%s[%d]: %w", field, fe.Index, fe.Err)
	}
	return fmt.Errorf("%s: %w", field, fe.Err)
}

// TagsConfig returns the tags.Config the file describes (not yet validated).
func (c *Config) TagsConfig() tags.Config {
	t := c.Tags
	tc := tags.Config{
		Preset:          t.Preset,
		Cluster:         c.Cluster,
		Prefix:          t.Prefix,
		Template:        t.Template,
		LabelAllow:      t.Labels.Allow,
		LabelDeny:       t.Labels.Deny,
		NoNamespaceTags: t.NamespaceTags != nil && !*t.NamespaceTags,
		MaxTags:         t.MaxTags,
		Nodes:           t.Nodes.Enabled,
		NodeExternalIPs: t.Nodes.ExternalIPs,
		NodeLabels:      t.Nodes.Labels,
	}
	if t.Pods != nil || t.Services != nil {
		if t.Pods == nil || *t.Pods {
			tc.Kinds = append(tc.Kinds, tags.KindPod)
		}
		if t.Services == nil || *t.Services {
			tc.Kinds = append(tc.Kinds, tags.KindService)
		}
	}
	return tc
}

func (t *Target) validate() error {
	if !targetName.MatchString(t.Name) {
		return fmt.Errorf("name: %q: want a lowercase DNS label (a-z, 0-9, '-')", t.Name)
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("url: %q: want https://host[:port]", t.URL)
	}
	if u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("url: must not carry credentials or a query; use apiKeyFile or usernameFile/passwordFile")
	}
	switch t.Kind {
	case "":
		t.Kind = KindFirewall
	case KindFirewall, KindPanorama:
	default:
		return fmt.Errorf("kind: %q: want %q or %q", t.Kind, KindFirewall, KindPanorama)
	}
	if t.Kind == KindPanorama && t.Vsys != "" {
		return errors.New("vsys: only for kind firewall (use serial to reach a firewall through Panorama)")
	}
	key := t.APIKeyFile != "" || t.APIKeyEnv != ""
	user := t.UsernameFile != "" || t.UsernameEnv != ""
	pass := t.PasswordFile != "" || t.PasswordEnv != ""
	switch {
	case t.APIKeyFile != "" && t.APIKeyEnv != "":
		return errors.New("apiKeyFile, apiKeyEnv: set one, not both")
	case key && (user || pass):
		return errors.New("apiKeyFile: set an API key or a username/password, not both")
	case !key && !(user && pass):
		return errors.New("apiKeyFile: credentials required: apiKeyFile/apiKeyEnv, or usernameFile/usernameEnv plus passwordFile/passwordEnv")
	}
	if t.Timeout.Duration < 0 {
		return errors.New("timeout: must be positive")
	}
	return t.DAGs.validate()
}

// Credentials reads the target's secrets from their files or environment
// variables. getenv defaults to os.Getenv. Errors name the file or variable,
// never its content.
func (t *Target) Credentials(getenv func(string) string) (apiKey, username, password string, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	read := func(field, file, env string) (string, error) {
		switch {
		case file != "":
			b, err := os.ReadFile(file)
			if err != nil {
				return "", fmt.Errorf("target %s: %s: %w", t.Name, field, err)
			}
			v := strings.TrimSpace(string(b))
			if v == "" {
				return "", fmt.Errorf("target %s: %s: file %s is empty", t.Name, field, file)
			}
			return v, nil
		case env != "":
			v := strings.TrimSpace(getenv(env))
			if v == "" {
				return "", fmt.Errorf("target %s: %s: environment variable %s is empty or unset", t.Name, field, env)
			}
			return v, nil
		}
		return "", nil
	}
	if apiKey, err = read("apiKeyFile", t.APIKeyFile, t.APIKeyEnv); err != nil {
		return "", "", "", err
	}
	if username, err = read("usernameFile", t.UsernameFile, t.UsernameEnv); err != nil {
		return "", "", "", err
	}
	if password, err = read("passwordFile", t.PasswordFile, t.PasswordEnv); err != nil {
		return "", "", "", err
	}
	return apiKey, username, password, nil
}

// ClientConfig returns the userid.Config for the target, credentials read.
func (t *Target) ClientConfig(getenv func(string) string) (userid.Config, error) {
	key, user, pass, err := t.Credentials(getenv)
	if err != nil {
		return userid.Config{}, err
	}
	return userid.Config{
		URL:                t.URL,
		APIKey:             key,
		Username:           user,
		Password:           pass,
		CAFile:             t.CAFile,
		InsecureSkipVerify: t.InsecureSkipVerify,
		Timeout:            t.Timeout.Duration,
		Vsys:               t.Vsys,
		Target:             t.Serial,
		// Mounted Secrets are updated in place: rotated credentials are
		// read again when the target refuses the old ones.
		Reload: func() (string, string, string, error) { return t.Credentials(getenv) },
	}, nil
}
