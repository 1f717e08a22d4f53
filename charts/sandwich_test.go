package charts

import (
	"strings"
	"testing"

	"github.com/kubedag/kubedag/aggregator/config"
)

const sandwichAWSValues = `
aggregator:
  serviceAccount:
    annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::111122223333:role/kubedag"}
sandwich:
  enabled: true
  targets: [fw1]
  admin: kubedag
  trustZone: inside
  aws:
    region: us-east-1
    clusterName: prod-eks
    roleARN: arn:aws:iam::111122223333:role/kubedag-sandwich
    firewallStack: panw
    refreshInterval: 2m
`

// TestSandwichValues: the sandwich values render into a config section the
// aggregator's own parser accepts, with AWS discovery or a static
// inventory, and the IRSA annotation lands on the aggregator's
// ServiceAccount.
func TestSandwichValues(t *testing.T) {
	parse := func(t *testing.T, objs []obj) *config.Config {
		t.Helper()
		cm := find(t, objs, "ConfigMap", "-aggregator-config")
		raw := str(get(cm, "data", "config.yaml"))
		cfg, err := config.Parse([]byte(raw))
		if err != nil {
			t.Fatalf("aggregator rejects the rendered config: %v\n%s", err, raw)
		}
		return cfg
	}
	t.Run("off by default", func(t *testing.T) {
		if cfg := parse(t, mustTemplate(t, "-f", minimalValues)); cfg.Sandwich.Enabled || cfg.Sandwich.AWS != nil {
			t.Fatalf("sandwich %+v", cfg.Sandwich)
		}
	})
	t.Run("AWS discovery with IRSA", func(t *testing.T) {
		objs := mustTemplate(t, "-f", minimalValues, "-f", writeValues(t, sandwichAWSValues))
		cfg := parse(t, objs)
		s := cfg.Sandwich
		if !s.Enabled || s.AWS == nil || s.TrustZone != "inside" || s.Admin != "kubedag" || len(s.Targets) != 1 || s.Targets[0] != "fw1" {
			t.Fatalf("sandwich %+v", s)
		}
		d := s.AWS.Discovery()
		if d.Region != "us-east-1" || d.ClusterName != "prod-eks" || d.ASGName() != "panw-PANW-Firewall-ASG" ||
			d.RoleARN != "arn:aws:iam::111122223333:role/kubedag-sandwich" || d.Trust().DeviceIndex != 2 || d.RefreshInterval.String() != "2m0s" {
			t.Fatalf("discovery %+v", d)
		}
		sa := find(t, objs, "ServiceAccount", "-aggregator")
		if got := str(get(sa, "metadata", "annotations", "eks.amazonaws.com/role-arn")); got != "arn:aws:iam::111122223333:role/kubedag" {
			t.Fatalf("aggregator ServiceAccount role annotation %q", got)
		}
	})
	t.Run("trust ENI by tag", func(t *testing.T) {
		objs := mustTemplate(t, "-f", minimalValues, "-f", writeValues(t, sandwichAWSValues), "--set", "sandwich.aws.trustInterfaceTag=role=trust")
		if d := parse(t, objs).Sandwich.AWS.Discovery(); d.Trust().Tag != "role=trust" {
			t.Fatalf("discovery %+v", d)
		}
	})
	t.Run("static inventory", func(t *testing.T) {
		objs := mustTemplate(t, "-f", minimalValues, "-f", writeValues(t, `
sandwich:
  enabled: true
  targets: [fw1]
  admin: kubedag
  inventory:
    subnets: [{id: subnet-a, cidr: 10.0.0.0/19, zone: us-east-1a}]
    firewalls: [{id: fw-a, zone: us-east-1a, trustSubnet: 10.0.128.0/24}]
`))
		s := parse(t, objs).Sandwich
		if s.AWS != nil || len(s.Inventory.Subnets) != 1 || len(s.Inventory.Firewalls) != 1 {
			t.Fatalf("sandwich %+v", s)
		}
	})
}

func TestSandwichValuesRejected(t *testing.T) {
	tests := []struct{ name, values, want string }{
		{"unknown target", "sandwich: {enabled: true, targets: [fw9], aws: {region: us-east-1, clusterName: c, firewallStack: s}}", `"fw9" is not the name of one of targets`},
		{"no inventory source", "sandwich: {enabled: true, targets: [fw1]}", "sandwich.aws.region (AWS discovery) or sandwich.inventory (static)"},
		{"both sources", "sandwich: {enabled: true, targets: [fw1], aws: {region: us-east-1, clusterName: c, firewallStack: s}, inventory: {subnets: [{cidr: 10.0.0.0/19}]}}", "not both"},
		{"no cluster name", "sandwich: {enabled: true, targets: [fw1], aws: {region: us-east-1, firewallStack: s}}", "sandwich.aws.clusterName: required"},
		{"region malformed", "sandwich: {aws: {region: Virginia}}", "region"},
		{"role not an ARN", "sandwich: {aws: {roleARN: kubedag}}", "roleARN"},
		{"device index", "sandwich: {aws: {trustDeviceIndex: 40}}", "trustDeviceIndex"},
		{"misspelt key", "sandwich: {aws: {regoin: us-east-1}}", "regoin"},
		{"rule location", "sandwich: {ruleLocation: {where: middle}}", "where"},
		{"refresh interval", "sandwich: {aws: {refreshInterval: soon}}", "refreshInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmTemplate(t, "-f", minimalValues, "-f", writeValues(t, tc.values))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("helm template error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
