package sandwich

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// elem is a PAN-OS config element: a name attribute (entries only), text
// (leaves only) and children. Other attributes PAN-OS adds on reads
// (uuid, admin, dirtyId, time, ...) are dropped when parsing: they are the
// device's bookkeeping, not config kubedag sets.
type elem struct {
	tag      string
	name     string
	text     string
	children []*elem
}

func el(tag string, children ...*elem) *elem { return &elem{tag: tag, children: children} }

func leaf(tag, text string) *elem { return &elem{tag: tag, text: text} }

func named(name string, children ...*elem) *elem {
	return &elem{tag: "entry", name: name, children: children}
}

func members(tag string, vals ...string) *elem {
	e := el(tag)
	for _, v := range vals {
		e.children = append(e.children, leaf("member", v))
	}
	return e
}

func (e *elem) write(b *strings.Builder) {
	b.WriteString("<" + e.tag)
	if e.name != "" {
		b.WriteString(` name="`)
		xmlEscape(b, e.name)
		b.WriteString(`"`)
	}
	if len(e.children) == 0 && e.text == "" {
		b.WriteString("/>")
		return
	}
	b.WriteString(">")
	xmlEscape(b, e.text)
	for _, c := range e.children {
		c.write(b)
	}
	b.WriteString("</" + e.tag + ">")
}

func (e *elem) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func xmlEscape(b *strings.Builder, s string) {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s))
	b.Write(buf.Bytes())
}

// canonical is a serialization that ignores child order, so config PAN-OS
// stores in its schema order compares equal to the same config built in
// another order.
func (e *elem) canonical() string {
	var b strings.Builder
	e.writeCanonical(&b)
	return b.String()
}

func (e *elem) writeCanonical(b *strings.Builder) {
	b.WriteString("<" + e.tag)
	if e.name != "" {
		b.WriteString(` name="`)
		xmlEscape(b, e.name)
		b.WriteString(`"`)
	}
	b.WriteString(">")
	xmlEscape(b, e.text)
	kids := make([]string, len(e.children))
	for i, c := range e.children {
		kids[i] = c.canonical()
	}
	slices.Sort(kids)
	for _, k := range kids {
		b.WriteString(k)
	}
	b.WriteString("</" + e.tag + ">")
}

// child returns e's first child named tag; nil when e is nil or has none.
func (e *elem) child(tag string) *elem {
	if e == nil {
		return nil
	}
	for _, c := range e.children {
		if c.tag == tag {
			return c
		}
	}
	return nil
}

// memberTexts returns the texts of e's <member> children.
func (e *elem) memberTexts() []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, c := range e.children {
		if c.tag == "member" {
			out = append(out, c.text)
		}
	}
	return out
}

const maxDepth = 64

// parseElems parses a sequence of sibling elements.
func parseElems(data []byte) ([]*elem, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var roots, stack []*elem
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
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
			e := &elem{tag: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Local == "name" && a.Name.Space == "" {
					e.name = a.Value
				}
			}
			if len(stack) == 0 {
				roots = append(roots, e)
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			e := stack[len(stack)-1]
			if len(e.children) > 0 {
				e.text = ""
			} else {
				e.text = strings.TrimSpace(e.text)
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if len(stack) != 0 {
		return nil, errors.New("unclosed element")
	}
	return roots, nil
}
