package userid

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"
)

// A registered-IP page holds up to 500 entries, and a 500,000-IP listing
// is 1,000 of them: through encoding/xml (the envelope, then <result>
// again) parsing cost about 10 µs an entry, most of a restart's listing.
// fastRegisteredPage reads the page as devices print it with a byte
// scanner instead and gives up (ok false) at anything outside that plain
// shape (entities, CDATA, comments, non-ASCII text, a prolog, unknown
// elements, a status other than success), so the caller then parses the
// body the generic way; FuzzRegisteredPageFast checks that whenever it
// answers, the generic parsers answer the same.
//
//	<response status="success"><result>
//	 <entry ip="10.1.129.5" from_agent="0" persistent="1"><tag><member>a</member><member timeout="60">b</member></tag></entry>
//	 <count>1</count></result></response>
//
// Tag names repeat across IPs (a few hundred distinct tags over 500,000
// IPs): in is a page's interner, so each distinct name is one string, and
// the page's tags share one backing array.
func fastRegisteredPage(data []byte, in map[string]string) (p registeredPage, ok bool) {
	s := scanner{b: data}
	s.ws()
	if !s.lit(`<response status="success">`) {
		return p, false
	}
	s.ws()
	if !s.lit("<result>") {
		return p, false
	}
	type span struct{ from, to int }
	nEntries := bytes.Count(data, []byte("<entry"))
	tags := make([]Tag, 0, bytes.Count(data, []byte("<member")))
	spans := make([]span, 0, nEntries) // each entry's tags in tags
	p.entries = make([]RegisteredIP, 0, nEntries)
	for {
		s.ws()
		switch {
		case s.lit("<entry"):
			r, from, good := s.entry(&tags, in)
			if !good {
				return p, false
			}
			p.n++
			if !r.IP.IsValid() {
				p.skipped++
				continue
			}
			p.entries = append(p.entries, r)
			spans = append(spans, span{from, len(tags)})
		case s.lit("<count>"):
			if !s.digits() || !s.lit("</count>") {
				return p, false
			}
		case s.lit("</result>"):
			s.ws()
			if !s.lit("</response>") {
				return p, false
			}
			s.ws()
			if s.i != len(s.b) {
				return p, false
			}
			// Slices of one array, capped so an append by a consumer
			// copies instead of writing into the next entry's tags.
			for i, sp := range spans {
				if sp.to > sp.from {
					p.entries[i].Tags = tags[sp.from:sp.to:sp.to]
				}
			}
			return p, true
		default:
			return p, false
		}
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n':
			s.i++
		default:
			return
		}
	}
}

// lit consumes lit if the input continues with it.
func (s *scanner) lit(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// plain reports whether c may appear in text or an attribute value on the
// fast path: printable ASCII without markup or entity characters, spaces
// and newlines (encoding/xml rewrites \r, so it is left to it).
func plain(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || (c > ' ' && c < 0x7f && c != '<' && c != '>' && c != '&' && c != '"' && c != '\'')
}

// text consumes plain characters up to the next '<' and returns them.
func (s *scanner) text() ([]byte, bool) {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] != '<' {
		if !plain(s.b[s.i]) {
			return nil, false
		}
		s.i++
	}
	return s.b[start:s.i], s.i < len(s.b)
}

// attrs consumes the attributes of a start tag and its end: '>' (open)
// or '/>' (empty element). fn sees each name and value.
func (s *scanner) attrs(fn func(name, value []byte)) (empty, ok bool) {
	for {
		sep := s.i
		s.ws()
		switch {
		case s.lit(">"):
			return false, true
		case s.lit("/>"):
			return true, true
		}
		if s.i == sep { // attributes are separated by white space
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
			if !plain(s.b[s.i]) {
				return false, false
			}
			s.i++
		}
		if s.i == len(s.b) {
			return false, false
		}
		fn(name, s.b[start:s.i])
		s.i++ // the closing quote
	}
}

// entry parses an <entry> after its name: its ip and persistent
// attributes and the members of its <tag> elements, appended to tags
// (from is where they start). An IP that does not parse as one address
// (a range or subnet) yields an invalid r.IP, as parseRegisteredIPs
// skips it.
func (s *scanner) entry(tags *[]Tag, in map[string]string) (r RegisteredIP, from int, ok bool) {
	from = len(*tags)
	var ipText, persistent []byte
	empty, ok := s.attrs(func(name, value []byte) {
		switch string(name) {
		case "ip":
			ipText = value
		case "persistent":
			persistent = value
		}
	})
	if !ok {
		return r, from, false
	}
	if ip, err := netip.ParseAddr(string(bytes.TrimSpace(ipText))); err == nil {
		r.IP = ip.Unmap()
	}
	r.Persistent = string(bytes.TrimSpace(persistent)) != "0"
	if empty {
		return r, from, true
	}
	for {
		s.ws()
		switch {
		case s.lit("</entry>"):
			return r, from, true
		case s.lit("<tag"):
			if !s.tag(tags, in) {
				return r, from, false
			}
		default:
			return r, from, false
		}
	}
}

// tag parses a <tag> element after its name.
func (s *scanner) tag(tags *[]Tag, in map[string]string) bool {
	empty, ok := s.attrs(func(_, _ []byte) {})
	if !ok {
		return false
	}
	if empty {
		return true
	}
	for {
		s.ws()
		switch {
		case s.lit("</tag>"):
			return true
		case s.lit("<member"):
			var timeout []byte
			empty, ok := s.attrs(func(name, value []byte) {
				if string(name) == "timeout" {
					timeout = value
				}
			})
			if !ok {
				return false
			}
			if empty {
				continue // no name: parseRegisteredIPs drops it
			}
			text, ok := s.text()
			if !ok || !s.lit("</member>") {
				return false
			}
			name := bytes.TrimSpace(text)
			if len(name) == 0 {
				continue
			}
			t := Tag{Name: intern(in, name)}
			if timeout = bytes.TrimSpace(timeout); len(timeout) > 0 { // (a failed ParseInt allocates its error)
				if secs, err := strconv.ParseInt(string(timeout), 10, 64); err == nil && secs > 0 && secs <= int64(MaxTagTimeout/time.Second) {
					t.Timeout = time.Duration(secs) * time.Second
				}
			}
			*tags = append(*tags, t)
		default:
			return false
		}
	}
}

// intern returns the one string for b in m, adding it if new.
func intern(m map[string]string, b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	m[s] = s
	return s
}
