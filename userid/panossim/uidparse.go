package panossim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// decodeUIDMessage reads a uid-message with the raw token stream of
// encoding/xml (no reflection, no namespace translation: this is the hot
// path of every user-id call). It checks that elements nest properly, keeps
// only what the emulator acts on and skips unknown elements, like
// xml.Unmarshal into uidMessage would.
func decodeUIDMessage(b []byte) (*uidMessage, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	m := &uidMessage{}
	var (
		stack  []xml.Name // open elements, for nesting checks
		path   []string   // known element names from the root; "" when unknown
		list   *uidList
		entry  *uidEntry
		member *uidMember
		text   *strings.Builder // chardata target of version/type
		ver    strings.Builder
		typ    strings.Builder
		mtext  strings.Builder
	)
	known := func() string { // the element kind at the top of path
		if len(path) == 0 {
			return ""
		}
		return path[len(path)-1]
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			if len(stack) != 0 || m.XMLName.Local == "" {
				return nil, errors.New("unexpected EOF")
			}
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
			stack = append(stack, t.Name)
			parent := known()
			kind := ""
			switch {
			case len(stack) == 1:
				if t.Name.Local != "uid-message" {
					return nil, fmt.Errorf("expected element <uid-message> but have <%s>", t.Name.Local)
				}
				m.XMLName = xml.Name{Local: "uid-message"}
				kind = "uid-message"
			case parent == "uid-message" && len(path) == len(stack)-1:
				switch t.Name.Local {
				case "version":
					ver.Reset() // a repeated element replaces the earlier one
					kind, text = "version", &ver
				case "type":
					typ.Reset()
					kind, text = "type", &typ
				case "payload":
					kind = "payload"
				}
			case parent == "payload" && len(path) == len(stack)-1:
				switch t.Name.Local {
				case "register":
					if m.Payload.Register == nil {
						m.Payload.Register = &uidList{}
					}
					kind, list = "list", m.Payload.Register
				case "unregister":
					if m.Payload.Unregister == nil {
						m.Payload.Unregister = &uidList{}
					}
					kind, list = "list", m.Payload.Unregister
				}
			case parent == "list" && len(path) == len(stack)-1 && t.Name.Local == "entry":
				list.Entries = append(list.Entries, uidEntry{})
				entry = &list.Entries[len(list.Entries)-1]
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "ip":
						entry.IP = a.Value
					case "persistent":
						entry.Persistent = a.Value
					}
				}
				kind = "entry"
			case parent == "entry" && len(path) == len(stack)-1 && t.Name.Local == "tag":
				if entry.Tag == nil {
					entry.Tag = &uidTag{}
				}
				kind = "tag"
			case parent == "tag" && len(path) == len(stack)-1 && t.Name.Local == "member":
				entry.Tag.Members = append(entry.Tag.Members, uidMember{})
				member = &entry.Tag.Members[len(entry.Tag.Members)-1]
				for _, a := range t.Attr {
					if a.Name.Local == "timeout" {
						member.Timeout = a.Value
					}
				}
				mtext.Reset()
				kind = "member"
			}
			if kind != "" {
				path = append(path, kind)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, fmt.Errorf("unexpected end element </%s>", t.Name.Local)
			}
			open := stack[len(stack)-1]
			if open != t.Name {
				return nil, fmt.Errorf("element <%s> closed by </%s>", open.Local, t.Name.Local)
			}
			if len(path) == len(stack) {
				switch known() {
				case "member":
					member.Name = mtext.String()
					member = nil
				case "version", "type":
					text = nil
				case "list":
					list = nil
				case "entry":
					entry = nil
				}
				path = path[:len(path)-1]
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				// Like xml.Unmarshal: what follows the root is not read.
				m.Version, m.Type = ver.String(), typ.String()
				return m, nil
			}
		case xml.CharData:
			if len(path) != len(stack) {
				continue // inside an unknown element
			}
			switch known() {
			case "member":
				mtext.Write(t)
			case "version", "type":
				text.Write(t)
			}
		}
	}
	return nil, errors.New("unexpected EOF")
}
