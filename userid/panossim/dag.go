package panossim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Dynamic Address Groups: show object dynamic-address-group all|name N.
//
// The answer's shape follows the devices' answers quoted in public clients
// (no Palo Alto document found shows it):
//
//   - Firewall, from jurbanek/powerpan Public/Object/Get-PanDynamicAddressGroup.ps1
//     (a recorded NGFW answer in its comments) and Class/PanDynamicAddressGroup.ps1
//     (reads entry/vsys, group-name, filter, member-list/entry/@name and @type;
//     no <vsys> means shared):
//     <response cmd="status" status="success"><result><dyn-addr-grp>
//     <entry><vsys>vsys1</vsys><group-name>G</group-name><filter>'a' or 'b'</filter>
//     <member-list><entry name="H-1.2.3.4" type="address-object"/>
//     <entry name="1.2.2.2" type="registered-ip"/></member-list></entry>
//     ... shared groups last, without <vsys> ... </dyn-addr-grp></result></response>
//     The same path (result/dyn-addr-grp/entry, group-name, member-list/entry/@name)
//     is read by PaloAltoNetworks/pan-os-php lib/misc-classes/PanAPIConnector.php
//     (dynamicAddressGroup_get) and by scripts issuing the name form.
//   - Panorama, from the same PowerPAN file: groups by location, every
//     member-list empty ("Panorama itself does not populate DAG's"):
//     <response status="success"><result><device-groups><entry name="shared">
//     <address-group name="G"><filter>'black'</filter><member-list/></address-group>
//     </entry><entry name="DG">...</entry></device-groups></result></response>
//     pan-os-php reads result/device-groups the same way.
//   - Members: PAN-OS's web interface help (Objects > Address Groups, 8.1):
//     a dynamic address group includes registered IPs and the address
//     objects carrying matching tags.
//   - A name no group has: a recorded answer in Cortex XSOAR's tests,
//     demisto/content Packs/PANOSPolicyOptimizer/Integrations/PANOSPolicyOptimizer/
//     test_data/invalid_dynamic_group_response.json ("no dynamic address
//     group was found", the web interface's JSON of the same answer): status
//     success, dyn-addr-grp holding one entry with only an empty member-list.
//   - Not sourced, so strict choices: "all" with no dynamic group answers an
//     empty <dyn-addr-grp/> (Panorama: <device-groups/>). Address objects
//     are listed before registered addresses (as in PowerPAN's capture),
//     each in config order, registered addresses in show object
//     registered-ip order.

// dagFilterMaxLen is the longest filter PAN-OS stores (the schema's limit).
const dagFilterMaxLen = 2047

// dagExpr is a parsed DAG filter: a tag (args nil) or an and/or of args.
type dagExpr struct {
	and  bool
	tag  string
	args []dagExpr
}

// match reports whether an address with the tags has reports matches.
func (e *dagExpr) match(has func(string) bool) bool {
	if e.args == nil {
		return has(e.tag)
	}
	for i := range e.args {
		if m := e.args[i].match(has); m != e.and {
			return m
		}
	}
	return e.and
}

type dagTok struct {
	kind byte // 't' tag, '&' and, '|' or, '(' and ')'
	text string
}

var errDAGNot = errors.New("dynamic address group filters have no not")

// parseDAGFilter parses a DAG filter as PAN-OS accepts it, with the
// decisions tags/dagfilter documents (the emulator keeps its own parser
// on purpose, so a parsing bug of the product cannot hide in both):
// tags single- or double-quoted or bare (a bare word ends at whitespace,
// a quote or a parenthesis), "and"/"or" in any letter case, and binding
// tighter than or, parentheses; no "not"; at most 2,047 characters.
func parseDAGFilter(s string) (dagExpr, error) {
	if len(s) > dagFilterMaxLen {
		return dagExpr{}, fmt.Errorf("filter longer than %d characters", dagFilterMaxLen)
	}
	toks, err := lexDAGFilter(s)
	if err != nil {
		return dagExpr{}, err
	}
	p := dagParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return dagExpr{}, err
	}
	if p.pos != len(toks) {
		return dagExpr{}, fmt.Errorf("unexpected %q after a complete filter", p.toks[p.pos].String())
	}
	return e, nil
}

func (t dagTok) String() string {
	switch t.kind {
	case 't':
		return t.text
	case '&':
		return "and"
	case '|':
		return "or"
	}
	return string(t.kind)
}

func lexDAGFilter(s string) ([]dagTok, error) {
	var toks []dagTok
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '(', ')':
			toks = append(toks, dagTok{kind: c})
			i++
		case '\'', '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unclosed quote at %d", i)
			}
			if j == 0 {
				return nil, fmt.Errorf("empty tag at %d", i)
			}
			toks = append(toks, dagTok{kind: 't', text: s[i+1 : i+1+j]})
			i += j + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()'\"", rune(s[j])) {
				j++
			}
			w := s[i:j]
			switch strings.ToLower(w) {
			case "and":
				toks = append(toks, dagTok{kind: '&'})
			case "or":
				toks = append(toks, dagTok{kind: '|'})
			case "not":
				return nil, errDAGNot
			default:
				toks = append(toks, dagTok{kind: 't', text: w})
			}
			i = j
		}
	}
	if len(toks) == 0 {
		return nil, errors.New("empty filter")
	}
	return toks, nil
}

type dagParser struct {
	toks []dagTok
	pos  int
}

func (p *dagParser) or() (dagExpr, error) {
	return p.list('|', false, p.and)
}

func (p *dagParser) and() (dagExpr, error) {
	return p.list('&', true, p.term)
}

// list parses operands joined by op, flattening them into one node.
func (p *dagParser) list(op byte, and bool, operand func() (dagExpr, error)) (dagExpr, error) {
	first, err := operand()
	if err != nil {
		return dagExpr{}, err
	}
	args := []dagExpr{first}
	for p.pos < len(p.toks) && p.toks[p.pos].kind == op {
		p.pos++
		next, err := operand()
		if err != nil {
			return dagExpr{}, err
		}
		args = append(args, next)
	}
	if len(args) == 1 {
		return first, nil
	}
	return dagExpr{and: and, args: args}, nil
}

func (p *dagParser) term() (dagExpr, error) {
	if p.pos == len(p.toks) {
		return dagExpr{}, errors.New("filter ends where a tag is expected")
	}
	t := p.toks[p.pos]
	p.pos++
	switch t.kind {
	case 't':
		return dagExpr{tag: t.text}, nil
	case '(':
		e, err := p.or()
		if err != nil {
			return dagExpr{}, err
		}
		if p.pos == len(p.toks) || p.toks[p.pos].kind != ')' {
			return dagExpr{}, errors.New("unclosed parenthesis")
		}
		p.pos++
		return e, nil
	}
	return dagExpr{}, fmt.Errorf("%q where a tag is expected", t.String())
}

// dagGroup is one dynamic address group of the running config.
type dagGroup struct {
	name, filter string
	vsys         string // "" for shared
}

// dagGroups returns the dynamic groups (address-group entries with a
// dynamic filter) under loc, named name unless name is "".
func dagGroups(loc *node, vsys, name string) []dagGroup {
	var out []dagGroup
	if loc == nil {
		return nil
	}
	ag := loc.child("address-group")
	if ag == nil {
		return nil
	}
	for _, e := range ag.children {
		n, _ := e.attr("name")
		dyn := e.child("dynamic")
		if e.name != "entry" || dyn == nil || (name != "" && n != name) {
			continue
		}
		f := ""
		if fn := dyn.child("filter"); fn != nil {
			f = fn.text
		}
		out = append(out, dagGroup{name: n, filter: f, vsys: vsys})
	}
	return out
}

// taggedObject is an address object and its tags.
type taggedObject struct {
	name string
	tags []string
}

// addressObjects returns the address objects of the locations in order,
// an earlier location's object hiding a later one of the same name.
func addressObjects(locs ...*node) []taggedObject {
	var out []taggedObject
	seen := map[string]bool{}
	for _, loc := range locs {
		if loc == nil {
			continue
		}
		addrs := loc.child("address")
		if addrs == nil {
			continue
		}
		for _, e := range addrs.children {
			n, _ := e.attr("name")
			if e.name != "entry" || seen[n] {
				continue
			}
			seen[n] = true
			out = append(out, taggedObject{name: n, tags: members(e, "tag")})
		}
	}
	return out
}

// dagArgs parses the arguments of show object dynamic-address-group: all,
// or name N (one group's name; "" for all). ok is false after an answer
// was written.
func dagArgs(w http.ResponseWriter, q *node) (name string, res result, ok bool) {
	path := []string{"show", "object", "dynamic-address-group"}
	if len(q.children) != 1 {
		return "", unexpected(w, path...), false
	}
	switch c := q.children[0]; c.name {
	case "all":
		return "", result{}, true
	case "name":
		if c.text == "" || len(c.children) != 0 {
			return "", unexpected(w, append(path, "name")...), false
		}
		return c.text, result{}, true
	default:
		return "", unexpected(w, append(path, c.name)...), false
	}
}

// showDAGLocked answers show object dynamic-address-group. A firewall (or
// Panorama for the managed firewall named by target=, whose running
// config it reads) evaluates the running config's dynamic groups of the
// request's vsys (vsys=, default vsys1) and of shared against the
// registered addresses of that vsys and the tagged address objects the
// group can see (a vsys group: the vsys's and shared ones; a shared group:
// shared ones). Panorama itself lists its device groups' and shared
// dynamic groups without members.
func (s *Sim) showDAGLocked(w http.ResponseWriter, r *http.Request, q *node) result {
	name, res, ok := dagArgs(w, q)
	if !ok {
		return res
	}
	target, ok := s.target(r)
	if !ok {
		return writeUnknownTarget(w, target)
	}
	root := s.cfgTree.running
	switch {
	case s.cfg.Panorama && target == "":
		return s.showPanoramaDAGsLocked(w, name)
	case target != "":
		root = s.devices[target].running
	}
	vsys := r.Form.Get("vsys")
	if vsys == "" {
		vsys = "vsys1"
	}
	vsysNode, _ := lookup(root, withSteps(deviceSteps, step("vsys", ""), step("entry", vsys)))
	shared, _ := lookup(root, []xpathStep{step("config", ""), step("shared", "")})
	groups := append(dagGroups(vsysNode, vsys, name), dagGroups(shared, "", name)...)
	if len(groups) == 0 {
		body := `<response cmd="status" status="success"><result><dyn-addr-grp/></result></response>`
		if name != "" {
			body = `<response cmd="status" status="success"><result><dyn-addr-grp><entry><member-list/></entry></dyn-addr-grp></result></response>`
		}
		return writeXML(w, http.StatusOK, "success", 0, body)
	}
	vsysObjects, sharedObjects := addressObjects(vsysNode, shared), addressObjects(shared)

	now := s.cfg.Now()
	sc := s.reg.scope(scopeKey(r.Form.Get("vsys"), target), false)
	var b strings.Builder
	b.WriteString(`<response cmd="status" status="success"><result><dyn-addr-grp>`)
	for _, g := range groups {
		b.WriteString(`<entry>`)
		objects := sharedObjects
		if g.vsys != "" {
			objects = vsysObjects
			b.WriteString(`<vsys>` + escape(g.vsys) + `</vsys>`)
		}
		b.WriteString(`<group-name>` + escape(g.name) + `</group-name><filter>` + escape(g.filter) + `</filter>`)
		expr, err := parseDAGFilter(g.filter)
		if err != nil {
			// A filter the device could not have committed matches nothing.
			b.WriteString(`<member-list/></entry>`)
			continue
		}
		b.WriteString(`<member-list>`)
		for _, o := range objects {
			if expr.match(func(t string) bool { return containsString(o.tags, t) }) {
				b.WriteString(`<entry name="` + escapeAttr(o.name) + `" type="address-object"/>`)
			}
		}
		if sc != nil {
			writeRegisteredMembers(&b, sc, &expr, now)
		}
		b.WriteString(`</member-list></entry>`)
	}
	b.WriteString(`</dyn-addr-grp></result></response>`)
	return writeXML(w, http.StatusOK, "success", 0, b.String())
}

// writeRegisteredMembers writes the registered addresses of sc whose live
// tags match expr, in listing order (expired tags may not be swept yet).
func writeRegisteredMembers(b *strings.Builder, sc *scope, expr *dagExpr, now time.Time) {
	sc.order.from(0, func(e *ipEntry) bool {
		has := func(t string) bool {
			i := e.find(t)
			return i >= 0 && e.tags[i].live(now)
		}
		if expr.match(has) {
			b.WriteString(`<entry name="` + escapeAttr(e.addr.key) + `" type="registered-ip"/>`)
		}
		return true
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// showPanoramaDAGsLocked answers Panorama's own show object
// dynamic-address-group: the running config's dynamic groups by location,
// shared first, then the device groups, with empty member lists.
func (s *Sim) showPanoramaDAGsLocked(w http.ResponseWriter, name string) result {
	root := s.cfgTree.running
	type location struct {
		name   string
		groups []dagGroup
	}
	shared, _ := lookup(root, []xpathStep{step("config", ""), step("shared", "")})
	locs := []location{{"shared", dagGroups(shared, "", name)}}
	if dgs, _ := lookup(root, withSteps(panoramaPrefix, step("device-group", ""))); dgs != nil {
		for _, dg := range dgs.children {
			n, _ := dg.attr("name")
			locs = append(locs, location{n, dagGroups(dg, "", name)})
		}
	}
	var b strings.Builder
	b.WriteString(`<response status="success"><result><device-groups>`)
	for _, l := range locs {
		if len(l.groups) == 0 {
			continue
		}
		b.WriteString(`<entry name="` + escapeAttr(l.name) + `">`)
		for _, g := range l.groups {
			b.WriteString(`<address-group name="` + escapeAttr(g.name) + `"><filter>` + escape(g.filter) + `</filter><member-list/></address-group>`)
		}
		b.WriteString(`</entry>`)
	}
	b.WriteString(`</device-groups></result></response>`)
	body := strings.Replace(b.String(), `<device-groups></device-groups>`, `<device-groups/>`, 1)
	return writeXML(w, http.StatusOK, "success", 0, body)
}
