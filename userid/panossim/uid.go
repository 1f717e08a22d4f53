package panossim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// uidMessage is a User-ID API document (uid-message version 1.0, 2.0 or none).
type uidMessage struct {
	XMLName xml.Name `xml:"uid-message"`
	Version string   `xml:"version"`
	Type    string   `xml:"type"`
	Payload struct {
		Register   *uidList `xml:"register"`
		Unregister *uidList `xml:"unregister"`
	} `xml:"payload"`
}

type uidList struct {
	Entries []uidEntry `xml:"entry"`
}

type uidEntry struct {
	IP         string  `xml:"ip,attr"`
	Persistent string  `xml:"persistent,attr"`
	Tag        *uidTag `xml:"tag"`
}

type uidTag struct {
	Members []uidMember `xml:"member"`
}

type uidMember struct {
	Timeout string `xml:"timeout,attr"`
	Name    string `xml:",chardata"`
}

// parseUIDMessage decodes and checks a uid-message.
func parseUIDMessage(b []byte) (*uidMessage, error) {
	m, ok := fastUIDMessage(b)
	if !ok {
		var err error
		if m, err = decodeUIDMessage(b); err != nil {
			return nil, fmt.Errorf("parse uid-message: %w", err)
		}
	}
	switch v := strings.TrimSpace(m.Version); v {
	case "", "1.0", "2.0":
		m.Version = v
	default:
		return nil, fmt.Errorf("unsupported uid-message version %q", v)
	}
	if t := strings.TrimSpace(m.Type); t != "" && t != "update" {
		return nil, fmt.Errorf("unsupported uid-message type %q", t)
	}
	return m, nil
}

// uidResult is one entry-level answer of a user-id call.
type uidResult struct {
	ip, message string
}

func (s *Sim) userID(w http.ResponseWriter, r *http.Request, rec *Request) result {
	cmd := r.Form.Get("cmd")
	if cmd == "" {
		// pan-python posts the document as file=; accept it in a form too.
		cmd = r.Form.Get("file")
	}
	m, err := parseUIDMessage([]byte(cmd))
	n := 0
	if err == nil {
		if m.Payload.Register != nil {
			n += len(m.Payload.Register.Entries)
		}
		if m.Payload.Unregister != nil {
			n += len(m.Payload.Unregister.Entries)
		}
	}
	rec.Entries = n
	s.mu.Lock()
	s.stats.UserIDCalls++
	if err == nil {
		if m.Payload.Register != nil {
			s.stats.RegisterEntries += len(m.Payload.Register.Entries)
		}
		if m.Payload.Unregister != nil {
			s.stats.UnregisterEntries += len(m.Payload.Unregister.Entries)
		}
		s.stats.MaxEntriesPerCall = max(s.stats.MaxEntriesPerCall, n)
	}
	s.mu.Unlock()
	if err != nil {
		return writeError(w, http.StatusOK, 18, "Malformed Request")
	}
	target, ok := s.target(r)
	if !ok {
		return writeUnknownTarget(w, target)
	}
	key := scopeKey(r.Form.Get("vsys"), target)

	s.mu.Lock()
	unreg, reg := s.applyUIDLocked(key, m)
	s.mu.Unlock()

	version := m.Version
	if version == "" {
		version = "2.0"
	}
	var b strings.Builder
	if len(unreg) == 0 && len(reg) == 0 {
		b.WriteString(`<response status="success"><result><uid-response><version>`)
		b.WriteString(version)
		b.WriteString(`</version><payload><unregister> </unregister><register> </register></payload></uid-response></result></response>`)
		return writeXML(w, http.StatusOK, "success", 0, b.String())
	}
	b.WriteString(`<response status="error"><msg><line><uid-response><version>`)
	b.WriteString(version)
	b.WriteString(`</version><payload>`)
	writeUIDResults(&b, "unregister", unreg)
	writeUIDResults(&b, "register", reg)
	b.WriteString(`</payload></uid-response></line></msg></response>`)
	return writeXML(w, http.StatusOK, "error", 0, b.String())
}

func writeUIDResults(b *strings.Builder, section string, rs []uidResult) {
	if len(rs) == 0 {
		return
	}
	b.WriteString("<" + section + ">")
	for _, r := range rs {
		b.WriteString(`<entry ip="`)
		b.WriteString(escapeAttr(r.ip))
		b.WriteString(`" message="`)
		b.WriteString(escapeAttr(r.message))
		b.WriteString(`"/>`)
	}
	b.WriteString("</" + section + ">")
}

// applyUIDLocked applies a message to one scope, unregister before register,
// and returns the entry-level answers (benign and failures).
func (s *Sim) applyUIDLocked(scopeKey string, m *uidMessage) (unreg, reg []uidResult) {
	now := s.cfg.Now()
	s.reg.sweep(now)
	sc := s.reg.scope(scopeKey, true)
	if m.Payload.Unregister != nil {
		for i := range m.Payload.Unregister.Entries {
			unreg = s.unregisterLocked(sc, &m.Payload.Unregister.Entries[i], unreg)
		}
	}
	if m.Payload.Register != nil {
		for i := range m.Payload.Register.Entries {
			reg = s.registerLocked(sc, &m.Payload.Register.Entries[i], now, reg)
		}
	}
	return unreg, reg
}

func (s *Sim) unregisterLocked(sc *scope, in *uidEntry, out []uidResult) []uidResult {
	a, err := parseRegAddr(in.IP)
	if err != nil {
		return append(out, uidResult{in.IP, "Failed to unregister ip " + in.IP + ": invalid ip address"})
	}
	e := sc.entries[a.key]
	if e == nil {
		return append(out, uidResult{in.IP, "ip " + a.key + " does not exist, ignore unreg"})
	}
	if in.Tag == nil || len(in.Tag.Members) == 0 {
		s.reg.removeEntry(sc, a.key)
		return out
	}
	for _, m := range in.Tag.Members {
		name := strings.TrimSpace(m.Name)
		i := e.find(name)
		if i < 0 {
			out = append(out, uidResult{in.IP, "tag " + name + " does not exist, ignore unreg"})
			continue
		}
		e.tags = append(e.tags[:i], e.tags[i+1:]...)
		sc.gen++
	}
	if len(e.tags) == 0 {
		s.reg.removeEntry(sc, a.key)
	}
	return out
}

type newTag struct {
	name    string
	timeout time.Duration
}

var errTimeout = errors.New("invalid timeout")

func parseTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > int64(MaxTagTimeout/time.Second) {
		return 0, errTimeout
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Sim) registerLocked(sc *scope, in *uidEntry, now time.Time, out []uidResult) []uidResult {
	fail := func(msg string) []uidResult {
		return append(out, uidResult{in.IP, "Failed to register ip " + in.IP + ": " + msg})
	}
	a, err := parseRegAddr(in.IP)
	if err != nil {
		return fail("invalid ip address")
	}
	if in.Tag == nil || len(in.Tag.Members) == 0 {
		return fail("no tag specified")
	}
	tags := make([]newTag, 0, len(in.Tag.Members))
	for _, m := range in.Tag.Members {
		name := strings.TrimSpace(m.Name)
		switch {
		case name == "":
			return fail("empty tag name")
		case len(name) > MaxTagNameLen:
			return fail(fmt.Sprintf("tag name too long (max %d)", MaxTagNameLen))
		}
		d, err := parseTimeout(m.Timeout)
		if err != nil {
			return fail(fmt.Sprintf("invalid timeout %q for tag %s (max %d)", m.Timeout, name, int64(MaxTagTimeout/time.Second)))
		}
		dup := false
		for i := range tags {
			if tags[i].name == name {
				tags[i].timeout, dup = d, true
			}
		}
		if !dup {
			tags = append(tags, newTag{name, d})
		}
	}
	persistent := strings.TrimSpace(in.Persistent) != "0"

	e := sc.entries[a.key]
	added := 0
	for _, t := range tags {
		if e == nil || e.find(t.name) < 0 {
			added++
		}
	}
	have := 0
	if e != nil {
		have = len(e.tags)
	}
	if have+added > MaxTagsPerIP {
		return fail(fmt.Sprintf("too many tags (max %d)", MaxTagsPerIP))
	}
	if e == nil {
		if s.reg.total >= s.cfg.Capacity {
			return fail(fmt.Sprintf("registered-ip capacity %d reached", s.cfg.Capacity))
		}
		e = s.reg.addEntry(sc, a)
	}
	for _, t := range tags {
		var exp time.Time
		if t.timeout > 0 {
			exp = now.Add(t.timeout)
			s.reg.noteExpiry(exp)
		}
		if i := e.find(t.name); i >= 0 {
			// Re-registering refreshes the timeout and persistence.
			e.tags[i].expires, e.tags[i].persistent = exp, persistent
			out = append(out, uidResult{in.IP, "tag " + t.name + " already exists, ignore"})
			continue
		}
		e.tags = append(e.tags, regTag{name: t.name, expires: exp, persistent: persistent})
		sc.gen++
	}
	return out
}
