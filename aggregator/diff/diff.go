package diff

import (
	"net/netip"

	"github.com/kubedag/kubedag/tags"
)

// Tags returns, for one IP, the owned tags of actual that desired lacks
// (to unregister) and the tags of desired that actual lacks (to register),
// both sorted. owns may be nil, meaning every tag is owned.
func Tags(desired, actual tags.Set, owns func(tag string) bool) (unregister, register []string) {
	if desired.Equal(actual) {
		return nil, nil
	}
	for _, t := range actual.Slice() {
		if !desired.Has(t) && (owns == nil || owns(t)) {
			unregister = append(unregister, t)
		}
	}
	return unregister, tags.Minus(desired, actual)
}

// Item is one IP to plan.
type Item struct {
	IP      netip.Addr
	Desired tags.Set
	Actual  tags.Set
	// Refresh re-registers every desired tag, not only the missing ones
	// (to renew their timeout, or when actual is uncertain).
	Refresh bool
	// NoUnregister suppresses unregisters for this IP (the pusher's
	// not-ready gate).
	NoUnregister bool
}

// Op is what one IP needs: tags to unregister, then tags to register.
type Op struct {
	IP         netip.Addr
	Unregister []string
	Register   []string
}

// Entries is the number of wire entries (one per non-empty direction).
func (o Op) Entries() int {
	n := 0
	if len(o.Unregister) > 0 {
		n++
	}
	if len(o.Register) > 0 {
		n++
	}
	return n
}

// Empty reports whether the op does nothing.
func (o Op) Empty() bool { return len(o.Unregister) == 0 && len(o.Register) == 0 }

// OpFor returns the Op for one item.
func OpFor(it Item, owns func(tag string) bool) Op {
	unreg, reg := Tags(it.Desired, it.Actual, owns)
	if it.NoUnregister {
		unreg = nil
	}
	if it.Refresh {
		reg = it.Desired.Slice()
	}
	return Op{IP: it.IP, Unregister: unreg, Register: reg}
}

// Batch is one call's worth of operations. An IP appears at most once in a
// batch, so its unregister and register travel in the same call, and a
// caller that sends Unregister entries before Register entries (as
// uid-message does) keeps the order.
type Batch struct {
	Ops     []Op
	Entries int
}

// Plan turns items into batches of at most maxEntries wire entries each
// (maxEntries <= 0 means unlimited; an IP never straddles two batches, so a
// batch holds at least one IP even when maxEntries is 1). Items whose op is
// empty (changes that cancelled out) are dropped. Order of items is kept.
func Plan(items []Item, owns func(tag string) bool, maxEntries int) []Batch {
	var out []Batch
	var cur Batch
	for _, it := range items {
		op := OpFor(it, owns)
		if op.Empty() {
			continue
		}
		n := op.Entries()
		if maxEntries > 0 && len(cur.Ops) > 0 && cur.Entries+n > maxEntries {
			out = append(out, cur)
			cur = Batch{}
		}
		cur.Ops = append(cur.Ops, op)
		cur.Entries += n
	}
	if len(cur.Ops) > 0 {
		out = append(out, cur)
	}
	return out
}
