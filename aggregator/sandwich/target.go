package sandwich

import (
	"errors"
	"fmt"
	"strings"
)

// Rule placements (PAN-OS move where=).
const (
	PlaceTop    = "top"
	PlaceBottom = "bottom"
	PlaceBefore = "before"
	PlaceAfter  = "after"
)

// Placement is where kubedag's NAT rules sit in the rulebase.
type Placement struct {
	// Where is top, bottom (default), before or after.
	Where string
	// Rule is the rule named by before/after.
	Rule string
}

// Target is one PAN-OS device the sandwich is applied to, and where on it.
type Target struct {
	// Name is kubedag's name for the target (config targets[].name).
	Name string
	// Panorama: objects and NAT rules go to DeviceGroup, routes to
	// Template or TemplateStack; otherwise everything goes to a firewall's
	// Vsys (routes under its network config).
	Panorama bool
	// Vsys of a firewall target; default vsys1.
	Vsys string
	// DeviceGroup (Panorama, required).
	DeviceGroup string
	// Template or TemplateStack (Panorama, exactly one) holds the routes.
	Template, TemplateStack string
	// VirtualRouter is the legacy-routing virtual router; default
	// "default". Mutually exclusive with LogicalRouter.
	VirtualRouter string
	// LogicalRouter and VRF (default "default") select advanced routing
	// (PAN-OS 11+).
	LogicalRouter, VRF string
	// UntrustInterface (default ethernet1/1) and TrustInterface (default
	// ethernet1/2).
	UntrustInterface, TrustInterface string
	// UntrustZone (default untrust) and TrustZone (default trust).
	UntrustZone, TrustZone string
	// Placement of kubedag's NAT rules.
	Placement Placement
	// Admin is the administrator whose changes a partial commit takes:
	// the one kubedag's API key belongs to. Required.
	Admin string
	// PathMonitorSource is the source of the routes' path monitoring:
	// "DHCP" (default, the trust interface's DHCP address, as in Palo
	// Alto's templates) or the trust interface's IP/prefix.
	PathMonitorSource string
}

// Validate fills defaults and checks the target, naming the field at fault
// by its configuration name.
func (t *Target) Validate() error {
	if t.Name == "" {
		return errors.New("name: required")
	}
	if t.Panorama {
		if t.Vsys != "" {
			return errors.New("vsys: only for a firewall target")
		}
		if t.DeviceGroup == "" {
			return errors.New("deviceGroup: required for a panorama target")
		}
		if (t.Template == "") == (t.TemplateStack == "") {
			return errors.New("template, templateStack: a panorama target needs exactly one")
		}
	} else {
		if t.DeviceGroup != "" || t.Template != "" || t.TemplateStack != "" {
			return errors.New("deviceGroup, template, templateStack: only for a panorama target")
		}
		if t.Vsys == "" {
			t.Vsys = "vsys1"
		}
	}
	if t.LogicalRouter != "" && t.VirtualRouter != "" {
		return errors.New("virtualRouter, logicalRouter: set one, not both")
	}
	if t.LogicalRouter == "" && t.VRF != "" {
		return errors.New("vrf: only with logicalRouter")
	}
	if t.LogicalRouter != "" && t.VRF == "" {
		t.VRF = "default"
	}
	if t.LogicalRouter == "" && t.VirtualRouter == "" {
		t.VirtualRouter = "default"
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&t.UntrustInterface, "ethernet1/1")
	def(&t.TrustInterface, "ethernet1/2")
	def(&t.UntrustZone, "untrust")
	def(&t.TrustZone, "trust")
	def(&t.PathMonitorSource, "DHCP")
	switch t.Placement.Where {
	case "":
		t.Placement.Where = PlaceBottom
		fallthrough
	case PlaceTop, PlaceBottom:
		if t.Placement.Rule != "" {
			return fmt.Errorf("ruleLocation.rule: only with where %q or %q", PlaceBefore, PlaceAfter)
		}
	case PlaceBefore, PlaceAfter:
		if t.Placement.Rule == "" {
			return fmt.Errorf("ruleLocation.rule: required with where %q", t.Placement.Where)
		}
	default:
		return fmt.Errorf("ruleLocation.where: %q: want top, bottom, before or after", t.Placement.Where)
	}
	if t.Admin == "" {
		return errors.New("admin: required (the administrator kubedag's changes are committed as)")
	}
	for field, v := range map[string]string{
		"vsys": t.Vsys, "deviceGroup": t.DeviceGroup, "template": t.Template, "templateStack": t.TemplateStack,
		"virtualRouter": t.VirtualRouter, "logicalRouter": t.LogicalRouter, "vrf": t.VRF,
		"untrustInterface": t.UntrustInterface, "trustInterface": t.TrustInterface,
		"untrustZone": t.UntrustZone, "trustZone": t.TrustZone, "ruleLocation.rule": t.Placement.Rule,
		"admin": t.Admin, "pathMonitorSource": t.PathMonitorSource,
	} {
		if strings.ContainsAny(v, `'"<>&`) || len(v) > 63 {
			return fmt.Errorf("%s: %q: at most 63 characters, no quotes, '<', '>' or '&'", field, v)
		}
	}
	return nil
}

const device = "/config/devices/entry[@name='localhost.localdomain']"

func entry(name string) string { return "entry[@name='" + name + "']" }

// Container returns the XPath of the list that holds entries of kind k.
func (t *Target) Container(k Kind) string {
	var objects, rules, network string
	if t.Panorama {
		objects = device + "/device-group/" + entry(t.DeviceGroup)
		rules = objects + "/pre-rulebase"
		tmpl := "/template/" + entry(t.Template)
		if t.TemplateStack != "" {
			tmpl = "/template-stack/" + entry(t.TemplateStack)
		}
		network = device + tmpl + "/config/devices/entry[@name='localhost.localdomain']/network"
	} else {
		objects = device + "/vsys/" + entry(t.Vsys)
		rules = objects + "/rulebase"
		network = device + "/network"
	}
	switch k {
	case KindTag:
		return objects + "/tag"
	case KindAddress:
		return objects + "/address"
	case KindService:
		return objects + "/service"
	case KindNATRule:
		return rules + "/nat/rules"
	case KindRoute:
		if t.LogicalRouter != "" {
			return network + "/logical-router/" + entry(t.LogicalRouter) + "/vrf/" + entry(t.VRF) + "/routing-table/ip/static-route"
		}
		return network + "/virtual-router/" + entry(t.VirtualRouter) + "/routing-table/ip/static-route"
	}
	panic(fmt.Sprintf("sandwich: unknown kind %d", k))
}

// XPath returns the XPath of the entry of kind k named name.
func (t *Target) XPath(k Kind, name string) string {
	return t.Container(k) + "/" + entry(name)
}
