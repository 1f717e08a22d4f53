package panossim

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Panorama keeps the device-group hierarchy outside the editable config,
// under readonly/.../device-group/entry[@name=DG]/parent-dg, changed by a
// move-dg request rather than by config writes.
var readonlyDGSteps = []xpathStep{step("config", ""), step("readonly", ""), step("devices", ""),
	step("entry", "localhost.localdomain"), step("device-group", "")}

// maxDGLevels is how deep Panorama nests device groups: "a tree hierarchy
// of up to four levels" (Panorama admin guide, Device Group Hierarchy).
const maxDGLevels = 4

// SetDeviceGroupParent makes device group dg a child of parent ("" puts
// it at the top level, under shared), as Panorama's move-dg request does
// and with the same checks: both must exist in the config (the candidate:
// a device group need not be committed to be moved), parent must not be
// dg or one of its descendants, and the hierarchy stays within four
// levels. Panorama only. Pushes merge the ancestors' objects and rules.
func (s *Sim) SetDeviceGroupParent(dg, parent string) error {
	if !s.cfg.Panorama {
		return errors.New("panossim: device groups exist on Panorama only")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if missing := s.missingDGLocked(dg, parent); missing != "" {
		return errors.New("panossim: no device group " + missing + " in the config")
	}
	if msg := s.checkMoveLocked(dg, parent); msg != "" {
		return errors.New("panossim: " + msg)
	}
	return s.setDGParentLocked(dg, parent)
}

// dgExistsLocked reports whether the candidate config holds device group
// name.
func (s *Sim) dgExistsLocked(name string) bool {
	n, _ := lookup(s.cfgTree.candidate, withSteps(panoramaPrefix, step("device-group", ""), step("entry", name)))
	return n != nil
}

// missingDGLocked returns dg or parent when the config lacks it, else "".
func (s *Sim) missingDGLocked(dg, parent string) string {
	if !s.dgExistsLocked(dg) {
		return dg
	}
	if parent != "" && !s.dgExistsLocked(parent) {
		return parent
	}
	return ""
}

// checkMoveLocked returns why dg cannot move under parent, "" when it can.
// The texts are the emulator's own: no public capture shows Panorama's.
func (s *Sim) checkMoveLocked(dg, parent string) string {
	if parent == "" {
		return ""
	}
	if parent == dg {
		return "Device group " + dg + " cannot be its own parent"
	}
	up := s.dgAncestorsLocked(parent) // top level first
	for _, p := range up {
		if p == dg {
			return "Device group " + dg + " cannot move under its descendant " + parent
		}
	}
	// parent is on level len(up)+1, dg's subtree below it.
	if len(up)+1+s.dgHeightLocked(dg) > maxDGLevels {
		return "Device group " + dg + " cannot move under " + parent + ": the hierarchy allows at most " +
			strconv.Itoa(maxDGLevels) + " levels"
	}
	return ""
}

// dgAncestorsLocked is dg's ancestors in the running config, top first.
func (s *Sim) dgAncestorsLocked(dg string) []string {
	return dgAncestors(s.cfgTree.running, dg)
}

// dgMembersLocked is the device groups of the running config that firewall
// serial belongs to: the group listing it under devices (Panorama assigns
// a firewall to one group); when none does, every group listing no devices
// (the emulator's default: such a group takes every unassigned firewall).
func (s *Sim) dgMembersLocked(serial string) []string {
	all, _ := lookup(s.cfgTree.running, withSteps(panoramaPrefix, step("device-group", "")))
	if all == nil {
		return nil
	}
	var listing, open []string
	for _, e := range all.children {
		name, _ := e.attr("name")
		switch devs := e.child("devices"); {
		case devs == nil || len(devs.children) == 0:
			open = append(open, name)
		case appliesTo(e, serial):
			listing = append(listing, name)
		}
	}
	if len(listing) > 0 {
		return listing
	}
	return open
}

// policyLocked is what a push of device groups names gives a firewall:
// Panorama's shared location and the groups with their ancestors, each
// once, ancestors first (clones of the running config).
func (s *Sim) policyLocked(names []string) *policy {
	pol := &policy{}
	if sh, _ := lookup(s.cfgTree.running, []xpathStep{step("config", ""), step("shared", "")}); sh != nil {
		pol.shared = sh.clone()
	}
	seen := map[string]bool{}
	for _, n := range names {
		for _, e := range dgChain(s.cfgTree.running, n) {
			if name, _ := e.attr("name"); !seen[name] {
				seen[name] = true
				pol.dgs = append(pol.dgs, e.clone())
			}
		}
	}
	return pol
}

// dgHeightLocked is the number of levels of dg's subtree, dg included.
func (s *Sim) dgHeightLocked(dg string) int {
	children := s.dgChildrenLocked()
	seen := map[string]bool{}
	var height func(string) int
	height = func(n string) int {
		if seen[n] {
			return 0
		}
		seen[n] = true
		h := 0
		for _, c := range children[n] {
			h = max(h, height(c))
		}
		return h + 1
	}
	return height(dg)
}

// dgChildrenLocked maps each device group to its children ("" to the top
// level), from the readonly parents, in readonly order.
func (s *Sim) dgChildrenLocked() map[string][]string {
	out := map[string][]string{}
	if ro, _ := lookup(s.cfgTree.running, readonlyDGSteps); ro != nil {
		for _, e := range ro.children {
			name, _ := e.attr("name")
			if p := e.child("parent-dg"); p != nil && p.text != "" {
				out[p.text] = append(out[p.text], name)
			}
		}
	}
	return out
}

// setDGParentLocked records dg's parent in the readonly part of the
// candidate and the running config at once: a move needs no commit.
func (s *Sim) setDGParentLocked(dg, parent string) error {
	for _, root := range []*node{s.cfgTree.candidate, s.cfgTree.running} {
		entry, err := ensure(root, withSteps(readonlyDGSteps, step("entry", dg)))
		if err != nil {
			return err
		}
		var kept []*node
		for _, c := range entry.children {
			if c.name != "parent-dg" {
				kept = append(kept, c)
			}
		}
		if parent != "" {
			kept = append(kept, &node{name: "parent-dg", text: parent})
		}
		entry.children = kept
	}
	return nil
}

// dgParentLocked is dg's parent in the running config, "" for top level.
func (s *Sim) dgParentLocked(dg string) string {
	return dgParent(s.cfgTree.running, dg)
}

// dgParent is dg's parent in config root, "" for top level.
func dgParent(root *node, dg string) string {
	n, _ := lookup(root, withSteps(readonlyDGSteps, step("entry", dg), step("parent-dg", "")))
	if n == nil {
		return ""
	}
	return n.text
}

// dgAncestors is dg's ancestors in config root, top level first; a loop
// (only a config write to readonly could make one) ends the walk.
func dgAncestors(root *node, dg string) []string {
	var up []string
	seen := map[string]bool{dg: true}
	for p := dgParent(root, dg); p != "" && !seen[p]; p = dgParent(root, p) {
		seen[p] = true
		up = append([]string{p}, up...)
	}
	return up
}

// dgChain is the device-group entries a firewall of dg inherits from in
// config root: dg's ancestors, top level first, then dg; ancestors the
// config lacks are skipped.
func dgChain(root *node, dg string) []*node {
	var out []*node
	for _, name := range append(dgAncestors(root, dg), dg) {
		if e, _ := lookup(root, withSteps(panoramaPrefix, step("device-group", ""), step("entry", name))); e != nil {
			out = append(out, e)
		}
	}
	return out
}

// moveDGLocked answers <request><move-dg><entry name="DG">
// [<new-parent-dg>PARENT</new-parent-dg>]</entry></move-dg></request>, as
// pango's AssignDeviceGroupParent and pan-os-python's DeviceGroupHierarchy
// .update send it (no new-parent-dg: to the top level). Panorama answers
// with a job the clients poll with show jobs id; the move is made when
// the job is accepted, the job then only reports. A device group missing
// from the config is refused at once; a move under the group itself, one
// of its descendants or below the fourth level fails the job.
func (s *Sim) moveDGLocked(w http.ResponseWriter, cmd *node, user string) result {
	var entry *node
	for _, c := range cmd.children {
		if c.name != "entry" || entry != nil {
			return unexpected(w, "request", "move-dg", c.name)
		}
		entry = c
	}
	if entry == nil {
		return writeErrorCDATA(w, 17, " request -> move-dg  is incomplete")
	}
	dg, _ := entry.attr("name")
	if strings.TrimSpace(dg) == "" {
		return writeErrorCDATA(w, 17, " request -> move-dg -> entry  is incomplete")
	}
	parent := ""
	for _, c := range entry.children {
		if c.name != "new-parent-dg" {
			return unexpected(w, "request", "move-dg", "entry", c.name)
		}
		parent = c.text
	}
	switch s.missingDGLocked(dg, parent) {
	case "":
	case dg:
		return writeErrorCDATA(w, 17, " request -> move-dg -> entry '"+dg+"' is not a valid reference")
	default:
		return writeErrorCDATA(w, 17, " request -> move-dg -> entry -> new-parent-dg '"+parent+"' is not a valid reference")
	}
	j := s.newJobLocked("MoveDG", user)
	if msg := s.checkMoveLocked(dg, parent); msg != "" {
		j.fail, j.details = true, []string{msg}
	} else if err := s.setDGParentLocked(dg, parent); err != nil {
		j.fail, j.details = true, []string{err.Error()}
	} else {
		to := "shared"
		if parent != "" {
			to = parent
		}
		j.details = []string{"Device group " + dg + " moved under " + to}
	}
	id := strconv.Itoa(j.id)
	return writeXML(w, http.StatusOK, "success", 0,
		`<response status="success"><result><msg><line>Move device group job enqueued with jobid `+id+`</line></msg><job>`+id+`</job></result></response>`)
}

// showDGHierarchyLocked answers <show><dg-hierarchy/></show>: the running
// config's device groups nested by parent, each as <dg name=".." dg_id="..">.
// A group whose parent is no longer in the running config shows at the top.
func (s *Sim) showDGHierarchyLocked(w http.ResponseWriter) result {
	var names []string
	if all, _ := lookup(s.cfgTree.running, withSteps(panoramaPrefix, step("device-group", ""))); all != nil {
		for _, e := range all.children {
			if name, ok := e.attr("name"); ok && e.name == "entry" {
				names = append(names, name)
			}
		}
	}
	children := map[string][]string{}
	ids := map[string]int{}
	for i, n := range names {
		ids[n] = 11 + i // Panorama numbers device groups from 11
	}
	for _, n := range names {
		p := s.dgParentLocked(n)
		if _, ok := ids[p]; !ok {
			p = ""
		}
		children[p] = append(children[p], n)
	}
	var b strings.Builder
	var write func(parent string)
	write = func(parent string) {
		for _, n := range children[parent] {
			b.WriteString(`<dg name="` + escapeAttr(n) + `" dg_id="` + strconv.Itoa(ids[n]) + `"`)
			if len(children[n]) == 0 {
				b.WriteString(`/>`)
				continue
			}
			b.WriteString(`>`)
			write(n)
			b.WriteString(`</dg>`)
		}
	}
	b.WriteString(`<response status="success"><result><dg-hierarchy>`)
	write("")
	b.WriteString(`</dg-hierarchy></result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}
