package panossim

import "slices"

// order keeps a scope's entries in listing order (by start address, then
// key) as a list of sorted blocks of at most 2*orderBlock entries, so a
// registration or removal moves at most one block's pointers and a page at
// start-point s is found by summing block lengths: a listing page costs
// the same at 500,000 registered IPs as at 5,000, even while registrations
// arrive between pages. (The emulator used to sort the whole table on the
// first page after any change: with writes between pages, every page paid
// O(n log n).)
type order struct {
	blocks [][]*ipEntry
	n      int
}

const orderBlock = 512

func entryCmp(a, b *ipEntry) int {
	if c := a.addr.start.Compare(b.addr.start); c != 0 {
		return c
	}
	switch {
	case a.addr.key < b.addr.key:
		return -1
	case a.addr.key > b.addr.key:
		return 1
	}
	return 0
}

// block returns the index of the block e belongs in: the first whose last
// entry is not before e, else the last block.
func (o *order) block(e *ipEntry) int {
	i, _ := slices.BinarySearchFunc(o.blocks, e, func(b []*ipEntry, e *ipEntry) int {
		return entryCmp(b[len(b)-1], e)
	})
	return min(i, len(o.blocks)-1)
}

func (o *order) insert(e *ipEntry) {
	o.n++
	if len(o.blocks) == 0 { // blocks are never empty
		o.blocks = append(o.blocks, append(make([]*ipEntry, 0, orderBlock), e))
		return
	}
	bi := o.block(e)
	b := o.blocks[bi]
	j, _ := slices.BinarySearchFunc(b, e, entryCmp)
	b = slices.Insert(b, j, e)
	if len(b) <= 2*orderBlock {
		o.blocks[bi] = b
		return
	}
	// Split a full block in two halves, each with room to grow.
	lo := append(make([]*ipEntry, 0, 2*orderBlock), b[:orderBlock]...)
	hi := append(make([]*ipEntry, 0, 2*orderBlock), b[orderBlock:]...)
	o.blocks[bi] = lo
	o.blocks = slices.Insert(o.blocks, bi+1, hi)
}

func (o *order) remove(e *ipEntry) {
	if len(o.blocks) == 0 {
		return
	}
	bi := o.block(e)
	b := o.blocks[bi]
	j, found := slices.BinarySearchFunc(b, e, entryCmp)
	if !found || b[j] != e {
		return
	}
	o.n--
	b = slices.Delete(b, j, j+1)
	if len(b) == 0 {
		o.blocks = slices.Delete(o.blocks, bi, bi+1)
		return
	}
	o.blocks[bi] = b
}

// from calls fn for the entries from rank i (0-based) on, in order, until
// fn returns false.
func (o *order) from(i int, fn func(*ipEntry) bool) {
	bi := 0
	for bi < len(o.blocks) && i >= len(o.blocks[bi]) {
		i -= len(o.blocks[bi])
		bi++
	}
	for ; bi < len(o.blocks); bi++ {
		for _, e := range o.blocks[bi][i:] {
			if !fn(e) {
				return
			}
		}
		i = 0
	}
}

// after calls fn for the entries after e (in order; e need not be in the
// order any more) until fn returns false.
func (o *order) after(e *ipEntry, fn func(*ipEntry) bool) {
	if len(o.blocks) == 0 {
		return
	}
	bi := o.block(e)
	j, found := slices.BinarySearchFunc(o.blocks[bi], e, entryCmp)
	if found {
		j++
	}
	for ; bi < len(o.blocks); bi++ {
		for _, x := range o.blocks[bi][j:] {
			if !fn(x) {
				return
			}
		}
		j = 0
	}
}
