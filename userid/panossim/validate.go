package panossim

import (
	"net/netip"
	"strconv"
	"strings"
)

// Commit-time validation: the reference and shape checks a firewall or
// Panorama makes before a config becomes running, for the parts of the
// config kubedag writes (address, service and tag objects, NAT rules,
// static routes). Each failure is reported in PAN-OS's two-line shape:
//
//	 vsys -> vsys1 -> rulebase -> nat -> rules -> r1 -> service 'tcp-82' is not a valid reference
//	 vsys -> vsys1 -> rulebase -> nat -> rules -> r1 -> service is invalid

func (s *Sim) validate(root *node) []string {
	if s.cfg.Panorama {
		return validatePanorama(root)
	}
	return validateFirewall(root)
}

// refScope is what names resolve against in one vsys or device group.
type refScope struct {
	objects    map[string]bool // address and address-group names
	services   map[string]bool // service and service-group names
	tags       map[string]bool
	zones      map[string]bool // nil: zones are not checked (Panorama)
	interfaces map[string]bool // nil: interfaces are not checked (Panorama)
}

func names(n *node, kind string, into map[string]bool) {
	if n == nil {
		return
	}
	if c := n.child(kind); c != nil {
		for _, e := range c.children {
			if v, ok := e.attr("name"); ok && e.name == "entry" {
				into[v] = true
			}
		}
	}
}

func newScope(holders ...*node) *refScope {
	sc := &refScope{objects: map[string]bool{}, services: map[string]bool{}, tags: map[string]bool{}}
	for _, h := range holders {
		names(h, "address", sc.objects)
		names(h, "address-group", sc.objects)
		names(h, "service", sc.services)
		names(h, "service-group", sc.services)
		names(h, "tag", sc.tags)
	}
	return sc
}

var deviceSteps = []xpathStep{step("config", ""), step("devices", ""), step("entry", "localhost.localdomain")}

func validateFirewall(root *node) []string {
	var errs []string
	shared, _ := lookup(root, []xpathStep{step("config", ""), step("shared", "")})
	dev, _ := lookup(root, deviceSteps)
	if dev == nil {
		return nil
	}
	ifaces := map[string]bool{}
	if eth, _ := lookup(dev, []xpathStep{step("entry", ""), step("network", ""), step("interface", ""), step("ethernet", "")}); eth != nil {
		for _, e := range eth.children {
			name, _ := e.attr("name")
			ifaces[name] = true
			names(e.child("layer3"), "units", ifaces)
		}
	}
	for _, kind := range []string{"loopback", "tunnel", "vlan"} {
		if l, _ := lookup(dev, []xpathStep{step("entry", ""), step("network", ""), step("interface", ""), step(kind, ""), step("units", "")}); l != nil {
			for _, e := range l.children {
				if v, ok := e.attr("name"); ok {
					ifaces[v] = true
				}
			}
		}
	}
	if vsyss := dev.child("vsys"); vsyss != nil {
		for _, v := range vsyss.children {
			vname, _ := v.attr("name")
			sc := newScope(shared, v)
			sc.zones = map[string]bool{}
			names(v, "zone", sc.zones)
			sc.interfaces = ifaces
			errs = append(errs, validateObjects(sc, v, []string{"vsys", vname})...)
			if rb := v.child("rulebase"); rb != nil {
				errs = append(errs, validateNAT(sc, rb, []string{"vsys", vname, "rulebase"})...)
			}
		}
	}
	if shared != nil {
		errs = append(errs, validateObjects(newScope(shared), shared, []string{"shared"})...)
	}
	if net := dev.child("network"); net != nil {
		// A route's destination may name an address object.
		addrs := map[string]bool{}
		names(shared, "address", addrs)
		if vsyss := dev.child("vsys"); vsyss != nil {
			for _, v := range vsyss.children {
				names(v, "address", addrs)
			}
		}
		errs = append(errs, validateRoutes(net, ifaces, addrs)...)
	}
	return errs
}

func validatePanorama(root *node) []string {
	var errs []string
	shared, _ := lookup(root, []xpathStep{step("config", ""), step("shared", "")})
	if shared != nil {
		errs = append(errs, validateObjects(newScope(shared), shared, []string{"shared"})...)
	}
	dgs, _ := lookup(root, withSteps(deviceSteps, step("device-group", "")))
	if dgs != nil {
		for _, dg := range dgs.children {
			name, _ := dg.attr("name")
			// A group's rules see shared objects, its ancestors' and its
			// own (Panorama admin guide, Device Group Objects).
			sc := newScope(append([]*node{shared}, dgChain(root, name)...)...)
			path := []string{"device-group", name}
			errs = append(errs, validateObjects(sc, dg, path)...)
			for _, rb := range []string{"pre-rulebase", "post-rulebase"} {
				if r := dg.child(rb); r != nil {
					errs = append(errs, validateNAT(sc, r, append(path[:2:2], rb))...)
				}
			}
		}
	}
	for _, kind := range []string{"template", "template-stack"} {
		ts, _ := lookup(root, withSteps(deviceSteps, step(kind, "")))
		if ts == nil {
			continue
		}
		for _, t := range ts.children {
			if net, _ := lookup(t, []xpathStep{step("entry", ""), step("config", ""), step("devices", ""), step("entry", "localhost.localdomain"), step("network", "")}); net != nil {
				// Interfaces may come from another template of a stack:
				// only shapes are checked here.
				errs = append(errs, validateRoutes(net, nil, nil)...)
			}
		}
	}
	return errs
}

func invalidRef(path []string, field, value string) []string {
	p := " " + strings.Join(path, " -> ") + " -> " + field
	return []string{p + " '" + value + "' is not a valid reference", p + " is invalid"}
}

func invalidValue(path []string, field, value, why string) []string {
	p := " " + strings.Join(path, " -> ") + " -> " + field
	return []string{p + " '" + value + "' is not a valid value: " + why, p + " is invalid"}
}

func with(path []string, more ...string) []string {
	return append(append([]string(nil), path...), more...)
}

// validateObjects checks address and service objects and their tags.
func validateObjects(sc *refScope, holder *node, path []string) []string {
	var errs []string
	checkTags := func(e *node, p []string) {
		for _, t := range members(e, "tag") {
			if !sc.tags[t] {
				errs = append(errs, invalidRef(p, "tag", t)...)
			}
		}
	}
	if addrs := holder.child("address"); addrs != nil {
		for _, e := range addrs.children {
			name, _ := e.attr("name")
			p := with(path, "address", name)
			kinds := 0
			for _, k := range []string{"ip-netmask", "ip-range", "ip-wildcard", "fqdn"} {
				c := e.child(k)
				if c == nil {
					continue
				}
				kinds++
				if k == "fqdn" && (c.text == "" || len(c.text) > 255 || strings.ContainsAny(c.text, " /:@")) {
					errs = append(errs, invalidValue(p, "fqdn", c.text, "not a host name of at most 255 characters")...)
				}
				if k == "ip-netmask" && !validAddrLiteral(c.text) {
					errs = append(errs, invalidValue(p, "ip-netmask", c.text, "not an IP address or network")...)
				}
			}
			if kinds != 1 {
				errs = append(errs, " "+strings.Join(p, " -> ")+" is invalid: exactly one of ip-netmask, ip-range, ip-wildcard, fqdn is required")
			}
			checkTags(e, p)
		}
	}
	if svcs := holder.child("service"); svcs != nil {
		for _, e := range svcs.children {
			name, _ := e.attr("name")
			p := with(path, "service", name)
			proto := e.child("protocol")
			var pr *node
			if proto != nil && len(proto.children) == 1 && (proto.children[0].name == "tcp" || proto.children[0].name == "udp") {
				pr = proto.children[0]
			}
			if pr == nil {
				errs = append(errs, " "+strings.Join(p, " -> ")+" -> protocol is invalid: tcp or udp is required")
			} else if port := pr.child("port"); port == nil || !validPorts(port.text) {
				v := ""
				if port != nil {
					v = port.text
				}
				errs = append(errs, invalidValue(with(p, "protocol", pr.name), "port", v, "not a port list (1-65535)")...)
			}
			checkTags(e, p)
		}
	}
	if tags := holder.child("tag"); tags != nil {
		for _, e := range tags.children {
			if c := e.child("color"); c != nil && !validColor(c.text) {
				name, _ := e.attr("name")
				errs = append(errs, invalidValue(with(path, "tag", name), "color", c.text, "not color1-color42")...)
			}
		}
	}
	return errs
}

// validateNAT checks the NAT rules under a rulebase node.
func validateNAT(sc *refScope, rulebase *node, path []string) []string {
	nat := rulebase.child("nat")
	if nat == nil || nat.child("rules") == nil {
		return nil
	}
	var errs []string
	for _, r := range nat.child("rules").children {
		name, _ := r.attr("name")
		p := with(path, "nat", "rules", name)
		if sc.zones != nil {
			for _, f := range []string{"from", "to"} {
				zs := members(r, f)
				if len(zs) == 0 {
					errs = append(errs, " "+strings.Join(p, " -> ")+" -> "+f+" is missing")
				}
				for _, z := range zs {
					if !(z == "any" && f == "from") && !sc.zones[z] {
						errs = append(errs, invalidRef(p, f, z)...)
					}
				}
			}
		}
		for _, f := range []string{"source", "destination"} {
			for _, a := range members(r, f) {
				if a != "any" && !sc.objects[a] && !validAddrLiteral(a) {
					errs = append(errs, invalidRef(p, f, a)...)
				}
			}
		}
		if svc := r.child("service"); svc != nil && svc.text != "any" && svc.text != "service-http" && svc.text != "service-https" && !sc.services[svc.text] {
			errs = append(errs, invalidRef(p, "service", svc.text)...)
		}
		if ti := r.child("to-interface"); ti != nil && ti.text != "any" && sc.interfaces != nil && !sc.interfaces[ti.text] {
			errs = append(errs, invalidRef(p, "to-interface", ti.text)...)
		}
		if st := r.child("source-translation"); st != nil {
			for _, kind := range st.children {
				if ia := kind.child("interface-address"); ia != nil {
					if i := ia.child("interface"); i != nil && sc.interfaces != nil && !sc.interfaces[i.text] {
						errs = append(errs, invalidRef(with(p, "source-translation", kind.name, "interface-address"), "interface", i.text)...)
					}
				}
				for _, a := range members(kind, "translated-address") {
					if !sc.objects[a] && !validAddrLiteral(a) {
						errs = append(errs, invalidRef(with(p, "source-translation", kind.name), "translated-address", a)...)
					}
				}
			}
		}
		for _, dt := range []string{"destination-translation", "dynamic-destination-translation"} {
			d := r.child(dt)
			if d == nil {
				continue
			}
			if a := d.child("translated-address"); a != nil && !sc.objects[a.text] && !validAddrLiteral(a.text) {
				errs = append(errs, invalidRef(with(p, dt), "translated-address", a.text)...)
			}
			if tp := d.child("translated-port"); tp != nil {
				if n, err := strconv.Atoi(tp.text); err != nil || n < 1 || n > 65535 {
					errs = append(errs, invalidValue(with(p, dt), "translated-port", tp.text, "not a port (1-65535)")...)
				}
			}
		}
		for _, t := range members(r, "tag") {
			if !sc.tags[t] {
				errs = append(errs, invalidRef(p, "tag", t)...)
			}
		}
	}
	return errs
}

// validateRoutes checks static routes of virtual routers (legacy routing)
// and logical routers' VRFs (advanced routing). ifaces nil skips interface
// checks; addrs are the address objects a destination may name (nil: any
// name, as on Panorama where objects may come from elsewhere). A route's
// interface must be one of its router's interfaces, as on a device: a
// router listing none takes no routes through any.
func validateRoutes(net *node, ifaces, addrs map[string]bool) []string {
	var errs []string
	check := func(holder *node, path []string) {
		routes, _ := lookup(holder, []xpathStep{step(holder.name, ""), step("routing-table", ""), step("ip", ""), step("static-route", "")})
		if routes == nil {
			return
		}
		inRouter := map[string]bool{}
		for _, m := range members(holder, "interface") {
			inRouter[m] = true
		}
		for _, r := range routes.children {
			name, _ := r.attr("name")
			p := with(path, "routing-table", "ip", "static-route", name)
			if d := r.child("destination"); d == nil {
				errs = append(errs, " "+strings.Join(p, " -> ")+" -> destination is missing")
			} else if _, err := netip.ParsePrefix(d.text); err != nil && !namesObject(d.text, addrs) {
				errs = append(errs, invalidValue(p, "destination", d.text, "not an IPv4 network")...)
			}
			if i := r.child("interface"); i != nil && ifaces != nil {
				if !ifaces[i.text] {
					errs = append(errs, invalidRef(p, "interface", i.text)...)
				} else if !inRouter[i.text] {
					errs = append(errs, " "+strings.Join(p, " -> ")+" -> interface '"+i.text+"' is not in "+strings.Join(path, " -> "))
				}
			}
			if nh := r.child("nexthop"); nh != nil {
				if ip := nh.child("ip-address"); ip != nil {
					if _, err := netip.ParseAddr(ip.text); err != nil {
						errs = append(errs, invalidValue(with(p, "nexthop"), "ip-address", ip.text, "not an IP address")...)
					}
				}
			}
			if m := r.child("metric"); m != nil {
				if n, err := strconv.Atoi(m.text); err != nil || n < 1 || n > 65535 {
					errs = append(errs, invalidValue(p, "metric", m.text, "not 1-65535")...)
				}
			}
		}
	}
	if vrs := net.child("virtual-router"); vrs != nil {
		for _, vr := range vrs.children {
			name, _ := vr.attr("name")
			check(vr, []string{"network", "virtual-router", name})
		}
	}
	if lrs := net.child("logical-router"); lrs != nil {
		for _, lr := range lrs.children {
			lname, _ := lr.attr("name")
			if vrfs := lr.child("vrf"); vrfs != nil {
				for _, vrf := range vrfs.children {
					name, _ := vrf.attr("name")
					check(vrf, []string{"network", "logical-router", lname, "vrf", name})
				}
			}
		}
	}
	return errs
}

// namesObject reports whether a route destination that is not a prefix
// names an address object: one of addrs, or with addrs nil any name that is
// not an IP address.
func namesObject(s string, addrs map[string]bool) bool {
	if addrs != nil {
		return addrs[s]
	}
	_, err := netip.ParseAddr(s)
	return err != nil && s != ""
}

func validAddrLiteral(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		return err1 == nil && err2 == nil && !b.Less(a)
	}
	return false
}

// validPorts accepts PAN-OS port lists: "80", "80,443", "8000-8080".
func validPorts(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 1 || a > 65535 {
			return false
		}
		if isRange {
			b, err := strconv.Atoi(hi)
			if err != nil || b < a || b > 65535 {
				return false
			}
		}
	}
	return true
}

func validColor(s string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "color"))
	return strings.HasPrefix(s, "color") && err == nil && n >= 1 && n <= 42
}
