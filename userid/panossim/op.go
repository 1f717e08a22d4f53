package panossim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// opGrammar is the op command tree the Sim knows; nil marks a command whose
// arguments its handler checks.
var opGrammar = map[string]map[string]map[string]bool{
	"show": {
		"object":  {"registered-ip": true, "dynamic-address-group": true, "registered-user": true},
		"user":    {"ip-user-mapping": true, "ip-user-mapping-mp": true, "group": true},
		"jobs":    {"id": true, "all": true},
		"system":  {"info": true},
		"devices": {"all": true, "connected": true}, // Panorama only
	},
}

func (s *Sim) op(w http.ResponseWriter, r *http.Request, user string) result {
	s.mu.Lock()
	s.stats.OpCalls++
	s.mu.Unlock()
	nodes, err := parseNodes(r.Form.Get("cmd"))
	if err != nil || len(nodes) != 1 {
		return writeError(w, http.StatusOK, 18, "Malformed Request")
	}
	root := nodes[0]
	if res, ok := s.deviceOp(w, r, root); ok { // opdevice.go
		return res
	}
	if res, ok := s.lockOp(w, r, root, user); ok { // oplocks.go
		return res
	}
	if res, ok := s.configOp(w, r, root, user); ok { // opconfig.go
		return res
	}
	if root.name == "request" && len(root.children) == 1 && root.children[0].name == "move-dg" {
		if !s.cfg.Panorama { // a firewall has no device groups
			return unexpected(w, root.name, "move-dg")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.moveDGLocked(w, root.children[0], user) // dghierarchy.go
	}
	l1, ok := opGrammar[root.name]
	if !ok {
		return unexpected(w, root.name)
	}
	if len(root.children) != 1 {
		return unexpected(w, root.name)
	}
	n1 := root.children[0]
	if root.name == "show" && n1.name == "dg-hierarchy" && s.cfg.Panorama && len(n1.children) == 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.showDGHierarchyLocked(w)
	}
	l2, ok := l1[n1.name]
	if !ok {
		return unexpected(w, root.name, n1.name)
	}
	if len(n1.children) != 1 || !l2[n1.children[0].name] {
		if len(n1.children) == 0 {
			return unexpected(w, root.name, n1.name)
		}
		return unexpected(w, root.name, n1.name, n1.children[0].name)
	}
	n2 := n1.children[0]
	if n1.name == "devices" && !s.cfg.Panorama {
		return unexpected(w, root.name, n1.name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch n1.name + "/" + n2.name {
	case "object/registered-ip":
		target, ok := s.target(r)
		if !ok {
			return writeUnknownTarget(w, target)
		}
		return s.showRegisteredLocked(w, n2, scopeKey(s.uidVsys(r, target), target))
	case "object/dynamic-address-group":
		return s.showDAGLocked(w, r, n2)
	case "object/registered-user", "user/ip-user-mapping", "user/ip-user-mapping-mp", "user/group":
		target, ok := s.target(r)
		if !ok {
			return writeUnknownTarget(w, target)
		}
		return s.userOpLocked(w, n2, s.uidVsys(r, target), target) // uidop.go
	case "jobs/id":
		return s.showJobLocked(w, n2.text)
	case "jobs/all":
		return s.showJobsAllLocked(w)
	case "devices/all", "devices/connected":
		return s.showDevicesLocked(w)
	default: // system/info
		info := identity{panorama: s.cfg.Panorama, model: s.cfg.Model, serial: s.cfg.Serial, hostname: s.cfg.Hostname}
		// A committed hostname is what the device reports.
		if h, _ := lookup(s.cfgTree.running, withSteps(deviceSteps, step("deviceconfig", ""), step("system", ""), step("hostname", ""))); h != nil && h.text != "" {
			info.hostname = h.text
		}
		// Panorama answers for a managed firewall named by target=.
		if t := strings.TrimSpace(r.Form.Get("target")); s.cfg.Panorama && t != "" {
			d := s.device(t)
			if d == nil {
				return writeUnknownTarget(w, t)
			}
			info = identity{model: "PA-VM", serial: d.Serial, hostname: d.Name}
		}
		return writeXML(w, http.StatusOK, "success", 0,
			`<response status="success"><result><system>`+s.systemInfoLocked(info)+`</system></result></response>`)
	}
}

// identity is the device show system info describes.
type identity struct {
	panorama                bool
	model, serial, hostname string
}

// showDevicesLocked answers Panorama's show devices all|connected: its
// managed firewalls, all connected, with the fields clients read.
func (s *Sim) showDevicesLocked(w http.ResponseWriter) result {
	var b strings.Builder
	b.WriteString(`<response status="success"><result><devices>`)
	for i, d := range s.cfg.Devices {
		serial := escape(d.Serial)
		b.WriteString(`<entry name="` + escapeAttr(d.Serial) + `"><serial>` + serial + `</serial><connected>yes</connected>` +
			`<unsupported-version>no</unsupported-version><deactivated>no</deactivated><hostname>` + escape(d.Name) + `</hostname>` +
			`<ip-address>10.0.` + strconv.Itoa(i/250) + `.` + strconv.Itoa(i%250+10) + `</ip-address><ipv6-address>unknown</ipv6-address>` +
			`<family>vm</family><model>PA-VM</model><sw-version>` + escape(s.cfg.SWVersion) + `</sw-version>` +
			`<app-version>8971-9419</app-version><av-version>5169-5689</av-version><threat-version>8971-9419</threat-version>` +
			`<url-db>paloaltonetworks</url-db><logdb-version>` + logdbVersion(s.cfg.SWVersion) + `</logdb-version>` +
			`<ha><state>disabled</state></ha><vpn-disable-mode>no</vpn-disable-mode><operational-mode>normal</operational-mode>` +
			`<multi-vsys>no</multi-vsys><vsys><entry name="vsys1"><display-name>vsys1</display-name></entry></vsys></entry>`)
	}
	b.WriteString(`</devices></result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}

// systemInfoLocked is the body of show system info: every field a VM-Series
// firewall (or a Panorama virtual appliance) on AWS reports, in the order
// devices print them, with model, serial and version from Config.
func (s *Sim) systemInfoLocked(id identity) string {
	now := s.cfg.Now()
	up := now.Sub(s.started)
	if up < 0 {
		up = 0
	}
	secs := int(up / time.Second)
	uptime := fmt.Sprintf("%d days, %d:%02d:%02d", secs/86400, secs/3600%24, secs/60%60, secs%60)
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	type kv struct{ k, v string }
	fields := []kv{
		{"hostname", id.hostname},
		{"ip-address", "10.0.0.10"},
		{"public-ip-address", "unknown"},
		{"netmask", "255.255.255.0"},
		{"default-gateway", "10.0.0.1"},
		{"is-dhcp", "yes"},
		{"ipv6-address", "unknown"},
		{"ipv6-link-local-address", "fe80::8ff:aff:fe00:a/64"},
		{"mac-address", "0a:ff:0a:00:00:0a"},
		{"time", now.Format("Mon Jan _2 15:04:05 2006")},
		{"uptime", uptime},
		{"devicename", id.hostname},
	}
	if id.panorama {
		fields = append(fields,
			kv{"family", "pc"},
			kv{"model", id.model},
			kv{"serial", id.serial},
			kv{"cloud-mode", "non-cloud"},
			kv{"vm-uuid", "EC2A0E6B-0C3E-4F6A-8E2B-5D0F0A1B2C3D"},
			kv{"vm-cpuid", "AWS:000306F2FFFB8B1F"},
			kv{"vm-mode", "Amazon AWS"},
			kv{"sw-version", s.cfg.SWVersion},
			kv{"device-dictionary-version", "173-600"},
			kv{"device-dictionary-release-date", "2025/04/25 12:16:03 UTC"},
			kv{"app-version", "8971-9419"},
			kv{"app-release-date", "2025/04/28 16:06:06 UTC"},
			kv{"av-version", "0"},
			kv{"av-release-date", "unknown"},
			kv{"wf-private-version", "0"},
			kv{"wf-private-release-date", "unknown"},
			kv{"url-db", "paloaltonetworks"},
			kv{"wildfire-version", "0"},
			kv{"wildfire-release-date", "unknown"},
			kv{"wildfire-rt", "Disabled"},
			kv{"logdb-version", logdbVersion(s.cfg.SWVersion)},
			kv{"platform-family", "pc"},
			kv{"system-mode", "panorama"},
			kv{"operational-mode", "normal"},
			kv{"licensed-device-capacity", "25"},
			kv{"device-certificate-status", "None"},
			kv{"multi-vsys", "off"},
			kv{"advanced-routing", onOff(s.cfg.AdvancedRouting)},
		)
	} else {
		fields = append(fields,
			kv{"family", "vm"},
			kv{"model", id.model},
			kv{"serial", id.serial},
			kv{"cloud-mode", "non-cloud"},
			kv{"vm-mac-base", "7C:89:C1:00:00:00"},
			kv{"vm-mac-count", "256"},
			kv{"vm-uuid", "EC2B7F1C-5D2A-4C8E-9F3B-1A2B3C4D5E6F"},
			kv{"vm-cpuid", "AWS:000306F2FFFB8B1F"},
			kv{"vm-license", "VM-300"},
			kv{"vm-cap-tier", "7.0 GB"},
			kv{"vm-cpu-count", "4"},
			kv{"vm-memory", "15815484"},
			kv{"vm-mode", "Amazon AWS"},
			kv{"sw-version", s.cfg.SWVersion},
			kv{"global-protect-client-package-version", "0.0.0"},
			kv{"device-dictionary-version", "173-600"},
			kv{"device-dictionary-release-date", "2025/04/25 12:16:03 UTC"},
			kv{"app-version", "8971-9419"},
			kv{"app-release-date", "2025/04/28 16:06:06 UTC"},
			kv{"av-version", "5169-5689"},
			kv{"av-release-date", "2025/04/29 05:00:05 UTC"},
			kv{"threat-version", "8971-9419"},
			kv{"threat-release-date", "2025/04/28 16:06:06 UTC"},
			kv{"wf-private-version", "0"},
			kv{"wf-private-release-date", "unknown"},
			kv{"url-db", "paloaltonetworks"},
			kv{"wildfire-version", "0"},
			kv{"wildfire-release-date", "unknown"},
			kv{"wildfire-rt", "Disabled"},
			kv{"url-filtering-version", "20250430.20332"},
			kv{"global-protect-datafile-version", "unknown"},
			kv{"global-protect-datafile-release-date", "unknown"},
			kv{"global-protect-clientless-vpn-version", "0"},
			kv{"logdb-version", logdbVersion(s.cfg.SWVersion)},
			kv{"platform-family", "vm"},
			kv{"vpn-disable-mode", "off"},
			kv{"multi-vsys", "off"},
			kv{"ZTP", "Disabled"},
			kv{"operational-mode", "normal"},
			kv{"advanced-routing", onOff(s.cfg.AdvancedRouting)},
			kv{"device-certificate-status", "None"},
		)
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString("<" + f.k + ">" + escape(f.v) + "</" + f.k + ">")
	}
	return b.String()
}

// logdbVersion is the log database version a release ships: its
// major.minor and ".1" (e.g. 10.2.1 on 10.2.x), as observed on devices.
func logdbVersion(sw string) string {
	parts := strings.SplitN(sw, ".", 3)
	if len(parts) < 2 {
		return sw
	}
	return parts[0] + "." + parts[1] + ".1"
}

// version answers type=version, the short identity clients read before any
// version-dependent call.
func (s *Sim) version(w http.ResponseWriter) result {
	multi := "off"
	return writeXML(w, http.StatusOK, "success", 0,
		`<response status="success"><result><sw-version>`+escape(s.cfg.SWVersion)+`</sw-version><multi-vsys>`+multi+
			`</multi-vsys><model>`+escape(s.cfg.Model)+`</model><serial>`+escape(s.cfg.Serial)+`</serial></result></response>`)
}

// unexpected answers an unknown op command as PAN-OS does:
// <![CDATA[ show -> bogus  is unexpected]]> with code 17.
func unexpected(w http.ResponseWriter, path ...string) result {
	return writeErrorCDATA(w, 17, " "+strings.Join(path, " -> ")+"  is unexpected")
}

func (s *Sim) showRegisteredLocked(w http.ResponseWriter, q *node, scopeKey string) result {
	var tag, ip string
	limit, start := DefaultPageLimit, 1
	for _, c := range q.children {
		switch c.name {
		case "all":
		case "tag":
			e := c.child("entry")
			if e == nil {
				return unexpected(w, "show", "object", "registered-ip", "tag")
			}
			tag, _ = e.attr("name")
		case "ip":
			a, err := parseRegAddr(c.text)
			if err != nil {
				return writeErrorCDATA(w, 17, " show -> object -> registered-ip -> ip '"+c.text+"' is not a valid IP address")
			}
			ip = a.key
		case "limit", "start-point":
			n, err := strconv.Atoi(strings.TrimSpace(c.text))
			if err != nil || n < 1 {
				return writeErrorCDATA(w, 17, " show -> object -> registered-ip -> "+c.name+" '"+c.text+"' is not a valid number")
			}
			if c.name == "limit" {
				limit = min(n, DefaultPageLimit)
			} else {
				start = n
			}
		default:
			return unexpected(w, "show", "object", "registered-ip", c.name)
		}
	}
	now := s.cfg.Now()
	s.reg.sweep(now)
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	count := 0
	var names []string
	write := func(e *ipEntry) {
		count++
		b.WriteString(`<entry ip="`)
		b.WriteString(e.addr.key)
		b.WriteString(`" from_agent="0" persistent="`)
		if e.persistent() {
			b.WriteString(`1">`)
		} else {
			b.WriteString(`0">`)
		}
		b.WriteString(`<tag>`)
		names = e.appendLiveTags(names[:0], now)
		for _, t := range names {
			b.WriteString(`<member>`)
			b.WriteString(escape(t))
			b.WriteString(`</member>`)
		}
		b.WriteString(`</tag></entry>`)
	}
	sc := s.reg.scope(scopeKey, false)
	switch {
	case sc == nil:
	case ip != "":
		// One address at most: no paging to speak of.
		if e := sc.entries[ip]; e != nil && start == 1 && (tag == "" || e.find(tag) >= 0) {
			write(e)
		}
	case tag == "":
		// Unfiltered: start-point is a rank in the order.
		sc.order.from(start-1, func(e *ipEntry) bool {
			if count == limit {
				return false
			}
			write(e)
			return true
		})
	default:
		// By tag: continue where an earlier page of the same listing
		// ended when the table has not changed since, else count the
		// matches from the beginning.
		seen := 0
		var last *ipEntry
		visit := func(e *ipEntry) bool {
			if e.find(tag) < 0 {
				return true
			}
			if seen++; seen < start {
				return true
			}
			if count == limit {
				return false
			}
			write(e)
			last = e
			return true
		}
		if c := sc.cursor(tag, start); c != nil {
			seen = c.next - 1
			sc.order.after(c.last, visit)
		} else {
			sc.order.from(0, visit)
		}
		if last != nil {
			sc.saveCursor(tag, start+count, last)
		}
	}
	b.WriteString(`<count>` + strconv.Itoa(count) + `</count></result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}
