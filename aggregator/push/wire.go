package push

// Local copies of the agreed userid types, until package userid builds;
// then this file becomes type aliases of userid's.

import (
	"net/netip"
	"time"
)

type Tag struct {
	Name    string
	Timeout time.Duration
}

type Entry struct {
	IP            netip.Addr
	Tags          []Tag
	NonPersistent bool
}

type Update struct{ Unregister, Register []Entry }

type EntryError struct {
	Op           string
	IP           netip.Addr
	Message      string
	CapacityFull bool
}

type UpdateResult struct {
	Failed   []EntryError
	Messages int
}

type RegisteredIP struct {
	IP         netip.Addr
	Tags       []Tag
	Persistent bool
}
