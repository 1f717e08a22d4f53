package panossim

import (
	"net/http"
	"strconv"
	"strings"
)

// opGrammar is the op command tree the Sim knows; nil marks a command whose
// arguments its handler checks.
var opGrammar = map[string]map[string]map[string]bool{
	"show": {
		"object": {"registered-ip": true},
		"jobs":   {"id": true},
		"system": {"info": true},
	},
}

func (s *Sim) op(w http.ResponseWriter, r *http.Request) result {
	s.mu.Lock()
	s.stats.OpCalls++
	s.mu.Unlock()
	nodes, err := parseNodes(r.Form.Get("cmd"))
	if err != nil || len(nodes) != 1 {
		return writeError(w, http.StatusOK, 18, "Malformed Request")
	}
	root := nodes[0]
	l1, ok := opGrammar[root.name]
	if !ok {
		return unexpected(w, root.name)
	}
	if len(root.children) != 1 {
		return unexpected(w, root.name)
	}
	n1 := root.children[0]
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
	s.mu.Lock()
	defer s.mu.Unlock()
	switch n1.name + "/" + n2.name {
	case "object/registered-ip":
		target, ok := s.target(r)
		if !ok {
			return writeUnknownTarget(w, target)
		}
		return s.showRegisteredLocked(w, n2, scopeKey(r.Form.Get("vsys"), target))
	case "jobs/id":
		return s.showJobLocked(w, n2.text)
	default: // system/info
		model, family := "PA-VM", "vm"
		if s.cfg.Panorama {
			model, family = "Panorama", "pc"
		}
		return writeXML(w, http.StatusOK, "success", 0,
			`<response status="success"><result><system><hostname>panos-sim</hostname><serial>`+escape(s.cfg.Serial)+
				`</serial><model>`+model+`</model><family>`+family+`</family><sw-version>11.1.0</sw-version></system></result></response>`)
	}
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
	if sc := s.reg.scope(scopeKey, false); sc != nil {
		seen, all := 0, sc.ordered()
		if tag == "" && ip == "" {
			// Unfiltered: jump straight to the page.
			seen = min(start-1, len(all))
			all = all[seen:]
		}
		for _, e := range all {
			if ip != "" && e.addr.key != ip {
				continue
			}
			if tag != "" && e.find(tag) < 0 {
				continue
			}
			seen++
			if seen < start {
				continue
			}
			if count == limit {
				break
			}
			count++
			b.WriteString(`<entry ip="` + e.addr.key + `" from_agent="0" persistent="`)
			if e.persistent() {
				b.WriteString(`1">`)
			} else {
				b.WriteString(`0">`)
			}
			b.WriteString(`<tag>`)
			for _, t := range e.liveTags(now) {
				b.WriteString(`<member>` + escape(t) + `</member>`)
			}
			b.WriteString(`</tag></entry>`)
		}
	}
	b.WriteString(`<count>` + strconv.Itoa(count) + `</count></result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}
