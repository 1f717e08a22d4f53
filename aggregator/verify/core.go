package verify

import (
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

// Sink receives the confirmed claims: the same calls as stream.Sink, with
// only what the view confirms.
type Sink = stream.Sink

// Lookup returns the pods that hold an IP (podview.View.Holders).
type Lookup func(ip netip.Addr) []podview.Pod

// Refusal is a claim refused after its wait, or a forwarded claim withdrawn
// because the view no longer confirms it.
type Refusal struct {
	Node   string
	IP     netip.Addr
	Reason Reason
}

// Core is the pure state of the gate: every node's asserted claims, what
// has been forwarded, and the deadlines of claims awaiting confirmation. It
// does no I/O beyond calling lookup and its Sink, reads no clock (every
// method takes now) and starts no goroutines. It is not safe for concurrent
// use.
type Core struct {
	lookup    Lookup
	out       Sink
	wait      time.Duration
	allowHost bool
	// streaming, if set, tells whether node's agent has an open stream;
	// nil means every node's has.
	streaming func(node string) bool

	synced  bool
	nodes   map[string]map[netip.Addr]*entry
	byIP    map[netip.Addr]map[string]struct{}
	pending map[*entry]struct{}
	refused []Refusal // since the last TakeRefusals
}

type entry struct {
	node string
	// asserted is the node's claim without Services (the view's to say);
	// an orphan's is the view's identity of its pod, Services included.
	asserted stream.Claim
	// stored is what the Sink holds for this node and IP (nil: nothing),
	// with the view's Services.
	stored *stream.Claim
	// deadline is set while asserted awaits confirmation.
	deadline time.Time
	// refused is set once asserted has been refused.
	refused Reason
	// orphan is set once the node's agent is gone past its grace period:
	// asserted is then the claim the view alone keeps (see Orphan), and no
	// deadline runs.
	orphan bool
}

// NewCore returns a Core forwarding to out. wait bounds how long an
// unconfirmed claim waits before it is refused; allowHostNetwork lets nodes
// claim their hostNetwork pods' (node) IPs.
func NewCore(lookup Lookup, out Sink, wait time.Duration, allowHostNetwork bool) *Core {
	return &Core{
		lookup: lookup, out: out, wait: wait, allowHost: allowHostNetwork,
		nodes:   map[string]map[netip.Addr]*entry{},
		byIP:    map[netip.Addr]map[string]struct{}{},
		pending: map[*entry]struct{}{},
	}
}

// Synced tells the Core that the view has delivered its first full list:
// until then claims wait without a deadline. Every claim is checked again
// and waits at most wait from now.
func (c *Core) Synced(now time.Time) {
	c.synced = true
	for _, m := range c.nodes {
		for _, e := range m {
			e.deadline = time.Time{}
			c.evaluate(e, now, true)
		}
	}
}

// ReplaceNode replaces node's asserted claims and forwards the confirmed
// ones as one atomic replacement.
func (c *Core) ReplaceNode(node string, claims []stream.Claim, now time.Time) {
	old := c.nodes[node]
	m := make(map[netip.Addr]*entry, len(claims))
	for _, cl := range claims {
		cl.Identity.Services = nil // the view's to say
		e := old[cl.IP]
		if e == nil {
			e = &entry{node: node}
			c.index(node, cl.IP)
		} else if e.orphan || !e.asserted.Identity.Equal(cl.Identity) {
			e.deadline, e.refused, e.orphan = time.Time{}, "", false
		}
		e.asserted = cl
		m[cl.IP] = e
	}
	for ip, e := range old {
		if _, ok := m[ip]; !ok {
			c.forget(node, ip, e)
		}
	}
	c.nodes[node] = m
	out := make([]stream.Claim, 0, len(m))
	for _, e := range m {
		c.evaluate(e, now, false)
		if e.stored != nil {
			out = append(out, *e.stored)
		}
	}
	c.out.ReplaceNode(node, out)
}

// Upsert sets node's asserted claim on cl.IP.
func (c *Core) Upsert(node string, cl stream.Claim, now time.Time) {
	cl.Identity.Services = nil // the view's to say
	m := c.nodes[node]
	if m == nil {
		m = map[netip.Addr]*entry{}
		c.nodes[node] = m
	}
	e := m[cl.IP]
	if e == nil {
		e = &entry{node: node}
		m[cl.IP] = e
		c.index(node, cl.IP)
	} else if e.orphan || !e.asserted.Identity.Equal(cl.Identity) {
		e.deadline, e.refused, e.orphan = time.Time{}, "", false
	}
	e.asserted = cl
	c.evaluate(e, now, true)
}

// Delete withdraws node's claim on ip.
func (c *Core) Delete(node string, ip netip.Addr) {
	if e := c.nodes[node][ip]; e != nil {
		delete(c.nodes[node], ip)
		c.forget(node, ip, e)
	}
	c.out.Delete(node, ip)
}

// NodeGone is told that node's agent has been gone past its grace period.
// The claims forwarded for it that the view still confirms are kept as
// orphans (Orphan decides, now and on every later view change of their
// IPs) until the view stops confirming them or the node streams again;
// the rest are withdrawn. The Sink gets NodeGone once the node has no
// claim left, else a Delete or Upsert per changed claim. It returns how
// many claims were kept and withdrawn.
func (c *Core) NodeGone(node string) (kept, withdrawn int) {
	m := c.nodes[node]
	type change struct {
		ip   netip.Addr
		keep *stream.Claim // nil: withdraw
	}
	var changes []change
	for ip, e := range m {
		c.settle(e)
		e.deadline, e.refused, e.orphan = time.Time{}, "", true
		id, ok := tags.Identity{}, false
		if e.stored != nil { // never forwarded: nothing to keep
			id, ok = Orphan(node, e.stored.Identity, c.lookup(ip), c.allowHost)
		}
		if !ok {
			if e.stored != nil {
				changes = append(changes, change{ip: ip})
			}
			withdrawn++
			delete(m, ip)
			c.forget(node, ip, e)
			continue
		}
		kept++
		e.asserted = *e.stored
		if !id.Equal(e.stored.Identity) {
			e.adopt(id)
			changes = append(changes, change{ip: ip, keep: e.stored})
		}
	}
	if kept == 0 {
		delete(c.nodes, node)
		c.out.NodeGone(node)
		return kept, withdrawn
	}
	for _, ch := range changes {
		if ch.keep == nil {
			c.out.Delete(node, ch.ip)
		} else {
			c.out.Upsert(node, *ch.keep)
		}
	}
	return kept, withdrawn
}

// evaluateOrphan applies Orphan to e, an orphaned claim: it follows the
// view's identity of its pod, or goes (with the node's Sink state, once
// its last claim went).
func (c *Core) evaluateOrphan(e *entry) {
	ip := e.asserted.IP
	id, ok := Orphan(e.node, e.asserted.Identity, c.lookup(ip), c.allowHost)
	if ok {
		if !id.Equal(e.asserted.Identity) {
			e.adopt(id)
			c.out.Upsert(e.node, *e.stored)
		}
		return
	}
	m := c.nodes[e.node]
	delete(m, ip)
	c.forget(e.node, ip, e)
	if len(m) == 0 {
		delete(c.nodes, e.node)
		c.out.NodeGone(e.node)
		return
	}
	c.out.Delete(e.node, ip)
}

// adopt makes the view's identity id e's claim, asserted and forwarded
// (the agent's tag-latency clock and span do not apply to it).
func (e *entry) adopt(id tags.Identity) {
	e.asserted = stream.Claim{IP: e.asserted.IP, Identity: id}
	stored := e.asserted
	e.stored = &stored
}

// Orphans returns the number of orphaned claims (kept for nodes whose
// agent is gone because the view confirms them). It walks every claim.
func (c *Core) Orphans() int {
	n := 0
	for _, m := range c.nodes {
		for _, e := range m {
			if e.orphan {
				n++
			}
		}
	}
	return n
}

// Recheck checks every claim on ips again (the view changed for them).
func (c *Core) Recheck(ips []netip.Addr, now time.Time) {
	for _, ip := range ips {
		for node := range c.byIP[ip] {
			if e := c.nodes[node][ip]; e != nil {
				c.evaluate(e, now, true)
			}
		}
	}
}

// Expire refuses the claims whose wait is over and returns the earliest
// deadline still pending (zero if none).
func (c *Core) Expire(now time.Time) time.Time {
	var next time.Time
	for e := range c.pending {
		if !now.Before(e.deadline) {
			c.evaluate(e, now, true)
		}
	}
	for e := range c.pending {
		if next.IsZero() || e.deadline.Before(next) {
			next = e.deadline
		}
	}
	return next
}

// TakeRefusals returns the refusals since the last call.
func (c *Core) TakeRefusals() []Refusal {
	r := c.refused
	c.refused = nil
	return r
}

// Pending returns the number of claims awaiting confirmation.
func (c *Core) Pending() int { return len(c.pending) }

// evaluate checks e's asserted claim against the view and brings the Sink
// in line. emit false leaves the Sink to the caller (a snapshot).
func (c *Core) evaluate(e *entry, now time.Time, emit bool) {
	if e.orphan {
		c.evaluateOrphan(e) // only ever with emit: a snapshot ends orphanhood
		return
	}
	ip := e.asserted.IP
	holders := c.lookup(ip)
	r, h := check(e.node, e.asserted.Identity, holders, c.allowHost)
	if r == "" {
		c.settle(e)
		e.refused = ""
		c.put(e, e.asserted, h.Identity.Services, now, emit)
		return
	}
	// The agent is not streaming (gone, or cut off from this replica): no
	// update will come from it, so a forwarded claim whose pod is still
	// there follows the view's identity of it (a relabel) instead of
	// waiting to be refused.
	if e.stored != nil && c.streaming != nil && !c.streaming(e.node) {
		if id, ok := Orphan(e.node, e.stored.Identity, holders, c.allowHost); ok {
			c.settle(e)
			e.refused = ""
			if id.Equal(e.stored.Identity) {
				e.asserted = *e.stored
				return
			}
			e.adopt(id)
			if emit {
				c.out.Upsert(e.node, *e.stored)
			}
			return
		}
	}
	drop := func() {
		if e.stored != nil {
			e.stored = nil
			if emit {
				c.out.Delete(e.node, ip)
			}
		}
	}
	if e.refused != "" {
		e.refused = r
		drop()
		return
	}
	if !c.synced {
		return // the view may not know the pod yet: no deadline runs
	}
	if e.deadline.IsZero() {
		e.deadline = now.Add(c.wait)
		c.pending[e] = struct{}{}
	}
	if !now.Before(e.deadline) {
		c.settle(e)
		e.refused = r
		c.refused = append(c.refused, Refusal{Node: e.node, IP: ip, Reason: r})
		drop()
		return
	}
	// Awaiting confirmation. What the Sink holds stays while it is still
	// the truth, or while only the pod's identity changed (the agent's
	// update is on its way), its Services following the view; if the IP
	// is no longer that pod's on this node it goes now.
	if e.stored != nil {
		rs, hs := check(e.node, e.stored.Identity, holders, c.allowHost)
		if rs.moved() {
			drop()
			return
		}
		c.put(e, *e.stored, hs.Identity.Services, now, emit)
	}
}

// put makes cl, tagged with the view's services, what the Sink holds for
// e. A claim the Sink holds already that differs only in its Services is
// the view's change, not the agent's: its tag-latency clock starts now and
// it carries no agent span.
func (c *Core) put(e *entry, cl stream.Claim, services []string, now time.Time, emit bool) {
	cl.Identity.Services = services
	if e.stored != nil {
		if e.stored.Identity.Equal(cl.Identity) {
			return
		}
		if sameButServices(e.stored.Identity, cl.Identity) {
			cl = *e.stored
			cl.Identity.Services = services
			cl.FirstSeen, cl.Span = now, trace.SpanContext{}
		}
	}
	e.stored = &cl
	if emit {
		c.out.Upsert(e.node, cl)
	}
}

// sameButServices reports whether a and b differ at most in their
// Services.
func sameButServices(a, b tags.Identity) bool {
	a.Services, b.Services = nil, nil
	return a.Equal(b)
}

// settle ends e's wait.
func (c *Core) settle(e *entry) {
	e.deadline = time.Time{}
	delete(c.pending, e)
}

func (c *Core) index(node string, ip netip.Addr) {
	s := c.byIP[ip]
	if s == nil {
		s = map[string]struct{}{}
		c.byIP[ip] = s
	}
	s[node] = struct{}{}
}

func (c *Core) forget(node string, ip netip.Addr, e *entry) {
	c.settle(e)
	if s := c.byIP[ip]; s != nil {
		delete(s, node)
		if len(s) == 0 {
			delete(c.byIP, ip)
		}
	}
}
