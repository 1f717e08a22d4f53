package panossim

// fastUIDMessage reads a uid-message of the plain shape clients send
// (kubedag's userid client, pan-os-python) with a byte scanner: the
// encoding/xml token stream of decodeUIDMessage cost most of the
// emulator's time per call at 1,000 entries a message, and the benchmarks
// run the emulator in the same process as what they measure. ok is false
// at anything else (a prolog, comments, CDATA, entities, non-ASCII text,
// attributes on structural elements, text between elements, trailing
// bytes), and the caller then decodes the message the general way;
// FuzzUIDMessage checks that whenever this answers, decodeUIDMessage
// answers the same.
//
//	<uid-message><version>2.0</version><type>update</type><payload>
//	<unregister><entry ip="10.0.0.1"><tag><member>a</member></tag></entry></unregister>
//	<register><entry ip="10.0.0.2" persistent="0"><tag><member timeout="60">b</member></tag></entry></register>
//	</payload></uid-message>
func fastUIDMessage(b []byte) (m *uidMessage, ok bool) {
	s := uidScanner{b: b, names: make(map[string]string)}
	m = &uidMessage{}
	s.ws()
	if !s.lit("<uid-message>") {
		return nil, false
	}
	m.XMLName.Local = "uid-message"
	s.ws()
	if s.lit("<version>") {
		t, ok := s.text()
		if !ok || !s.lit("</version>") {
			return nil, false
		}
		m.Version = string(t)
		s.ws()
	}
	if s.lit("<type>") {
		t, ok := s.text()
		if !ok || !s.lit("</type>") {
			return nil, false
		}
		m.Type.Text = string(t)
		s.ws()
	}
	if !s.lit("<payload>") {
		return nil, false
	}
	for {
		s.ws()
		var list **uidList
		var end string
		switch {
		case s.lit("</payload>"):
			s.ws()
			if !s.lit("</uid-message>") {
				return nil, false
			}
			s.ws()
			return m, s.i == len(s.b)
		case s.lit("<register>"):
			list, end = &m.Payload.Register, "</register>"
		case s.lit("<unregister>"):
			list, end = &m.Payload.Unregister, "</unregister>"
		default:
			return nil, false
		}
		if *list == nil {
			*list = &uidList{}
		}
		if !s.entries(*list, end) {
			return nil, false
		}
	}
}

type uidScanner struct {
	b     []byte
	i     int
	names map[string]string // the message's tag names, one string each
}

func (s *uidScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n') {
		s.i++
	}
}

func (s *uidScanner) lit(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// plainByte: printable ASCII without markup, entity or quote characters,
// and spaces, tabs and newlines (encoding/xml rewrites \r).
func plainByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || (c > ' ' && c < 0x7f && c != '<' && c != '>' && c != '&' && c != '"' && c != '\'')
}

// text consumes plain characters up to the next '<'.
func (s *uidScanner) text() ([]byte, bool) {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] != '<' {
		if !plainByte(s.b[s.i]) {
			return nil, false
		}
		s.i++
	}
	return s.b[start:s.i], s.i < len(s.b)
}

// attrs consumes a start tag's attributes and its end, '>' or '/>'.
func (s *uidScanner) attrs(fn func(name, value []byte)) (empty, ok bool) {
	for {
		sep := s.i
		s.ws()
		switch {
		case s.lit(">"):
			return false, true
		case s.lit("/>"):
			return true, true
		}
		if s.i == sep {
			return false, false
		}
		start := s.i
		for s.i < len(s.b) && (s.b[s.i] >= 'a' && s.b[s.i] <= 'z' || s.b[s.i] == '_' || s.b[s.i] == '-') {
			s.i++
		}
		name := s.b[start:s.i]
		if len(name) == 0 || !s.lit(`="`) {
			return false, false
		}
		start = s.i
		for s.i < len(s.b) && s.b[s.i] != '"' {
			if !plainByte(s.b[s.i]) {
				return false, false
			}
			s.i++
		}
		if s.i == len(s.b) {
			return false, false
		}
		fn(name, s.b[start:s.i])
		s.i++
	}
}

// entries reads <entry> elements into list up to end.
func (s *uidScanner) entries(list *uidList, end string) bool {
	for {
		s.ws()
		if s.lit(end) {
			return true
		}
		if !s.lit("<entry") {
			return false
		}
		list.Entries = append(list.Entries, uidEntry{})
		e := &list.Entries[len(list.Entries)-1]
		empty, ok := s.attrs(func(name, value []byte) {
			switch string(name) {
			case "ip":
				e.IP = string(value)
			case "persistent":
				e.Persistent = string(value)
			}
		})
		if !ok {
			return false
		}
		if empty {
			continue
		}
		for {
			s.ws()
			if s.lit("</entry>") {
				break
			}
			if !s.lit("<tag") || !s.tag(e) {
				return false
			}
		}
	}
}

// tag reads a <tag> element after its name; like decodeUIDMessage, the
// members of several <tag> elements of one entry add up.
func (s *uidScanner) tag(e *uidEntry) bool {
	empty, ok := s.attrs(func(_, _ []byte) {})
	if !ok {
		return false
	}
	if e.Tag == nil {
		e.Tag = &uidTag{}
	}
	if empty {
		return true
	}
	for {
		s.ws()
		if s.lit("</tag>") {
			return true
		}
		if !s.lit("<member") {
			return false
		}
		var m uidMember
		empty, ok := s.attrs(func(name, value []byte) {
			if string(name) == "timeout" {
				m.Timeout = string(value)
			}
		})
		if !ok {
			return false
		}
		if !empty {
			t, ok := s.text()
			if !ok || !s.lit("</member>") {
				return false
			}
			if n, ok := s.names[string(t)]; ok {
				m.Name = n
			} else {
				m.Name = string(t)
				s.names[m.Name] = m.Name
			}
		}
		e.Tag.Members = append(e.Tag.Members, m)
	}
}
