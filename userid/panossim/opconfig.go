package panossim

import (
	"net/http"
	"strings"
)

// Candidate-config op commands clients send around commits: revert config
// (as recorded in rautanen-io/netbox-panorama-configpump-plugin's tests) and
// load config from running-config.xml (pan-os-python's
// revert_to_running_configuration, pango's RevertToRunningConfig). Both drop
// every admin's uncommitted changes.

// configOp answers those commands; ok is false when cmd is not one.
func (s *Sim) configOp(w http.ResponseWriter, r *http.Request, root *node, user string) (res result, ok bool) {
	if (root.name != "revert" && root.name != "load") || len(root.children) != 1 || root.children[0].name != "config" {
		return result{}, false
	}
	cfg := root.children[0]
	answer := "All changes were reverted from configuration"
	if root.name == "revert" {
		if len(cfg.children) > 0 {
			return unexpected(w, "revert", "config", cfg.children[0].name), true
		}
	} else {
		if len(cfg.children) != 1 || cfg.children[0].name != "from" {
			if len(cfg.children) == 0 {
				return unexpected(w, "load", "config"), true
			}
			return unexpected(w, "load", "config", cfg.children[0].name), true
		}
		// Saved configs other than the running one are not modelled.
		from := cfg.children[0]
		if len(from.children) > 0 || strings.TrimSpace(from.text) != "running-config.xml" {
			return unexpected(w, "load", "config", "from", strings.TrimSpace(from.text)), true
		}
		answer = "Config loaded from running-config.xml"
	}
	if strings.TrimSpace(cfg.text) != "" {
		return unexpected(w, root.name, "config"), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := strings.TrimSpace(r.Form.Get("target")); t != "" {
		if !s.cfg.Panorama || s.devices[t] == nil {
			return writeUnknownTarget(w, t), true
		}
		// A managed firewall has no candidate changes to drop.
		return unexpected(w, root.name, "config"), true
	}
	// Every admin's changes go: another admin's config lock forbids it.
	for _, l := range s.locks {
		if !l.commit && l.admin != user {
			return writeError(w, http.StatusOK, 15, "Configuration is locked by "+l.admin), true
		}
	}
	s.cfgTree.candidate = s.cfgTree.running.clone()
	s.changes = nil
	return writeXML(w, http.StatusOK, "success", 0,
		`<response status="success"><result><msg><line>`+answer+`</line></msg></result></response>`), true
}
