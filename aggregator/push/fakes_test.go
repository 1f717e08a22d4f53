package push

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// fakeClock is a manual clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fwTag struct {
	expires    time.Time // zero: none
	persistent bool
}

// fakeFirewall is an in-memory User-ID target that records its calls.
type fakeFirewall struct {
	clk *fakeClock

	mu        sync.Mutex
	ips       map[netip.Addr]map[string]fwTag
	calls     []Update
	attempts  []time.Time // every Update call, failed or not
	lists     int
	failCall  int                   // fail the next n Update calls
	failAfter int                   // apply, then fail, the next n Update calls (lost answer)
	failList  int                   // fail the next n RegisteredIPs calls
	capacity  int                   // max IPs, 0 = unlimited
	refuse    func(netip.Addr) bool // refuse registers of these IPs
	onCall    func(u Update)        // called after each Update applied, lock held
	noTimeout bool                  // list no remaining timeouts, as PAN-OS does
}

func newFakeFirewall(clk *fakeClock) *fakeFirewall {
	return &fakeFirewall{clk: clk, ips: make(map[netip.Addr]map[string]fwTag)}
}

var errDown = errors.New("target down")

func (f *fakeFirewall) expire() {
	now := f.clk.Now()
	for ip, ts := range f.ips {
		for n, t := range ts {
			if !t.expires.IsZero() && !now.Before(t.expires) {
				delete(ts, n)
			}
		}
		if len(ts) == 0 {
			delete(f.ips, ip)
		}
	}
}

func (f *fakeFirewall) Update(ctx context.Context, u Update) (UpdateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return UpdateResult{}, err
	}
	f.attempts = append(f.attempts, f.clk.Now())
	if f.failCall > 0 {
		f.failCall--
		return UpdateResult{}, errDown
	}
	f.expire()
	f.calls = append(f.calls, u)
	now := f.clk.Now()
	var res UpdateResult
	for _, e := range u.Unregister {
		ts := f.ips[e.IP]
		for _, t := range e.Tags {
			delete(ts, t.Name)
		}
		if len(ts) == 0 {
			delete(f.ips, e.IP)
		}
	}
	for _, e := range u.Register {
		if f.refuse != nil && f.refuse(e.IP) {
			res.Failed = append(res.Failed, EntryError{Op: "register", IP: e.IP, Message: "refused"})
			continue
		}
		ts, ok := f.ips[e.IP]
		if !ok {
			if f.capacity > 0 && len(f.ips) >= f.capacity {
				res.Failed = append(res.Failed, EntryError{Op: "register", IP: e.IP, Message: "registered-ip capacity reached", CapacityFull: true})
				continue
			}
			ts = make(map[string]fwTag)
			f.ips[e.IP] = ts
		}
		for _, t := range e.Tags {
			ft := fwTag{persistent: !e.NonPersistent}
			if t.Timeout > 0 {
				ft.expires = now.Add(t.Timeout)
			}
			ts[t.Name] = ft
		}
	}
	res.Messages = 1
	if f.onCall != nil {
		f.onCall(u)
	}
	if f.failAfter > 0 {
		f.failAfter--
		return UpdateResult{}, errDown
	}
	return res, nil
}

func (f *fakeFirewall) RegisteredIPs(ctx context.Context, tag string) ([]RegisteredIP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.lists++
	if f.failList > 0 {
		f.failList--
		return nil, errDown
	}
	f.expire()
	now := f.clk.Now()
	var out []RegisteredIP
	for ip, ts := range f.ips {
		if tag != "" {
			if _, ok := ts[tag]; !ok {
				continue
			}
		}
		r := RegisteredIP{IP: ip, Persistent: true}
		for n, t := range ts {
			var left time.Duration
			if !t.expires.IsZero() && !f.noTimeout {
				left = t.expires.Sub(now)
			}
			r.Tags = append(r.Tags, Tag{Name: n, Timeout: left})
			r.Persistent = r.Persistent && t.persistent
		}
		out = append(out, r)
	}
	return out, nil
}

// reboot drops non-persistent registrations.
func (f *fakeFirewall) reboot() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ip, ts := range f.ips {
		for n, t := range ts {
			if !t.persistent {
				delete(ts, n)
			}
		}
		if len(ts) == 0 {
			delete(f.ips, ip)
		}
	}
}

// tagsOf returns ip's tags, sorted (lock must not be held).
func (f *fakeFirewall) tagsOf(ip netip.Addr) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tagsLocked(ip)
}

func (f *fakeFirewall) tagsLocked(ip netip.Addr) []string {
	var out []string
	now := f.clk.Now()
	for n, t := range f.ips[ip] {
		if t.expires.IsZero() || now.Before(t.expires) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeFirewall) set(ip netip.Addr, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.ips[ip]
	if ts == nil {
		ts = make(map[string]fwTag)
		f.ips[ip] = ts
	}
	for _, n := range names {
		ts[n] = fwTag{persistent: true}
	}
}

func (f *fakeFirewall) callsCopy() []Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeFirewall) with(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func owns(t string) bool { return strings.HasPrefix(t, "k8s.") }
