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
		b.WriteString(" " + a.Name.Local + `="` + escape(a.Value) + `"`)
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

// xpathStep is one step of an XPath: an element name with optional
// [@attr='value'] predicates.
type xpathStep struct {
	name  string
	preds []xml.Attr
}

var errBadXPath = errors.New("bad xpath")

// parseXPath parses absolute XPaths of the form PAN-OS config calls use:
// /config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1'].
func parseXPath(p string) ([]xpathStep, error) {
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") && p != "/" {
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
			k := j + 1
			if k >= len(p) || p[k] != '@' {
				return nil, errBadXPath
			}
			k++
			eq := strings.IndexByte(p[k:], '=')
			if eq < 0 {
				return nil, errBadXPath
			}
			attr := strings.TrimSpace(p[k : k+eq])
			k += eq + 1
			for k < len(p) && p[k] == ' ' {
				k++
			}
			if k >= len(p) || (p[k] != '\'' && p[k] != '"') {
				return nil, errBadXPath
			}
			q := p[k]
			end := strings.IndexByte(p[k+1:], q)
			if end < 0 || !validName(attr) {
				return nil, errBadXPath
			}
			val := p[k+1 : k+1+end]
			k += end + 2
			for k < len(p) && p[k] == ' ' {
				k++
			}
			if k >= len(p) || p[k] != ']' {
				return nil, errBadXPath
			}
			st.preds = append(st.preds, xml.Attr{Name: xml.Name{Local: attr}, Value: val})
			j = k + 1
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
	for _, p := range st.preds {
		if v, ok := n.attr(p.Name.Local); !ok || v != p.Value {
			return false
		}
	}
	return true
}

// lookup finds the node at steps below root (steps[0] must match root).
// It returns the node and its parent, or nil.
func lookup(root *node, steps []xpathStep) (n, parent *node) {
	if !steps[0].matches(root) {
		return nil, nil
	}
	n = root
	for _, st := range steps[1:] {
		var next *node
		for _, c := range n.children {
			if st.matches(c) {
				next = c
				break
			}
		}
		if next == nil {
			return nil, nil
		}
		parent, n = n, next
	}
	return n, parent
}

// ensure finds or creates the node at steps, creating missing elements with
// the predicate attributes. It fails when steps[0] does not match root.
func ensure(root *node, steps []xpathStep) (*node, error) {
	if !steps[0].matches(root) {
		return nil, errBadXPath
	}
	n := root
	for _, st := range steps[1:] {
		var next *node
		for _, c := range n.children {
			if st.matches(c) {
				next = c
				break
			}
		}
		if next == nil {
			next = &node{name: st.name, attrs: append([]xml.Attr(nil), st.preds...)}
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
