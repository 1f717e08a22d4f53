package userid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Tag is one tag of an IP-tag mapping.
type Tag struct {
	Name string
	// Timeout is how long the device keeps the tag on the IP, rounded up
	// to whole seconds, at most MaxTagTimeout. 0 sends no timeout attribute
	// (no expiry). In RegisteredIPs answers it is the remaining time, where
	// the device reports one.
	Timeout time.Duration
}

// Entry is one IP with the tags to register on it or unregister from it.
type Entry struct {
	IP   netip.Addr
	Tags []Tag
	// NonPersistent registers the tags with persistent="0": they do not
	// survive a reboot of the device. Ignored for unregister.
	NonPersistent bool
}

// Update is one batch of User-ID changes. Unregisters are sent before
// registers.
type Update struct {
	Unregister, Register []Entry
}

// EntryError is one entry the device refused.
type EntryError struct {
	Op      string // "register" or "unregister"
	IP      netip.Addr
	Message string
	// CapacityFull is set when the device refused a register because its
	// registered-IP capacity is reached.
	CapacityFull bool
}

func (e EntryError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Op, e.IP, e.Message)
}

// UpdateResult tells how an Update went.
type UpdateResult struct {
	// Failed lists the entries the device refused. Benign answers
	// ("already exists", "does not exist") are not failures.
	Failed []EntryError
	// Messages is how many uid-messages were sent successfully.
	Messages int
}

const (
	uidHead       = "<uid-message><version>2.0</version><type>update</type><payload>"
	uidTail       = "</payload></uid-message>"
	uidUnregOpen  = "<unregister>"
	uidUnregClose = "</unregister>"
	uidRegOpen    = "<register>"
	uidRegClose   = "</register>"
)

// Update sends u as uid-message (version 2.0) batches. Each message holds
// at most Config.MaxEntries entries and Config.MaxBytes of encoded body; in
// each message <unregister> precedes <register>, and all unregisters are
// sent in messages no later than any register, so an IP's unregister never
// follows its register. Messages are sent in order and Update stops at the
// first message that fails as a whole: the result then counts the messages
// that went through. User-ID updates are idempotent and are retried.
func (c *Client) Update(ctx context.Context, u Update) (UpdateResult, error) {
	var res UpdateResult
	msgs, err := c.encodeUpdate(u)
	if err != nil {
		return res, fmt.Errorf("userid update: %w", err)
	}
	for i, m := range msgs {
		failed, err := c.sendUID(ctx, m)
		if err != nil {
			return res, fmt.Errorf("userid update: message %d of %d: %w", i+1, len(msgs), err)
		}
		res.Messages++
		res.Failed = append(res.Failed, failed...)
	}
	return res, nil
}

// sendUID posts one uid-message and returns the entries it refused.
func (c *Client) sendUID(ctx context.Context, msg []byte) ([]EntryError, error) {
	resp, err := c.do(ctx, request{op: "user-id", params: c.uidParams(string(msg)), safe: true})
	if resp == nil && err != nil {
		return nil, err
	}
	failed, found, perr := uidEntryFailures(resp)
	if perr != nil {
		return nil, fmt.Errorf("pan-os user-id: %w", perr)
	}
	if err != nil && !found {
		return nil, err
	}
	for i := range failed {
		failed[i].Message = c.scrub(failed[i].Message)
	}
	return failed, nil
}

func (c *Client) uidParams(msg string) url.Values {
	v := url.Values{"type": {"user-id"}, "cmd": {msg}}
	if c.cfg.Vsys != "" {
		v.Set("vsys", c.cfg.Vsys)
	}
	if c.cfg.Target != "" {
		v.Set("target", c.cfg.Target)
	}
	return v
}

// encodeUpdate splits u into uid-messages that respect MaxEntries and
// MaxBytes (of the form-encoded request body).
func (c *Client) encodeUpdate(u Update) ([][]byte, error) {
	p := c.uidParams("")
	fixed := len(p.Encode()) + escapedLen(uidHead+uidTail+uidUnregOpen+uidUnregClose+uidRegOpen+uidRegClose)
	enc := uidEncoder{maxEntries: c.cfg.MaxEntries, maxBytes: c.cfg.MaxBytes, fixed: fixed}
	for _, e := range u.Unregister {
		if err := enc.add(e, false); err != nil {
			return nil, err
		}
	}
	for _, e := range u.Register {
		if err := enc.add(e, true); err != nil {
			return nil, err
		}
	}
	enc.flush()
	return enc.msgs, nil
}

// uidEncoder fills messages in order: a message takes entries until the
// next would break a limit.
type uidEncoder struct {
	maxEntries, maxBytes, fixed int

	msgs       [][]byte
	unreg, reg []byte
	n, size    int // entries and encoded bytes in the current message
	frag       []byte
}

func (enc *uidEncoder) add(e Entry, register bool) error {
	frag, err := appendEntry(enc.frag[:0], e, register)
	if err != nil {
		return err
	}
	enc.frag = frag
	sz := escapedLen(frag)
	if enc.fixed+sz > enc.maxBytes {
		return fmt.Errorf("entry for %s alone needs %d bytes, more than MaxBytes %d", e.IP, enc.fixed+sz, enc.maxBytes)
	}
	if enc.n > 0 && (enc.n+1 > enc.maxEntries || enc.fixed+enc.size+sz > enc.maxBytes) {
		enc.flush()
	}
	if register {
		enc.reg = append(enc.reg, frag...)
	} else {
		enc.unreg = append(enc.unreg, frag...)
	}
	enc.n++
	enc.size += sz
	return nil
}

func (enc *uidEncoder) flush() {
	if enc.n == 0 {
		return
	}
	m := make([]byte, 0, len(uidHead)+len(uidTail)+len(enc.unreg)+len(enc.reg)+48)
	m = append(m, uidHead...)
	if len(enc.unreg) > 0 {
		m = append(m, uidUnregOpen...)
		m = append(m, enc.unreg...)
		m = append(m, uidUnregClose...)
	}
	if len(enc.reg) > 0 {
		m = append(m, uidRegOpen...)
		m = append(m, enc.reg...)
		m = append(m, uidRegClose...)
	}
	m = append(m, uidTail...)
	enc.msgs = append(enc.msgs, m)
	enc.unreg, enc.reg = enc.unreg[:0], enc.reg[:0]
	enc.n, enc.size = 0, 0
}

// appendEntry appends <entry ip="..."><tag><member>...</member></tag></entry>.
func appendEntry(b []byte, e Entry, register bool) ([]byte, error) {
	if !e.IP.IsValid() {
		return b, errors.New("entry with an invalid IP")
	}
	if len(e.Tags) == 0 {
		return b, fmt.Errorf("entry for %s has no tags", e.IP)
	}
	b = append(b, `<entry ip="`...)
	b = e.IP.Unmap().AppendTo(b)
	b = append(b, '"')
	if register && e.NonPersistent {
		b = append(b, ` persistent="0"`...)
	}
	b = append(b, "><tag>"...)
	for _, t := range e.Tags {
		if t.Name == "" || strings.TrimSpace(t.Name) != t.Name {
			return b, fmt.Errorf("entry for %s: tag %q is empty or has surrounding spaces", e.IP, t.Name)
		}
		if t.Timeout < 0 || t.Timeout > MaxTagTimeout {
			return b, fmt.Errorf("entry for %s: tag %q timeout %s out of range [0, %s]", e.IP, t.Name, t.Timeout, MaxTagTimeout)
		}
		b = append(b, "<member"...)
		if register && t.Timeout > 0 {
			secs := int64((t.Timeout + time.Second - 1) / time.Second)
			b = append(b, ` timeout="`...)
			b = strconv.AppendInt(b, secs, 10)
			b = append(b, '"')
		}
		b = append(b, '>')
		b = appendEscaped(b, t.Name)
		b = append(b, "</member>"...)
	}
	b = append(b, "</tag></entry>"...)
	return b, nil
}

// appendEscaped appends s with XML's special characters escaped.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\'':
			b = append(b, "&apos;"...)
		default:
			b = append(b, ch)
		}
	}
	return b
}

func xmlEscape(s string) string { return string(appendEscaped(nil, s)) }

// escapedWidth[b] is how many bytes url.QueryEscape turns byte b into.
var escapedWidth = func() (w [256]uint8) {
	for i := range w {
		ch := byte(i)
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			ch == '-', ch == '_', ch == '.', ch == '~', ch == ' ':
			w[i] = 1
		default:
			w[i] = 3
		}
	}
	return w
}()

// escapedLen is len(url.QueryEscape(string(s))) without building it.
func escapedLen[S ~string | ~[]byte](s S) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n += int(escapedWidth[s[i]])
	}
	return n
}

type xmlUIDResponse struct {
	Payload struct {
		Register   xmlUIDSection `xml:"register"`
		Unregister xmlUIDSection `xml:"unregister"`
	} `xml:"payload"`
}

type xmlUIDSection struct {
	Entries []struct {
		IP      string `xml:"ip,attr"`
		Message string `xml:"message,attr"`
	} `xml:"entry"`
}

// uidEntryFailures finds a uid-response in a User-ID answer (in <result>,
// or in <msg><line> of a partial failure) and returns its refused entries.
// found reports whether a uid-response with entries was there.
func uidEntryFailures(r *response) (failed []EntryError, found bool, err error) {
	var blobs [][]byte
	if r.Result != nil {
		blobs = append(blobs, r.Result)
	}
	blobs = append(blobs, r.MsgLines...)
	for _, blob := range blobs {
		if !bytes.Contains(blob, []byte("uid-response")) {
			continue
		}
		uids, uerr := parseUIDResponses(blob)
		if uerr != nil || len(uids) == 0 {
			// Some versions send the uid-response as escaped text or CDATA.
			var text struct {
				Text string `xml:",chardata"`
			}
			if unmarshalFragment(blob, &text) == nil && strings.Contains(text.Text, "uid-response") {
				uids, uerr = parseUIDResponses([]byte(text.Text))
			}
		}
		if uerr != nil {
			return nil, false, fmt.Errorf("%w: uid-response: %v", ErrMalformed, uerr)
		}
		for _, u := range uids {
			for _, sec := range []struct {
				op string
				s  *xmlUIDSection
			}{{"unregister", &u.Payload.Unregister}, {"register", &u.Payload.Register}} {
				for _, e := range sec.s.Entries {
					found = true
					if benign(e.Message) {
						continue
					}
					msg := strings.TrimSpace(e.Message)
					if msg == "" {
						msg = "refused without a message"
					}
					ip, perr := netip.ParseAddr(strings.TrimSpace(e.IP))
					if perr != nil {
						msg = fmt.Sprintf("%s (entry ip %q)", msg, e.IP)
					}
					failed = append(failed, EntryError{
						Op: sec.op, IP: ip, Message: msg,
						CapacityFull: strings.Contains(strings.ToLower(msg), "capacity"),
					})
				}
			}
		}
	}
	return failed, found, nil
}

func parseUIDResponses(b []byte) ([]xmlUIDResponse, error) {
	var x struct {
		UID []xmlUIDResponse `xml:"uid-response"`
	}
	err := unmarshalFragment(b, &x)
	return x.UID, err
}

// benign reports entry answers that mean the device already is in the
// wanted state.
func benign(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "already exists") || strings.Contains(m, "does not exist")
}
