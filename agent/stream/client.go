package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/kubedag/kubedag/agent/nodestate"
	agentv1 "github.com/kubedag/kubedag/api/agent/v1"
)

// Config configures a Client.
type Config struct {
	// Addr is the aggregator's agent-stream address: host:port, or
	// dns://server:port/host:port to resolve host at that DNS server
	// (gRPC's target syntax). Every address host resolves to is one
	// aggregator replica, which gets its own stream (a headless Service
	// lists every replica). Required.
	Addr string
	// ResolveInterval is how often Addr is resolved again, to add streams
	// to new replicas and drop those of replicas that left. A stream that
	// ends also triggers a resolve. Default 5s.
	ResolveInterval time.Duration
	// Resolve, if set, replaces resolving Addr (tests): it returns the
	// replicas' host:port addresses.
	Resolve func(ctx context.Context) ([]string, error)
	// Node is this agent's node name, sent in snapshots so a mismatch with
	// the token is reported clearly. Optional.
	Node string
	// State is the node's desired state. Required.
	State *nodestate.State
	// TLS is the client TLS configuration (RootCAs, ServerName). Required;
	// see TLSConfig.
	TLS *tls.Config
	// TokenFile holds the bearer token (a projected ServiceAccount token
	// with audience kubedag). It is re-read on every connect. Required.
	TokenFile string
	// AckTimeout is how long the oldest unacked message may wait for its
	// ack before the stream is torn down. Default 15s.
	AckTimeout time.Duration
	// MaxInFlight bounds the deltas awaiting an ack. Default 8.
	MaxInFlight int
	// ChunkSize is the number of claims per message. Default 500.
	ChunkSize int
	// BackoffMin and BackoffMax bound the reconnect backoff (exponential,
	// full jitter). Defaults 250ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// DialOptions are added to the gRPC dial options (tests use them for a
	// custom dialer).
	DialOptions []grpc.DialOption
	// OnRejected, if set, is called for every claim the aggregator refused.
	OnRejected func(ip netip.Addr, reason string)
	// Logger, default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Addr == "":
		return errors.New("agent stream: Config.Addr is required")
	case c.Resolve == nil && !validTarget(c.Addr):
		_, err := ParseTarget(c.Addr)
		return fmt.Errorf("agent stream: Config.Addr: %w", err)
	case c.State == nil:
		return errors.New("agent stream: Config.State is required")
	case c.TLS == nil:
		return errors.New("agent stream: Config.TLS is required")
	case c.TokenFile == "":
		return errors.New("agent stream: Config.TokenFile is required")
	}
	if c.ResolveInterval <= 0 {
		c.ResolveInterval = 5 * time.Second
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 15 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 8
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 500
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 250 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(30*time.Second, c.BackoffMin)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// TLSConfig returns a client TLS config trusting the PEM CA bundle in caFile
// (the system pool if caFile is empty) and verifying serverName (the host of
// the address if empty).
func TLSConfig(caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Client mirrors a nodestate.State to every aggregator replica, one
// stream each.
type Client struct {
	cfg       Config
	log       *slog.Logger
	connected atomic.Int64 // replicas whose current snapshot was acked
	known     atomic.Int64 // replicas with a stream (connected or trying)
	rejected  atomic.Uint64
	sessions  atomic.Uint64
}

// New returns a client; it starts nothing.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, log: cfg.Logger}, nil
}

// Connected reports whether at least one replica's stream has its snapshot
// acked.
func (c *Client) Connected() bool { return c.connected.Load() > 0 }

// Replicas returns the number of replicas whose current snapshot was acked
// (connected) and the number this client keeps a stream to (known).
func (c *Client) Replicas() (connected, known int) {
	return int(c.connected.Load()), int(c.known.Load())
}

// Rejections returns the number of claims refused so far (each replica
// checks claims itself, so one refused claim counts once per replica).
func (c *Client) Rejections() uint64 { return c.rejected.Load() }

// Sessions returns the number of streams opened so far, over all replicas.
func (c *Client) Sessions() uint64 { return c.sessions.Load() }

// Run keeps one stream per replica that Addr resolves to until ctx ends,
// adding and dropping streams as replicas come and go. A failed resolve
// keeps the current streams (a DNS hiccup must not drop them); a name that
// does not exist (no Ready replica) drops them all. It returns nil once ctx
// ends and all its goroutines are done.
func (c *Client) Run(ctx context.Context) error {
	resolve := c.cfg.Resolve
	if resolve == nil {
		t, _ := ParseTarget(c.cfg.Addr) // validated in New
		resolve = t.Resolve
	}
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	streams := map[string]running{}
	kick := make(chan struct{}, 1)
	defer func() {
		for _, r := range streams {
			r.cancel()
		}
		for _, r := range streams {
			<-r.done
		}
	}()
	t := time.NewTicker(c.cfg.ResolveInterval)
	defer t.Stop()
	for {
		addrs, err := resolve(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("resolve aggregator replicas", "addr", c.cfg.Addr, "err", err)
		}
		if err == nil {
			want := map[string]bool{}
			for _, a := range addrs {
				want[a] = true
			}
			for a, r := range streams {
				if !want[a] {
					c.log.Info("aggregator replica left: closing its stream", "replica", a)
					r.cancel()
					<-r.done
					delete(streams, a)
				}
			}
			for a := range want {
				if _, ok := streams[a]; ok {
					continue
				}
				c.log.Info("aggregator replica found: opening a stream", "replica", a)
				rctx, cancel := context.WithCancel(ctx)
				r := running{cancel: cancel, done: make(chan struct{})}
				streams[a] = r
				rep := &replica{c: c, addr: a, kick: kick}
				go func() {
					defer close(r.done)
					rep.run(rctx)
				}()
			}
			c.known.Store(int64(len(streams)))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-kick:
		}
	}
}

// replica keeps the stream to one aggregator replica, reading the State
// through its own Reader.
type replica struct {
	c      *Client
	addr   string
	kick   chan<- struct{} // asks Run to resolve again
	reader *nodestate.Reader
	epoch  uint64 // only touched by run's goroutine
	conn   bool   // counted in c.connected
}

// run keeps a stream to the replica until ctx ends, reconnecting as
// needed.
func (r *replica) run(ctx context.Context) {
	c := r.c
	r.reader = c.cfg.State.NewReader()
	defer r.reader.Close()
	defer r.setConnected(false)
	backoff := c.cfg.BackoffMin
	for {
		synced, err := r.session(ctx)
		r.setConnected(false)
		if ctx.Err() != nil {
			return
		}
		if synced {
			backoff = c.cfg.BackoffMin
		}
		// The replica may have left: let Run resolve again.
		select {
		case r.kick <- struct{}{}:
		default:
		}
		delay := c.cfg.BackoffMin/2 + rand.N(backoff) // jitter in [min/2, backoff+min/2)
		c.log.Warn("aggregator stream ended, reconnecting", "replica", r.addr, "err", err, "in", delay)
		backoff = min(2*backoff, c.cfg.BackoffMax)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (r *replica) setConnected(up bool) {
	if up == r.conn {
		return
	}
	r.conn = up
	if up {
		r.c.connected.Add(1)
	} else {
		r.c.connected.Add(-1)
	}
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

func (c *Client) readToken() (bearer, error) {
	b, err := os.ReadFile(c.cfg.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", c.cfg.TokenFile)
	}
	return bearer(tok), nil
}

var errAckTimeout = errors.New("ack timeout")

type inflight struct {
	seq    uint64
	sentAt time.Time
}

// session is one stream: its goroutines (receiver, watchdog) and the
// window of unacked messages. Its fields are owned by the loop (run),
// except oldest, which the watchdog reads.
type session struct {
	c       *Client
	r       *replica
	stream  agentv1.AgentStream_SyncClient
	ctx     context.Context
	cancel  context.CancelCauseFunc
	acks    chan *agentv1.Ack
	recvErr chan error
	oldest  atomic.Int64 // UnixNano of the oldest unacked send, 0 if none
	epoch   uint64
	window  []inflight
	seq     uint64
	synced  bool // the snapshot was acked
	snapLen int
}

// session runs one stream. synced reports whether its snapshot was acked.
func (r *replica) session(ctx context.Context) (synced bool, err error) {
	c := r.c
	token, err := c.readToken()
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(c.cfg.TLS.Clone())),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	}, c.cfg.DialOptions...)
	// passthrough: r.addr is already resolved, and the name to verify is
	// in the TLS config.
	target := r.addr
	if !strings.Contains(target, "://") {
		target = "passthrough:///" + target
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", r.addr, err)
	}
	defer conn.Close()
	stream, err := agentv1.NewAgentStreamClient(conn).Sync(sctx, grpc.PerRPCCredentials(token))
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	c.sessions.Add(1)
	r.epoch++
	s := &session{c: c, r: r, stream: stream, ctx: sctx, cancel: cancel, epoch: r.epoch,
		acks: make(chan *agentv1.Ack), recvErr: make(chan error, 1)}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil) // runs before wg.Wait
	wg.Go(s.receive)
	wg.Go(s.watchdog)
	err = s.run()
	return s.synced, err
}

// receive hands acks to the loop until the stream ends.
func (s *session) receive() {
	for {
		m, err := s.stream.Recv()
		if err != nil {
			s.recvErr <- err
			return
		}
		ack := m.GetAck()
		if ack == nil {
			continue // unknown message from a newer server
		}
		select {
		case s.acks <- ack:
		case <-s.ctx.Done():
			return
		}
	}
}

// watchdog tears the stream down when the oldest unacked message is older
// than AckTimeout, even if a Send is blocked on flow control.
func (s *session) watchdog() {
	timeout := s.c.cfg.AckTimeout
	t := time.NewTicker(max(timeout/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			if o := s.oldest.Load(); o != 0 && now.Sub(time.Unix(0, o)) > timeout {
				s.cancel(errAckTimeout)
				return
			}
		}
	}
}

// run sends the snapshot, then deltas as the state changes, and takes
// acks, until the stream fails.
func (s *session) run() error {
	if err := s.sendSnapshot(); err != nil {
		return err
	}
	for {
		var changed <-chan struct{}
		if len(s.window) <= s.c.cfg.MaxInFlight { // the snapshot counts as one
			changed = s.r.reader.Changed()
		}
		select {
		case <-s.ctx.Done():
			return s.fail(s.ctx.Err())
		case err := <-s.recvErr:
			return s.fail(fmt.Errorf("receive: %w", err))
		case ack := <-s.acks:
			if err := s.acked(ack); err != nil {
				return err
			}
		case <-changed:
			if err := s.sendDeltas(); err != nil {
				return err
			}
		}
	}
}

func (s *session) track(seq uint64) {
	now := time.Now()
	if len(s.window) == 0 {
		s.oldest.Store(now.UnixNano())
	}
	s.window = append(s.window, inflight{seq: seq, sentAt: now})
}

// fail prefers the stream's cancel cause (the watchdog's) to err.
func (s *session) fail(err error) error {
	if cause := context.Cause(s.ctx); cause != nil && s.ctx.Err() != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// sendFail explains a failed Send: io.EOF means the server ended the
// stream, and its status comes from Recv.
func (s *session) sendFail(what string, err error) error {
	if errors.Is(err, io.EOF) {
		select {
		case rerr := <-s.recvErr:
			err = rerr
		case <-s.ctx.Done():
		}
	}
	return s.fail(fmt.Errorf("send %s: %w", what, err))
}

// sendSnapshot sends the state in chunks; the last (possibly empty) is
// final.
func (s *session) sendSnapshot() error {
	cfg := &s.c.cfg
	snap := s.r.reader.Snapshot()
	s.track(0)
	for i := 0; ; i += cfg.ChunkSize {
		end := min(i+cfg.ChunkSize, len(snap))
		msg := &agentv1.Snapshot{Epoch: s.epoch, Node: cfg.Node, Final: end == len(snap)}
		for _, cl := range snap[i:end] {
			msg.Claims = append(msg.Claims, agentv1.ClaimToProto(cl.IP, cl.Identity, cl.FirstSeen, cl.Span))
		}
		if err := s.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Snapshot{Snapshot: msg}}); err != nil {
			return s.sendFail("snapshot", err)
		}
		if msg.Final {
			break
		}
	}
	s.snapLen = len(snap)
	s.c.log.Debug("snapshot sent", "replica", s.r.addr, "epoch", s.epoch, "claims", s.snapLen)
	return nil
}

// acked takes the ack of the oldest unacked message.
func (s *session) acked(ack *agentv1.Ack) error {
	if len(s.window) == 0 || ack.GetEpoch() != s.epoch || ack.GetSeq() != s.window[0].seq {
		want := "none"
		if len(s.window) > 0 {
			want = fmt.Sprintf("epoch %d seq %d", s.epoch, s.window[0].seq)
		}
		return s.fail(fmt.Errorf("unexpected ack epoch %d seq %d (want %s)", ack.GetEpoch(), ack.GetSeq(), want))
	}
	s.window = s.window[1:]
	if len(s.window) == 0 {
		s.oldest.Store(0)
		s.window = nil // drop the backing array's history
	} else {
		s.oldest.Store(s.window[0].sentAt.UnixNano())
	}
	if ack.GetSeq() == 0 {
		s.synced = true
		s.r.setConnected(true)
		s.c.log.Info("connected to aggregator", "replica", s.r.addr, "epoch", s.epoch, "claims", s.snapLen)
	}
	s.c.rejections(ack)
	return nil
}

// sendDeltas sends the state's dirty claims, ChunkSize per message.
func (s *session) sendDeltas() error {
	chunk := s.c.cfg.ChunkSize
	up, del := s.r.reader.TakeDirty()
	for len(up) > 0 || len(del) > 0 {
		s.seq++
		d := &agentv1.Delta{Epoch: s.epoch, Seq: s.seq}
		n := min(len(up), chunk)
		for _, cl := range up[:n] {
			d.Upserts = append(d.Upserts, agentv1.ClaimToProto(cl.IP, cl.Identity, cl.FirstSeen, cl.Span))
		}
		up = up[n:]
		m := min(len(del), chunk-n)
		for _, ip := range del[:m] {
			d.Deletes = append(d.Deletes, agentv1.AddrBytes(ip))
		}
		del = del[m:]
		s.track(s.seq)
		if err := s.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Delta{Delta: d}}); err != nil {
			return s.sendFail("delta", err)
		}
	}
	return nil
}

func (c *Client) rejections(ack *agentv1.Ack) {
	for _, r := range ack.GetRejections() {
		c.rejected.Add(1)
		ip, _ := agentv1.ParseAddr(r.GetIp())
		c.log.Warn("aggregator rejected claim", "ip", ip, "reason", r.GetReason())
		if c.cfg.OnRejected != nil {
			c.cfg.OnRejected(ip, r.GetReason())
		}
	}
}
