package panossim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// uidMessage is a User-ID API document (uid-message version 1.0, 2.0 or none).
type uidMessage struct {
	XMLName xml.Name   `xml:"uid-message"`
	Version string     `xml:"version"`
	Type    uidType    `xml:"type"`
	Payload uidPayload `xml:"payload"`
}

// uidType is <type>: its text, and a payload nested in it, as pan-python's
// live test suite builds its documents and a device applies them.
type uidType struct {
	Text    string      `xml:",chardata"`
	Payload *uidPayload `xml:"payload"`
}

// uidPayload holds every section of a uid-message a device acts on.
type uidPayload struct {
	Register       *uidList      `xml:"register"`
	Unregister     *uidList      `xml:"unregister"`
	Login          *uidLoginList `xml:"login"`
	Logout         *uidLoginList `xml:"logout"`
	Groups         *uidGroupList `xml:"groups"`
	RegisterUser   *uidUserList  `xml:"register-user"`
	UnregisterUser *uidUserList  `xml:"unregister-user"`
}

// uidSection is one payload section: a list of entries.
type uidSection[E any] struct {
	Entries []E `xml:"entry"`
}

type (
	uidList      = uidSection[uidEntry]     // register, unregister
	uidLoginList = uidSection[uidLogin]     // login, logout
	uidGroupList = uidSection[uidGroup]     // groups
	uidUserList  = uidSection[uidUserEntry] // register-user, unregister-user
)

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

// uidLogin maps a user to an IP address (login) or ends the mapping (logout).
type uidLogin struct {
	Name    string `xml:"name,attr"`
	IP      string `xml:"ip,attr"`
	Timeout string `xml:"timeout,attr"` // minutes
}

// uidGroup sets a group's whole membership.
type uidGroup struct {
	Name    string                      `xml:"name,attr"`
	Members *uidSection[uidGroupMember] `xml:"members"`
}

type uidGroupMember struct {
	Name string `xml:"name,attr"`
}

// uidUserEntry tags a user (register-user) or untags it (unregister-user;
// without tags: all of them).
type uidUserEntry struct {
	User string  `xml:"user,attr"`
	Tag  *uidTag `xml:"tag"`
}

func sectionLen[E any](l *uidSection[E]) int {
	if l == nil {
		return 0
	}
	return len(l.Entries)
}

// entries counts the entries of every section.
func (p *uidPayload) entries() int {
	return sectionLen(p.Register) + sectionLen(p.Unregister) + sectionLen(p.Login) + sectionLen(p.Logout) +
		sectionLen(p.Groups) + sectionLen(p.RegisterUser) + sectionLen(p.UnregisterUser)
}

func mergeSection[E any](dst **uidSection[E], src *uidSection[E]) {
	if src == nil {
		return
	}
	if *dst == nil {
		*dst = &uidSection[E]{}
	}
	(*dst).Entries = append((*dst).Entries, src.Entries...)
}

// merge appends q's sections to p's.
func (p *uidPayload) merge(q *uidPayload) {
	mergeSection(&p.Register, q.Register)
	mergeSection(&p.Unregister, q.Unregister)
	mergeSection(&p.Login, q.Login)
	mergeSection(&p.Logout, q.Logout)
	mergeSection(&p.Groups, q.Groups)
	mergeSection(&p.RegisterUser, q.RegisterUser)
	mergeSection(&p.UnregisterUser, q.UnregisterUser)
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
	if t := strings.TrimSpace(m.Type.Text); t != "" && t != "update" {
		return nil, fmt.Errorf("unsupported uid-message type %q", t)
	}
	if m.Type.Payload != nil {
		m.Payload.merge(m.Type.Payload)
		m.Type.Payload = nil
	}
	return m, nil
}

// uidResult is one entry-level answer of a user-id call. Its attributes
// are written in the order devices write them: name (login, logout,
// groups), user (user tags), ip, message; clients such as pan-os-python
// match the end of the last entry's text ("..., ignore").
type uidResult struct {
	name, user, ip, message string
}

// uidAnswer collects the entry-level answers of one call by section.
type uidAnswer struct {
	login, logout, unreg, reg, groups, unregUser, regUser []uidResult
}

func (a *uidAnswer) failed() bool {
	return len(a.login)+len(a.logout)+len(a.unreg)+len(a.reg)+len(a.groups)+len(a.unregUser)+len(a.regUser) > 0
}

func (s *Sim) userID(w http.ResponseWriter, r *http.Request, rec *Request) result {
	doc, err := uidDocument(r)
	var m *uidMessage
	if err == nil {
		m, err = parseUIDMessage(doc)
	}
	n := 0
	if err == nil {
		n = m.Payload.entries()
	}
	rec.Entries = n
	s.mu.Lock()
	s.stats.UserIDCalls++
	if err == nil {
		s.stats.RegisterEntries += sectionLen(m.Payload.Register)
		s.stats.UnregisterEntries += sectionLen(m.Payload.Unregister)
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
	key := scopeKey(s.uidVsys(r, target), target)

	var ans uidAnswer
	s.mu.Lock()
	ans.unreg, ans.reg = s.applyUIDLocked(key, m)
	s.applyUserIDLocked(key, &m.Payload, &ans)
	s.mu.Unlock()

	version := m.Version
	if version == "" {
		version = "2.0"
	}
	var b strings.Builder
	status := "success"
	if ans.failed() {
		status = "error"
		b.WriteString(`<response status="error"><msg><line><uid-response><version>`)
	} else {
		b.WriteString(`<response status="success"><result><uid-response><version>`)
	}
	b.WriteString(version)
	b.WriteString(`</version><payload>`)
	writeUIDSections(&b, &m.Payload, &ans)
	if status == "error" {
		b.WriteString(`</payload></uid-response></line></msg></response>`)
	} else {
		b.WriteString(`</payload></uid-response></result></response>`)
	}
	return writeXML(w, http.StatusOK, status, 0, b.String())
}

// uidDocument is the uid-message of a user-id call: cmd=, or the file
// Palo Alto's documentation uploads (curl -F key=KEY --form file=@FILE
// ".../api/?type=user-id": a multipart file part; also taken from a plain
// field named file). The body was read under Config.MaxBodyBytes.
func uidDocument(r *http.Request) ([]byte, error) {
	if cmd := r.Form.Get("cmd"); cmd != "" {
		return []byte(cmd), nil
	}
	if f := r.Form.Get("file"); f != "" {
		return []byte(f), nil
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File["file"]) == 0 {
		return nil, nil
	}
	f, err := r.MultipartForm.File["file"][0].Open()
	if err != nil {
		return nil, fmt.Errorf("open uploaded uid-message: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read uploaded uid-message: %w", err)
	}
	return b, nil
}

// uidVsys is the vsys= a User-ID call or listing is for. Panorama itself
// has no vsys and ignores it: pan-os-python sends vsys=shared (its Panorama
// default) with user-id calls and no vsys with op commands, and reads back
// what it registered. With target= the request is the managed firewall's.
func (s *Sim) uidVsys(r *http.Request, target string) string {
	if s.cfg.Panorama && target == "" {
		return ""
	}
	return r.Form.Get("vsys")
}

// writeUIDSections writes the uid-response sections of the kinds of
// section the message held, in pairs as devices answer them (success and
// failure alike): <login>/<logout> for IP-user mappings, <unregister>/
// <register> for IP tags (also the answer to an empty payload), <groups>,
// and <unregister-user>/<register-user> for user tags.
func writeUIDSections(b *strings.Builder, p *uidPayload, a *uidAnswer) {
	ipUser := p.Login != nil || p.Logout != nil
	users := p.RegisterUser != nil || p.UnregisterUser != nil
	ipTag := p.Register != nil || p.Unregister != nil || !(ipUser || users || p.Groups != nil)
	if ipUser {
		writeUIDResults(b, "login", "", a.login)
		writeUIDResults(b, "logout", "", a.logout)
	}
	if ipTag {
		// The empty sections hold one space in every recorded answer.
		writeUIDResults(b, "unregister", " ", a.unreg)
		writeUIDResults(b, "register", " ", a.reg)
	}
	if p.Groups != nil {
		writeUIDResults(b, "groups", "", a.groups)
	}
	if users {
		writeUIDResults(b, "unregister-user", "", a.unregUser)
		writeUIDResults(b, "register-user", "", a.regUser)
	}
}

func writeUIDResults(b *strings.Builder, section, empty string, rs []uidResult) {
	b.WriteString("<" + section + ">")
	if len(rs) == 0 {
		b.WriteString(empty)
	}
	withIP := section == "register" || section == "unregister" || section == "login" || section == "logout"
	for _, r := range rs {
		b.WriteString(`<entry`)
		if r.name != "" || section == "login" || section == "logout" || section == "groups" {
			b.WriteString(` name="` + escapeAttr(r.name) + `"`)
		}
		if r.user != "" || section == "register-user" || section == "unregister-user" {
			b.WriteString(` user="` + escapeAttr(r.user) + `"`)
		}
		if withIP {
			b.WriteString(` ip="` + escapeAttr(r.ip) + `"`)
		}
		b.WriteString(` message="` + escapeAttr(r.message) + `"/>`)
	}
	b.WriteString("</" + section + ">")
}

// applyUIDLocked applies a message to one scope, unregister before register,
// and returns the entry-level answers (benign and failures).
func (s *Sim) applyUIDLocked(scopeKey string, m *uidMessage) (unreg, reg []uidResult) {
	now := s.cfg.Now()
	s.reg.sweep(now)
	if m.Payload.Register == nil && m.Payload.Unregister == nil {
		return nil, nil
	}
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
		return append(out, uidResult{ip: in.IP, message: "Failed to unregister ip " + in.IP + ": invalid ip address"})
	}
	e := sc.entries[a.key]
	if e == nil {
		return append(out, uidResult{ip: in.IP, message: "ip " + a.key + " does not exist, ignore unreg"})
	}
	if in.Tag == nil || len(in.Tag.Members) == 0 {
		s.reg.removeEntry(sc, a.key)
		return out
	}
	for _, m := range in.Tag.Members {
		name := strings.TrimSpace(m.Name)
		i := e.find(name)
		if i < 0 {
			out = append(out, uidResult{ip: in.IP, message: "tag " + name + " does not exist, ignore unreg"})
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

// newTags validates a register's tag members, IP or user alike: a name of
// at most MaxTagNameLen characters and a timeout in seconds each; a tag
// named twice takes its last timeout. It returns the failure reason, or
// "" and the tags in first-named order.
func newTags(t *uidTag) ([]newTag, string) {
	if t == nil || len(t.Members) == 0 {
		return nil, "no tag specified"
	}
	tags := make([]newTag, 0, len(t.Members))
	for _, m := range t.Members {
		name := strings.TrimSpace(m.Name)
		switch {
		case name == "":
			return nil, "empty tag name"
		case len(name) > MaxTagNameLen:
			return nil, fmt.Sprintf("tag name too long (max %d)", MaxTagNameLen)
		}
		d, err := parseTimeout(m.Timeout)
		if err != nil {
			return nil, fmt.Sprintf("invalid timeout %q for tag %s (max %d)", m.Timeout, name, int64(MaxTagTimeout/time.Second))
		}
		if i := slices.IndexFunc(tags, func(t newTag) bool { return t.name == name }); i >= 0 {
			tags[i].timeout = d
			continue
		}
		tags = append(tags, newTag{name, d})
	}
	return tags, ""
}

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
		return append(out, uidResult{ip: in.IP, message: "Failed to register ip " + in.IP + ": " + msg})
	}
	a, err := parseRegAddr(in.IP)
	if err != nil {
		return fail("invalid ip address")
	}
	tags, reason := newTags(in.Tag)
	if reason != "" {
		return fail(reason)
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
			out = append(out, uidResult{ip: in.IP, message: "tag " + t.name + " already exists, ignore"})
			continue
		}
		e.tags = append(e.tags, regTag{name: t.name, expires: exp, persistent: persistent})
		sc.gen++
	}
	return out
}
