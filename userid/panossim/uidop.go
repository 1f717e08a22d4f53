package panossim

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// userOpLocked answers the op commands that read the User-ID state other
// than registered IPs, in the shapes of recorded device answers:
//
//	show user ip-user-mapping all | ip X       (also ip-user-mapping-mp)
//	show object registered-user all [limit, start-point] | user U
//	show user group list [entry name=STYLE] | name G
//
// target is the Panorama target ("" on a firewall), vsys the request's
// vsys= ("" for the mappings of every vsys; vsys1 elsewhere).
func (s *Sim) userOpLocked(w http.ResponseWriter, q *node, vsys, target string) result {
	now := s.cfg.Now()
	s.sweepUsersLocked(now)
	switch q.name {
	case "ip-user-mapping", "ip-user-mapping-mp":
		return s.showIPUserMappingLocked(w, q, vsys, target, now)
	case "registered-user":
		return s.showRegisteredUserLocked(w, q, scopeKey(vsys, target), now)
	default: // group
		return s.showGroupLocked(w, q, scopeKey(vsys, target))
	}
}

func (s *Sim) showIPUserMappingLocked(w http.ResponseWriter, q *node, vsys, target string, now time.Time) result {
	if len(q.children) != 1 {
		return unexpected(w, "show", "user", q.name)
	}
	// ip takes an address or a prefix (pango's GetLogins: "IP/netmask");
	// all takes a login type (XMLAPI is the only one the API makes).
	var (
		prefix   netip.Prefix
		filtered bool
		typ      string
	)
	switch c := q.children[0]; c.name {
	case "all":
		for _, f := range c.children {
			if f.name != "type" {
				return unexpected(w, "show", "user", q.name, "all", f.name)
			}
			typ = strings.TrimSpace(f.text)
		}
	case "ip":
		p, err := parseMappingFilter(c.text)
		if err != nil {
			return writeErrorCDATA(w, 17, " show -> user -> "+q.name+" -> ip '"+c.text+"' is not a valid IP address")
		}
		prefix, filtered = p, true
	default:
		return unexpected(w, "show", "user", q.name, c.name)
	}
	type row struct {
		addr       netip.Addr
		ip, vsys   string
		user       string
		remainSecs int64
	}
	var rows []row
	for key, us := range s.users {
		t, v, _ := strings.Cut(key, "/")
		if t != target || (vsys != "" && v != vsys) {
			continue
		}
		if typ != "" && !strings.EqualFold(typ, "XMLAPI") {
			continue
		}
		for a, m := range us.mappings {
			addr := netip.MustParseAddr(a)
			if filtered && !prefix.Contains(addr) {
				continue
			}
			rows = append(rows, row{addr: addr, ip: a, vsys: v, user: m.user,
				remainSecs: int64((m.expires.Sub(now) + time.Second - 1) / time.Second)})
		}
	}
	slices.SortFunc(rows, func(x, y row) int {
		if c := x.addr.Compare(y.addr); c != 0 {
			return c
		}
		return strings.Compare(x.vsys, y.vsys)
	})
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	for _, r := range rows {
		secs := strconv.FormatInt(r.remainSecs, 10)
		// Mappings made through the XML API have type XMLAPI; their idle
		// timeout and timeout are the same remaining seconds.
		b.WriteString(`<entry><ip>` + r.ip + `</ip><vsys>` + escape(r.vsys) + `</vsys><type>XMLAPI</type><user>` + escape(r.user) +
			`</user><idle_timeout>` + secs + `</idle_timeout><timeout>` + secs + "</timeout></entry>\n")
	}
	if len(rows) > 0 {
		b.WriteString(`<count>` + strconv.Itoa(len(rows)) + "</count>\n")
	}
	b.WriteString(`</result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}

// parseMappingFilter reads the ip of show user ip-user-mapping: one
// address (a /32 or /128 prefix) or a prefix.
func parseMappingFilter(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if a, ok := parseUserIP(s); ok {
		addr := netip.MustParseAddr(a)
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, errBadIP
	}
	return p.Masked(), nil
}

func (s *Sim) showRegisteredUserLocked(w http.ResponseWriter, q *node, key string, now time.Time) result {
	if len(q.children) != 1 {
		return unexpected(w, "show", "object", "registered-user")
	}
	user := ""
	limit, start := DefaultPageLimit, 1
	switch c := q.children[0]; c.name {
	case "all":
		for _, p := range c.children {
			n, err := strconv.Atoi(strings.TrimSpace(p.text))
			switch {
			case p.name != "limit" && p.name != "start-point":
				return unexpected(w, "show", "object", "registered-user", "all", p.name)
			case err != nil || n < 1:
				return writeErrorCDATA(w, 17, " show -> object -> registered-user -> all -> "+p.name+" '"+p.text+"' is not a valid number")
			case p.name == "limit":
				limit = min(n, DefaultPageLimit)
			default:
				start = n
			}
		}
	case "user":
		if user = strings.TrimSpace(c.text); user == "" {
			return unexpected(w, "show", "object", "registered-user", "user")
		}
	default:
		return unexpected(w, "show", "object", "registered-user", c.name)
	}
	var users []string
	if us := s.users[key]; us != nil {
		for u := range us.tags {
			if user == "" || u == user {
				users = append(users, u)
			}
		}
	}
	slices.Sort(users)
	users = users[min(start-1, len(users)):]
	users = users[:min(limit, len(users))]
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	var names []string
	for _, u := range users {
		names = names[:0]
		for _, t := range s.users[key].tags[u] {
			if t.live(now) {
				names = append(names, t.name)
			}
		}
		slices.Sort(names)
		b.WriteString(`<entry user="` + escapeAttr(u) + "\">\n<tag>\n")
		for _, t := range names {
			b.WriteString(`<member>` + escape(t) + "</member>\n")
		}
		b.WriteString("</tag>\n</entry>\n")
	}
	b.WriteString(`<count>` + strconv.Itoa(len(users)) + "</count>\n</result></response>")
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}

// showGroupLocked answers show user group list|name: plain text in CDATA,
// as devices print it.
func (s *Sim) showGroupLocked(w http.ResponseWriter, q *node, key string) result {
	if len(q.children) != 1 {
		return unexpected(w, "show", "user", "group")
	}
	var groups map[string][]string
	if us := s.users[key]; us != nil {
		groups = us.groups
	}
	var text strings.Builder
	switch c := q.children[0]; c.name {
	case "list":
		// Groups set through the API are of the xmlapi (dynamic) kind,
		// never custom groups.
		style := ""
		if e := c.child("entry"); e != nil {
			style, _ = e.attr("name")
		}
		var names []string
		if style == "" || style == "xmlapi" || style == "dynamic" {
			for g := range groups {
				names = append(names, g)
			}
		}
		slices.Sort(names)
		text.WriteString("\n")
		for _, g := range names {
			text.WriteString(g + " \n")
		}
		fmt.Fprintf(&text, "\nTotal: %d\n* : Custom Group\n\n", len(names))
	case "name":
		name := strings.TrimSpace(c.text)
		members, ok := groups[name]
		if !ok {
			text.WriteString("\nUser group '" + name + "' does not exist or does not have members\n")
			break
		}
		text.WriteString("\n\nsource type: xmlapi\nGroup type: Dynamic\n\n")
		for i, m := range members {
			fmt.Fprintf(&text, "[%-6d] %s\n", i+1, m)
		}
		text.WriteString("\n")
	default:
		return unexpected(w, "show", "user", "group", c.name)
	}
	t := strings.ReplaceAll(text.String(), "]]>", "]]]]><![CDATA[>")
	return writeXML(w, http.StatusOK, "success", 0, `<response status="success"><result><![CDATA[`+t+`]]></result></response>`)
}
