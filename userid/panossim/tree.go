package panossim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is an element of the config tree or of an op command. Text is kept
// only for leaves (elements without children).
type node struct {
	name     string
	attrs    []xml.Attr
	text     string
	children []*node
}

func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *node) clone() *node {
	c := &node{name: n.name, text: n.text}
	c.attrs = append([]xml.Attr(nil), n.attrs...)
	c.children = make([]*node, len(n.children))
	for i, ch := range n.children {
		c.children[i] = ch.clone()
	}
	return c
}

// maxDepth bounds nesting of parsed XML (cmd and element parameters).
const maxDepth = 64

var errEmptyXML = errors.New("no element")

// parseNodes parses a sequence of sibling elements (an element= parameter may
// hold several). Comments, processing instructions and whitespace between
// elements are ignored; stray text is an error.
func parseNodes(s string) ([]*node, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	var roots []*node
	var stack []*node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("xml nested deeper than %d", maxDepth)
			}
			n := &node{name: t.Name.Local}
			for _, a := range t.Attr {
				// Namespaces play no part in PAN-OS config: drop declarations
				// and keep the first of attributes sharing a local name.
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				if _, dup := n.attr(a.Name.Local); !dup {
					n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: a.Name.Local}, Value: a.Value})
				}
			}
			if len(stack) == 0 {
				roots = append(roots, n)
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			if len(n.children) > 0 {
				n.text = ""
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, errors.New("text outside an element")
				}
				continue
			}
			n := stack[len(stack)-1]
			if len(n.children) == 0 {
				n.text += string(t)
			}
		}
	}
	if len(stack) != 0 {
		return nil, errors.New("unclosed element")
	}
	if len(roots) == 0 {
		return nil, errEmptyXML
	}
	for _, r := range roots {
		trimText(r)
	}
	return roots, nil
}

func trimText(n *node) {
	if len(n.children) > 0 {
		n.text = ""
		for _, c := range n.children {
			trimText(c)
		}
		return
	}
	n.text = strings.TrimSpace(n.text)
}

// write serializes n as compact XML.
func (n *node) write(b *strings.Builder) {
	b.WriteString("<" + n.name)
	for _, a := range n.attrs {
		b.WriteString(" " + a.Name.Local + `="` + escapeAttr(a.Value) + `"`)
	}
	if len(n.children) == 0 && n.text == "" {
		b.WriteString("/>")
		return
	}
	b.WriteString(">")
	b.WriteString(escape(n.text))
	for _, c := range n.children {
		c.write(b)
	}
	b.WriteString("</" + n.name + ">")
}

func (n *node) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

// cond is one comparison of a predicate: @attr='value' or text()='value'.
type cond struct {
	attr  string // "" for text()
	value string
}

// xpathStep is one step of an XPath: an element name and predicates, all of
// which must hold. A predicate is a disjunction of conjunctions of conds
// ([@name='a' or @name='b'], [@a='x' and @b='y'], [text()='m']).
type xpathStep struct {
	name  string
	preds [][][]cond
}

var errBadXPath = errors.New("bad xpath")

// step builds a simple step name[@name='value'] (value "" for none).
func step(name, entryName string) xpathStep {
	st := xpathStep{name: name}
	if entryName != "" {
		st.preds = [][][]cond{{{{attr: "name", value: entryName}}}}
	}
	return st
}

// parseXPathUnion parses the absolute XPaths PAN-OS config calls use, a
// union of them joined by '|':
// /config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1'].
func parseXPathUnion(p string) ([][]xpathStep, error) {
	var out [][]xpathStep
	for _, part := range splitTopLevel(p, '|') {
		steps, err := parseXPath(part)
		if err != nil {
			return nil, err
		}
		out = append(out, steps)
	}
	return out, nil
}

// splitTopLevel splits s at sep outside quotes and brackets.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	depth, quote, last := 0, byte(0), 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[last:i])
			last = i + 1
		}
	}
	return append(out, s[last:])
}

// parseXPath parses one absolute XPath.
func parseXPath(p string) ([]xpathStep, error) {
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return nil, errBadXPath
	}
	var steps []xpathStep
	i := 1
	for i < len(p) {
		j := i
		for j < len(p) && p[j] != '/' && p[j] != '[' {
			j++
		}
		name := p[i:j]
		if !validName(name) {
			return nil, errBadXPath
		}
		st := xpathStep{name: name}
		for j < len(p) && p[j] == '[' {
			end := predEnd(p, j)
			if end < 0 {
				return nil, errBadXPath
			}
			pred, err := parsePred(p[j+1 : end])
			if err != nil {
				return nil, err
			}
			st.preds = append(st.preds, pred)
			j = end + 1
		}
		if j < len(p) && p[j] != '/' {
			return nil, errBadXPath
		}
		steps = append(steps, st)
		i = j + 1
	}
	if len(steps) == 0 {
		return nil, errBadXPath
	}
	return steps, nil
}

// predEnd returns the index of the ']' closing the predicate opened at
// p[open], or -1.
func predEnd(p string, open int) int {
	quote := byte(0)
	for k := open + 1; k < len(p); k++ {
		c := p[k]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[':
			return -1
		case c == ']':
			return k
		}
	}
	return -1
}

// parsePred parses "A or B and C" where each operand is @attr='v' or
// text()='v' ("and" binds tighter than "or").
func parsePred(s string) ([][]cond, error) {
	toks, err := predTokens(s)
	if err != nil || len(toks) == 0 {
		return nil, errBadXPath
	}
	var out [][]cond
	var conj []cond
	for k := 0; k < len(toks); {
		if len(toks)-k < 3 || toks[k+1] != "=" || !isQuoted(toks[k+2]) {
			return nil, errBadXPath
		}
		var c cond
		switch {
		case toks[k] == "text()":
		case strings.HasPrefix(toks[k], "@") && validName(toks[k][1:]):
			c.attr = toks[k][1:]
		default:
			return nil, errBadXPath
		}
		c.value = toks[k+2][1 : len(toks[k+2])-1]
		conj = append(conj, c)
		k += 3
		if k == len(toks) {
			break
		}
		switch toks[k] {
		case "and":
		case "or":
			out = append(out, conj)
			conj = nil
		default:
			return nil, errBadXPath
		}
		k++
		if k == len(toks) {
			return nil, errBadXPath
		}
	}
	return append(out, conj), nil
}

func isQuoted(t string) bool {
	return len(t) >= 2 && (t[0] == '\'' || t[0] == '"') && t[len(t)-1] == t[0]
}

// predTokens splits a predicate into operands, '=', quoted strings and
// the words and/or.
func predTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '=':
			toks = append(toks, "=")
			i++
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, errBadXPath
			}
			toks = append(toks, s[i:i+end+2])
			i += end + 2
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '=' && s[j] != '\'' && s[j] != '"' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (st xpathStep) matches(n *node) bool {
	if n.name != st.name {
		return false
	}
	for _, pred := range st.preds {
		if !predHolds(pred, n) {
			return false
		}
	}
	return true
}

func predHolds(pred [][]cond, n *node) bool {
	for _, conj := range pred {
		ok := true
		for _, c := range conj {
			if c.attr == "" {
				ok = len(n.children) == 0 && n.text == c.value
			} else {
				v, has := n.attr(c.attr)
				ok = has && v == c.value
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// simple reports whether st names at most one node shape, so set and edit
// can create it: predicates are single conjunctions.
func (st xpathStep) simple() bool {
	for _, pred := range st.preds {
		if len(pred) != 1 {
			return false
		}
	}
	return true
}

// found is a node matched by an XPath and its parent (nil for the root).
type found struct{ n, parent *node }

// lookupAll finds every node at steps below root (steps[0] must match root),
// in document order.
func lookupAll(root *node, steps []xpathStep) []found {
	if !steps[0].matches(root) {
		return nil
	}
	cur := []found{{n: root}}
	for _, st := range steps[1:] {
		var next []found
		for _, f := range cur {
			for _, c := range f.n.children {
				if st.matches(c) {
					next = append(next, found{n: c, parent: f.n})
				}
			}
		}
		if len(next) == 0 {
			return nil
		}
		cur = next
	}
	return cur
}

// lookup finds the first node at steps below root (steps[0] must match
// root). It returns the node and its parent, or nil.
func lookup(root *node, steps []xpathStep) (n, parent *node) {
	all := lookupAll(root, steps)
	if len(all) == 0 {
		return nil, nil
	}
	return all[0].n, all[0].parent
}

// ensure finds or creates the node at steps, creating missing elements with
// the predicate attributes (and text). It fails when steps[0] does not match
// root or a step is not simple.
func ensure(root *node, steps []xpathStep) (*node, error) {
	if !steps[0].matches(root) {
		return nil, errBadXPath
	}
	n := root
	for _, st := range steps[1:] {
		if !st.simple() {
			return nil, errBadXPath
		}
		var next *node
		for _, c := range n.children {
			if st.matches(c) {
				next = c
				break
			}
		}
		if next == nil {
			next = &node{name: st.name}
			for _, pred := range st.preds {
				for _, c := range pred[0] {
					if c.attr == "" {
						next.text = c.value
					} else {
						setAttr(next, xml.Attr{Name: xml.Name{Local: c.attr}, Value: c.value})
					}
				}
			}
			n.text = ""
			n.children = append(n.children, next)
		}
		n = next
	}
	return n, nil
}

// sameItem reports whether a and b are the same item of a list: same element
// name and same name attribute; members and other leaves without a name
// attribute are compared by text when their parent holds several of them.
func sameItem(a, b *node) bool {
	if a.name != b.name {
		return false
	}
	an, aok := a.attr("name")
	bn, bok := b.attr("name")
	if aok || bok {
		return aok && bok && an == bn
	}
	if a.name == "member" {
		return a.text == b.text
	}
	return true
}

// merge merges src (the children to set) into dst, as PAN-OS set does:
// existing named items are merged recursively, leaves replaced, new items
// and new members appended.
func merge(dst *node, src []*node) {
	for _, s := range src {
		var match *node
		for _, d := range dst.children {
			if sameItem(d, s) {
				match = d
				break
			}
		}
		if match == nil {
			dst.text = ""
			dst.children = append(dst.children, s.clone())
			continue
		}
		for _, a := range s.attrs {
			setAttr(match, a)
		}
		if len(s.children) == 0 {
			if s.text != "" || len(match.children) == 0 {
				match.children = nil
				match.text = s.text
			}
			continue
		}
		match.text = ""
		merge(match, s.children)
	}
}

func setAttr(n *node, a xml.Attr) {
	for i := range n.attrs {
		if n.attrs[i].Name.Local == a.Name.Local {
			n.attrs[i].Value = a.Value
			return
		}
	}
	n.attrs = append(n.attrs, a)
}
