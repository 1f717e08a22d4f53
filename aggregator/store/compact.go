package store

import (
	"encoding/hex"

	"go.opentelemetry.io/otel/trace"
)

// owner is a claim's owner UID: a canonical (lowercase) UUID, as
// Kubernetes UIDs are, is kept in 16 bytes; anything else is interned in
// the Store's owner table and kept as its id.
type owner struct {
	uuid [16]byte
	str  uint32 // id in Store.owners; 0 for a UUID or the empty owner
}

func (s *Store) ownerOf(o string) owner {
	if u, ok := parseUUID(o); ok {
		return owner{uuid: u}
	}
	return owner{str: s.owners.intern(o)}
}

func (s *Store) ownerString(o owner) string {
	if o.str != 0 || o.uuid == ([16]byte{}) {
		return s.owners.get(o.str)
	}
	var b [36]byte
	hex.Encode(b[0:8], o.uuid[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], o.uuid[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], o.uuid[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], o.uuid[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], o.uuid[10:16])
	return string(b[:])
}

// parseUUID parses a lowercase 8-4-4-4-12 UUID (so that String gives the
// input back exactly).
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return u, false
			}
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, u != [16]byte{}
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// span is the part of a span context worth keeping per IP (the trace
// state is dropped; the context came from the agent, so it is remote).
type span struct {
	tid   trace.TraceID
	sid   trace.SpanID
	flags trace.TraceFlags
}

func spanOf(sc trace.SpanContext) span {
	if !sc.IsValid() {
		return span{}
	}
	return span{tid: sc.TraceID(), sid: sc.SpanID(), flags: sc.TraceFlags()}
}

func (s span) context() trace.SpanContext {
	if !s.sid.IsValid() {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: s.tid, SpanID: s.sid, TraceFlags: s.flags, Remote: true})
}
