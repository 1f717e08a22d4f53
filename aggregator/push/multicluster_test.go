package push

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// ownCheck is one cluster's view of a shared target: the real client, with
// every entry it sends checked against the cluster's ownership.
type ownCheck struct {
	*userid.Client
	name string
	owns func(string) bool
	bad  *violations
	mu   sync.Mutex
	n    int // Update calls
}

type violations struct {
	mu   sync.Mutex
	list []string
}

func (v *violations) add(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.list) < 10 {
		v.list = append(v.list, fmt.Sprintf(format, args...))
	}
}

func (v *violations) check(t *testing.T) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.list) > 0 {
		t.Fatalf("a cluster touched tags it does not own:\n%s", strings.Join(v.list, "\n"))
	}
}

func (f *ownCheck) Update(ctx context.Context, u Update) (UpdateResult, error) {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	for dir, es := range map[string][]Entry{"unregister": u.Unregister, "register": u.Register} {
		for _, e := range es {
			for _, tg := range e.Tags {
				if !f.owns(tg.Name) {
					f.bad.add("cluster %s: %s %v %q", f.name, dir, e.IP, tg.Name)
				}
			}
		}
	}
	return f.Client.Update(ctx, u)
}

func (f *ownCheck) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// sharedCluster is one cluster's aggregator side (store and pusher, its
// own tag prefix) on the shared target.
type sharedCluster struct {
	name   string
	prefix string
	tgt    *sharedTarget
	fw     *ownCheck
	st     *store.Store
	opts   Options
	p      *Pusher
	d      *driver
	filter *FilterVar // nil: no pruning
	keep   []string   // what the filter keeps
}

type sharedTarget struct {
	t        *testing.T
	clk      *fakeClock
	sim      *panossim.Sim
	url, key string
	bad      *violations
	clusters []*sharedCluster
}

func newSharedTarget(t *testing.T, capacity int) *sharedTarget {
	clk := newFakeClock()
	// The emulator expires tags on the same fake clock: a missed TTL
	// refresh shows as a lost tag.
	sim := panossim.New(panossim.Config{Capacity: capacity, Now: clk.Now})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	key, err := sim.APIKeyFor("admin")
	if err != nil {
		t.Fatal(err)
	}
	return &sharedTarget{t: t, clk: clk, sim: sim, url: srv.URL, key: key, bad: &violations{}}
}

// add builds a cluster named name with the k8s preset's ownership; canary
// is its reboot-detection canary IP (invalid: none); prune gives it a tag
// filter (keeping nothing until setKeep).
func (s *sharedTarget) add(name string, canary netip.Addr, prune bool) *sharedCluster {
	t := s.t
	d, err := tags.NewDeriver(tags.Config{Preset: tags.PresetK8s, Cluster: name})
	if err != nil {
		t.Fatal(err)
	}
	client, err := userid.New(userid.Config{URL: s.url, APIKey: s.key, Timeout: 10 * time.Second, Retries: -1,
		ListConcurrency: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	c := &sharedCluster{name: name, prefix: d.Prefix(), tgt: s, st: store.New(store.Options{}),
		fw: &ownCheck{Client: client, name: name, owns: d.Owns, bad: s.bad}}
	c.opts = Options{
		Name: name, Owns: d.Owns, TagTTL: time.Hour, ResyncInterval: time.Hour, MaxBatch: 100,
		EntryRetryBase: time.Second, EntryRetryMax: 5 * time.Minute,
		Now: s.clk.Now, Logger: slog.New(slog.DiscardHandler), Rand: rand.New(rand.NewPCG(uint64(len(s.clusters)), 7)),
	}
	if canary.IsValid() {
		c.opts.Canary = Canary{IP: canary, Tag: d.Prefix() + ".kubedag-canary", TTL: time.Hour, Interval: 30 * time.Minute}
	}
	if prune {
		c.filter = NewFilterVar(keepOnly(nil))
		c.opts.Filter = c.filter
	}
	s.clusters = append(s.clusters, c)
	c.start()
	return c
}

// start (re)starts the cluster's pusher, as a restart or a new leader
// does: a fresh engine that begins with a reconcile.
func (c *sharedCluster) start() {
	if c.d != nil {
		c.d.Close()
	}
	p, err := New(c.fw, c.st, c.opts)
	if err != nil {
		c.tgt.t.Fatal(err)
	}
	c.p = p
	c.d = newDriver(c.tgt.t, p, c.tgt.clk)
	c.tgt.t.Cleanup(c.d.Close)
	c.d.step()
}

func (c *sharedCluster) tag(s string) string { return c.prefix + ".ns_shop." + s }

func (c *sharedCluster) setKeep(keep []string) {
	c.keep = keep
	c.filter.Set(keepOnly(keep))
}

// want is what the cluster's tags on ip should be once converged.
func (c *sharedCluster) want(ip netip.Addr) []string {
	var out []string
	for _, tg := range c.st.Desired(ip).Tags.Slice() {
		if c.filter == nil || slices.Contains(c.keep, tg) {
			out = append(out, tg)
		}
	}
	return out
}

// stepAll runs every cluster's loop once at the current time.
func (s *sharedTarget) stepAll() {
	for _, c := range s.clusters {
		c.d.step()
	}
}

// advance lets d pass for every cluster, waking each at its deadlines.
func (s *sharedTarget) advance(d time.Duration) {
	end := s.clk.Now().Add(d)
	for {
		s.stepAll()
		next := end
		for _, c := range s.clusters {
			if c.d.wake.After(s.clk.Now()) && c.d.wake.Before(next) {
				next = c.d.wake
			}
		}
		s.clk.Advance(next.Sub(s.clk.Now()))
		if !s.clk.Now().Before(end) {
			s.stepAll()
			return
		}
	}
}

// owned returns the emulator's tags on ip that carry prefix.
func (s *sharedTarget) owned(reg map[netip.Addr][]string, ip netip.Addr, prefix string) []string {
	var out []string
	for _, tg := range reg[ip] {
		if strings.HasPrefix(tg, prefix+".") {
			out = append(out, tg)
		}
	}
	return out
}

// TestManyClustersShareOneTarget runs 64 clusters' pushers (each its own
// cluster name and prefix, c1 a prefix of c10..c19 as text) against one
// emulator target through the real client: pod churn, IPs several
// clusters tag at once, restarts, reconciles, tag pruning with changing
// filters, TTL refreshes (the emulator expires tags on the same clock),
// a reboot and the resync that follows, and the periodic resync. No cluster ever sends a register or unregister of a tag
// it does not own, and in the end every cluster's tags on every IP are
// exactly its own desired (pruned) tags.
func TestManyClustersShareOneTarget(t *testing.T) {
	const nClusters, podsPer = 64, 6
	s := newSharedTarget(t, 0)
	for i := range nClusters {
		// PAN-OS allows 32 tags per IP: canaries of more than 32
		// clusters need more than one canary IP.
		canary := netip.AddrFrom4([4]byte{192, 0, 2, byte(254 - i/32)})
		s.add(fmt.Sprintf("c%d", i), canary, i%2 == 0)
	}
	rng := rand.New(rand.NewPCG(17, 64))
	podIP := func(c, pod int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(c), 0, byte(pod + 1)}) }
	// Eight IPs each claimed by eight clusters at once (overlapping pod
	// CIDRs): 8 clusters x 2 tags stays within 32 tags per IP.
	sharedIP := func(c int) netip.Addr { return netip.AddrFrom4([4]byte{10, 255, 0, byte(c % 8)}) }
	apps := []string{"web", "db", "cache", "api"}
	claim := func(ci int, ip netip.Addr) {
		c := s.clusters[ci]
		app := apps[rng.IntN(len(apps))]
		c.st.Upsert("n", ip, store.Claim{Owner: fmt.Sprint(ip, app), Tags: tags.NewSet(c.prefix+".ns_shop", c.tag("app."+app))})
	}
	for ci, c := range s.clusters {
		for pod := range podsPer {
			claim(ci, podIP(ci, pod))
		}
		claim(ci, sharedIP(ci))
		if c.filter != nil {
			c.setKeep([]string{c.prefix + ".ns_shop", c.tag("app.web")})
		}
	}
	s.advance(time.Second)
	s.bad.check(t)

	churn := func() {
		for range 8 {
			ci := rng.IntN(nClusters)
			ip := podIP(ci, rng.IntN(podsPer))
			if rng.IntN(3) == 0 {
				s.clusters[ci].st.Delete("n", ip)
			} else {
				claim(ci, ip)
			}
		}
		s.advance(100 * time.Millisecond)
		s.bad.check(t)
	}
	restart := func() {
		for range 4 {
			s.clusters[rng.IntN(nClusters)].start()
		}
		s.advance(time.Second)
		s.bad.check(t)
	}
	dagsChange := func() { // a pruning cluster's DAGs change
		c := s.clusters[2*rng.IntN(nClusters/2)]
		var keep []string
		for _, a := range apps {
			if rng.IntN(2) == 0 {
				keep = append(keep, c.tag("app."+a))
			}
		}
		if rng.IntN(2) == 0 {
			keep = append(keep, c.prefix+".ns_shop")
		}
		c.setKeep(keep)
		s.advance(100 * time.Millisecond)
		s.bad.check(t)
	}
	// The phases in order, churn between them; about 70 minutes pass.
	for _, phase := range []func(){
		churn, restart, dagsChange, churn, dagsChange, restart,
		func() { s.advance(35 * time.Minute) }, // every TTL refresh comes due
		churn, dagsChange,
		func() { s.sim.Reboot(); s.advance(30 * time.Minute) }, // canaries gone: every cluster reconciles
		restart, churn, dagsChange,
		func() { s.advance(5 * time.Minute) }, // the hourly resync of every cluster
		churn, restart,
	} {
		phase()
		s.bad.check(t)
	}
	s.advance(time.Minute)
	s.bad.check(t)
	t.Logf("emulator stats: %+v", s.sim.Stats())
	reg := s.sim.Registered()
	rebooted := 0
	for ci, c := range s.clusters {
		ips := []netip.Addr{sharedIP(ci)}
		for pod := range podsPer {
			ips = append(ips, podIP(ci, pod))
		}
		for _, ip := range ips {
			got, want := s.owned(reg, ip, c.prefix), c.want(ip)
			if !slices.Equal(got, want) {
				t.Errorf("cluster %s on %v: target holds %v, want %v", c.name, ip, got, want)
			}
		}
		if got := s.owned(reg, c.opts.Canary.IP, c.prefix); !slices.Equal(got, []string{c.opts.Canary.Tag}) {
			t.Errorf("cluster %s: canary %v holds %v", c.name, c.opts.Canary.IP, got)
		}
		if st := c.p.Status(); !st.Healthy || st.Retrying > 0 || st.CapacityFull {
			t.Errorf("cluster %s: status %+v", c.name, st)
		}
		if c.p.Status().Reboots > 0 {
			rebooted++
		}
	}
	// Clusters restarted after the reboot start a new count.
	if rebooted < nClusters-8 {
		t.Errorf("%d of %d clusters noticed the reboot", rebooted, nClusters)
	}
}

// TestFullTargetSharedByClusters fills a shared target's registered-IP
// capacity with 16 clusters: every cluster whose registrations are refused
// reports CapacityFull and backs off (a handful of calls in ten minutes,
// not one a second); no cluster unregisters anything of another's to make
// room; once one cluster's pods go, the room is taken by the waiting
// clusters' IPs, and nobody's earlier registrations are lost.
func TestFullTargetSharedByClusters(t *testing.T) {
	const nClusters, podsPer, capacity = 16, 10, 100
	s := newSharedTarget(t, capacity)
	for i := range nClusters {
		s.add(fmt.Sprintf("c%d", i), netip.Addr{}, false)
	}
	ip := func(c, pod int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(c), 0, byte(pod + 1)}) }
	for _, c := range s.clusters {
		ci := slices.Index(s.clusters, c)
		for pod := range podsPer {
			c.st.Upsert("n", ip(ci, pod), store.Claim{Owner: fmt.Sprint(ci, pod), Tags: tags.NewSet(c.tag("app.web"))})
		}
	}
	s.advance(time.Second)
	s.bad.check(t)
	registered := func() (total int, per []int) {
		reg := s.sim.Registered()
		per = make([]int, nClusters)
		for ci, c := range s.clusters {
			for pod := range podsPer {
				if len(s.owned(reg, ip(ci, pod), c.prefix)) > 0 {
					per[ci]++
				}
			}
		}
		for _, n := range per {
			total += n
		}
		return total, per
	}
	total, before := registered()
	if total != capacity {
		t.Fatalf("target holds %d IPs, want its capacity %d (%v)", total, capacity, before)
	}
	full := 0
	for ci, c := range s.clusters {
		st := c.p.Status()
		if before[ci] < podsPer && (!st.CapacityFull || st.Retrying == 0) {
			t.Errorf("cluster %s got %d of %d IPs in but does not report the full target: %+v", c.name, before[ci], podsPer, st)
		}
		if st.CapacityFull {
			full++
		}
	}
	if full == 0 {
		t.Fatal("no cluster reports the full target")
	}
	calls := make([]int, nClusters)
	for ci, c := range s.clusters {
		calls[ci] = c.fw.calls()
	}
	s.advance(10 * time.Minute)
	s.bad.check(t)
	for ci, c := range s.clusters {
		// Per-IP retry backoff (8x EntryRetryBase, doubling up to 5m)
		// plus a reconcile: a handful of calls, not one a second.
		if n := c.fw.calls() - calls[ci]; n > 12 {
			t.Errorf("cluster %s made %d calls in 10 minutes against the full target: it fights over capacity", c.name, n)
		}
	}
	if _, now := registered(); !slices.Equal(now, before) {
		t.Fatalf("registrations moved while the target was full: %v, before %v", now, before)
	}

	// Cluster 0's pods go: their room is taken by clusters that waited.
	for pod := range podsPer {
		s.clusters[0].st.Delete("n", ip(0, pod))
	}
	s.advance(10 * time.Minute)
	s.bad.check(t)
	total, after := registered()
	if total != capacity || after[0] != 0 {
		t.Fatalf("after cluster c0 left: %d IPs %v, want %d with none of c0's", total, after, capacity)
	}
	for ci := 1; ci < nClusters; ci++ {
		if after[ci] < before[ci] {
			t.Errorf("cluster c%d lost registrations: %d, before %d", ci, after[ci], before[ci])
		}
	}
}
