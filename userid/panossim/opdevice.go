package panossim

import (
	"net/http"
	"strings"
)

// Device-state op commands: what clients send unprompted around connection
// set-up, commits and facts gathering (pan-os-python's pending_changes and
// show_highavailability_state, the Ansible collection's panos_facts, pango's
// Client.Clock), answered in the shapes those clients parse.

// deviceOps are the commands this file answers, as their element paths; none
// takes arguments.
var deviceOps = map[string]func(s *Sim, r *http.Request) string{
	"check pending-changes":        (*Sim).pendingChangesLocked,
	"check full-commit-required":   func(*Sim, *http.Request) string { return "<result>no</result>" },
	"show clock":                   (*Sim).clockLocked,
	"show high-availability state": func(*Sim, *http.Request) string { return haStandalone },
	"show high-availability all":   func(*Sim, *http.Request) string { return haStandalone },
}

// deviceOpRoots are the command heads deviceOps own: every check command,
// and show clock and show high-availability.
var deviceOpRoots = map[string]bool{"check": true, "show clock": true, "show high-availability": true}

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
	if t := strings.TrimSpace(r.Form.Get("target")); t != "" {
		// Panorama answers for a managed firewall; a firewall knows no
		// targets.
		if !s.cfg.Panorama || s.device(t) == nil {
			return writeUnknownTarget(w, t), true
		}
	}
	s.mu.Lock()
	body := answer(s, r)
	s.mu.Unlock()
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
func (s *Sim) pendingChangesLocked(r *http.Request) string {
	if strings.TrimSpace(r.Form.Get("target")) != "" {
		// A managed firewall's config changes only by pushes, which it
		// commits at once.
		return "<result>no</result>"
	}
	if s.cfgTree.candidate.String() != s.cfgTree.running.String() {
		return "<result>yes</result>"
	}
	return "<result>no</result>"
}

// clockLocked answers show clock: the date(1) line of Config.Now in UTC
// (the default config sets no deviceconfig/system/timezone), newline
// included, which pango's Client.Clock parses with time.UnixDate+"\n".
func (s *Sim) clockLocked(*http.Request) string {
	return "<result>" + s.cfg.Now().UTC().Format("Mon Jan _2 15:04:05 MST 2006") + "\n</result>"
}
