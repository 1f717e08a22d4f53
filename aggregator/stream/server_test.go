package stream_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/stream/streamtest"
	agentv1 "github.com/kubedag/kubedag/api/agent/v1"
	"github.com/kubedag/kubedag/e2e/pki"
	"github.com/kubedag/kubedag/tags"
)

const wait = 20 * time.Second

type env struct {
	srv  *stream.Server
	sink *streamtest.Sink
	addr string
	tls  pki.TestTLS
}

func startServer(t *testing.T, mutate func(*stream.Config)) *env {
	t.Helper()
	e := &env{sink: streamtest.NewSink(), tls: pki.NewTestTLS(t, streamtest.ServerName)}
	cfg := stream.Config{
		Sink:          e.sink,
		Authenticator: streamtest.StaticAuth{"tok-a": "node-a", "tok-b": "node-b"},
		GracePeriod:   time.Hour,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := stream.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, e.tls.Server) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

type agentConn struct {
	t      *testing.T
	stream agentv1.AgentStream_SyncClient
	cancel context.CancelFunc
}

func (e *env) open(t *testing.T, token string) *agentConn {
	t.Helper()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(e.tls.Client)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	s, err := agentv1.NewAgentStreamClient(conn).Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &agentConn{t: t, stream: s, cancel: cancel}
}

func pod(ip, name string) *agentv1.Claim {
	return agentv1.ClaimToProto(netip.MustParseAddr(ip),
		tags.Identity{Kind: tags.KindPod, Namespace: "ns", Name: name, UID: "uid-" + name}, time.Now(), noSpan)
}

func (a *agentConn) snapshot(epoch uint64, final bool, claims ...*agentv1.Claim) {
	a.t.Helper()
	if err := a.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Snapshot{Snapshot: &agentv1.Snapshot{Epoch: epoch, Final: final, Claims: claims}}}); err != nil {
		a.t.Fatalf("send snapshot: %v", err)
	}
}

func (a *agentConn) delta(epoch, seq uint64, upserts []*agentv1.Claim, deletes ...string) {
	a.t.Helper()
	d := &agentv1.Delta{Epoch: epoch, Seq: seq, Upserts: upserts}
	for _, ip := range deletes {
		d.Deletes = append(d.Deletes, agentv1.AddrBytes(netip.MustParseAddr(ip)))
	}
	if err := a.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Delta{Delta: d}}); err != nil {
		a.t.Fatalf("send delta: %v", err)
	}
}

func (a *agentConn) ack(epoch, seq uint64) *agentv1.Ack {
	a.t.Helper()
	m, err := a.stream.Recv()
	if err != nil {
		a.t.Fatalf("waiting for ack %d/%d: %v", epoch, seq, err)
	}
	if m.GetAck().GetEpoch() != epoch || m.GetAck().GetSeq() != seq {
		a.t.Fatalf("ack = %v, want epoch %d seq %d", m.GetAck(), epoch, seq)
	}
	return m.GetAck()
}

// end waits for the stream to end and returns its status code.
func (a *agentConn) end() (codes.Code, string) {
	a.t.Helper()
	for {
		_, err := a.stream.Recv()
		if err != nil {
			st, _ := status.FromError(err)
			return st.Code(), st.Message()
		}
	}
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func TestSnapshotThenDeltas(t *testing.T) {
	e := startServer(t, nil)
	a := e.open(t, "tok-a")
	a.snapshot(7, false, pod("10.0.0.1", "p1"), pod("10.0.0.2", "p2"))
	a.snapshot(7, true, pod("10.0.0.3", "p3"))
	a.ack(7, 0)
	if got := e.sink.IPs("node-a"); !slices.Equal(got, ips("10.0.0.1", "10.0.0.2", "10.0.0.3")) {
		t.Fatalf("after snapshot: %v", got)
	}
	a.delta(7, 1, []*agentv1.Claim{pod("10.0.0.4", "p4")}, "10.0.0.1")
	a.ack(7, 1)
	a.delta(7, 2, []*agentv1.Claim{pod("10.0.0.2", "p2-relabelled")})
	a.ack(7, 2)
	if got := e.sink.IPs("node-a"); !slices.Equal(got, ips("10.0.0.2", "10.0.0.3", "10.0.0.4")) {
		t.Fatalf("after deltas: %v", got)
	}
	m, _ := e.sink.Claims("node-a")
	if m[netip.MustParseAddr("10.0.0.2")].Identity.Name != "p2-relabelled" {
		t.Fatalf("upsert not applied: %+v", m[netip.MustParseAddr("10.0.0.2")])
	}
	// A new snapshot in the same stream replaces the set atomically.
	a.snapshot(8, true, pod("10.0.0.9", "p9"))
	a.ack(8, 0)
	if got := e.sink.IPs("node-a"); !slices.Equal(got, ips("10.0.0.9")) {
		t.Fatalf("after second snapshot: %v", got)
	}
	if _, ok := e.sink.Claims("node-b"); ok {
		t.Fatal("node-b got claims")
	}
}

func TestSnapshotNotAppliedBeforeFinal(t *testing.T) {
	e := startServer(t, nil)
	a := e.open(t, "tok-a")
	a.snapshot(1, true, pod("10.0.0.1", "p1"))
	a.ack(1, 0)
	a.snapshot(2, false, pod("10.0.0.2", "p2"))
	// Delta after a partial snapshot is a protocol error; the partial chunk
	// must not have been applied.
	a.delta(2, 1, nil, "10.0.0.1")
	if code, _ := a.end(); code != codes.FailedPrecondition {
		t.Fatalf("code = %v, want FailedPrecondition", code)
	}
	if got := e.sink.IPs("node-a"); !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("partial snapshot leaked into sink: %v", got)
	}
}

func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(a *agentConn)
		want codes.Code
	}{
		{"delta before snapshot", func(a *agentConn) { a.delta(1, 1, nil, "10.0.0.1") }, codes.FailedPrecondition},
		{"sequence gap", func(a *agentConn) {
			a.snapshot(1, true)
			a.ack(1, 0)
			a.delta(1, 2, nil, "10.0.0.1")
		}, codes.FailedPrecondition},
		{"wrong epoch", func(a *agentConn) {
			a.snapshot(3, true)
			a.ack(3, 0)
			a.delta(2, 1, nil, "10.0.0.1")
		}, codes.FailedPrecondition},
		{"epoch going back", func(a *agentConn) {
			a.snapshot(3, true)
			a.ack(3, 0)
			a.snapshot(2, true)
		}, codes.FailedPrecondition},
		{"empty message", func(a *agentConn) {
			if err := a.stream.Send(&agentv1.AgentMessage{}); err != nil {
				a.t.Fatal(err)
			}
		}, codes.InvalidArgument},
		{"snapshot for another node", func(a *agentConn) {
			if err := a.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Snapshot{Snapshot: &agentv1.Snapshot{Epoch: 1, Final: true, Node: "node-b"}}}); err != nil {
				a.t.Fatal(err)
			}
		}, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startServer(t, nil)
			a := e.open(t, "tok-a")
			tt.run(a)
			if code, msg := a.end(); code != tt.want {
				t.Fatalf("code = %v (%s), want %v", code, msg, tt.want)
			}
		})
	}
}

func TestAuthRefused(t *testing.T) {
	tests := []struct {
		name, token string
		want        codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"unknown token", "tok-x", codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startServer(t, nil)
			a := e.open(t, tt.token)
			code, msg := a.end()
			if code != tt.want {
				t.Fatalf("code = %v (%s), want %v", code, msg, tt.want)
			}
			if tt.token != "" && strings.Contains(msg, tt.token) {
				t.Fatalf("token leaked into message %q", msg)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	var ready atomic.Bool
	e := startServer(t, func(c *stream.Config) {
		c.Ready = ready.Load
		c.ReadyCheckInterval = 20 * time.Millisecond
	})
	if code, _ := e.open(t, "tok-a").end(); code != codes.Unavailable {
		t.Fatalf("not ready: code = %v, want Unavailable", code)
	}
	ready.Store(true)
	a := e.open(t, "tok-a")
	a.snapshot(1, true, pod("10.0.0.1", "p1"))
	a.ack(1, 0)
	ready.Store(false) // lost leadership: open streams are closed
	if code, _ := a.end(); code != codes.Unavailable {
		t.Fatalf("lost leadership: code = %v, want Unavailable", code)
	}
}

func TestNewStreamReplacesOld(t *testing.T) {
	e := startServer(t, nil)
	old := e.open(t, "tok-a")
	old.snapshot(1, true, pod("10.0.0.1", "p1"))
	old.ack(1, 0)
	nw := e.open(t, "tok-a")
	nw.snapshot(1, true, pod("10.0.0.2", "p2"))
	nw.ack(1, 0)
	if code, _ := old.end(); code != codes.Aborted {
		t.Fatalf("old stream code = %v, want Aborted", code)
	}
	if got := e.sink.IPs("node-a"); !slices.Equal(got, ips("10.0.0.2")) {
		t.Fatalf("sink = %v", got)
	}
	if n := e.srv.ActiveNodes(); n != 1 {
		t.Fatalf("ActiveNodes = %d, want 1", n)
	}
}

func TestGracePeriod(t *testing.T) {
	t.Run("expires", func(t *testing.T) {
		e := startServer(t, func(c *stream.Config) { c.GracePeriod = 200 * time.Millisecond })
		a := e.open(t, "tok-a")
		a.snapshot(1, true, pod("10.0.0.1", "p1"))
		a.ack(1, 0)
		a.cancel()
		streamtest.Eventually(t, wait, "NodeGone", func() bool { return e.sink.Gone("node-a") == 1 })
		if _, ok := e.sink.Claims("node-a"); ok {
			t.Fatal("claims left after NodeGone")
		}
	})
	t.Run("reconnect within grace keeps state", func(t *testing.T) {
		e := startServer(t, func(c *stream.Config) { c.GracePeriod = time.Hour })
		a := e.open(t, "tok-a")
		a.snapshot(1, true, pod("10.0.0.1", "p1"))
		a.ack(1, 0)
		a.cancel()
		streamtest.Eventually(t, wait, "stream gone", func() bool { return e.srv.ActiveNodes() == 0 })
		if got := e.sink.IPs("node-a"); !slices.Equal(got, ips("10.0.0.1")) {
			t.Fatalf("state dropped during grace: %v", got)
		}
		b := e.open(t, "tok-a")
		b.snapshot(1, true, pod("10.0.0.1", "p1"), pod("10.0.0.2", "p2"))
		b.ack(1, 0)
		if e.sink.Gone("node-a") != 0 {
			t.Fatal("NodeGone called")
		}
	})
	t.Run("reconnect cancels timer", func(t *testing.T) {
		e := startServer(t, func(c *stream.Config) { c.GracePeriod = 300 * time.Millisecond })
		a := e.open(t, "tok-a")
		a.snapshot(1, true, pod("10.0.0.1", "p1"))
		a.ack(1, 0)
		a.cancel()
		streamtest.Eventually(t, wait, "stream gone", func() bool { return e.srv.ActiveNodes() == 0 })
		b := e.open(t, "tok-a")
		b.snapshot(1, true, pod("10.0.0.1", "p1"))
		b.ack(1, 0)
		// Outlive the old timer by far; the active stream keeps the node.
		other := e.open(t, "tok-b")
		other.snapshot(1, true)
		other.cancel()
		streamtest.Eventually(t, wait, "node-b gone", func() bool { return e.sink.Gone("node-b") == 1 })
		time.Sleep(400 * time.Millisecond) // past node-a's cancelled timer
		if e.sink.Gone("node-a") != 0 {
			t.Fatal("NodeGone called for a reconnected node")
		}
	})
}

type checker struct {
	deny      map[netip.Addr]string
	transient atomic.Bool
}

func (c *checker) CheckClaim(_ context.Context, node string, ip netip.Addr, _ tags.Identity) error {
	if c.transient.Load() {
		return status.Error(codes.Unavailable, "apiserver down")
	}
	if r, ok := c.deny[ip]; ok {
		return errors.New(r)
	}
	return nil
}

func TestRejections(t *testing.T) {
	ck := &checker{deny: map[netip.Addr]string{netip.MustParseAddr("10.9.9.9"): "outside node"}}
	var hooked atomic.Int64
	e := startServer(t, func(c *stream.Config) {
		c.ClaimChecker = ck
		c.OnReject = func(string, netip.Addr, string) { hooked.Add(1) }
	})
	svc := agentv1.ClaimToProto(netip.MustParseAddr("10.0.0.5"), tags.Identity{Kind: tags.KindService, Namespace: "ns", Name: "s"}, time.Time{}, noSpan)
	bad := &agentv1.Claim{Ip: []byte{1, 2, 3}, Identity: &agentv1.Identity{Kind: "Pod"}}
	a := e.open(t, "tok-a")
	a.snapshot(1, true, pod("10.0.0.1", "p1"), pod("10.9.9.9", "evil"), svc, bad)
	ack := a.ack(1, 0)
	if len(ack.GetRejections()) != 3 {
		t.Fatalf("rejections = %v, want 3", ack.GetRejections())
	}
	for _, r := range ack.GetRejections() {
		if r.GetReason() == "" {
			t.Fatalf("rejection without reason: %v", r)
		}
	}
	if got := e.sink.IPs("node-a"); !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("sink = %v", got)
	}
	// A rejected upsert withdraws the node's earlier claim on that IP.
	ck.deny[netip.MustParseAddr("10.0.0.1")] = "pod not on node"
	a.delta(1, 1, []*agentv1.Claim{pod("10.0.0.1", "other")})
	if ack := a.ack(1, 1); len(ack.GetRejections()) != 1 || ack.GetRejections()[0].GetReason() != "pod not on node" {
		t.Fatalf("delta rejections = %v", ack.GetRejections())
	}
	if got := e.sink.IPs("node-a"); len(got) != 0 {
		t.Fatalf("sink kept rejected IP: %v", got)
	}
	if e.srv.Rejections() != 4 || hooked.Load() != 4 {
		t.Fatalf("Rejections = %d, hook = %d, want 4", e.srv.Rejections(), hooked.Load())
	}
}

func TestTransientCheckErrorEndsStream(t *testing.T) {
	ck := &checker{}
	ck.transient.Store(true)
	e := startServer(t, func(c *stream.Config) { c.ClaimChecker = ck })
	a := e.open(t, "tok-a")
	a.snapshot(1, true, pod("10.0.0.1", "p1"))
	if code, _ := a.end(); code != codes.Unavailable {
		t.Fatalf("code = %v, want Unavailable", code)
	}
	if _, ok := e.sink.Claims("node-a"); ok {
		t.Fatal("snapshot applied despite failed check")
	}
	if e.srv.Rejections() != 0 {
		t.Fatal("transient failure counted as rejection")
	}
}

func TestSnapshotLimit(t *testing.T) {
	e := startServer(t, func(c *stream.Config) { c.MaxClaimsPerSnapshot = 3 })
	a := e.open(t, "tok-a")
	var cs []*agentv1.Claim
	for i := range 4 {
		cs = append(cs, pod(fmt.Sprintf("10.0.0.%d", i+1), "p"))
	}
	a.snapshot(1, false, cs[:2]...)
	a.snapshot(1, true, cs[2:]...)
	if code, _ := a.end(); code != codes.ResourceExhausted {
		t.Fatalf("code = %v, want ResourceExhausted", code)
	}
}

func TestNewServerValidates(t *testing.T) {
	sink := streamtest.NewSink()
	auth := streamtest.StaticAuth{}
	for _, cfg := range []stream.Config{
		{Authenticator: auth},
		{Sink: sink},
		{Sink: sink, Authenticator: auth, GracePeriod: -time.Second},
	} {
		if _, err := stream.NewServer(cfg); err == nil {
			t.Errorf("NewServer(%+v) accepted", cfg)
		}
	}
}

// blockingSink holds NodeGone until release closes.
type blockingSink struct {
	*streamtest.Sink
	entered chan struct{}
	release chan struct{}
}

func (s *blockingSink) NodeGone(node string) {
	close(s.entered)
	<-s.release
	s.Sink.NodeGone(node)
}

// TestCloseWaitsForRunningExpiry: a grace timer that fired before Close
// (or Serve's end) finishes before Close returns, so no NodeGone reaches
// the sink after the server is closed.
func TestCloseWaitsForRunningExpiry(t *testing.T) {
	sink := &blockingSink{Sink: streamtest.NewSink(), entered: make(chan struct{}), release: make(chan struct{})}
	e := startServer(t, func(c *stream.Config) { c.Sink, c.GracePeriod = sink, 10*time.Millisecond })
	a := e.open(t, "tok-a")
	a.snapshot(1, true, pod("10.0.0.1", "p1"))
	a.ack(1, 0)
	a.cancel()
	select {
	case <-sink.entered:
	case <-time.After(wait):
		t.Fatal("grace period did not expire")
	}
	closed := make(chan struct{})
	go func() { e.srv.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while an expiry's NodeGone was still running")
	case <-time.After(100 * time.Millisecond): // absence: no event to wait for
	}
	close(sink.release)
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("Close did not return after NodeGone finished")
	}
	if sink.Gone("node-a") != 1 {
		t.Fatalf("NodeGone calls = %d, want 1", sink.Gone("node-a"))
	}
}
