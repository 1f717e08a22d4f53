package config

import (
	"net/netip"
	"strings"
	"testing"
)

const sandwichBase = `
cluster: prod
targets:
  - name: fw1
    url: https://10.0.0.1
    apiKeyFile: /secrets/fw1/api-key
  - name: pano
    url: https://pano.example
    kind: panorama
    usernameEnv: PANO_USER
    passwordEnv: PANO_PASS
`

func TestSandwichParse(t *testing.T) {
	c, err := Parse([]byte(sandwichBase + `
sandwich:
  enabled: true
  targets: [fw1, pano]
  admin: kubedag
  ruleLocation: {where: before, rule: deny-all}
  deviceGroup: eks
  templateStack: eks-stack
  virtualRouter: VR-eks-stack
  quiet: 2s
  inventory:
    subnets:
      - {id: subnet-a, cidr: 10.0.0.0/19, zone: us-east-1a}
    firewalls:
      - {id: fw-a, zone: us-east-1a, trustSubnet: 10.0.128.0/24}
      - {id: fw-b, zone: us-east-1b, trustSubnet: 10.0.129.0/24, trustGateway: 10.0.129.5}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sandwich
	fw := s.Target(c.Targets[0], "")
	pano := s.Target(c.Targets[1], "pano-user")
	if err := fw.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := pano.Validate(); err != nil {
		t.Fatal(err)
	}
	if fw.Panorama || fw.DeviceGroup != "" || fw.Vsys != "vsys1" || fw.Admin != "kubedag" || fw.Placement.Rule != "deny-all" {
		t.Errorf("firewall target %+v", fw)
	}
	if !pano.Panorama || pano.DeviceGroup != "eks" || pano.TemplateStack != "eks-stack" || pano.Admin != "kubedag" {
		t.Errorf("panorama target %+v", pano)
	}
	inv := s.StaticInventory()
	if inv.Firewalls[0].TrustGateway != netip.MustParseAddr("10.0.128.1") || inv.Firewalls[1].TrustGateway != netip.MustParseAddr("10.0.129.5") ||
		inv.Subnets[0].CIDR != netip.MustParsePrefix("10.0.0.0/19") {
		t.Errorf("inventory %+v", inv)
	}
}

func TestSandwichErrors(t *testing.T) {
	for _, tc := range []struct{ section, want string }{
		{"enabled: true", "sandwich.targets: at least one"},
		{"enabled: true\n  targets: [nope]\n  admin: a", `sandwich.targets[0]: "nope" is not in targets`},
		{"enabled: true\n  targets: [fw1]", "sandwich.admin: required"},
		{"enabled: true\n  targets: [pano]", "sandwich.deviceGroup: required"},
		{"enabled: true\n  targets: [pano]\n  deviceGroup: d\n  template: t\n  templateStack: s", "sandwich.template, templateStack"},
		{"enabled: true\n  targets: [fw1]\n  admin: a\n  ruleLocation: {where: middle}", "sandwich.ruleLocation.where"},
		{"enabled: true\n  targets: [fw1]\n  admin: a\n  virtualRouter: v\n  logicalRouter: l", "sandwich.virtualRouter, logicalRouter"},
		{"enabled: true\n  targets: [fw1]\n  admin: a\n  inventory: {subnets: [{cidr: 10.0.0.1/19}]}", "sandwich.inventory.subnets[0].cidr"},
		{"enabled: true\n  targets: [fw1]\n  admin: a\n  inventory: {firewalls: [{trustSubnet: 10.0.1.0/24, trustGateway: 10.0.2.1}]}", "sandwich.inventory.firewalls[0].trustGateway"},
		{"enabled: true\n  targets: [fw1]\n  admin: a\n  virtualRuoter: v", "unknown field"},
	} {
		_, err := Parse([]byte(sandwichBase + "sandwich:\n  " + tc.section + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.section, err, tc.want)
		}
	}
	// Disabled: nothing is checked.
	if _, err := Parse([]byte(sandwichBase + "sandwich:\n  targets: [nope]\n")); err != nil {
		t.Errorf("disabled section: %v", err)
	}
}
