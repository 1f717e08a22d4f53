package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/kubedag/kubedag/aggregator/sandwich"
)

// Sandwich is the EKS load-balancer sandwich section: which targets get
// the firewall config for labelled Services, and where on them.
type Sandwich struct {
	Enabled bool `json:"enabled"`
	// LabelKey marks Services; default panw-tg-port.
	LabelKey string `json:"labelKey,omitempty"`
	// Targets names entries of the top-level targets list.
	Targets []string `json:"targets,omitempty"`
	// Admin is the PAN-OS administrator kubedag's changes are committed as
	// (a partial commit takes only that administrator's changes). Default:
	// the target's username; required for targets that use an API key.
	Admin string `json:"admin,omitempty"`
	// RuleLocation places kubedag's NAT rules; default bottom.
	RuleLocation RuleLocation `json:"ruleLocation,omitempty"`
	// VirtualRouter (legacy routing, default "default") or LogicalRouter
	// and VRF (advanced routing, VRF default "default").
	VirtualRouter string `json:"virtualRouter,omitempty"`
	LogicalRouter string `json:"logicalRouter,omitempty"`
	VRF           string `json:"vrf,omitempty"`
	// Interfaces and zones; defaults ethernet1/1 untrust, ethernet1/2 trust.
	UntrustInterface string `json:"untrustInterface,omitempty"`
	TrustInterface   string `json:"trustInterface,omitempty"`
	UntrustZone      string `json:"untrustZone,omitempty"`
	TrustZone        string `json:"trustZone,omitempty"`
	// PathMonitorSource of the routes' path monitoring; default DHCP.
	PathMonitorSource string `json:"pathMonitorSource,omitempty"`
	// DeviceGroup and Template or TemplateStack: Panorama targets.
	DeviceGroup   string `json:"deviceGroup,omitempty"`
	Template      string `json:"template,omitempty"`
	TemplateStack string `json:"templateStack,omitempty"`
	// Quiet is how long Service changes settle before a commit (default
	// 1s); ResyncInterval re-reads and repairs the targets (default 1m).
	Quiet          Duration `json:"quiet,omitempty"`
	ResyncInterval Duration `json:"resyncInterval,omitempty"`
	// Inventory is the cluster's network, written out (static).
	Inventory Inventory `json:"inventory,omitempty"`
	// AWS discovers the inventory instead (EKS).
	AWS *SandwichAWS `json:"aws,omitempty"`
}

// RuleLocation is where kubedag's NAT rules go.
type RuleLocation struct {
	// Where: top, bottom (default), before or after.
	Where string `json:"where,omitempty"`
	// Rule is the rule before/after refers to.
	Rule string `json:"rule,omitempty"`
}

// Inventory is a static sandwich inventory.
type Inventory struct {
	Subnets   []Subnet   `json:"subnets,omitempty"`
	Firewalls []Firewall `json:"firewalls,omitempty"`
}

// Subnet is a cluster subnet.
type Subnet struct {
	ID   string `json:"id,omitempty"`
	CIDR string `json:"cidr"`
	Zone string `json:"zone,omitempty"`
}

// Firewall is one firewall of the set.
type Firewall struct {
	ID   string `json:"id,omitempty"`
	Zone string `json:"zone,omitempty"`
	// TrustSubnet is the prefix of the firewall's trust subnet.
	TrustSubnet string `json:"trustSubnet"`
	// TrustGateway is the next hop to the cluster subnets; default the
	// trust subnet's first host address (AWS's VPC router).
	TrustGateway string `json:"trustGateway,omitempty"`
}

func (s *Sandwich) validate(c *Config) error {
	if !s.Enabled {
		return nil
	}
	if len(s.Targets) == 0 {
		return errors.New("sandwich.targets: at least one target is required when enabled")
	}
	if s.LabelKey != "" && (strings.ContainsAny(s.LabelKey, " ,=!()") || len(s.LabelKey) > 317) {
		return fmt.Errorf("sandwich.labelKey: %q is not a label key", s.LabelKey)
	}
	if s.Quiet.Duration < 0 || s.ResyncInterval.Duration < 0 {
		return errors.New("sandwich.quiet, sandwich.resyncInterval: must be positive")
	}
	seen := map[string]bool{}
	for i, name := range s.Targets {
		t := c.target(name)
		if t == nil {
			return fmt.Errorf("sandwich.targets[%d]: %q is not in targets", i, name)
		}
		if seen[name] {
			return fmt.Errorf("sandwich.targets[%d]: %q is listed twice", i, name)
		}
		seen[name] = true
		if s.Admin == "" && t.UsernameFile == "" && t.UsernameEnv == "" {
			return fmt.Errorf("sandwich.admin: required: target %s uses an API key, and partial commits need the administrator it belongs to", name)
		}
		st := s.Target(*t, "placeholder")
		if err := st.Validate(); err != nil {
			return fmt.Errorf("sandwich.%w (target %s)", err, name)
		}
	}
	for i, sn := range s.Inventory.Subnets {
		p, err := netip.ParsePrefix(sn.CIDR)
		if err != nil || !p.Addr().Is4() || p.Masked() != p {
			return fmt.Errorf("sandwich.inventory.subnets[%d].cidr: %q: want an IPv4 prefix such as 10.0.0.0/19", i, sn.CIDR)
		}
	}
	for i, fw := range s.Inventory.Firewalls {
		p, err := netip.ParsePrefix(fw.TrustSubnet)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
			return fmt.Errorf("sandwich.inventory.firewalls[%d].trustSubnet: %q: want an IPv4 prefix of at most /30", i, fw.TrustSubnet)
		}
		if fw.TrustGateway != "" {
			a, err := netip.ParseAddr(fw.TrustGateway)
			if err != nil || !p.Contains(a) {
				return fmt.Errorf("sandwich.inventory.firewalls[%d].trustGateway: %q: want an address in %s", i, fw.TrustGateway, p)
			}
		}
	}
	return nil
}

func (c *Config) target(name string) *Target {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i]
		}
	}
	return nil
}

// Target returns the sandwich settings for target t, committed as admin
// (Admin when set). Not yet validated.
func (s *Sandwich) Target(t Target, admin string) sandwich.Target {
	if s.Admin != "" {
		admin = s.Admin
	}
	st := sandwich.Target{
		Name:              t.Name,
		Panorama:          t.Kind == KindPanorama,
		VirtualRouter:     s.VirtualRouter,
		LogicalRouter:     s.LogicalRouter,
		VRF:               s.VRF,
		UntrustInterface:  s.UntrustInterface,
		TrustInterface:    s.TrustInterface,
		UntrustZone:       s.UntrustZone,
		TrustZone:         s.TrustZone,
		PathMonitorSource: s.PathMonitorSource,
		Placement:         sandwich.Placement{Where: s.RuleLocation.Where, Rule: s.RuleLocation.Rule},
		Admin:             admin,
	}
	if st.Panorama {
		st.DeviceGroup, st.Template, st.TemplateStack = s.DeviceGroup, s.Template, s.TemplateStack
	} else {
		st.Vsys = t.Vsys
	}
	return st
}

// StaticInventory returns the inventory the section writes out (validated
// by Config.Validate).
func (s *Sandwich) StaticInventory() sandwich.Inventory {
	var inv sandwich.Inventory
	for _, sn := range s.Inventory.Subnets {
		inv.Subnets = append(inv.Subnets, sandwich.Subnet{ID: sn.ID, CIDR: netip.MustParsePrefix(sn.CIDR), Zone: sn.Zone})
	}
	for _, fw := range s.Inventory.Firewalls {
		p := netip.MustParsePrefix(fw.TrustSubnet).Masked()
		gw := p.Addr().Next()
		if fw.TrustGateway != "" {
			gw = netip.MustParseAddr(fw.TrustGateway)
		}
		inv.Firewalls = append(inv.Firewalls, sandwich.Firewall{ID: fw.ID, Zone: fw.Zone, TrustSubnet: p, TrustGateway: gw})
	}
	return inv
}
