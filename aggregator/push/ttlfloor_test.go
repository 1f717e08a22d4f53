package push

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// TestPropertyNoTagExpiresUnderAClaim: against a target that lists no
// remaining timeouts (as PAN-OS), with leaders replaced at random moments
// (each new pusher trusting the previous one's TTL floor marker), reboots
// and outages, no registered tag of a claimed IP ever reaches its expiry
// on the target, and a new leader does not re-register everything.
func TestPropertyNoTagExpiresUnderAClaim(t *testing.T) {
	const ttl = 8 * time.Minute
	rapid.Check(t, func(rt *rapid.T) {
		clk := newFakeClock()
		fw := newFakeFirewall(clk)
		fw.noTimeout = true
		st := store.New(store.Options{})
		ips := make([]netip.Addr, 5)
		for i := range ips {
			ips[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		}
		var violation string
		// A tag expiring on the target while its IP is claimed with it:
		// checked before the fake drops expired tags (every call and list).
		check := func() {
			now := clk.Now()
			fw.with(func() {
				for ip, ts := range fw.ips {
					for name, tg := range ts {
						if tg.expires.IsZero() || now.Before(tg.expires) || !owns(name) {
							continue
						}
						if d := st.DesiredBatch([]netip.Addr{ip}, nil); d[0].Tags.Has(name) && violation == "" {
							violation = fmt.Sprintf("%v: %s expired at %v under a live claim", ip, name, tg.expires)
						}
					}
				}
			})
		}
		newPusher := func() *driver {
			p, err := New(fw, st, Options{Name: "fw", Owns: owns, TagTTL: ttl, Now: clk.Now,
				Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
				BackoffBase: time.Second, BackoffMax: 10 * time.Second, ResyncInterval: time.Minute,
				Canary: Canary{IP: netip.MustParseAddr("192.0.2.1"), Tag: "k8s.canary", TTL: 5 * time.Minute, Interval: 30 * time.Second,
					FloorIP: netip.MustParseAddr("203.0.113.254")}})
			if err != nil {
				rt.Fatal(err)
			}
			d := newDriver(rt, p, clk)
			d.step()
			return d
		}
		d := newPusher()
		defer func() { d.Close() }()
		// run lets time pass in steps short enough that an expiry between
		// two wakes is seen before the fake drops it.
		run := func(total time.Duration) {
			for total > 0 {
				s := min(total, 10*time.Second)
				check()
				d.run(s)
				total -= s
			}
			check()
		}

		rt.Repeat(map[string]func(*rapid.T){
			"claim": func(rt *rapid.T) {
				ip := rapid.SampledFrom(ips).Draw(rt, "ip")
				tg := rapid.SampledFrom([]string{"k8s.a", "k8s.b"}).Draw(rt, "tag")
				st.Upsert("n1", ip, store.Claim{Owner: "u-" + ip.String(), Tags: tags.NewSet(tg)})
				d.step()
			},
			"unclaim": func(rt *rapid.T) {
				st.Delete("n1", rapid.SampledFrom(ips).Draw(rt, "ip"))
				d.step()
			},
			"time": func(rt *rapid.T) {
				run(time.Duration(rapid.IntRange(1, 180).Draw(rt, "s")) * time.Second)
			},
			"newLeader": func(rt *rapid.T) {
				d.Close()
				run(time.Duration(rapid.IntRange(0, 60).Draw(rt, "gap s")) * time.Second) // nobody pushes
				d = newPusher()
			},
			"reboot": func(rt *rapid.T) { fw.reboot(); d.step() },
			"outage": func(rt *rapid.T) {
				n := rapid.IntRange(1, 3).Draw(rt, "n")
				fw.with(func() { fw.failCall, fw.failList = n, n })
				d.step()
			},
			"": func(rt *rapid.T) {
				if violation != "" {
					rt.Fatal(violation)
				}
			},
		})
		run(ttl)
		if violation != "" {
			rt.Fatal(violation)
		}
	})
}

// TestNewLeaderTrustsTheFloor: a new leader over 200 registered IPs whose
// timeouts the listing omits re-registers none of them at once.
func TestNewLeaderTrustsTheFloor(t *testing.T) {
	clk := newFakeClock()
	fw := newFakeFirewall(clk)
	fw.noTimeout = true
	st := store.New(store.Options{})
	for i := range 200 {
		st.Upsert("n1", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), store.Claim{Owner: fmt.Sprint(i), Tags: tags.NewSet("k8s.a")})
	}
	opts := Options{Name: "fw", Owns: owns, TagTTL: time.Hour, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Canary: Canary{IP: netip.MustParseAddr("192.0.2.1"), Tag: "k8s.canary", FloorIP: netip.MustParseAddr("203.0.113.254")}}
	registers := func() int {
		n := 0
		for _, c := range fw.callsCopy() {
			for _, e := range c.Register {
				if e.IP != opts.Canary.IP && e.IP != opts.Canary.FloorIP {
					n++
				}
			}
		}
		return n
	}
	for leader := range 2 {
		p, err := New(fw, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		d := newDriver(t, p, clk)
		before := registers()
		d.run(time.Minute)
		d.Close()
		got := registers() - before
		if want := []int{200, 0}[leader]; got != want {
			t.Fatalf("leader %d registered %d IPs, want %d", leader, got, want)
		}
		clk.Advance(30 * time.Second)
	}
}
