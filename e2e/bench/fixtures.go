package bench

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// apps is the number of workloads pods belong to.
const apps = 50

// podIP is the IP of pod slot i: 10.64.0.0/10, so 4Mi slots.
func podIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(64 + i>>16), byte(i >> 8), byte(i)})
}

// podIdentity is the identity of pod slot i in round r: each round is a
// new pod (new UID, new ReplicaSet name, new version label), so its tags
// differ from the previous round's.
func podIdentity(i, r int) tags.Identity {
	app := i % apps
	return tags.Identity{
		Kind:      tags.KindPod,
		Namespace: fmt.Sprintf("team%d", app%7),
		Name:      fmt.Sprintf("app%d-r%d-%d", app, r, i),
		UID:       podUID(i, r),
		Labels:    map[string]string{"app": fmt.Sprintf("app%d", app), "version": fmt.Sprintf("r%d", r)},
		OwnerKind: "ReplicaSet",
		OwnerName: fmt.Sprintf("app%d-r%d", app, r),
		Services:  []string{fmt.Sprintf("app%d", app)},
	}
}

// podUID is a Kubernetes-shaped (lowercase UUID) UID for slot i, round r:
// fmt.Sprintf("%08x-%04x-4000-8000-%012x", i, r&0xffff, i) for i < 2^32,
// without fmt (the throughput phase makes one per change).
func podUID(i, r int) string {
	b := []byte("00000000-0000-4000-8000-000000000000")
	putHex(b[0:8], uint64(i))
	putHex(b[9:13], uint64(r&0xffff))
	putHex(b[24:36], uint64(i))
	return string(b)
}

// putHex writes the low 4*len(b) bits of v into b as lowercase hex.
func putHex(b []byte, v uint64) {
	const digits = "0123456789abcdef"
	for j := len(b) - 1; j >= 0; j-- {
		b[j] = digits[v&0xf]
		v >>= 4
	}
}

// tagSets returns the tag sets of the apps workloads in round r, derived
// like the aggregator derives them.
func tagSets(d *tags.Deriver, r int) ([]tags.Set, error) {
	out := make([]tags.Set, apps)
	for app := range out {
		set, problems := d.Tags(podIdentity(app, r))
		if len(problems) > 0 {
			return nil, fmt.Errorf("tags of the bench identity: %v", problems)
		}
		out[app] = set
	}
	return out, nil
}

// emulator is one PAN-OS emulator over loopback HTTPS and a client for it.
type emulator struct {
	srv    *panossim.Server
	client *userid.Client
}

func startEmulator(capacity int) (*emulator, error) {
	srv, err := panossim.Start(panossim.Config{Capacity: capacity}, true, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	key, err := srv.Sim.APIKeyFor("admin")
	if err != nil {
		srv.Close()
		return nil, err
	}
	c, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool})
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &emulator{srv: srv, client: c}, nil
}

func (e *emulator) close() {
	e.client.Close()
	_ = e.srv.Close()
}

// preRegister registers ip -> tags on the target in calls of maxBatch
// entries (setup, not measured).
func preRegister(ctx context.Context, fw push.Firewall, want map[netip.Addr]tags.Set, ttl time.Duration, maxBatch int) error {
	var u push.Update
	send := func() error {
		if len(u.Register) == 0 {
			return nil
		}
		res, err := fw.Update(ctx, u)
		if err != nil {
			return fmt.Errorf("pre-register: %w", err)
		}
		if len(res.Failed) > 0 {
			return fmt.Errorf("pre-register: %d entries refused, first: %v", len(res.Failed), res.Failed[0])
		}
		u.Register = u.Register[:0]
		return nil
	}
	for ip, set := range want {
		e := push.Entry{IP: ip, Tags: make([]push.Tag, 0, set.Len())}
		for _, t := range set.Slice() {
			e.Tags = append(e.Tags, push.Tag{Name: t, Timeout: ttl})
		}
		u.Register = append(u.Register, e)
		if len(u.Register) >= maxBatch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	return send()
}

// desiredOf reads the desired tags of every claimed IP of st.
func desiredOf(st *store.Store) map[netip.Addr]tags.Set {
	ips := st.AppendIPs(nil)
	des := st.DesiredBatch(ips, nil)
	out := make(map[netip.Addr]tags.Set, len(ips))
	for i, ip := range ips {
		out[ip] = des[i].Tags
	}
	return out
}

// nopFirewall acknowledges everything at once and keeps nothing but
// counters; waiters are told when the entry counts reach their targets.
type nopFirewall struct {
	mu                     sync.Mutex
	calls                  int
	register, unregistered int
	wantReg, wantUnreg     int
	done                   chan struct{}
}

func (f *nopFirewall) Update(_ context.Context, u push.Update) (push.UpdateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(u.Register) > 0 && u.Register[0].IP == aggregator.DefaultCanaryIP {
		return push.UpdateResult{Messages: 1}, nil // the canary, not a mapping change
	}
	f.calls++
	f.register += len(u.Register)
	f.unregistered += len(u.Unregister)
	if f.done != nil && f.register >= f.wantReg && f.unregistered >= f.wantUnreg {
		close(f.done)
		f.done = nil
	}
	return push.UpdateResult{Messages: 1}, nil
}

func (f *nopFirewall) RegisteredIPs(context.Context, string) ([]push.RegisteredIP, error) {
	return nil, nil
}

// expect returns a channel closed once register and unregister entries
// reach the given totals.
func (f *nopFirewall) expect(register, unregister int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	if f.register >= register && f.unregistered >= unregister {
		close(ch)
		return ch
	}
	f.wantReg, f.wantUnreg, f.done = register, unregister, ch
	return ch
}

func (f *nopFirewall) counts() (calls, entries int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.register + f.unregistered
}

// auditFirewall passes calls through and counts unregisters of tags the
// store still desires for the IP (live tags).
type auditFirewall struct {
	push.Firewall
	st     *store.Store
	canary netip.Addr // entries of the canary and floor marker IPs are not counted
	floor  netip.Addr

	mu                                   sync.Mutex
	calls, registers, unregisters, lives int
}

func (a *auditFirewall) Update(ctx context.Context, u push.Update) (push.UpdateResult, error) {
	live, regs, unregs := 0, 0, 0
	for _, e := range u.Register {
		if e.IP != a.canary && e.IP != a.floor {
			regs++
		}
	}
	for _, e := range u.Unregister {
		if e.IP == a.canary || e.IP == a.floor {
			continue
		}
		unregs++
		d := a.st.Desired(e.IP)
		for _, t := range e.Tags {
			if d.Tags.Has(t.Name) {
				live++
			}
		}
	}
	a.mu.Lock()
	a.calls++
	a.registers += regs
	a.unregisters += unregs
	a.lives += live
	a.mu.Unlock()
	return a.Firewall.Update(ctx, u)
}
