package tags

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

// Preset names.
const (
	PresetK8s    = "k8s"
	PresetAKS    = "aks"
	PresetCustom = "custom"
)

const (
	// maxClusterLen bounds Config.Cluster so that every fixed part of a tag
	// (prefix, cluster segment) survives truncation to MaxTagLen.
	maxClusterLen = 48
	// maxPrefixLen bounds Config.Prefix for the same reason.
	maxPrefixLen = 64
	// maxSelectorLen bounds the selector segment of aks_<selector> tags.
	maxSelectorLen = 48
)

// ChurnyLabels are label keys that controllers set per rollout or per pod
// (bookkeeping, not identity): tagging them would give every rollout new
// tags. The Helm chart's default tags.labels.deny is this list (a test in
// charts/ checks it) and the demo denies them too.
var ChurnyLabels = []string{
	"pod-template-hash",
	"controller-revision-hash",
	"statefulset.kubernetes.io/pod-name",
	"pod-template-generation",
	"batch.kubernetes.io/controller-uid",
	"controller-uid",
}

// DefaultNodeLabels are the node label keys Config.NodeLabels allows by
// default: the zone, the instance type and the node pool of EKS and AKS.
var DefaultNodeLabels = []string{
	"topology.kubernetes.io/zone",
	"node.kubernetes.io/instance-type",
	"eks.amazonaws.com/nodegroup",
	"kubernetes.azure.com/agentpool",
}

// Config selects how Identities become tags. The zero value is not valid:
// Cluster is required. Validate fills in defaults. Field names in YAML/JSON
// are the lower-camel-case json tags.
type Config struct {
	// Preset is the tag format: "k8s" (default; the Panorama Kubernetes
	// plugin's formats), "aks" (the Panorama Azure plugin's AKS formats) or
	// "custom" (Template). See the package documentation for each format.
	Preset string `json:"preset,omitempty"`

	// Cluster names this cluster in tags. Required; 1 to 48 characters of
	// [A-Za-z0-9_-] (no '.', so that no cluster's tags can look like
	// another's: see Deriver.Owns).
	Cluster string `json:"cluster"`

	// Prefix is the ownership prefix: every tag is Prefix + "." + more, and
	// kubedag only ever unregisters tags that carry it. Default by preset:
	// "k8s.cl_<Cluster>" (k8s), "aks.<Cluster>" (aks),
	// "kubedag.cl_<Cluster>" (custom). Up to 64 characters of
	// [A-Za-z0-9._-], no leading, trailing or doubled '.'. It must not be
	// changed for the aks preset (its aks_<selector> tags carry the cluster
	// in second position). Two clusters' prefixes must not be equal and
	// neither may be the other plus "."-something; the defaults never are.
	Prefix string `json:"prefix,omitempty"`

	// Template is a Go text/template, required for preset "custom" and
	// refused otherwise. It is executed once per Identity with a
	// TemplateData and must print one tag suffix per line; blank lines are
	// skipped, spaces around a line are trimmed, and each line becomes the
	// tag Prefix + "." + line (then sanitised). Lines printed earlier have
	// priority under the MaxTags limit. Functions: join, lower, upper,
	// replace, trimPrefix, trimSuffix, hasPrefix (package strings) and
	// sortedKeys (a map's keys, sorted).
	Template string `json:"template,omitempty"`

	// LabelAllow, if not empty, limits label tags to label keys matching at
	// least one of these glob patterns ('*' matches any run of characters,
	// '/' included; '?' matches one character). Default: all keys.
	LabelAllow []string `json:"labelAllow,omitempty"`
	// LabelDeny drops label keys matching any of these glob patterns, even
	// if LabelAllow admits them. Each dropped label is reported as a
	// Problem with ReasonDenied.
	LabelDeny []string `json:"labelDeny,omitempty"`

	// Kinds lists the object kinds that get tags. Default: Pod and Service
	// for k8s and custom, Service for aks (the AKS plugin tags services).
	// An Identity of another kind gets no tags and a ReasonKindExcluded
	// Problem.
	Kinds []Kind `json:"kinds,omitempty"`

	// NoNamespaceTags turns off the k8s namespace tag
	// (k8s.cl_<cluster>.ns_<ns>) on pods and services.
	NoNamespaceTags bool `json:"noNamespaceTags,omitempty"`
	// NoOwnerTags turns off the k8s rs_/ds_/ss_ owner tags.
	NoOwnerTags bool `json:"noOwnerTags,omitempty"`
	// NoServiceTags turns off service tags (k8s svc_<name>, aks
	// aks.<cluster>.<service> and aks_<selector> tags).
	NoServiceTags bool `json:"noServiceTags,omitempty"`
	// NoLabelTags turns off label tags of pods and services.
	NoLabelTags bool `json:"noLabelTags,omitempty"`

	// Nodes turns on node tags: every Node's InternalIPs carry the cluster
	// node tag plus one tag per allowed node label (NodeLabels); see the
	// package documentation for the format of each preset. The custom
	// preset's Template is not used for nodes. Default off.
	Nodes bool `json:"nodes,omitempty"`
	// NodeExternalIPs also tags every Node's ExternalIPs, with the
	// external node tag instead of the cluster node tag (the Panorama
	// plugin's "External Nodes"). Requires Nodes.
	NodeExternalIPs bool `json:"nodeExternalIPs,omitempty"`
	// NodeLabels are glob patterns (as LabelAllow) of the node label keys
	// that become node tags. Nil means DefaultNodeLabels; an empty list
	// means none. LabelAllow and LabelDeny do not apply to nodes; keys
	// matching no pattern are reported (ReasonDenied).
	NodeLabels []string `json:"nodeLabels,omitempty"`

	// MaxTags is the most tags derived for one IP; the rest are dropped by
	// priority and reported (ReasonOverLimit). Default and maximum 32, the
	// PAN-OS limit; set it lower to leave room for tags registered on the
	// same IP by others.
	MaxTags int `json:"maxTags,omitempty"`
}

// FieldError is a Config validation error: the field at fault (its Go
// name), the element of a list field, and what is wrong.
type FieldError struct {
	Field string // Config field, e.g. "LabelDeny"
	Index int    // element of a list field; -1 for the whole field
	Err   error
}

func (e *FieldError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("tags: %s[%d]: %v", e.Field, e.Index, e.Err)
	}
	return fmt.Sprintf("tags: %s: %v", e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldError(field string, index int, err error) error {
	return &FieldError{Field: field, Index: index, Err: err}
}

// Validate fills in defaults and checks c, returning a *FieldError that
// names the first offending field.
func (c *Config) Validate() error {
	if c.Preset == "" {
		c.Preset = PresetK8s
	}
	switch c.Preset {
	case PresetK8s, PresetAKS, PresetCustom:
	default:
		return fieldError("Preset", -1, fmt.Errorf("unknown preset %q (want %q, %q or %q)", c.Preset, PresetK8s, PresetAKS, PresetCustom))
	}

	if c.Cluster == "" {
		return fieldError("Cluster", -1, errors.New("required"))
	}
	if len(c.Cluster) > maxClusterLen {
		return fieldError("Cluster", -1, fmt.Errorf("%q is longer than %d characters", c.Cluster, maxClusterLen))
	}
	for i := 0; i < len(c.Cluster); i++ {
		if b := c.Cluster[i]; !allowedByte(b) || b == '.' {
			return fieldError("Cluster", -1, fmt.Errorf("%q: character %q not allowed (want [A-Za-z0-9_-])", c.Cluster, b))
		}
	}

	def := defaultPrefix(c.Preset, c.Cluster)
	switch {
	case c.Prefix == "":
		c.Prefix = def
	case c.Preset == PresetAKS && c.Prefix != def:
		return fieldError("Prefix", -1, fmt.Errorf("cannot be changed for preset %q (it is %q); use preset %q for another format", PresetAKS, def, PresetCustom))
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return fieldError("Prefix", -1, err)
	}

	if c.Preset == PresetCustom {
		if strings.TrimSpace(c.Template) == "" {
			return fieldError("Template", -1, fmt.Errorf("required for preset %q", PresetCustom))
		}
		if _, err := parseTemplate(c.Template); err != nil {
			return fieldError("Template", -1, err)
		}
	} else if c.Template != "" {
		return fieldError("Template", -1, fmt.Errorf("only used with preset %q, not %q", PresetCustom, c.Preset))
	}

	for i, p := range c.LabelAllow {
		if err := checkGlob(p); err != nil {
			return fieldError("LabelAllow", i, err)
		}
	}
	for i, p := range c.LabelDeny {
		if err := checkGlob(p); err != nil {
			return fieldError("LabelDeny", i, err)
		}
	}

	if len(c.Kinds) == 0 {
		if c.Preset == PresetAKS {
			c.Kinds = []Kind{KindService}
		} else {
			c.Kinds = []Kind{KindPod, KindService}
		}
	}
	for i, k := range c.Kinds {
		if k != KindPod && k != KindService {
			return fieldError("Kinds", i, fmt.Errorf("unknown kind %q (want %q or %q)", k, KindPod, KindService))
		}
	}

	if c.NodeExternalIPs && !c.Nodes {
		return fieldError("NodeExternalIPs", -1, errors.New("requires Nodes"))
	}
	if c.NodeLabels == nil {
		c.NodeLabels = slices.Clone(DefaultNodeLabels)
	}
	for i, p := range c.NodeLabels {
		if err := checkGlob(p); err != nil {
			return fieldError("NodeLabels", i, err)
		}
	}

	switch {
	case c.MaxTags == 0:
		c.MaxTags = MaxTagsPerIP
	case c.MaxTags < 0 || c.MaxTags > MaxTagsPerIP:
		return fieldError("MaxTags", -1, fmt.Errorf("%d out of range 1..%d", c.MaxTags, MaxTagsPerIP))
	}
	return nil
}

func defaultPrefix(preset, cluster string) string {
	switch preset {
	case PresetAKS:
		return "aks." + cluster
	case PresetCustom:
		return "kubedag.cl_" + cluster
	default:
		return "k8s.cl_" + cluster
	}
}

func checkPrefix(p string) error {
	if len(p) > maxPrefixLen {
		return fmt.Errorf("%q is longer than %d characters", p, maxPrefixLen)
	}
	for i := 0; i < len(p); i++ {
		if !allowedByte(p[i]) {
			return fmt.Errorf("%q: character %q not allowed (want [A-Za-z0-9._-])", p, p[i])
		}
	}
	if strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return fmt.Errorf("%q: leading, trailing or doubled '.'", p)
	}
	return nil
}

func checkGlob(p string) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	return nil
}

// globMatch reports whether s matches pattern p, where '*' matches any run
// of bytes (including '/') and '?' exactly one byte. Everything else
// matches itself.
func globMatch(p, s string) bool {
	// Iterative matcher with single-star backtracking: linear-ish, no
	// recursion, no allocation.
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// TemplateData is what a custom Template is executed with: the Identity
// (fields .Kind, .Namespace, .Name, .UID, .Labels, .OwnerKind, .OwnerName,
// .Services, .NamespaceLabels, .Selector) with .Labels already filtered by
// LabelAllow/LabelDeny, plus the cluster name and prefix.
type TemplateData struct {
	Identity
	Cluster string
	Prefix  string
}

var templateFuncs = template.FuncMap{
	"join":       strings.Join,
	"lower":      strings.ToLower,
	"upper":      strings.ToUpper,
	"replace":    strings.ReplaceAll,
	"trimPrefix": strings.TrimPrefix,
	"trimSuffix": strings.TrimSuffix,
	"hasPrefix":  strings.HasPrefix,
	"sortedKeys": func(m map[string]string) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	},
}

func parseTemplate(text string) (*template.Template, error) {
	t, err := template.New("tags").Funcs(templateFuncs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return t, nil
}
