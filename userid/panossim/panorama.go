package panossim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// deviceState is a firewall managed by the emulated Panorama: its own
// factory config plus what Panorama last pushed to it.
type deviceState struct {
	Device
	base    *node   // the firewall's local config (the default firewall config)
	tmpl    *node   // pushed template config: a <config> overlay, nil before any
	policy  *policy // pushed shared and device-group content, nil before any
	running *node   // base + tmpl + policy
}

// policy is what a shared-policy push gives a firewall: Panorama's shared
// location and the device groups it inherits from, ancestors before
// descendants (clones of Panorama's running config at the push).
type policy struct {
	shared *node   // Panorama's <shared>, nil when it has none
	dgs    []*node // device-group entries, top level first
}

// pushedObjects are the object kinds a push carries.
var pushedObjects = []string{"tag", "address", "address-group", "service", "service-group"}

// pushFail is a FailPush knob for one device.
type pushFail struct {
	left    int
	details string
}

func newDeviceState(cfg Config, d Device) *deviceState {
	fw := cfg
	fw.Panorama = false
	fw.Serial = d.Serial
	fw.Hostname = d.Name
	nodes, err := parseNodes(defaultConfig(fw))
	if err != nil {
		panic("panossim: built-in firewall config: " + err.Error())
	}
	ds := &deviceState{Device: d, base: nodes[0]}
	ds.running = ds.effective(nil, nil)
	return ds
}

// effective returns the firewall's running config with template overlay
// tmpl and policy pol pushed: template config merged over the local
// config; Panorama's shared objects in the firewall's shared, device-group
// objects in vsys1, a descendant's object replacing an ancestor's of the
// same name (Panorama's default precedence); and per rulebase, in
// Panorama's evaluation order, shared pre-rules, the device groups'
// pre-rules top level first, the firewall's own rules, the device groups'
// post-rules deepest first, shared post-rules.
func (ds *deviceState) effective(tmpl *node, pol *policy) *node {
	out := ds.base.clone()
	if tmpl != nil {
		merge(out, cloneAll(tmpl.children))
	}
	if pol == nil {
		return out
	}
	fwShared, err := ensure(out, []xpathStep{step("config", ""), step("shared", "")})
	if err != nil {
		return out
	}
	vsys, err := ensure(out, withSteps(deviceSteps, step("vsys", ""), step("entry", "vsys1")))
	if err != nil {
		return out
	}
	if pol.shared != nil {
		overlayObjects(fwShared, pol.shared)
	}
	for _, dg := range pol.dgs {
		overlayObjects(vsys, dg)
	}
	// The layers top down; the rulebase types they push, first seen first.
	layers := append([]*node{pol.shared}, pol.dgs...)
	var types []string
	seen := map[string]bool{}
	for _, l := range layers {
		for _, rb := range []string{"pre-rulebase", "post-rulebase"} {
			if l == nil || l.child(rb) == nil {
				continue
			}
			for _, t := range l.child(rb).children {
				if !seen[t.name] {
					seen[t.name] = true
					types = append(types, t.name)
				}
			}
		}
	}
	for _, t := range types {
		var pre, post []*node
		for i := range layers {
			pre = append(pre, pushedRules(layers[i], "pre-rulebase", t)...)
			post = append(post, pushedRules(layers[len(layers)-1-i], "post-rulebase", t)...)
		}
		dst, err := ensure(vsys, []xpathStep{step("entry", "vsys1"), step("rulebase", ""), step(t, ""), step("rules", "")})
		if err != nil {
			continue
		}
		dst.text = ""
		dst.children = append(append(pre, dst.children...), post...)
	}
	return out
}

// pushedRules are clones of layer's rules of rulebase type typ in rb.
func pushedRules(layer *node, rb, typ string) []*node {
	if layer == nil || layer.child(rb) == nil || layer.child(rb).child(typ) == nil {
		return nil
	}
	if rules := layer.child(rb).child(typ).child("rules"); rules != nil {
		return cloneAll(rules.children)
	}
	return nil
}

// overlayObjects copies src's objects into dst, an entry replacing dst's
// entry of the same name.
func overlayObjects(dst, src *node) {
	for _, kind := range pushedObjects {
		from := src.child(kind)
		if from == nil {
			continue
		}
		to := dst.child(kind)
		if to == nil {
			to = &node{name: kind}
			dst.text = ""
			dst.children = append(dst.children, to)
		}
		for _, e := range from.children {
			name, _ := e.attr("name")
			replaced := false
			for i, old := range to.children {
				if v, _ := old.attr("name"); v == name && old.name == e.name {
					to.children[i], replaced = e.clone(), true
					break
				}
			}
			if !replaced {
				to.text = ""
				to.children = append(to.children, e.clone())
			}
		}
	}
}

// FailPush makes the next n pushes (commit-all) to the managed firewall
// serial fail on that device with details as its error line (a default
// text when empty); other devices of the same push succeed.
func (s *Sim) FailPush(serial string, n int, details string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.failPush, serial)
		return
	}
	s.failPush[serial] = &pushFail{left: n, details: details}
}

// DeviceConfig returns the running config of a firewall managed by the
// emulated Panorama, with what was pushed to it merged in, as XML; ok is
// false for an unknown serial or on a firewall.
func (s *Sim) DeviceConfig(serial string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.devices[serial]
	if ds == nil {
		return "", false
	}
	return ds.running.String(), true
}

var panoramaPrefix = []xpathStep{step("config", ""), step("devices", ""), step("entry", "localhost.localdomain")}

func withSteps(steps []xpathStep, more ...xpathStep) []xpathStep {
	return append(append([]xpathStep(nil), steps...), more...)
}

// members returns the texts of the member children of n/name.
func members(n *node, name string) []string {
	if n == nil {
		return nil
	}
	c := n.child(name)
	if c == nil {
		return nil
	}
	var out []string
	for _, m := range c.children {
		if m.name == "member" {
			out = append(out, m.text)
		}
	}
	return out
}

// appliesTo reports whether a template or template stack entry applies to
// serial: it lists the device under devices, or lists no devices at all
// (the emulator's default: every managed firewall). Device groups use
// dgMembersLocked, since a firewall belongs to one group.
func appliesTo(entry *node, serial string) bool {
	devs := entry.child("devices")
	if devs == nil || len(devs.children) == 0 {
		return true
	}
	for _, d := range devs.children {
		if v, _ := d.attr("name"); v == serial {
			return true
		}
	}
	return false
}

// templateOverlay is the template config Panorama pushes to serial from
// its running config: every template stack that applies to the device
// (its templates, the first in the list winning, then the stack's own
// config) and every template in no stack. onlyStack and onlyTemplate
// restrict it to one stack or template.
func (s *Sim) templateOverlayLocked(serial, onlyStack, onlyTemplate string) *node {
	root := s.cfgTree.running
	out := &node{name: "config"}
	tmpls, _ := lookup(root, withSteps(panoramaPrefix, step("template", "")))
	template := func(name string) *node {
		if tmpls == nil {
			return nil
		}
		for _, t := range tmpls.children {
			if v, _ := t.attr("name"); v == name {
				return t.child("config")
			}
		}
		return nil
	}
	inStack := map[string]bool{}
	if stacks, _ := lookup(root, withSteps(panoramaPrefix, step("template-stack", ""))); stacks != nil {
		for _, st := range stacks.children {
			name, _ := st.attr("name")
			ts := members(st, "templates")
			for _, t := range ts {
				inStack[t] = true
			}
			if onlyTemplate != "" || onlyStack != "" && name != onlyStack || !appliesTo(st, serial) {
				continue
			}
			for i := len(ts) - 1; i >= 0; i-- {
				if c := template(ts[i]); c != nil {
					merge(out, cloneAll(c.children))
				}
			}
			if c := st.child("config"); c != nil {
				merge(out, cloneAll(c.children))
			}
		}
	}
	if onlyStack == "" && tmpls != nil {
		for _, t := range tmpls.children {
			name, _ := t.attr("name")
			if onlyTemplate != "" && name != onlyTemplate || onlyTemplate == "" && inStack[name] || !appliesTo(t, serial) {
				continue
			}
			if c := t.child("config"); c != nil {
				merge(out, cloneAll(c.children))
			}
		}
	}
	return out
}

// commitAllLocked runs a Panorama push: <commit-all> with <shared-policy>
// (a device group, optionally its templates), <template-stack> or
// <template>. Each targeted firewall validates the config it would run;
// FailCommits fails every device of the push, FailPush one device.
func (s *Sim) commitAllLocked(w http.ResponseWriter, cmd *node, user string) result {
	if len(cmd.children) != 1 {
		if len(cmd.children) == 0 {
			return writeErrorCDATA(w, 17, " commit-all  is incomplete")
		}
		return unexpected(w, "commit-all", cmd.children[1].name)
	}
	kind := cmd.children[0]
	var dgName, stackName, tmplName, description string
	includeTemplate, validateOnly := false, false
	var onlyDevices map[string]bool
	switch kind.name {
	case "shared-policy":
		for _, c := range kind.children {
			switch c.name {
			case "device-group":
				e := c.child("entry")
				switch {
				case e != nil:
					dgName, _ = e.attr("name")
					if devs := e.child("devices"); devs != nil {
						onlyDevices = map[string]bool{}
						for _, d := range devs.children {
							v, _ := d.attr("name")
							onlyDevices[v] = true
						}
					}
				case len(c.children) == 0 && c.text != "":
					// pan-python's PanCommit names the group as text.
					dgName = c.text
				}
			case "device":
				// pan-python's PanCommit: one firewall by serial.
				onlyDevices = map[string]bool{c.text: true}
			case "include-template":
				includeTemplate = c.text == "yes"
			case "validate-only":
				validateOnly = true
			case "description":
				description = c.text
			case "merge-with-candidate-cfg", "force-template-values", "admin", "vsys":
			default:
				return unexpected(w, "commit-all", "shared-policy", c.name)
			}
		}
	case "template-stack", "template":
		for _, c := range kind.children {
			switch c.name {
			case "name":
				if kind.name == "template" {
					tmplName = c.text
				} else {
					stackName = c.text
				}
			case "device":
				onlyDevices = map[string]bool{}
				for _, m := range c.children {
					onlyDevices[m.text] = true
				}
			case "validate-only":
				validateOnly = true
			case "description":
				description = c.text
			case "merge-with-candidate-cfg", "force-template-values", "admin":
			default:
				return unexpected(w, "commit-all", kind.name, c.name)
			}
		}
		if stackName == "" && tmplName == "" {
			return writeErrorCDATA(w, 17, " commit-all -> "+kind.name+" -> name  is missing")
		}
	default:
		return unexpected(w, "commit-all", kind.name)
	}

	// Panorama pushes its running config: what was never committed to
	// Panorama cannot be pushed.
	var scopeEntry *node
	switch {
	case dgName != "":
		dg, _ := lookup(s.cfgTree.running, withSteps(panoramaPrefix, step("device-group", ""), step("entry", dgName)))
		if dg == nil {
			return writeErrorCDATA(w, 17, " device-group "+dgName+" does not exist in the running configuration")
		}
	case kind.name == "shared-policy":
		// No device group named: every device group (documented as the
		// form of a whole shared-policy push or validation).
		if all, _ := lookup(s.cfgTree.running, withSteps(panoramaPrefix, step("device-group", ""))); all == nil || len(all.children) == 0 {
			return writeErrorCDATA(w, 17, " commit-all -> shared-policy: no device group in the running configuration")
		}
	case stackName != "":
		scopeEntry, _ = lookup(s.cfgTree.running, withSteps(panoramaPrefix, step("template-stack", ""), step("entry", stackName)))
		if scopeEntry == nil {
			return writeErrorCDATA(w, 17, " template-stack "+stackName+" does not exist in the running configuration")
		}
	default:
		scopeEntry, _ = lookup(s.cfgTree.running, withSteps(panoramaPrefix, step("template", ""), step("entry", tmplName)))
		if scopeEntry == nil {
			return writeErrorCDATA(w, 17, " template "+tmplName+" does not exist in the running configuration")
		}
	}

	j := s.newJobLocked("CommitAll", user)
	j.pushType, j.dgName, j.description = kind.name, dgName, description
	failAll := ""
	if s.failJobs > 0 {
		s.failJobs--
		failAll = s.failMsg
		if failAll == "" {
			failAll = "commit failed (injected)"
		}
	}
	for _, d := range s.cfg.Devices {
		if onlyDevices != nil && !onlyDevices[d.Serial] || scopeEntry != nil && !appliesTo(scopeEntry, d.Serial) {
			continue
		}
		ds := s.devices[d.Serial]
		jd := jobDevice{serial: d.Serial, name: d.Name}
		tmpl, pol := ds.tmpl, ds.policy
		if kind.name == "shared-policy" {
			// A push of a device group reaches the firewalls assigned to
			// it, not those of its descendants (which get its content when
			// their own group is pushed); each gets the group with its
			// ancestors and shared.
			members := s.dgMembersLocked(d.Serial)
			if dgName != "" {
				if !slices.Contains(members, dgName) {
					continue
				}
				members = []string{dgName}
			}
			if len(members) == 0 {
				continue
			}
			pol = s.policyLocked(members)
			if includeTemplate {
				tmpl = s.templateOverlayLocked(d.Serial, "", "")
			}
		} else {
			tmpl = s.templateOverlayLocked(d.Serial, stackName, tmplName)
		}
		next := ds.effective(tmpl, pol)
		if pf := s.failPush[d.Serial]; pf != nil && pf.left > 0 {
			pf.left--
			msg := pf.details
			if msg == "" {
				msg = "commit failed on device " + d.Serial + " (injected)"
			}
			jd.fail, jd.lines = true, []string{msg}
		} else if failAll != "" {
			jd.fail, jd.lines = true, []string{failAll}
		} else if errs := validateFirewall(next); len(errs) > 0 {
			jd.fail, jd.lines = true, append(append([]string{"Validation Error:"}, errs...), "Commit failed")
		}
		if !jd.fail {
			if validateOnly {
				jd.lines = []string{"Configuration is valid"}
			} else {
				ds.tmpl, ds.policy, ds.running = tmpl, pol, next
				jd.lines = []string{"Configuration committed successfully"}
			}
		}
		if jd.fail {
			j.fail = true
		}
		j.devices = append(j.devices, jd)
	}
	if len(j.devices) == 0 {
		j.fail = true
		j.details = []string{fmt.Sprintf("No devices to push to for %s", kind.name)}
	}
	id := strconv.Itoa(j.id)
	return writeXML(w, http.StatusOK, "success", 19,
		`<response status="success" code="19"><result><msg><line>Push job enqueued with jobid `+id+`</line></msg><job>`+id+`</job></result></response>`)
}
