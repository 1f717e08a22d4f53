package stream_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kubedag/kubedag/agent/nodestate"
	"github.com/kubedag/kubedag/agent/stream"
	aggstream "github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/stream/streamtest"
	agentv1 "github.com/kubedag/kubedag/api/agent/v1"
	"github.com/kubedag/kubedag/e2e/dnstest"
	"github.com/kubedag/kubedag/e2e/pki"
	"github.com/kubedag/kubedag/tags"
)

const wait = 30 * time.Second

// proxy is a TCP proxy that can be cut (all connections closed, new ones
// refused) and retargeted.
type proxy struct {
	lis    net.Listener
	mu     sync.Mutex
	target string
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		lis.Close()
		p.set(true, "")
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, target := p.down, p.target
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(u, c) })
		p.wg.Go(func() { pipe(c, u) })
	}
}

// set cuts every connection; down refuses new ones; a non-empty target
// retargets.
func (p *proxy) set(down bool, target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if target != "" {
		p.target = target
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// recordingAuth is a StaticAuth that remembers the tokens it saw.
type recordingAuth struct {
	streamtest.StaticAuth
	mu   sync.Mutex
	seen []string
}

func (a *recordingAuth) Authenticate(ctx context.Context, token string) (string, error) {
	a.mu.Lock()
	a.seen = append(a.seen, token)
	a.mu.Unlock()
	return a.StaticAuth.Authenticate(ctx, token)
}

func (a *recordingAuth) saw(tok string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.seen, tok)
}

type aggregator struct {
	sink   *streamtest.Sink
	srv    *aggstream.Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startAggregator(t *testing.T, tl pki.TestTLS, auth aggstream.Authenticator, mutate func(*aggstream.Config)) *aggregator {
	t.Helper()
	return startAggregatorOn(t, tl, auth, "127.0.0.1:0", mutate)
}

func startAggregatorOn(t *testing.T, tl pki.TestTLS, auth aggstream.Authenticator, listen string, mutate func(*aggstream.Config)) *aggregator {
	t.Helper()
	a := &aggregator{sink: streamtest.NewSink(), done: make(chan error, 1)}
	cfg := aggstream.Config{Sink: a.sink, Authenticator: auth, GracePeriod: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := aggstream.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = srv
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	a.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.done <- srv.Serve(ctx, lis, tl.Server) }()
	t.Cleanup(a.stop)
	return a
}

func (a *aggregator) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

func tokenFile(t *testing.T, tok string) string {
	f := filepath.Join(t.TempDir(), "token")
	writeToken(t, f, tok)
	return f
}

func writeToken(t *testing.T, f, tok string) {
	t.Helper()
	tmp := f + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f); err != nil {
		t.Fatal(err)
	}
}

func podClaim(i int, gen string) nodestate.Claim {
	return nodestate.Claim{
		IP: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)}),
		Identity: tags.Identity{Kind: tags.KindPod, Namespace: "ns", Name: fmt.Sprintf("p%d", i), UID: fmt.Sprintf("u%d", i),
			Labels: map[string]string{"gen": gen}},
		FirstSeen: time.Unix(1700000000, int64(i)).UTC(),
	}
}

// startClient runs a client until the test ends and checks that Run
// returns nil and leaves no goroutines behind.
func startClient(t *testing.T, cfg stream.Config) *stream.Client {
	t.Helper()
	c, err := stream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	return c
}

// sameSet reports whether the sink holds exactly st's claims for node
// (IPs and identities).
func sameSet(sink *streamtest.Sink, node string, st *nodestate.State) bool {
	got, _ := sink.Claims(node)
	want := st.List()
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		g, ok := got[w.IP]
		if !ok || !g.Identity.Equal(w.Identity) || !g.FirstSeen.Equal(w.FirstSeen) {
			return false
		}
	}
	return true
}

// settledGoroutines makes sure the server at addr is accepting (its serve
// goroutines exist), then returns the goroutine count once it stops moving.
func settledGoroutines(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

func baseConfig(tl pki.TestTLS, addr string, st *nodestate.State, tokFile string) stream.Config {
	return stream.Config{
		Addr: addr, Node: "node-a", State: st, TLS: tl.Client, TokenFile: tokFile,
		AckTimeout: 5 * time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		ChunkSize: 7,
	}
}

func TestMirrorsStateAndStopsCleanly(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	agg := startAggregator(t, tl, streamtest.StaticAuth{"tok": "node-a"}, nil)
	st := nodestate.New()
	for i := range 50 {
		st.Set(podClaim(i, "1"))
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{8}, TraceFlags: trace.FlagsSampled})
	traced := podClaim(60, "1")
	traced.Span = sc
	st.Set(traced)

	baseGoroutines := settledGoroutines(t, agg.addr)
	c, err := stream.New(baseConfig(tl, agg.addr, st, tokenFile(t, "tok")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	streamtest.Eventually(t, wait, "snapshot mirrored", func() bool { return c.Connected() && sameSet(agg.sink, "node-a", st) })
	for i := range 20 {
		st.Delete(podClaim(i, "").IP)
	}
	for i := 20; i < 40; i++ {
		st.Set(podClaim(i, "2"))
	}
	st.Set(podClaim(70, "1"))
	streamtest.Eventually(t, wait, "deltas mirrored", func() bool { return sameSet(agg.sink, "node-a", st) })
	got, _ := agg.sink.Claims("node-a")
	if g := got[traced.IP].Span; g.TraceID() != sc.TraceID() || g.SpanID() != sc.SpanID() || !g.IsRemote() {
		t.Fatalf("span context not carried: %+v", g)
	}
	if c.Sessions() != 1 {
		t.Fatalf("Sessions = %d, want 1", c.Sessions())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > baseGoroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the client:\n%s", runtime.NumGoroutine(), baseGoroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAggregatorRestart(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	auth := streamtest.StaticAuth{"tok": "node-a"}
	agg1 := startAggregator(t, tl, auth, nil)
	px := newProxy(t, agg1.addr)
	st := nodestate.New()
	for i := range 30 {
		st.Set(podClaim(i, "1"))
	}
	c := startClient(t, baseConfig(tl, px.addr(), st, tokenFile(t, "tok")))
	streamtest.Eventually(t, wait, "first aggregator synced", func() bool { return c.Connected() && sameSet(agg1.sink, "node-a", st) })

	agg1.stop()
	// Changes while no aggregator runs: coalesced in the state.
	for i := range 10 {
		st.Delete(podClaim(i, "").IP)
	}
	for i := 10; i < 20; i++ {
		st.Set(podClaim(i, "2"))
	}
	st.Set(podClaim(99, "1"))

	agg2 := startAggregator(t, tl, auth, nil)
	px.set(false, agg2.addr)
	streamtest.Eventually(t, wait, "restarted aggregator holds exactly the current set",
		func() bool { return c.Connected() && sameSet(agg2.sink, "node-a", st) })
	if c.Sessions() < 2 {
		t.Fatalf("Sessions = %d, want >= 2", c.Sessions())
	}
	// And the stream keeps working.
	st.Delete(podClaim(99, "").IP)
	streamtest.Eventually(t, wait, "delta after restart", func() bool { return sameSet(agg2.sink, "node-a", st) })
}

func TestNetworkCutAndTokenRotation(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	auth := &recordingAuth{StaticAuth: streamtest.StaticAuth{"tok-1": "node-a", "tok-2": "node-a"}}
	agg := startAggregator(t, tl, auth, nil)
	px := newProxy(t, agg.addr)
	st := nodestate.New()
	for i := range 30 {
		st.Set(podClaim(i, "1"))
	}
	tf := tokenFile(t, "tok-1")
	c := startClient(t, baseConfig(tl, px.addr(), st, tf))
	streamtest.Eventually(t, wait, "synced", func() bool { return c.Connected() && sameSet(agg.sink, "node-a", st) })

	px.set(true, "") // cut, and refuse reconnects
	writeToken(t, tf, "tok-2")
	for i := range 15 {
		st.Delete(podClaim(i, "").IP)
	}
	st.Set(podClaim(15, "relabelled"))
	st.Set(podClaim(100, "1"))
	streamtest.Eventually(t, wait, "client notices the cut", func() bool { return !c.Connected() })
	px.set(false, "")
	streamtest.Eventually(t, wait, "resynced after cut", func() bool { return c.Connected() && sameSet(agg.sink, "node-a", st) })
	if !auth.saw("tok-2") {
		t.Fatal("rotated token was not used on reconnect")
	}
}

// noAckServer reads everything and never acks; it counts streams and the
// deltas of the first stream.
type noAckServer struct {
	agentv1.UnimplementedAgentStreamServer
	streams     atomic.Int64
	firstDeltas atomic.Int64
}

func (s *noAckServer) Sync(st agentv1.AgentStream_SyncServer) error {
	n := s.streams.Add(1)
	for {
		m, err := st.Recv()
		if err != nil {
			return err
		}
		if n == 1 && m.GetDelta() != nil {
			s.firstDeltas.Add(1)
		}
	}
}

func TestAckTimeoutReconnectsAndWindowIsBounded(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	srv := &noAckServer{}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tl.Server)))
	agentv1.RegisterAgentStreamServer(g, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	st := nodestate.New()
	cfg := baseConfig(tl, lis.Addr().String(), st, tokenFile(t, "tok"))
	cfg.AckTimeout = 500 * time.Millisecond
	cfg.MaxInFlight = 3
	cfg.ChunkSize = 1000
	c := startClient(t, cfg)
	// Keep changing the state while the first stream is open.
	deadline := time.Now().Add(wait)
	for i := 0; srv.streams.Load() < 2; i++ {
		if time.Now().After(deadline) {
			t.Fatal("client never reconnected after missing acks")
		}
		st.Set(podClaim(i%100, fmt.Sprint(i)))
		time.Sleep(time.Millisecond)
	}
	if c.Connected() {
		t.Fatal("Connected without a snapshot ack")
	}
	if n := srv.firstDeltas.Load(); n > int64(cfg.MaxInFlight) {
		t.Fatalf("first stream got %d unacked deltas, window is %d", n, cfg.MaxInFlight)
	}
}

type denyIP netip.Addr

func (d denyIP) CheckClaim(_ context.Context, _ string, ip netip.Addr, _ tags.Identity) error {
	if ip == netip.Addr(d) {
		return fmt.Errorf("ip %v is not on this node", ip)
	}
	return nil
}

func TestRejectionsReported(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	bad := podClaim(5, "1")
	agg := startAggregator(t, tl, streamtest.StaticAuth{"tok": "node-a"}, func(c *aggstream.Config) { c.ClaimChecker = denyIP(bad.IP) })
	st := nodestate.New()
	st.Set(podClaim(1, "1"))
	st.Set(bad)
	var mu sync.Mutex
	var rejected []netip.Addr
	cfg := baseConfig(tl, agg.addr, st, tokenFile(t, "tok"))
	cfg.OnRejected = func(ip netip.Addr, reason string) {
		mu.Lock()
		defer mu.Unlock()
		rejected = append(rejected, ip)
	}
	c := startClient(t, cfg)
	streamtest.Eventually(t, wait, "rejection reported", func() bool { return c.Rejections() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(rejected, []netip.Addr{bad.IP}) {
		t.Fatalf("rejected = %v", rejected)
	}
	if got := agg.sink.IPs("node-a"); !slices.Equal(got, []netip.Addr{podClaim(1, "").IP}) {
		t.Fatalf("sink = %v", got)
	}
}

func TestNewValidates(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	st := nodestate.New()
	good := stream.Config{Addr: "x:1", State: st, TLS: tl.Client, TokenFile: "/t"}
	for name, mut := range map[string]func(*stream.Config){
		"addr":  func(c *stream.Config) { c.Addr = "" },
		"state": func(c *stream.Config) { c.State = nil },
		"tls":   func(c *stream.Config) { c.TLS = nil },
		"token": func(c *stream.Config) { c.TokenFile = "" },
	} {
		cfg := good
		mut(&cfg)
		if _, err := stream.New(cfg); err == nil {
			t.Errorf("missing %s accepted", name)
		}
	}
	if _, err := stream.New(good); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.TLSConfig(tl.CAFile, streamtest.ServerName); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.TLSConfig(filepath.Join(t.TempDir(), "missing.pem"), ""); err == nil {
		t.Fatal("missing CA file accepted")
	}
}

// replicaDNS serves name with the given loopback addresses, as the cluster
// DNS serves a headless Service's Ready replicas.
func replicaDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var (
	replicaA = netip.MustParseAddr("127.0.0.2")
	replicaB = netip.MustParseAddr("127.0.0.3")
)

// TestOneStreamPerReplica: the agent resolves the aggregator name (a
// headless Service, one address per replica) and keeps one stream to each
// replica, every one mirroring the same state; a replica that leaves the
// DNS answer loses its stream, one that joins gets a snapshot.
func TestOneStreamPerReplica(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	auth := streamtest.StaticAuth{"tok": "node-a"}
	a := startAggregatorOn(t, tl, auth, replicaA.String()+":0", nil)
	_, port, _ := net.SplitHostPort(a.addr)
	b := startAggregatorOn(t, tl, auth, replicaB.String()+":"+port, nil)
	dns := replicaDNS(t)
	dns.Set("aggregator.test", replicaA, replicaB)

	st := nodestate.New()
	for i := range 40 {
		st.Set(podClaim(i, "1"))
	}
	cfg := baseConfig(tl, "dns://"+dns.Addr()+"/aggregator.test:"+port, st, tokenFile(t, "tok"))
	cfg.ResolveInterval = 50 * time.Millisecond
	c := startClient(t, cfg)
	replicas := func(wc, wk int) func() bool {
		return func() bool { gc, gk := c.Replicas(); return gc == wc && gk == wk }
	}
	streamtest.Eventually(t, wait, "both replicas mirrored", func() bool {
		return replicas(2, 2)() && sameSet(a.sink, "node-a", st) && sameSet(b.sink, "node-a", st)
	})
	for i := range 10 {
		st.Delete(podClaim(i, "").IP)
	}
	st.Set(podClaim(50, "2"))
	streamtest.Eventually(t, wait, "deltas reach both", func() bool {
		return sameSet(a.sink, "node-a", st) && sameSet(b.sink, "node-a", st)
	})
	if st.Readers() != 2 {
		t.Fatalf("state readers = %d, want one per replica", st.Readers())
	}

	dns.Set("aggregator.test", replicaA)
	streamtest.Eventually(t, wait, "stream to the departed replica closed", func() bool {
		return replicas(1, 1)() && b.srv.ActiveNodes() == 0 && st.Readers() == 1
	})
	st.Set(podClaim(51, "3"))
	streamtest.Eventually(t, wait, "remaining replica mirrored", func() bool { return sameSet(a.sink, "node-a", st) })
	if sameSet(b.sink, "node-a", st) {
		t.Fatal("departed replica still receives deltas")
	}

	sessions := c.Sessions()
	dns.Set("aggregator.test", replicaA, replicaB)
	streamtest.Eventually(t, wait, "rejoined replica caught up by a snapshot", func() bool {
		return replicas(2, 2)() && sameSet(b.sink, "node-a", st)
	})
	if got := c.Sessions(); got != sessions+1 {
		t.Fatalf("sessions %d -> %d, want one new stream (the rejoined replica's)", sessions, got)
	}

	// No Ready replica: the name does not exist; every stream is dropped.
	dns.Set("aggregator.test")
	streamtest.Eventually(t, wait, "all streams dropped", func() bool {
		return replicas(0, 0)() && a.srv.ActiveNodes() == 0 && b.srv.ActiveNodes() == 0
	})
}

// TestStalledReplicaDoesNotHoldBackOthers: a replica that stops acking
// (frozen, partitioned) fills only its own window; the other replica's
// stream keeps mirroring every change.
func TestStalledReplicaDoesNotHoldBackOthers(t *testing.T) {
	tl := pki.NewTestTLS(t, streamtest.ServerName)
	a := startAggregatorOn(t, tl, streamtest.StaticAuth{"tok": "node-a"}, replicaA.String()+":0", nil)
	_, port, _ := net.SplitHostPort(a.addr)
	stalled := &noAckServer{}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tl.Server)))
	agentv1.RegisterAgentStreamServer(g, stalled)
	lis, err := net.Listen("tcp", replicaB.String()+":"+port)
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	dns := replicaDNS(t)
	dns.Set("aggregator.test", replicaA, replicaB)

	st := nodestate.New()
	cfg := baseConfig(tl, "dns://"+dns.Addr()+"/aggregator.test:"+port, st, tokenFile(t, "tok"))
	cfg.MaxInFlight = 2
	cfg.ChunkSize = 1000       // one message per delta, so the window counts deltas
	cfg.AckTimeout = time.Hour // the stalled stream stays open and full
	c := startClient(t, cfg)
	streamtest.Eventually(t, wait, "stalled replica got its snapshot", func() bool { return stalled.streams.Load() == 1 })
	for i := range 200 {
		st.Set(podClaim(i%50, fmt.Sprint(i)))
		if i%20 == 0 {
			streamtest.Eventually(t, wait, "healthy replica keeps up", func() bool { return sameSet(a.sink, "node-a", st) })
		}
	}
	streamtest.Eventually(t, wait, "healthy replica mirrored", func() bool { return sameSet(a.sink, "node-a", st) })
	if n := stalled.firstDeltas.Load(); n > int64(cfg.MaxInFlight) {
		t.Fatalf("stalled replica got %d unacked deltas, window is %d", n, cfg.MaxInFlight)
	}
	if conn, known := c.Replicas(); conn != 1 || known != 2 {
		t.Fatalf("Replicas = %d connected of %d, want 1 of 2", conn, known)
	}
}

func TestParseAndResolveTarget(t *testing.T) {
	dns := replicaDNS(t)
	dns.Set("two.test", netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("fd00::1"))
	dns.Set("v6.test", netip.MustParseAddr("fd00::2"))
	at := "dns://" + dns.Addr() + "/"
	tests := []struct {
		addr    string
		want    []string
		wantErr bool
	}{
		{addr: "10.0.0.1:9443", want: []string{"10.0.0.1:9443"}},
		{addr: "[fd00::9]:9443", want: []string{"[fd00::9]:9443"}},
		{addr: at + "two.test:9443", want: []string{"10.1.0.1:9443", "10.1.0.2:9443"}}, // one family, sorted
		{addr: at + "v6.test:9443", want: []string{"[fd00::2]:9443"}},
		{addr: at + "gone.test:9443", want: nil}, // NXDOMAIN: no replica
		{addr: "passthrough:///aggregator", want: []string{"passthrough:///aggregator"}},
		{addr: "aggregator", wantErr: true},
		{addr: "dns://x/aggregator:1", wantErr: true}, // server without port
		{addr: "dns://aggregator:1", wantErr: true},   // no host after the server
		{addr: ":9443", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			tg, err := stream.ParseTarget(tt.addr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTarget err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			got, err := tg.Resolve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Resolve = %v, want %v", got, tt.want)
			}
		})
	}
}
