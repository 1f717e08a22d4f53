package push

import (
	"iter"
	"net/netip"

	"github.com/kubedag/kubedag/aggregator/ipmap"
)

// maxCohorts bounds the cohorts of a pendingSet, and so the lookups an Add
// or Delete does under a backlog. Past it the newest cohort spans several
// calls: order within it is arbitrary, but no cohort is ever overtaken by
// a newer one, so nothing starves.
const maxCohorts = 16

// pendingSet is the Engine's set of IPs waiting for a call, kept in
// cohorts by when they became pending, oldest first: when more IPs wait
// than one call carries, the call is filled from the oldest cohort, so an
// IP waiting when a call is planned goes before every IP that arrives
// later. A new cohort opens only when a call leaves IPs waiting; when
// everything fits in one call (the common case) there is one cohort and
// each operation is one set operation, as with a plain set. The cohorts
// partition the set: no per-IP memory beyond the set's own.
type pendingSet struct {
	cohorts []ipmap.Set // disjoint, oldest first; the last takes new IPs
}

// adopt makes s the pending set; only when it is empty.
func (p *pendingSet) adopt(s ipmap.Set) {
	clear(p.cohorts)
	p.cohorts = append(p.cohorts[:0], s)
}

// Add makes ip pending, in the newest cohort unless it already waits.
func (p *pendingSet) Add(ip netip.Addr) {
	n := len(p.cohorts)
	if n == 0 {
		p.cohorts = append(p.cohorts, ipmap.Set{})
		n = 1
	}
	for i := range n - 1 {
		if p.cohorts[i].Has(ip) {
			return
		}
	}
	p.cohorts[n-1].Add(ip)
}

// addOldest makes ip pending in the oldest cohort: for the IPs of a call,
// which waited longest.
func (p *pendingSet) addOldest(ip netip.Addr) {
	if len(p.cohorts) == 0 {
		p.cohorts = append(p.cohorts, ipmap.Set{})
	}
	for i := 1; i < len(p.cohorts); i++ {
		p.cohorts[i].Delete(ip)
	}
	p.cohorts[0].Add(ip)
}

// Has reports whether ip is pending.
func (p *pendingSet) Has(ip netip.Addr) bool {
	for i := range p.cohorts {
		if p.cohorts[i].Has(ip) {
			return true
		}
	}
	return false
}

// Delete removes ip (no-op if it is not pending).
func (p *pendingSet) Delete(ip netip.Addr) {
	for i := range p.cohorts {
		p.cohorts[i].Delete(ip)
	}
}

// Len returns the number of pending IPs.
func (p *pendingSet) Len() int {
	n := 0
	for i := range p.cohorts {
		n += p.cohorts[i].Len()
	}
	return n
}

// All yields every pending IP, oldest cohort first; the loop body may
// Delete the IP it is given.
func (p *pendingSet) All() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for i := range p.cohorts {
			for ip := range p.cohorts[i].All() {
				if !yield(ip) {
					return
				}
			}
		}
	}
}

// AppendTo appends every pending IP to dst and returns it.
func (p *pendingSet) AppendTo(dst []netip.Addr) []netip.Addr {
	for i := range p.cohorts {
		dst = p.cohorts[i].AppendTo(dst)
	}
	return dst
}

// cut is called when a call has been planned and its IPs taken out: the
// IPs still waiting become older than any that arrive from now on, so
// those go into a new cohort. Empty cohorts are dropped.
func (p *pendingSet) cut() {
	k := 0
	for i := range p.cohorts {
		if p.cohorts[i].Len() > 0 {
			p.cohorts[k] = p.cohorts[i]
			k++
		}
	}
	clear(p.cohorts[k:])
	p.cohorts = p.cohorts[:k]
	if k > 0 && k < maxCohorts {
		p.cohorts = append(p.cohorts, ipmap.Set{})
	}
}
