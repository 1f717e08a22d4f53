package panossim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// configTrees is the candidate and the running configuration.
type configTrees struct {
	candidate, running *node
}

// defaultConfig is the configuration a Sim starts with. A firewall is a
// VM-Series as Palo Alto's AWS deployment guide sets it up: ethernet1/1 in
// zone untrust (DHCP, default route), ethernet1/2 in zone trust (DHCP, no
// default route), both in virtual-router "default" (or, with
// Config.AdvancedRouting, logical-router "default", vrf "default"). Panorama
// starts with its managed devices and no device groups or templates.
func defaultConfig(cfg Config) string {
	var b strings.Builder
	b.WriteString(`<config version="` + configVersion(cfg.SWVersion) + `" urldb="paloaltonetworks" detail-version="` + escapeAttr(cfg.SWVersion) + `">`)
	b.WriteString(`<mgt-config><users>`)
	users := make([]string, 0, len(cfg.Users))
	for u := range cfg.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		b.WriteString(`<entry name="` + escapeAttr(u) + `"><permissions><role-based><superuser>yes</superuser></role-based></permissions></entry>`)
	}
	b.WriteString(`</users>`)
	if cfg.Panorama {
		b.WriteString(`<devices>`)
		for _, d := range cfg.Devices {
			b.WriteString(`<entry name="` + escapeAttr(d.Serial) + `"/>`)
		}
		b.WriteString(`</devices>`)
	}
	b.WriteString(`</mgt-config><shared/><devices><entry name="localhost.localdomain">`)
	b.WriteString(`<deviceconfig><system><hostname>` + escape(cfg.Hostname) + `</hostname></system>`)
	if cfg.AdvancedRouting && !cfg.Panorama {
		b.WriteString(`<setting><advance-routing>yes</advance-routing></setting>`)
	}
	b.WriteString(`</deviceconfig>`)
	if cfg.Panorama {
		b.WriteString(`<device-group/><template/><template-stack/></entry></devices></config>`)
		return b.String()
	}
	b.WriteString(`<network><interface><ethernet>` +
		`<entry name="ethernet1/1"><layer3><dhcp-client><create-default-route>yes</create-default-route></dhcp-client></layer3></entry>` +
		`<entry name="ethernet1/2"><layer3><dhcp-client><create-default-route>no</create-default-route></dhcp-client></layer3></entry>` +
		`</ethernet></interface>`)
	if cfg.AdvancedRouting {
		b.WriteString(`<logical-router><entry name="default"><vrf><entry name="default"><interface><member>ethernet1/1</member><member>ethernet1/2</member></interface></entry></vrf></entry></logical-router>`)
	} else {
		b.WriteString(`<virtual-router><entry name="default"><interface><member>ethernet1/1</member><member>ethernet1/2</member></interface></entry></virtual-router>`)
	}
	b.WriteString(`</network><vsys><entry name="vsys1">` +
		`<import><network><interface><member>ethernet1/1</member><member>ethernet1/2</member></interface></network></import>` +
		`<zone><entry name="untrust"><network><layer3><member>ethernet1/1</member></layer3></network></entry>` +
		`<entry name="trust"><network><layer3><member>ethernet1/2</member></layer3></network></entry></zone>` +
		`<address/><service/><rulebase/></entry></vsys></entry></devices></config>`)
	return b.String()
}

// configVersion is the version attribute of <config>: major.minor.0.
func configVersion(sw string) string {
	parts := strings.SplitN(sw, ".", 3)
	if len(parts) < 2 {
		return sw
	}
	return parts[0] + "." + parts[1] + ".0"
}

func newConfigTrees(cfg Config) configTrees {
	nodes, err := parseNodes(defaultConfig(cfg))
	if err != nil {
		panic("panossim: built-in config: " + err.Error())
	}
	return configTrees{candidate: nodes[0], running: nodes[0].clone()}
}

const writeOK = `<response status="success" code="20"><msg>command succeeded</msg></response>`

func (s *Sim) config(w http.ResponseWriter, r *http.Request, user string) result {
	s.mu.Lock()
	s.stats.ConfigCalls++
	s.mu.Unlock()
	action := r.Form.Get("action")
	switch action {
	case "get", "show", "set", "edit", "delete", "move", "rename", "clone":
	default:
		return writeBadRequest(w, http.StatusBadRequest, `Illegal value for parameter "action" [`+action+`].`)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	// Panorama answers reads for a managed firewall (target=SERIAL) from
	// that firewall's running config, as it proxies them.
	var dev *deviceState
	if s.cfg.Panorama {
		if t := strings.TrimSpace(r.Form.Get("target")); t != "" {
			if dev = s.devices[t]; dev == nil {
				return writeUnknownTarget(w, t)
			}
			if action != "get" && action != "show" {
				return writeError(w, http.StatusOK, 15, "Operation denied: configure a managed firewall through its device group or template")
			}
		}
	}
	xpath := r.Form.Get("xpath")
	if xpath == "" && action == "show" {
		// The whole running config, as devices answer it: no count attributes.
		root := s.cfgTree.running
		if dev != nil {
			root = dev.running
		}
		return writeXML(w, http.StatusOK, "success", 0,
			`<response status="success"><result>`+root.String()+`</result></response>`)
	}
	// A read ending in /@name lists the matched entries' names, answered as
	// empty <entry name="..."/> elements (pan-os-python's and pango's
	// name-only listings rely on this).
	namesOnly := false
	if (action == "get" || action == "show") && strings.HasSuffix(xpath, "/@name") && !strings.Contains(xpath, "|") {
		namesOnly, xpath = true, strings.TrimSuffix(xpath, "/@name")
	}
	paths, err := parseXPathUnion(xpath)
	if err != nil {
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
	}
	if action != "get" && action != "show" {
		for _, p := range paths {
			if holder := s.configLockHolderLocked(user, locationOf(p, s.cfg.Panorama)); holder != "" {
				return writeError(w, http.StatusOK, 15, "Configuration is locked by "+holder) // oplocks.go
			}
		}
	}

	switch action {
	case "get", "show":
		root := s.cfgTree.candidate
		if action == "show" {
			root = s.cfgTree.running
		}
		if dev != nil {
			root = dev.running
		}
		var hits []found
		for _, p := range paths {
			hits = append(hits, lookupAll(root, p)...)
		}
		if len(hits) == 0 {
			if action == "show" {
				return writeError(w, http.StatusOK, 0, "No such node")
			}
			return writeXML(w, http.StatusOK, "success", 7, `<response status="success" code="7"><result/></response>`)
		}
		var b strings.Builder
		n := strconv.Itoa(len(hits))
		b.WriteString(`<response status="success" code="19"><result total-count="` + n + `" count="` + n + `">`)
		for _, h := range hits {
			if namesOnly {
				name, _ := h.n.attr("name")
				(&node{name: h.n.name, attrs: []xml.Attr{{Name: xml.Name{Local: "name"}, Value: name}}}).write(&b)
				continue
			}
			h.n.write(&b)
		}
		b.WriteString(`</result></response>`)
		return writeXML(w, http.StatusOK, "success", 19, b.String())

	case "delete":
		var hits []found
		for _, p := range paths {
			hits = append(hits, lookupAll(s.cfgTree.candidate, p)...)
		}
		if len(hits) == 0 {
			return writeXML(w, http.StatusOK, "success", 7, `<response status="success" code="7"><msg>Object doesn't exist</msg></response>`)
		}
		for _, h := range hits {
			if h.parent == nil {
				return writeError(w, http.StatusOK, 14, "Operation not possible")
			}
		}
		s.change(user, paths[0], func(root *node) {
			for _, p := range paths {
				for _, h := range lookupAll(root, p) {
					if h.parent != nil {
						removeChild(h.parent, h.n)
					}
				}
			}
		})
		return writeXML(w, http.StatusOK, "success", 20, writeOK)
	}
	if len(paths) != 1 {
		// set, edit, move and rename address one node.
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
	}
	steps := paths[0]
	switch action {
	case "move":
		return s.move(w, r, user, steps)
	case "rename":
		return s.rename(w, r, user, steps)
	case "clone":
		return s.cloneEntry(w, r, user, steps)
	}
	nodes, err := parseNodes(r.Form.Get("element"))
	if err != nil {
		return writeError(w, http.StatusOK, 18, "Malformed Request")
	}
	if action == "set" {
		if _, err := ensure(s.cfgTree.candidate.clone(), steps); err != nil {
			return writeError(w, http.StatusOK, 6, "Bad Xpath")
		}
		if msg := checkNames(steps, nodes); msg != "" {
			return writeErrorCDATA(w, 12, msg)
		}
		s.change(user, steps, func(root *node) {
			if n, err := ensure(root, steps); err == nil {
				merge(n, cloneAll(nodes))
			}
		})
		return writeXML(w, http.StatusOK, "success", 20, writeOK)
	}
	// edit: the element is the node at xpath and replaces it.
	last := steps[len(steps)-1]
	if len(nodes) != 1 || !last.matches(nodes[0]) || len(steps) < 2 {
		return writeErrorCDATA(w, 12, " edit -> "+last.name+" is invalid: element does not match the node at xpath")
	}
	if _, err := ensure(s.cfgTree.candidate.clone(), steps[:len(steps)-1]); err != nil {
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
	}
	if msg := checkNames(steps[:len(steps)-1], nodes); msg != "" {
		return writeErrorCDATA(w, 12, msg)
	}
	s.change(user, steps, func(root *node) {
		parent, err := ensure(root, steps[:len(steps)-1])
		if err != nil {
			return
		}
		repl := nodes[0].clone()
		for i, c := range parent.children {
			if last.matches(c) {
				if u, ok := c.attr("uuid"); ok {
					if _, has := repl.attr("uuid"); !has {
						// An edit keeps the rule's identity.
						setAttr(repl, xml.Attr{Name: xml.Name{Local: "uuid"}, Value: u})
					}
				}
				parent.children[i] = repl
				return
			}
		}
		parent.text = ""
		parent.children = append(parent.children, repl)
	})
	return writeXML(w, http.StatusOK, "success", 20, writeOK)
}

// change applies a write to the candidate config and records it, with the
// admin who made it and its location, for partial commits.
func (s *Sim) change(admin string, steps []xpathStep, apply func(root *node)) {
	apply(s.cfgTree.candidate)
	s.stampUUIDs(s.cfgTree.candidate)
	s.changes = append(s.changes, change{admin: admin, loc: locationOf(steps, s.cfg.Panorama), steps: steps, apply: apply})
	if len(s.changes) > maxChanges {
		// Bounded memory: the oldest changes become unattributed, which a
		// later full commit still takes.
		s.changes = s.changes[len(s.changes)-maxChanges:]
	}
}

// maxChanges bounds the per-admin change log.
const maxChanges = 100000

// change is one config write, replayable on another tree.
type change struct {
	admin string
	loc   location
	steps []xpathStep // the write's xpath, for partial commits by object xpath
	apply func(root *node)
}

// location is where a change lies, as partial commits scope it: a vsys,
// device group, template or template stack by name, or "shared" (shared
// objects) or "device" (device and network settings, Panorama settings).
type location struct{ kind, name string }

// locationOf derives a change's location from its xpath.
func locationOf(steps []xpathStep, panorama bool) location {
	names := make([]string, len(steps))
	for i, st := range steps {
		names[i] = st.name
	}
	entryName := func(i int) string {
		if i >= len(steps) {
			return ""
		}
		for _, pred := range steps[i].preds {
			for _, c := range pred[0] {
				if c.attr == "name" {
					return c.value
				}
			}
		}
		return ""
	}
	if len(names) >= 2 && names[1] == "shared" {
		return location{kind: "shared"}
	}
	// /config/devices/entry/<kind>/entry[@name=X]/...
	if len(names) >= 5 && names[1] == "devices" && names[2] == "entry" {
		switch k := names[3]; {
		case panorama && (k == "device-group" || k == "template" || k == "template-stack"):
			return location{kind: k, name: entryName(4)}
		case !panorama && k == "vsys":
			return location{kind: "vsys", name: entryName(4)}
		}
	}
	return location{kind: "device"}
}

// stampUUIDs gives every policy rule without one a uuid attribute, as
// PAN-OS 9.0+ does when a rule is created.
func (s *Sim) stampUUIDs(root *node) {
	walkRules(root, func(rule *node) {
		if _, ok := rule.attr("uuid"); !ok {
			s.uuidSeq++
			setAttr(rule, xml.Attr{Name: xml.Name{Local: "uuid"}, Value: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x",
				uint32(s.uuidSeed), uint16(s.uuidSeed>>32), s.uuidSeq>>48&0xfff, s.uuidSeq>>36&0xfff, s.uuidSeq&0xffffffffffff)})
		}
	})
}

// walkRules calls f for every policy rule: an entry under
// rulebase|pre-rulebase|post-rulebase/<type>/rules.
func walkRules(n *node, f func(*node)) {
	for _, c := range n.children {
		if c.name == "rulebase" || c.name == "pre-rulebase" || c.name == "post-rulebase" {
			for _, typ := range c.children {
				for _, rules := range typ.children {
					if rules.name != "rules" {
						continue
					}
					for _, e := range rules.children {
						if e.name == "entry" {
							f(e)
						}
					}
				}
			}
			continue
		}
		walkRules(c, f)
	}
}

// copyUUIDs gives rules of dst that lack a uuid the uuid of the rule at the
// same place in src, so a replayed change keeps the uuids the candidate
// showed.
func copyUUIDs(dst, src *node) {
	for _, dc := range dst.children {
		for _, sc := range src.children {
			if sameItem(dc, sc) {
				if u, ok := sc.attr("uuid"); ok {
					if _, has := dc.attr("uuid"); !has {
						setAttr(dc, xml.Attr{Name: xml.Name{Local: "uuid"}, Value: u})
					}
				}
				copyUUIDs(dc, sc)
				break
			}
		}
	}
}

// maxNameLen is PAN-OS's limit on the names of objects and rules.
const maxNameLen = 63

// checkNames refuses entries of objects and rules with names PAN-OS
// refuses: longer than 63 characters. steps is the xpath of the node the
// elements go under.
func checkNames(steps []xpathStep, nodes []*node) string {
	var bad string
	var walk func(path []string, n *node)
	walk = func(path []string, n *node) {
		if bad != "" {
			return
		}
		if name, ok := n.attr("name"); ok && n.name == "entry" && len(path) > 0 && namedKinds[path[len(path)-1]] && len(name) > maxNameLen {
			bad = " " + strings.Join(append(path, name), " -> ") + " is invalid: name longer than 63 characters"
			return
		}
		for _, c := range n.children {
			walk(append(path[:len(path):len(path)], n.name), c)
		}
	}
	base := make([]string, 0, len(steps))
	for _, st := range steps {
		base = append(base, st.name)
	}
	// The last step may be the entry itself (set at .../entry[@name=x]).
	if len(steps) > 0 && steps[len(steps)-1].name == "entry" && len(base) >= 2 && namedKinds[base[len(base)-2]] {
		for _, pred := range steps[len(steps)-1].preds {
			for _, c := range pred[0] {
				if c.attr == "name" && len(c.value) > maxNameLen {
					return " " + base[len(base)-2] + " -> " + c.value + " is invalid: name longer than 63 characters"
				}
			}
		}
	}
	for _, n := range nodes {
		walk(base, n)
	}
	return bad
}

// namedKinds are the lists whose entries' names PAN-OS limits to 63
// characters.
var namedKinds = map[string]bool{"address": true, "address-group": true, "service": true, "service-group": true,
	"tag": true, "rules": true, "static-route": true}

func cloneAll(ns []*node) []*node {
	out := make([]*node, len(ns))
	for i, n := range ns {
		out[i] = n.clone()
	}
	return out
}

// move places the rule (or any list entry) at steps: where=top|bottom, or
// before|after the sibling entry named dst.
func (s *Sim) move(w http.ResponseWriter, r *http.Request, user string, steps []xpathStep) result {
	where, dst := r.Form.Get("where"), r.Form.Get("dst")
	switch where {
	case "top", "bottom":
	case "before", "after":
		if dst == "" {
			return writeErrorCDATA(w, 18, " move -> dst is missing")
		}
	default:
		return writeErrorCDATA(w, 18, " move -> where '"+where+"' is not one of top, bottom, before, after")
	}
	n, parent := lookup(s.cfgTree.candidate, steps)
	if n == nil || parent == nil {
		return writeError(w, http.StatusOK, 7, "Object doesn't exist")
	}
	if where == "before" || where == "after" {
		found := false
		for _, c := range parent.children {
			if v, _ := c.attr("name"); c != n && c.name == n.name && v == dst {
				found = true
			}
		}
		if !found {
			return writeError(w, http.StatusOK, 12, "Invalid object: "+dst+" is not a sibling of the moved entry")
		}
	}
	s.change(user, steps, func(root *node) {
		n, parent := lookup(root, steps)
		if n == nil || parent == nil {
			return
		}
		removeChild(parent, n)
		at := len(parent.children)
		switch where {
		case "top":
			at = 0
		case "before", "after":
			for i, c := range parent.children {
				if v, _ := c.attr("name"); c.name == n.name && v == dst {
					at = i
					if where == "after" {
						at++
					}
					break
				}
			}
		}
		parent.children = append(parent.children[:at], append([]*node{n}, parent.children[at:]...)...)
	})
	return writeXML(w, http.StatusOK, "success", 20, writeOK)
}

// rename gives the entry at steps the name newname.
func (s *Sim) rename(w http.ResponseWriter, r *http.Request, user string, steps []xpathStep) result {
	newName := r.Form.Get("newname")
	if newName == "" {
		return writeErrorCDATA(w, 18, " rename -> newname is missing")
	}
	if len(newName) > maxNameLen {
		return writeErrorCDATA(w, 12, " "+newName+" is invalid: name longer than 63 characters")
	}
	n, parent := lookup(s.cfgTree.candidate, steps)
	if n == nil || parent == nil {
		return writeError(w, http.StatusOK, 7, "Object doesn't exist")
	}
	if _, ok := n.attr("name"); !ok {
		return writeError(w, http.StatusOK, 12, "Invalid object")
	}
	for _, c := range parent.children {
		if v, _ := c.attr("name"); c.name == n.name && v == newName {
			return writeError(w, http.StatusOK, 12, newName+" already exists")
		}
	}
	s.change(user, steps, func(root *node) {
		if n, _ := lookup(root, steps); n != nil {
			setAttr(n, xml.Attr{Name: xml.Name{Local: "name"}, Value: newName})
		}
	})
	return writeXML(w, http.StatusOK, "success", 20, writeOK)
}

// cloneEntry copies the entry at from= into the list at steps (its
// parent) under the name newname, as action=clone does.
func (s *Sim) cloneEntry(w http.ResponseWriter, r *http.Request, user string, steps []xpathStep) result {
	newName := r.Form.Get("newname")
	if newName == "" {
		return writeErrorCDATA(w, 18, " clone -> newname is missing")
	}
	if len(newName) > maxNameLen {
		return writeErrorCDATA(w, 12, " "+newName+" is invalid: name longer than 63 characters")
	}
	from, err := parseXPath(r.Form.Get("from"))
	if err != nil {
		return writeError(w, http.StatusOK, 6, "Bad Xpath")
	}
	src, _ := lookup(s.cfgTree.candidate, from)
	list, _ := lookup(s.cfgTree.candidate, steps)
	if src == nil || list == nil {
		return writeError(w, http.StatusOK, 7, "Object doesn't exist")
	}
	if _, ok := src.attr("name"); !ok {
		return writeError(w, http.StatusOK, 12, "Invalid object")
	}
	for _, c := range list.children {
		if v, _ := c.attr("name"); c.name == src.name && v == newName {
			return writeError(w, http.StatusOK, 12, newName+" already exists")
		}
	}
	s.change(user, steps, func(root *node) {
		src, _ := lookup(root, from)
		list, _ := lookup(root, steps)
		if src == nil || list == nil {
			return
		}
		c := src.clone()
		setAttr(c, xml.Attr{Name: xml.Name{Local: "name"}, Value: newName})
		// A cloned rule is a new rule.
		kept := c.attrs[:0]
		for _, a := range c.attrs {
			if a.Name.Local != "uuid" {
				kept = append(kept, a)
			}
		}
		c.attrs = kept
		list.text = ""
		list.children = append(list.children, c)
	})
	return writeXML(w, http.StatusOK, "success", 20, writeOK)
}

func removeChild(parent, n *node) {
	for i, c := range parent.children {
		if c == n {
			parent.children = append(parent.children[:i], parent.children[i+1:]...)
			return
		}
	}
}
