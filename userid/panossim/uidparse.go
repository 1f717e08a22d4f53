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
		stack []xml.Name // open elements, for nesting checks
		path  []string   // known element kinds from the root
		// The innermost open element of each kind that has one.
		pl     *uidPayload
		list   *uidList
		logins *uidLoginList
		groups *uidGroupList
		users  *uidUserList
		entry  *uidEntry
		group  *uidGroup
		user   *uidUserEntry
		tag    *uidTag
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
	attrs := func(se xml.StartElement, set func(name, value string)) {
		for _, a := range se.Attr {
			set(a.Name.Local, a.Value)
		}
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
			kind := ""
			if len(stack) == 1 {
				if t.Name.Local != "uid-message" {
					return nil, fmt.Errorf("expected element <%s> but have <%s>", "uid-message", t.Name.Local)
				}
				m.XMLName = xml.Name{Local: "uid-message"}
				kind = "uid-message"
			} else if len(path) == len(stack)-1 {
				kind = uidChild(known(), t.Name.Local)
			}
			switch kind {
			case "version":
				ver.Reset() // a repeated element replaces the earlier one
				text = &ver
			case "type":
				typ.Reset()
				text = &typ
			case "payload":
				pl = &m.Payload
				if known() == "type" {
					if m.Type.Payload == nil {
						m.Type.Payload = &uidPayload{}
					}
					pl = m.Type.Payload
				}
			case "register", "unregister":
				l := &pl.Register
				if t.Name.Local == "unregister" {
					l = &pl.Unregister
				}
				if *l == nil {
					*l = &uidList{}
				}
				list = *l
			case "login", "logout":
				l := &pl.Login
				if t.Name.Local == "logout" {
					l = &pl.Logout
				}
				if *l == nil {
					*l = &uidLoginList{}
				}
				logins = *l
			case "groups":
				if pl.Groups == nil {
					pl.Groups = &uidGroupList{}
				}
				groups = pl.Groups
			case "register-user", "unregister-user":
				l := &pl.RegisterUser
				if t.Name.Local == "unregister-user" {
					l = &pl.UnregisterUser
				}
				if *l == nil {
					*l = &uidUserList{}
				}
				users = *l
			case "entry":
				list.Entries = append(list.Entries, uidEntry{})
				entry = &list.Entries[len(list.Entries)-1]
				attrs(t, func(name, value string) {
					switch name {
					case "ip":
						entry.IP = value
					case "persistent":
						entry.Persistent = value
					}
				})
			case "login-entry":
				logins.Entries = append(logins.Entries, uidLogin{})
				e := &logins.Entries[len(logins.Entries)-1]
				attrs(t, func(name, value string) {
					switch name {
					case "name":
						e.Name = value
					case "ip":
						e.IP = value
					case "timeout":
						e.Timeout = value
					}
				})
			case "group":
				groups.Entries = append(groups.Entries, uidGroup{})
				group = &groups.Entries[len(groups.Entries)-1]
				attrs(t, func(name, value string) {
					if name == "name" {
						group.Name = value
					}
				})
			case "members":
				if group.Members == nil {
					group.Members = &uidSection[uidGroupMember]{}
				}
			case "group-member":
				group.Members.Entries = append(group.Members.Entries, uidGroupMember{})
				e := &group.Members.Entries[len(group.Members.Entries)-1]
				attrs(t, func(name, value string) {
					if name == "name" {
						e.Name = value
					}
				})
			case "user-entry":
				users.Entries = append(users.Entries, uidUserEntry{})
				user = &users.Entries[len(users.Entries)-1]
				attrs(t, func(name, value string) {
					if name == "user" {
						user.User = value
					}
				})
			case "tag":
				if entry.Tag == nil {
					entry.Tag = &uidTag{}
				}
				tag = entry.Tag
			case "user-tag":
				if user.Tag == nil {
					user.Tag = &uidTag{}
				}
				tag = user.Tag
			case "member":
				tag.Members = append(tag.Members, uidMember{})
				member = &tag.Members[len(tag.Members)-1]
				attrs(t, func(name, value string) {
					if name == "timeout" {
						member.Timeout = value
					}
				})
				mtext.Reset()
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
				}
				path = path[:len(path)-1]
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				// Like xml.Unmarshal: what follows the root is not read.
				m.Version, m.Type.Text = ver.String(), typ.String()
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

// uidChild is the kind of element name inside an element of kind parent,
// "" for elements the emulator skips.
func uidChild(parent, name string) string {
	switch parent {
	case "uid-message":
		switch name {
		case "version", "type", "payload":
			return name
		}
	case "type":
		if name == "payload" {
			return name
		}
	case "payload":
		switch name {
		case "register", "unregister", "login", "logout", "groups", "register-user", "unregister-user":
			return name
		}
	case "register", "unregister":
		if name == "entry" {
			return "entry"
		}
	case "login", "logout":
		if name == "entry" {
			return "login-entry"
		}
	case "groups":
		if name == "entry" {
			return "group"
		}
	case "group":
		if name == "members" {
			return name
		}
	case "members":
		if name == "entry" {
			return "group-member"
		}
	case "register-user", "unregister-user":
		if name == "entry" {
			return "user-entry"
		}
	case "entry":
		if name == "tag" {
			return "tag"
		}
	case "user-entry":
		if name == "tag" {
			return "user-tag"
		}
	case "tag", "user-tag":
		if name == "member" {
			return "member"
		}
	}
	return ""
}
