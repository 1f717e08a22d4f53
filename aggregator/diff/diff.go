package diff

import (
	"net/netip"

	"github.com/kubedag/kubedag/tags"
)

// Tags returns, for one IP, the owned tags of actual that desired lacks
// (to unregister) and the tags of desired that actual lacks (to register),
// both sorted. owns may be nil, meaning every tag is owned.
func Tags(desired, actual tags.Set, owns func(tag string) bool) (unregister, register []string) {
	unregister, register, _ = appendTags(nil, desired, actual, owns)
	return unregister, register
}

// appendTags is Tags with the results appended to buf (each with its
// capacity clipped, so later appends to buf never write into them); it
// returns the grown buf. A side that is a whole set is returned as that
// set's own slice, without copying (Sets are immutable).
func appendTags(buf []string, desired, actual tags.Set, owns func(tag string) bool) (unregister, register, out []string) {
	if desired.Equal(actual) {
		return nil, nil, buf
	}
	if actual.Len() == 0 {
		return nil, desired.Slice(), buf
	}
	d, a := desired.Slice(), actual.Slice()
	unregister, buf = minus(buf, a, d, owns)
	register, buf = minus(buf, d, a, nil)
	return unregister, register, buf
}

// minus returns the tags of x not in y that owns accepts (appendMinus),
// appended to buf with its capacity clipped, or x itself when that is all
// of x (nil when none); and the grown buf.
func minus(buf, x, y []string, owns func(string) bool) (diff, out []string) {
	start := len(buf)
	buf = appendMinus(buf, x, y, owns)
	switch n := len(buf) - start; {
	case n == len(x):
		return x, buf[:start]
	case n > 0:
		return buf[start:len(buf):len(buf)], buf
	}
	return nil, buf
}

// appendMinus appends the tags of x that are not in y (both sorted and
// duplicate-free) and that owns accepts (nil: all), in one merge pass.
func appendMinus(buf, x, y []string, owns func(string) bool) []string {
	j := 0
	for _, t := range x {
		for j < len(y) && y[j] < t {
			j++
		}
		if (j == len(y) || y[j] != t) && (owns == nil || owns(t)) {
			buf = append(buf, t)
		}
	}
	return buf
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
	op, _ := appendOp(nil, it, owns)
	return op
}

// appendOp is OpFor with the tag lists appended to buf (see appendTags).
func appendOp(buf []string, it Item, owns func(tag string) bool) (Op, []string) {
	unreg, reg, buf := appendTags(buf, it.Desired, it.Actual, owns)
	if it.NoUnregister {
		unreg = nil
	}
	if it.Refresh {
		reg = it.Desired.Slice()
	}
	return Op{IP: it.IP, Unregister: unreg, Register: reg}, buf
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
	// The ops' tag lists share one backing array, and the first batch's
	// ops one slice sized for every item: a few allocations per call, not
	// per IP.
	var buf []string
	for _, it := range items {
		var op Op
		op, buf = appendOp(buf, it, owns)
		if op.Empty() {
			continue
		}
		n := op.Entries()
		if maxEntries > 0 && len(cur.Ops) > 0 && cur.Entries+n > maxEntries {
			out = append(out, cur)
			cur = Batch{}
		}
		if cur.Ops == nil && out == nil {
			cur.Ops = make([]Op, 0, len(items))
		}
		cur.Ops = append(cur.Ops, op)
		cur.Entries += n
	}
	if len(cur.Ops) > 0 {
		out = append(out, cur)
	}
	return out
}
