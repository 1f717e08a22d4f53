package config

import (
	"strings"
	"testing"
	"time"
)

func TestSandwichAWSParse(t *testing.T) {
	c, err := Parse([]byte(sandwichBase + `
sandwich:
  enabled: true
  targets: [fw1]
  admin: kubedag
  aws:
    region: us-east-1
    clusterName: prod-eks
    roleARN: arn:aws:iam::111122223333:role/kubedag
    firewallStack: panw
    trustDeviceIndex: 1
    refreshInterval: 2m
`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Sandwich.AWS.Discovery()
	if d.Region != "us-east-1" || d.ClusterName != "prod-eks" || d.RoleARN != "arn:aws:iam::111122223333:role/kubedag" ||
		d.ASGName() != "panw-PANW-Firewall-ASG" || d.Trust().DeviceIndex != 1 || d.RefreshInterval != 2*time.Minute {
		t.Fatalf("parsed %+v", d)
	}
}

func TestSandwichAWSInvalid(t *testing.T) {
	tests := []struct{ section, want string }{
		{`aws: {clusterName: prod, firewallStack: panw}`, "sandwich.aws.region: required"},
		{`aws: {region: us-east-1, firewallStack: panw}`, "sandwich.aws.clusterName: required"},
		{`aws: {region: us-east-1, clusterName: prod}`, "sandwich.aws.firewallStack: set exactly one of firewallStack, firewallASG and firewallTags"},
		{`aws: {region: us-east-1, clusterName: prod, firewallASG: a, firewallTags: {Name: fw}}`, "sandwich.aws.firewallStack: set exactly one"},
		{`aws: {region: us-east-1, clusterName: prod, firewallStack: panw, roleARN: kubedag}`, "sandwich.aws.roleARN:"},
		{`aws: {region: us-east-1, clusterName: prod, firewallStack: panw, trustDeviceIndex: 40}`, "sandwich.aws.trustDeviceIndex:"},
		{`aws: {region: us-east-1, clusterName: prod, firewallStack: panw, trustInterfaceTag: trust}`, "sandwich.aws.trustInterfaceTag:"},
		{`aws: {region: us-east-1, clusterName: prod, firewallStack: panw, refreshInterval: 10ms}`, "sandwich.aws.refreshInterval:"},
		{`aws: {region: us-east-1, clusterName: prod, firewallStack: panw, endpoint: "localhost:4566"}`, "sandwich.aws.endpoint:"},
		{"aws: {region: us-east-1, clusterName: prod, firewallStack: panw}\n  inventory: {subnets: [{cidr: 10.0.0.0/19}]}", "sandwich.aws: set sandwich.aws or sandwich.inventory, not both"},
		{`aws: {region: us-east-1, clusterName: prod, firewallStack: panw, regoin: x}`, `unknown field "regoin"`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(sandwichBase + "sandwich:\n  enabled: true\n  targets: [fw1]\n  admin: kubedag\n  " + tt.section + "\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.section, err, tt.want)
		}
	}
}
