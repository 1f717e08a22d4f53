package panossim

import (
	"net/http"
	"net/netip"
	"strings"
)

// Device-state op commands: what clients send unprompted around connection
// set-up, commits and facts gathering (pan-os-python's pending_changes and
// show_highavailability_state, the Ansible collection's panos_facts, pango's
// Client.Clock), answered in the shapes those clients parse.

// deviceOpFunc answers one device-state command: its answer's <result> element, or
// ok false when this device does not have the command. dev is the managed
// firewall a Panorama answers for (target=SERIAL), nil otherwise.
type deviceOpFunc func(s *Sim, r *http.Request, dev *deviceState) (result string, ok bool)

// deviceOps are the commands this file answers, as their element paths; none
// takes arguments.
var deviceOps = map[string]deviceOpFunc{
	"check pending-changes":        (*Sim).pendingChangesLocked,
	"check full-commit-required":   always("<result>no</result>"),
	"show clock":                   (*Sim).clockLocked,
	"show high-availability state": always(haStandalone),
	"show high-availability all":   always(haStandalone),
	"show session info":            firewallOnly(always(sessionInfo)),
	"show session meter":           firewallOnly(always(sessionMeter)),
	"show routing route":           firewallOnly((*Sim).routesLocked),
}

// deviceOpRoots are the command heads deviceOps own: every check command,
// and show clock, high-availability, session and routing.
var deviceOpRoots = map[string]bool{"check": true, "show clock": true, "show high-availability": true,
	"show session": true, "show routing": true}

func always(result string) deviceOpFunc {
	return func(*Sim, *http.Request, *deviceState) (string, bool) { return result, true }
}

// firewallOnly refuses f on Panorama itself (it has no sessions or routing
// table); through Panorama to a managed firewall it answers.
func firewallOnly(f deviceOpFunc) deviceOpFunc {
	return func(s *Sim, r *http.Request, dev *deviceState) (string, bool) {
		if s.cfg.Panorama && dev == nil {
			return "", false
		}
		return f(s, r, dev)
	}
}

// haStandalone is what a device without HA answers to show
// high-availability state|all, as recorded in XSOAR's PAN-OS tests
// (show_ha_state_disabled.xml): enabled no and local-info holding only
// encrypt-imported. pan-os-python, panos_facts and PowerPAN read
// result/enabled "no" as standalone and look no further.
const haStandalone = "<result><enabled>no</enabled><local-info><encrypt-imported>no</encrypt-imported></local-info></result>"

// deviceOp answers cmd when it belongs to the device-state commands; ok is
// false when another handler owns it.
func (s *Sim) deviceOp(w http.ResponseWriter, r *http.Request, root *node) (res result, ok bool) {
	head := root.name
	if head != "check" && len(root.children) == 1 {
		head += " " + root.children[0].name
	}
	if !deviceOpRoots[head] {
		return result{}, false
	}
	// Walk the single-child chain; the command is the path to a leaf with
	// neither children nor text.
	var path []string
	n := root
	for {
		path = append(path, n.name)
		if len(n.children) != 1 {
			break
		}
		n = n.children[0]
	}
	cmd := strings.Join(path, " ")
	answer, known := deviceOps[cmd]
	if !known || len(n.children) > 0 || strings.TrimSpace(n.text) != "" {
		// Name the first element the grammar does not expect, as PAN-OS
		// does; a path that stops short names itself.
		i := 1
		for i < len(path) && isDeviceOpPrefix(strings.Join(path[:i+1], " ")) {
			i++
		}
		if i < len(path) {
			return unexpected(w, path[:i+1]...), true
		}
		return unexpected(w, path...), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var dev *deviceState
	if t := strings.TrimSpace(r.Form.Get("target")); t != "" {
		// Panorama answers for a managed firewall; a firewall knows no
		// targets.
		if dev = s.devices[t]; !s.cfg.Panorama || dev == nil {
			return writeUnknownTarget(w, t), true
		}
	}
	body, ok := answer(s, r, dev)
	if !ok {
		return unexpected(w, path[:2]...), true
	}
	return writeXML(w, http.StatusOK, "success", 0, `<response status="success">`+body+`</response>`), true
}

// isDeviceOpPrefix reports whether p is a command of deviceOps or leads to one.
func isDeviceOpPrefix(p string) bool {
	for c := range deviceOps {
		if c == p || strings.HasPrefix(c, p+" ") {
			return true
		}
	}
	return false
}

// pendingChangesLocked answers check pending-changes: yes when the candidate
// config differs from the running one, whoever made the changes (the
// command is device-wide; partial commits are per admin). Writes that
// cancel out leave nothing pending, as a commit would find.
func (s *Sim) pendingChangesLocked(_ *http.Request, dev *deviceState) (string, bool) {
	// A managed firewall's config changes only by pushes, which it commits
	// at once.
	if dev == nil && s.cfgTree.candidate.String() != s.cfgTree.running.String() {
		return "<result>yes</result>", true
	}
	return "<result>no</result>", true
}

// clockLocked answers show clock: the date(1) line of Config.Now in UTC
// (the default config sets no deviceconfig/system/timezone), newline
// included, which pango's Client.Clock parses with time.UnixDate+"\n".
func (s *Sim) clockLocked(*http.Request, *deviceState) (string, bool) {
	return "<result>" + s.cfg.Now().UTC().Format("Mon Jan _2 15:04:05 MST 2006") + "\n</result>", true
}

// sessionInfo answers show session info: the fields and order of a device's
// recorded answer (IrekRomaniuk/snap-plugin-collector-sessioninfo's test
// data) with the default timeouts it shows, no traffic (counters and rates
// 0), no hardware offload (a VM-Series has none) and num-max 2000000, the
// session capacity Palo Alto gives a 16 GB VM-Series (show system info's
// vm-memory) since PAN-OS 10.2's memory scaling. panos_facts reads
// num-active, num-max, pps and kbps.
const sessionInfo = "<result>" +
	"<tmo-udp>30</tmo-udp><tcp-nonsyn-rej>False</tcp-nonsyn-rej><tmo-tcp>3600</tmo-tcp><pps>0</pps>" +
	"<num-max>2000000</num-max><age-scan-thresh>80</age-scan-thresh><tmo-tcphalfclosed>120</tmo-tcphalfclosed>" +
	"<num-active>0</num-active><dis-def>60</dis-def><num-mcast>0</num-mcast>" +
	"<icmp-unreachable-rate>200</icmp-unreachable-rate><tmo-tcptimewait>15</tmo-tcptimewait>" +
	"<age-scan-ssf>8</age-scan-ssf><vardata-rate>10485760</vardata-rate><age-scan-tmo>10</age-scan-tmo>" +
	"<tmo-tcpinit>5</tmo-tcpinit><dp>*.dp0</dp><dis-tcp>90</dis-tcp><num-udp>0</num-udp><tmo-icmp>6</tmo-icmp>" +
	"<max-pending-mcast>0</max-pending-mcast><age-accel-thresh>80</age-accel-thresh>" +
	"<tmo-tcphandshake>10</tmo-tcphandshake><oor-action>drop</oor-action><tmo-def>30</tmo-def>" +
	"<age-accel-en>True</age-accel-en><age-accel-tsf>2</age-accel-tsf><hw-offload>False</hw-offload>" +
	"<num-icmp>0</num-icmp><num-predict>0</num-predict><tmo-cp>30</tmo-cp><strict-checksum>True</strict-checksum>" +
	"<tmo-tcp-unverif-rst>30</tmo-tcp-unverif-rst><num-bcast>0</num-bcast><ipv6-fw>True</ipv6-fw>" +
	"<num-installed>0</num-installed><num-tcp>0</num-tcp><dis-udp>60</dis-udp><cps>0</cps><kbps>0</kbps>" +
	"</result>"

// sessionMeter answers show session meter for the one vsys of a VM-Series:
// vsys 1, no session limit configured (maximum 0, "0 for unlimited" in
// panos_facts' documentation) and no sessions. No recorded XML answer was
// found; the elements are those panos_facts reads (entry with vsys, current,
// maximum) and the columns Palo Alto documents for the command (Maximum,
// Current, Throttled).
const sessionMeter = "<result><entry><vsys>1</vsys><maximum>0</maximum><current>0</current><throttled>0</throttled></entry></result>"

// routeFlags is the legend a device prints before its routes (XSOAR's
// recorded show_routing_route.xml).
const routeFlags = "flags: A:active, ?:loose, C:connect, H:host, S:static, ~:internal, R:rip, O:ospf, B:bgp, " +
	"Oi:ospf intra-area, Oo:ospf inter-area, O1:ospf ext-type-1, O2:ospf ext-type-2, E:ecmp, M:multicast"

// routesLocked answers show routing route with the running config's IPv4
// static routes, in the shape of XSOAR's recorded answer: per route
// virtual-router, destination, nexthop, metric (10 when unset, the PAN-OS
// default), flags "A S   ", an empty age, interface and route-table unicast.
// Routes a device learns itself (connected and host routes, the DHCP
// client's default route) are not listed: the emulator assigns no interface
// addresses. A firewall with advanced routing has no virtual routers and
// answers its logical routers under another command.
func (s *Sim) routesLocked(_ *http.Request, dev *deviceState) (string, bool) {
	root := s.cfgTree.running
	if dev != nil {
		root = dev.running
	}
	if ar, _ := lookup(root, withSteps(deviceSteps, step("deviceconfig", ""), step("setting", ""), step("advance-routing", ""))); ar != nil && ar.text == "yes" {
		return "", false
	}
	var b strings.Builder
	b.WriteString("<result><flags>" + routeFlags + "</flags>")
	vrs, _ := lookup(root, withSteps(deviceSteps, step("network", ""), step("virtual-router", "")))
	if vrs != nil {
		for _, vr := range vrs.children {
			vrName, _ := vr.attr("name")
			routes, _ := lookup(vr, []xpathStep{step(vr.name, ""), step("routing-table", ""), step("ip", ""), step("static-route", "")})
			if routes == nil {
				continue
			}
			for _, rt := range routes.children {
				dst := rt.child("destination")
				if dst == nil {
					continue
				}
				p, err := netip.ParsePrefix(strings.TrimSpace(dst.text))
				if err != nil || !p.Addr().Is4() {
					continue // an address object's name: not resolved here
				}
				metric := "10"
				if m := rt.child("metric"); m != nil && m.text != "" {
					metric = m.text
				}
				var nexthop, iface string
				if nh := rt.child("nexthop"); nh != nil {
					if ip := nh.child("ip-address"); ip != nil {
						nexthop = ip.text
					}
				}
				if i := rt.child("interface"); i != nil {
					iface = i.text
				}
				b.WriteString("<entry><virtual-router>" + escape(vrName) + "</virtual-router><destination>" + p.Masked().String() +
					"</destination><nexthop>" + escape(nexthop) + "</nexthop><metric>" + escape(metric) +
					"</metric><flags>A S   </flags><age></age><interface>" + escape(iface) +
					"</interface><route-table>unicast</route-table></entry>")
			}
		}
	}
	b.WriteString("</result>")
	return b.String(), true
}
