package panossim

import (
	"net/http"
	"strings"
	"time"
)

// Config and commit locks, as pango (LockConfig, UnlockConfig, LockCommits,
// UnlockCommits, ConfigLocks, CommitLocks) and pan-os-python
// (add_config_lock, remove_config_lock, add_commit_lock,
// remove_commit_lock, check_config_locks, check_commit_locks) drive them.
// Answers are the ones recorded in rautanen-io/netbox-panorama-configpump-
// plugin's tests (a Panorama 11.1 answering an API admin).

// adminLock is a config or commit lock an admin holds on a scope.
type adminLock struct {
	commit  bool   // a commit lock, else a config lock
	admin   string // who took it
	scope   string // "shared", a vsys or a device group (the request's vsys=)
	comment string
	created time.Time
}

// lockOp answers the lock commands; ok is false when cmd is not one.
func (s *Sim) lockOp(w http.ResponseWriter, r *http.Request, root *node, user string) (res result, ok bool) {
	if len(root.children) != 1 {
		return result{}, false
	}
	n := root.children[0]
	switch {
	case root.name == "show" && (n.name == "config-locks" || n.name == "commit-locks"):
		return s.showLocks(w, r, n), true
	case root.name == "request" && (n.name == "config-lock" || n.name == "commit-lock"):
		return s.requestLock(w, r, n, user), true
	}
	return result{}, false
}

// showLocks lists the locks of one kind: all of them, or with
// <vsys>NAME</vsys> those on that scope (<vsys>all</vsys> is every scope,
// what pango sends on PAN-OS 9.1 and later).
func (s *Sim) showLocks(w http.ResponseWriter, r *http.Request, n *node) result {
	scope := ""
	for _, c := range n.children {
		if c.name != "vsys" || len(c.children) > 0 || strings.TrimSpace(c.text) == "" || len(n.children) > 1 {
			return unexpected(w, "show", n.name, c.name)
		}
		if scope = strings.TrimSpace(c.text); scope == "all" {
			scope = ""
		}
	}
	if strings.TrimSpace(n.text) != "" {
		return unexpected(w, "show", n.name)
	}
	commit := n.name == "commit-locks"
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := strings.TrimSpace(r.Form.Get("target")); t != "" {
		if !s.cfg.Panorama || s.devices[t] == nil {
			return writeUnknownTarget(w, t)
		}
		// A managed firewall's own admins are not modelled: it holds no
		// locks.
		return writeXML(w, http.StatusOK, "success", 0,
			`<response status="success"><result><`+n.name+`></`+n.name+`></result></response>`)
	}
	var b strings.Builder
	b.WriteString(`<response status="success"><result><` + n.name + `>`)
	for _, l := range s.locks {
		if l.commit != commit || scope != "" && l.scope != scope {
			continue
		}
		typ := "vsys"
		if l.scope == "shared" {
			typ = "shared"
		} else if s.cfg.Panorama {
			typ = "dg"
		}
		comment := l.comment
		if comment == "" {
			comment = "(null)" // as recorded for a lock taken without one
		}
		at := l.created.Format("2006/01/02 15:04:05")
		b.WriteString(`<entry name="` + escapeAttr(l.admin) + `"><type>` + typ + `</type><name>` + escape(l.scope) +
			`</name><created>` + at + `</created><last-activity>` + at + `</last-activity><loggedin>yes</loggedin><comment><![CDATA[` +
			strings.ReplaceAll(comment, "]]>", "]]]]><![CDATA[>") + `]]></comment></entry>`)
	}
	b.WriteString(`</` + n.name + `></result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}

// requestLock answers request config-lock|commit-lock add [comment] |
// remove [admin] on the scope of the request's vsys= (default shared, as
// pango and pan-os-python send it).
func (s *Sim) requestLock(w http.ResponseWriter, r *http.Request, n *node, user string) result {
	commit := n.name == "commit-lock"
	if len(n.children) != 1 {
		return unexpected(w, "request", n.name)
	}
	verb := n.children[0]
	var comment, admin string
	switch verb.name {
	case "add":
		for _, c := range verb.children {
			if c.name != "comment" || len(c.children) > 0 || len(verb.children) > 1 {
				return unexpected(w, "request", n.name, "add", c.name)
			}
			comment = c.text
		}
	case "remove":
		for _, c := range verb.children {
			if !commit || c.name != "admin" || len(c.children) > 0 || len(verb.children) > 1 || strings.TrimSpace(c.text) == "" {
				return unexpected(w, "request", n.name, "remove", c.name)
			}
			admin = strings.TrimSpace(c.text)
		}
	default:
		return unexpected(w, "request", n.name, verb.name)
	}
	if strings.TrimSpace(verb.text) != "" {
		return unexpected(w, "request", n.name, verb.name)
	}
	scope := strings.TrimSpace(r.Form.Get("vsys"))
	if scope == "" {
		scope = "shared"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := strings.TrimSpace(r.Form.Get("target")); t != "" {
		if !s.cfg.Panorama || s.devices[t] == nil {
			return writeUnknownTarget(w, t)
		}
		// Locking a managed firewall through Panorama is not modelled.
		return unexpected(w, "request", n.name)
	}
	what, kind := "modify configuration", "Config"
	if commit {
		what, kind = "commit configuration", "Commit"
	}
	if verb.name == "add" {
		for _, l := range s.locks {
			if l.commit != commit || l.scope != scope {
				continue
			}
			if !commit && l.admin == user {
				// pan-os-python matches this sentence's start.
				return writeError(w, http.StatusOK, 0, "You already own a config lock for scope "+scope)
			}
			return writeError(w, http.StatusOK, 0, kind+" lock is already held by "+l.admin)
		}
		s.locks = append(s.locks, adminLock{commit: commit, admin: user, scope: scope, comment: comment, created: s.cfg.Now()})
		return writeXML(w, http.StatusOK, "success", 0, `<response status="success"><result>Successfully acquired lock. Other administrators will not be able to `+
			what+` until lock is released by `+escape(user)+`.</result></response>`)
	}
	if admin == "" {
		admin = user
	}
	for i, l := range s.locks {
		// A config lock is the scope's, whoever holds it: every emulated
		// admin is a superuser and may remove it; a commit lock is the
		// named admin's (the caller's by default).
		if l.commit == commit && l.scope == scope && (!commit || l.admin == admin) {
			s.locks = append(s.locks[:i], s.locks[i+1:]...)
			return writeXML(w, http.StatusOK, "success", 0,
				`<response status="success"><result>`+kind+` lock released for `+escape(l.admin)+`</result></response>`)
		}
	}
	return writeError(w, http.StatusOK, 0, kind+" is not currently locked for scope "+scope)
}

// configLockHolderLocked returns another admin's config lock that covers a
// write by user at loc: one on shared covers everything, one on a vsys or
// device group that location.
func (s *Sim) configLockHolderLocked(user string, loc location) string {
	for _, l := range s.locks {
		if l.commit || l.admin == user {
			continue
		}
		if l.scope == "shared" || l.scope == loc.name && (loc.kind == "vsys" || loc.kind == "device-group") {
			return l.admin
		}
	}
	return ""
}

// commitLockedByOtherLocked reports whether another admin holds a commit
// lock (on any scope).
func (s *Sim) commitLockedByOtherLocked(user string) bool {
	for _, l := range s.locks {
		if l.commit && l.admin != user {
			return true
		}
	}
	return false
}

// releaseLocksLocked drops user's config and commit locks, as a device does
// once the admin commits (pan-os-python clears its config_locked and
// commit_locked flags after every commit request).
func (s *Sim) releaseLocksLocked(user string) {
	kept := s.locks[:0]
	for _, l := range s.locks {
		if l.admin != user {
			kept = append(kept, l)
		}
	}
	s.locks = kept
}
