package aws

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults.
const (
	// DefaultTrustDeviceIndex: VM-Series maps ENI device index N to
	// ethernet1/N when eth0 is management, and with mgmt-interface-swap
	// (eth0 = ethernet1/1, eth1 = management) ethernet1/2 is still device
	// index 2. Palo Alto's EKS guide puts trust on ethernet1/2.
	DefaultTrustDeviceIndex = 2
	// ASGSuffix is how Palo Alto's templates name the firewall autoscaling
	// group: "<stack>-PANW-Firewall-ASG".
	ASGSuffix                 = "-PANW-Firewall-ASG"
	DefaultRefreshInterval    = time.Minute
	DefaultMinRefreshInterval = 5 * time.Second
	DefaultMaxAttempts        = 5
	DefaultMaxBackoff         = 20 * time.Second
)

// Config is one cluster entry's AWS discovery settings (what the `sandwich.aws`
// configuration section becomes).
type Config struct {
	// Region of the cluster, e.g. us-east-1. Required.
	Region string
	// ClusterName is the EKS cluster's name. Required.
	ClusterName string
	// RoleARN, when set, is assumed through STS with the default-chain
	// credentials (IRSA, Pod Identity, instance role, ...).
	RoleARN string
	// ExternalID goes with RoleARN when the role's trust policy requires one.
	ExternalID string

	// The firewall set, by exactly one of: FirewallStack (the CloudFormation
	// stack of Palo Alto's template: ASG "<stack>-PANW-Firewall-ASG"),
	// FirewallASG (an autoscaling group name), FirewallTags (instance tags,
	// all of which must match; "*" and "?" wildcards as in EC2 filters).
	FirewallStack string
	FirewallASG   string
	FirewallTags  map[string]string

	// TrustDeviceIndex is the trust ENI's device index (default 2).
	TrustDeviceIndex *int
	// TrustInterfaceTag "key=value" finds the trust ENI by its tag instead
	// (ec2:DescribeNetworkInterfaces).
	TrustInterfaceTag string

	// RefreshInterval between full re-reads (default 1m).
	RefreshInterval time.Duration
	// MinRefreshInterval rate-limits on-demand refreshes (default 5s).
	MinRefreshInterval time.Duration
	// MaxAttempts per call for the SDK's standard retryer (default 5), and
	// its largest backoff (default 20s).
	MaxAttempts int
	MaxBackoff  time.Duration
	// Endpoint overrides every service's endpoint (a VPC endpoint proxy,
	// or the local simulator of tests and the demo). Empty: AWS's own.
	Endpoint string
}

// ASGName is the autoscaling group the firewalls are found by ("" when
// found by tags).
func (c Config) ASGName() string {
	if c.FirewallASG != "" {
		return c.FirewallASG
	}
	if c.FirewallStack != "" {
		return c.FirewallStack + ASGSuffix
	}
	return ""
}

// Trust is how the trust interface is found.
func (c Config) Trust() Trust {
	if c.TrustInterfaceTag != "" {
		return Trust{Tag: c.TrustInterfaceTag}
	}
	i := DefaultTrustDeviceIndex
	if c.TrustDeviceIndex != nil {
		i = *c.TrustDeviceIndex
	}
	return Trust{DeviceIndex: int32(i)}
}

// Validate checks c, naming the field at fault (prefixed by path, e.g.
// "sandwich.aws").
func (c Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	if c.Region == "" {
		bad("region", "required")
	}
	if c.ClusterName == "" {
		bad("clusterName", "required")
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:aws") {
		bad("roleARN", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", c.RoleARN)
	}
	if c.ExternalID != "" && c.RoleARN == "" {
		bad("externalID", "only meaningful with roleARN")
	}
	n := 0
	for _, set := range []bool{c.FirewallStack != "", c.FirewallASG != "", len(c.FirewallTags) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		bad("firewallStack", "set exactly one of firewallStack, firewallASG and firewallTags to find the firewalls")
	}
	for k := range c.FirewallTags {
		if k == "" {
			bad("firewallTags", "empty tag key")
		}
	}
	if c.TrustDeviceIndex != nil && (*c.TrustDeviceIndex < 0 || *c.TrustDeviceIndex > 31) {
		bad("trustDeviceIndex", "%d is not an ENI device index (0-31)", *c.TrustDeviceIndex)
	}
	if c.TrustInterfaceTag != "" {
		if k, _, ok := strings.Cut(c.TrustInterfaceTag, "="); !ok || k == "" {
			bad("trustInterfaceTag", "%q is not key=value", c.TrustInterfaceTag)
		}
		if c.TrustDeviceIndex != nil {
			bad("trustInterfaceTag", "set trustInterfaceTag or trustDeviceIndex, not both")
		}
	}
	if c.RefreshInterval < 0 || (c.RefreshInterval > 0 && c.RefreshInterval < time.Second) {
		bad("refreshInterval", "%s is below 1s", c.RefreshInterval)
	}
	if c.MinRefreshInterval < 0 {
		bad("minRefreshInterval", "negative")
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 20 {
		bad("maxAttempts", "%d is outside 1-20", c.MaxAttempts)
	}
	if c.MaxBackoff < 0 {
		bad("maxBackoff", "negative")
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "https://") && !strings.HasPrefix(c.Endpoint, "http://") {
		bad("endpoint", "%q is not an http(s) URL", c.Endpoint)
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RefreshInterval, DefaultRefreshInterval)
	def(&c.MinRefreshInterval, DefaultMinRefreshInterval)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
}
