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

// SetDeviceGroupParent makes device group dg a child of parent ("" puts
// it at the top level, under shared), in the candidate and the running
// config at once, like Panorama's move-dg. Both must exist in the running
// config. Panorama only. The emulator reports the hierarchy (show
// dg-hierarchy, readonly config) but pushes do not yet merge ancestors'
// objects and rules into a device group's.
func (s *Sim) SetDeviceGroupParent(dg, parent string) error {
	if !s.cfg.Panorama {
		return errors.New("panossim: device groups exist on Panorama only")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range []string{dg, parent} {
		if name == "" {
			continue
		}
		if n, _ := lookup(s.cfgTree.running, withSteps(panoramaPrefix, step("device-group", ""), step("entry", name))); n == nil {
			return errors.New("panossim: no device group " + name + " in the running config")
		}
	}
	for p := parent; p != ""; p = s.dgParentLocked(p) {
		if p == dg {
			return errors.New("panossim: " + parent + " is a descendant of " + dg)
		}
	}
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
	n, _ := lookup(s.cfgTree.running, withSteps(readonlyDGSteps, step("entry", dg), step("parent-dg", "")))
	if n == nil {
		return ""
	}
	return n.text
}

// showDGHierarchyLocked answers <show><dg-hierarchy/></show>: the running
// config's device groups nested by parent, each as <dg name=".." dg_id="..">.
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
		children[s.dgParentLocked(n)] = append(children[s.dgParentLocked(n)], n)
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
