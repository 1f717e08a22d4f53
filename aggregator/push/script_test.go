package push

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt scenarios")

// TestScripts runs the interaction scenarios in testdata/*.txt against the
// real engine and loop body (driver), on a fake clock and fake target.
//
// A scenario is a list of commands, each followed by "----" and the
// expected output up to a blank line; lines starting with # are comments.
// Every I/O the pusher does is printed with the fake time since start:
//
//	start [ttl=1h] [maxbatch=N] [batch=50ms] [callrate=N] [resync=10m] [gated] [readytimeout=1m] [canary=IP] [prune=TAG,...]
//	claim SRC IP TAG...       a source claims IP (store.Upsert); the loop wakes
//	unclaim SRC IP            (store.Delete); the loop wakes
//	during claim|unclaim ...  the same, but while the next Update call is in
//	                          flight (the loop sees it when the call returns)
//	tick [DURATION]           let time pass; the loop wakes at every deadline
//	ready                     close the Ready channel
//	filter TAG...|all         prune to TAG... (none: keep nothing), or keep all tags
//	target set IP TAG...      tags on the target behind the pusher's back
//	target drop IP            remove all of IP's tags behind its back
//	target fail calls=N lists=N lost=N capacity=N refuse=IP|none
//	target slow DURATION      every Update call takes DURATION (fake time)
//	target no-timeouts        listings report no remaining timeouts (as PAN-OS)
//	target reboot             drop non-persistent registrations
//	show                      the target's IPs and the pusher's status
//
// Run with -rewrite to regenerate the expected output.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptCase struct {
	line     int
	cmd      string
	expected string
}

func parseScript(t *testing.T, file string) []scriptCase {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var cases []scriptCase
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := scriptCase{line: i + 1, cmd: l}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "----" {
			t.Fatalf("%s:%d: command without ---- line", file, i+1)
		}
		i += 2
		var out []string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			out = append(out, lines[i])
		}
		c.expected = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	return cases
}

func runScript(t *testing.T, file string) {
	cases := parseScript(t, file)
	s := &scriptEnv{t: t, clk: newFakeClock(), st: store.New(store.Options{})}
	s.fw = &loggingFirewall{fakeFirewall: newFakeFirewall(s.clk), env: s}
	s.t0 = s.clk.Now()
	defer func() {
		if s.d != nil {
			s.d.Close()
		}
	}()
	var rewritten strings.Builder
	for i, c := range cases {
		s.out.Reset()
		s.run(c)
		got := strings.TrimRight(s.out.String(), "\n")
		if *rewrite {
			if i > 0 {
				rewritten.WriteString("\n")
			}
			for _, cl := range s.comments(file, c.line) {
				rewritten.WriteString(cl + "\n")
			}
			fmt.Fprintf(&rewritten, "%s\n----\n", c.cmd)
			if got != "" {
				rewritten.WriteString(got + "\n")
			}
			continue
		}
		if got != c.expected {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, c.line, c.cmd, got, c.expected)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(rewritten.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// comments returns the comment lines right above line (for -rewrite).
func (s *scriptEnv) comments(file string, line int) []string {
	data, _ := os.ReadFile(file)
	lines := strings.Split(string(data), "\n")
	var out []string
	for i := line - 2; i >= 0 && strings.HasPrefix(strings.TrimSpace(lines[i]), "#"); i-- {
		out = append([]string{lines[i]}, out...)
	}
	return out
}

type scriptEnv struct {
	t      *testing.T
	clk    *fakeClock
	t0     time.Time
	fw     *loggingFirewall
	st     *store.Store
	p      *Pusher
	d      *driver
	ready  chan struct{}
	filter *FilterVar
	out    strings.Builder
}

func (s *scriptEnv) printf(format string, args ...any) {
	fmt.Fprintf(&s.out, "%s "+format+"\n", append([]any{s.since()}, args...)...)
}

func (s *scriptEnv) since() string { return "+" + s.clk.Now().Sub(s.t0).String() }

func (s *scriptEnv) fatalf(c scriptCase, format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("line %d: %s: %s", c.line, c.cmd, fmt.Sprintf(format, args...))
}

func (s *scriptEnv) run(c scriptCase) {
	f := strings.Fields(c.cmd)
	ip := func(i int) netip.Addr {
		if i >= len(f) {
			s.fatalf(c, "missing IP")
		}
		a, err := netip.ParseAddr(f[i])
		if err != nil {
			s.fatalf(c, "%v", err)
		}
		return a
	}
	dur := func(v string) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.fatalf(c, "%v", err)
		}
		return d
	}
	switch f[0] {
	case "start":
		if s.d != nil { // a new leader: a fresh pusher on the same target
			s.d.Close()
		}
		opts := Options{Name: "fw", Owns: owns, Now: s.clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Rand: rand.New(rand.NewPCG(1, 2))} // jitter, reproducibly
		for _, a := range f[1:] {
			k, v, _ := strings.Cut(a, "=")
			switch k {
			case "ttl":
				opts.TagTTL = dur(v)
			case "maxbatch":
				opts.MaxBatch, _ = strconv.Atoi(v)
			case "batch":
				opts.BatchInterval = dur(v)
			case "callrate":
				opts.MaxCallsPerSecond, _ = strconv.ParseFloat(v, 64)
			case "resync":
				opts.ResyncInterval = dur(v)
			case "gated":
				s.ready = make(chan struct{})
				opts.Ready = s.ready
			case "readytimeout":
				opts.ReadyTimeout = dur(v)
			case "prune":
				s.filter = NewFilterVar(keepOnly(strings.FieldsFunc(v, func(r rune) bool { return r == ',' })))
				opts.Filter = s.filter
			case "canary":
				opts.Canary = Canary{IP: netip.MustParseAddr(v), Tag: "k8s.canary", TTL: 5 * time.Minute, Interval: 30 * time.Second,
					FloorIP: netip.MustParseAddr("203.0.113.254")}
			default:
				s.fatalf(c, "unknown option %q", k)
			}
		}
		p, err := New(s.fw, s.st, opts)
		if err != nil {
			s.fatalf(c, "%v", err)
		}
		s.p = p
		s.d = newDriver(s.t, p, s.clk)
		s.d.woke = func() { s.printf("wait until +%v", s.d.wake.Sub(s.t0)) }
		s.step()
	case "claim":
		s.st.Upsert(f[1], ip(2), store.Claim{Owner: "uid-" + f[2], Tags: tags.NewSet(f[3:]...)})
		s.step() // the store's poke wakes Run at once
	case "unclaim":
		s.st.Delete(f[1], ip(2))
		s.step()
	case "during":
		if len(f) < 4 || (f[1] != "claim" && f[1] != "unclaim") {
			s.fatalf(c, "want during claim|unclaim SRC IP [TAG...]")
		}
		src, a, ts := f[2], ip(3), f[4:]
		if f[1] == "claim" {
			s.fw.during = append(s.fw.during, func() { s.st.Upsert(src, a, store.Claim{Owner: "uid-" + a.String(), Tags: tags.NewSet(ts...)}) })
		} else {
			s.fw.during = append(s.fw.during, func() { s.st.Delete(src, a) })
		}
	case "tick":
		if len(f) > 1 {
			s.d.run(dur(f[1]))
		} else {
			s.step()
		}
	case "ready":
		close(s.ready)
		s.step()
	case "filter":
		if len(f) == 2 && f[1] == "all" {
			s.filter.Set(nil)
		} else {
			s.filter.Set(keepOnly(f[1:]))
		}
		s.step()
	case "target":
		s.target(c, f[1:], func(i int) netip.Addr { return ip(i + 1) })
	case "show":
		s.show()
	default:
		s.fatalf(c, "unknown command")
	}
}

func (s *scriptEnv) step() {
	if s.d != nil { // before start, nothing runs
		s.d.step()
	}
}

func (s *scriptEnv) target(c scriptCase, f []string, ip func(int) netip.Addr) {
	fw := s.fw.fakeFirewall
	switch f[0] {
	case "set":
		fw.set(ip(1), f[2:]...)
	case "drop":
		fw.with(func() { delete(fw.ips, ip(1)) })
	case "reboot":
		fw.reboot()
	case "no-timeouts":
		fw.with(func() { fw.noTimeout = true })
	case "slow":
		if len(f) < 2 {
			s.fatalf(c, "want target slow DURATION")
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			s.fatalf(c, "%v", err)
		}
		s.fw.latency = d
	case "fail":
		for _, a := range f[1:] {
			k, v, _ := strings.Cut(a, "=")
			n, _ := strconv.Atoi(v)
			fw.with(func() {
				switch k {
				case "calls":
					fw.failCall = n
				case "lists":
					fw.failList = n
				case "lost":
					fw.failAfter = n
				case "capacity":
					fw.capacity = n
				case "refuse":
					if v == "none" {
						fw.refuse = nil
					} else {
						r := netip.MustParseAddr(v)
						fw.refuse = func(a netip.Addr) bool { return a == r }
					}
				default:
					s.fatalf(c, "unknown failure %q", k)
				}
			})
		}
	default:
		s.fatalf(c, "unknown target command")
	}
}

func (s *scriptEnv) show() {
	fw := s.fw.fakeFirewall
	var ips []netip.Addr
	fw.with(func() {
		fw.expire()
		for ip := range fw.ips {
			ips = append(ips, ip)
		}
	})
	slices.SortFunc(ips, netip.Addr.Compare)
	for _, ip := range ips {
		fmt.Fprintf(&s.out, "target %v %s\n", ip, strings.Join(fw.tagsOf(ip), " "))
	}
	st := s.p.Status()
	fmt.Fprintf(&s.out, "status ready=%v synced=%v healthy=%v failures=%d capacity-full=%v registered=%d pending=%d retrying=%d reboots=%d\n",
		st.Ready, st.Synced, st.Healthy, st.ConsecutiveFailures, st.CapacityFull, st.Registered, st.Pending, st.Retrying, st.Reboots)
}

// loggingFirewall prints every call the pusher makes, and its outcome.
type loggingFirewall struct {
	*fakeFirewall
	env     *scriptEnv
	latency time.Duration // of every Update call, on the fake clock
	during  []func()      // store changes made while the next Update is in flight
}

func (f *loggingFirewall) Update(ctx context.Context, u Update) (UpdateResult, error) {
	for _, fn := range f.during {
		fn()
	}
	f.during = nil
	f.env.clk.Advance(f.latency)
	res, err := f.fakeFirewall.Update(ctx, u)
	var parts []string
	for _, dir := range []struct {
		name string
		es   []Entry
	}{{"unregister", u.Unregister}, {"register", u.Register}} {
		es := slices.Clone(dir.es)
		slices.SortFunc(es, func(a, b Entry) int { return a.IP.Compare(b.IP) })
		for _, e := range es {
			var ts []string
			for _, tg := range e.Tags {
				s := tg.Name
				if tg.Timeout > 0 {
					s += "/" + tg.Timeout.String()
				}
				ts = append(ts, s)
			}
			np := ""
			if e.NonPersistent {
				np = " non-persistent"
			}
			parts = append(parts, fmt.Sprintf("%s %v [%s]%s", dir.name, e.IP, strings.Join(ts, " "), np))
		}
	}
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error: " + err.Error()
	case len(res.Failed) > 0:
		var r []string
		for _, e := range res.Failed {
			r = append(r, e.IP.String())
		}
		slices.Sort(r)
		outcome = "refused " + strings.Join(r, " ")
	}
	f.env.printf("update: %s -> %s", strings.Join(parts, "; "), outcome)
	return res, err
}

func (f *loggingFirewall) RegisteredIPs(ctx context.Context, tag string) ([]RegisteredIP, error) {
	regs, err := f.fakeFirewall.RegisteredIPs(ctx, tag)
	what := "all"
	if tag != "" {
		what = "tag " + tag
	}
	if err != nil {
		f.env.printf("list %s -> error: %v", what, err)
	} else {
		f.env.printf("list %s -> %d IPs", what, len(regs))
	}
	return regs, err
}

// keepOnly is a TagFilter keeping the listed tags.
type keepOnly []string

func (k keepOnly) Keep(tag string) bool { return slices.Contains(k, tag) }
