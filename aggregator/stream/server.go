package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	agentv1 "github.com/kubedag/kubedag/api/agent/v1"
	"github.com/kubedag/kubedag/tags"
)

// Claim is one node's claim on one IP, as received from its agent.
type Claim struct {
	IP       netip.Addr
	Identity tags.Identity
	// FirstSeen is when the agent first saw the change (zero if unknown).
	FirstSeen time.Time
	// Span is the agent's tag-latency span (remote; invalid if none).
	Span trace.SpanContext
}

// Sink receives the claims of every node. Calls for one node are never
// concurrent and arrive in the order they must be applied; calls for
// different nodes may be concurrent. Calls should return quickly: a node's
// stream waits for them.
type Sink interface {
	// ReplaceNode atomically replaces the whole set of node's claims.
	ReplaceNode(node string, claims []Claim)
	// Upsert sets node's claim on c.IP.
	Upsert(node string, c Claim)
	// Delete withdraws node's claim on ip (a no-op if there is none).
	Delete(node string, ip netip.Addr)
	// NodeGone tells that node's agent has been gone for longer than the
	// grace period: its claims are no longer kept current by the agent.
	// (The aggregator's claim gate then keeps only the claims the API
	// server still confirms; see aggregator/verify.)
	NodeGone(node string)
}

// Authenticator maps a bearer token to the node it is bound to. An error that
// carries a gRPC status (status.FromError) is returned to the agent as is
// (Unauthenticated, PermissionDenied, Unavailable, ...); any other error
// becomes Unauthenticated. Messages must never contain the token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (node string, err error)
}

// ClaimChecker decides whether node may claim ip for id. A non-nil error
// rejects the claim; its message is sent back to the agent as the reason.
// An error with gRPC status UNAVAILABLE means the check could not be made
// (e.g. the API server is unreachable): the message is not applied and the
// stream ends with that status, so the agent reconnects (after backoff) and
// resends its snapshot.
type ClaimChecker interface {
	CheckClaim(ctx context.Context, node string, ip netip.Addr, id tags.Identity) error
}

// DefaultGracePeriod is how long a disconnected node's claims are kept by
// default: long enough for an agent restart or an aggregator failover.
const DefaultGracePeriod = 60 * time.Second

// Config configures a Server.
type Config struct {
	// Sink receives the claims. Required.
	Sink Sink
	// Authenticator authenticates agents. Required.
	Authenticator Authenticator
	// ClaimChecker checks each claim; nil accepts every Pod claim.
	ClaimChecker ClaimChecker
	// Ready reports whether this server may accept streams (it leads).
	// nil means always ready. Checked on every new stream and every
	// ReadyCheckInterval on open streams, which are closed with UNAVAILABLE
	// when it turns false.
	Ready func() bool
	// ReadyCheckInterval, default 1s.
	ReadyCheckInterval time.Duration
	// GracePeriod is how long a disconnected node's claims are kept before
	// NodeGone. Default DefaultGracePeriod; must not be negative.
	GracePeriod time.Duration
	// MaxClaimsPerSnapshot bounds the claims of one snapshot (memory held
	// while its chunks arrive). Default 65536.
	MaxClaimsPerSnapshot int
	// OnReject, if set, is called for every rejected claim (metrics hook).
	OnReject func(node string, ip netip.Addr, reason string)
	// Logger, default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Sink == nil {
		return errors.New("stream: Config.Sink is required")
	}
	if c.Authenticator == nil {
		return errors.New("stream: Config.Authenticator is required")
	}
	if c.GracePeriod < 0 {
		return fmt.Errorf("stream: Config.GracePeriod %v is negative", c.GracePeriod)
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.ReadyCheckInterval <= 0 {
		c.ReadyCheckInterval = time.Second
	}
	if c.MaxClaimsPerSnapshot <= 0 {
		c.MaxClaimsPerSnapshot = 65536
	}
	if c.Ready == nil {
		c.Ready = func() bool { return true }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server implements the AgentStream gRPC service.
type Server struct {
	agentv1.UnimplementedAgentStreamServer

	cfg      Config
	log      *slog.Logger
	rejected atomic.Uint64

	mu     sync.Mutex
	nodes  map[string]*nodeEntry
	closed bool
	// graces counts armed grace timers and running expiries, so Close can
	// wait for one that already fired.
	graces sync.WaitGroup
}

// holder is whoever currently owns a node's slot: a stream, or the NodeGone
// call of an expired grace period.
type holder struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
	stream bool      // false for the NodeGone call of an expired grace period
	since  time.Time // when the stream became the node's active one
}

type nodeEntry struct {
	active *holder
	timer  *time.Timer // grace timer while no stream is active
	grace  *grace      // identifies the grace period timer belongs to
}

type grace struct{ _ byte }

var errReplaced = errors.New("replaced by a newer stream from the same node")

// NewServer returns a server; it starts nothing.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger, nodes: make(map[string]*nodeEntry)}, nil
}

// Register registers the service on r.
func (s *Server) Register(r grpc.ServiceRegistrar) { agentv1.RegisterAgentStreamServer(r, s) }

// Rejections returns the number of claims rejected so far.
func (s *Server) Rejections() uint64 { return s.rejected.Load() }

// ActiveNodes returns the number of nodes with an open stream.
func (s *Server) ActiveNodes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.nodes {
		if e.active != nil && e.active.stream {
			n++
		}
	}
	return n
}

// StreamingSince reports whether node has an open stream and since when
// it has been the node's active one: claims the sink got from a snapshot
// at or after that instant are the node's current claims, kept current by
// the stream's deltas.
func (s *Server) StreamingSince(node string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.nodes[node]; e != nil && e.active != nil && e.active.stream {
		return e.active.since, true
	}
	return time.Time{}, false
}

// Serve serves the service over TLS on lis until ctx ends, then stops the
// gRPC server (waiting for the stream handlers) and Closes s. tlsCfg is
// required. opts are added to the gRPC server's options.
func (s *Server) Serve(ctx context.Context, lis net.Listener, tlsCfg *tls.Config, opts ...grpc.ServerOption) error {
	if tlsCfg == nil {
		return errors.New("stream: Serve needs a TLS config")
	}
	opts = append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.WaitForHandlers(true),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}, opts...)
	g := grpc.NewServer(opts...)
	s.Register(g)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case err := <-errc:
		g.Stop()
		s.Close()
		return fmt.Errorf("stream: serve: %w", err)
	case <-ctx.Done():
		g.Stop()
		<-errc
		s.Close()
		return nil
	}
}

// Close stops all pending grace timers and waits for an expiry already
// running: no NodeGone is called after it returns. Streams still open are
// not affected; when they end no grace timer starts.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, e := range s.nodes {
		s.stopGrace(e)
	}
	s.mu.Unlock()
	s.graces.Wait()
}

// stopGrace disarms e's grace timer; s.mu must be held. A timer that
// already fired is left to its expire, which checks e.grace.
func (s *Server) stopGrace(e *nodeEntry) {
	if e.timer == nil {
		return
	}
	if e.timer.Stop() {
		s.graces.Done()
	}
	e.timer, e.grace = nil, nil
}

// acquire makes h the active holder of node's slot, ending the current
// holder first and waiting until it is done.
func (s *Server) acquire(ctx context.Context, node string, h *holder) error {
	for {
		s.mu.Lock()
		e := s.nodes[node]
		if e == nil {
			e = &nodeEntry{}
			s.nodes[node] = e
		}
		if e.active == nil {
			s.stopGrace(e)
			h.since = time.Now()
			e.active = h
			s.mu.Unlock()
			return nil
		}
		old := e.active
		s.mu.Unlock()
		old.cancel(errReplaced)
		select {
		case <-old.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives up h's slot and starts the node's grace timer.
func (s *Server) release(node string, h *holder) {
	s.mu.Lock()
	if e := s.nodes[node]; e != nil && e.active == h {
		e.active = nil
		if s.closed {
			delete(s.nodes, node)
		} else {
			g := new(grace)
			e.grace = g
			s.graces.Add(1)
			e.timer = time.AfterFunc(s.cfg.GracePeriod, func() { s.expire(node, e, g) })
		}
	}
	s.mu.Unlock()
	close(h.done)
}

func (s *Server) expire(node string, e *nodeEntry, g *grace) {
	defer s.graces.Done()
	s.mu.Lock()
	if s.closed || s.nodes[node] != e || e.grace != g || e.active != nil {
		s.mu.Unlock()
		return
	}
	e.timer, e.grace = nil, nil
	h := &holder{cancel: func(error) {}, done: make(chan struct{})}
	e.active = h
	s.mu.Unlock()

	s.log.Info("agent stream grace period expired: the node's claims are no longer the agent's", "node", node)
	s.cfg.Sink.NodeGone(node)

	s.mu.Lock()
	if s.nodes[node] == e {
		delete(s.nodes, node)
	}
	s.mu.Unlock()
	close(h.done)
}

func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "missing authorization metadata (want \"Bearer <token>\")")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return "", status.Error(codes.Unauthenticated, "authorization metadata is not of the form \"Bearer <token>\"")
	}
	return strings.TrimSpace(tok), nil
}

func authError(err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unauthenticated, "authentication failed: %v", err)
}

// Sync implements agentv1.AgentStreamServer.
func (s *Server) Sync(stream agentv1.AgentStream_SyncServer) error {
	ctx := stream.Context()
	if !s.cfg.Ready() {
		return status.Error(codes.Unavailable, "this aggregator is not the leader; reconnect to another replica")
	}
	token, err := bearerToken(ctx)
	if err != nil {
		return err
	}
	node, err := s.cfg.Authenticator.Authenticate(ctx, token)
	if err != nil {
		s.log.Warn("agent stream refused", "err", authError(err))
		return authError(err)
	}
	if node == "" {
		return status.Error(codes.PermissionDenied, "credential is not bound to a node")
	}

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	h := &holder{cancel: cancel, done: make(chan struct{}), stream: true}
	if err := s.acquire(sctx, node, h); err != nil {
		return status.FromContextError(err).Err()
	}
	defer s.release(node, h)
	log := s.log.With("node", node)
	log.Info("agent stream connected")

	// Recv blocks until a message arrives or the stream's context ends, so
	// it runs apart from the loop, which must also watch replacement and
	// readiness. It ends at the latest when this handler returns (gRPC then
	// cancels the stream).
	msgs := make(chan *agentv1.AgentMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-sctx.Done():
				return
			}
		}
	}()

	sess := &session{s: s, node: node, stream: stream, log: log}
	tick := time.NewTicker(s.cfg.ReadyCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-sctx.Done():
			if errors.Is(context.Cause(sctx), errReplaced) {
				log.Info("agent stream replaced by a newer one")
				return status.Error(codes.Aborted, errReplaced.Error())
			}
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				log.Info("agent stream closed by agent")
				return nil
			}
			log.Info("agent stream ended", "err", err)
			return err
		case <-tick.C:
			if !s.cfg.Ready() {
				log.Info("closing agent stream: no longer the leader")
				return status.Error(codes.Unavailable, "this aggregator is no longer the leader; reconnect")
			}
		case m := <-msgs:
			if err := sess.handle(sctx, m); err != nil {
				log.Warn("agent stream protocol error", "err", err)
				return err
			}
		}
	}
}

// session is the protocol state of one stream.
type session struct {
	s      *Server
	node   string
	stream agentv1.AgentStream_SyncServer
	log    *slog.Logger

	epoch     uint64 // epoch of the last snapshot begun
	receiving bool   // snapshot chunks of epoch are arriving
	chunks    []*agentv1.Claim
	synced    bool   // a snapshot has been applied
	seq       uint64 // last applied delta of epoch
}

func (ss *session) handle(ctx context.Context, m *agentv1.AgentMessage) error {
	switch msg := m.GetMsg().(type) {
	case *agentv1.AgentMessage_Snapshot:
		return ss.snapshot(ctx, msg.Snapshot)
	case *agentv1.AgentMessage_Delta:
		return ss.delta(ctx, msg.Delta)
	default:
		return status.Error(codes.InvalidArgument, "empty or unknown agent message")
	}
}

func (ss *session) snapshot(ctx context.Context, snap *agentv1.Snapshot) error {
	if n := snap.GetNode(); n != "" && n != ss.node {
		return status.Errorf(codes.PermissionDenied, "stream is authenticated as node %q but the snapshot is for node %q", ss.node, n)
	}
	switch {
	case ss.receiving && snap.GetEpoch() == ss.epoch:
	case snap.GetEpoch() > ss.epoch:
		ss.epoch, ss.receiving, ss.chunks, ss.synced, ss.seq = snap.GetEpoch(), true, nil, false, 0
	default:
		return status.Errorf(codes.FailedPrecondition, "snapshot epoch %d does not follow epoch %d", snap.GetEpoch(), ss.epoch)
	}
	if len(ss.chunks)+len(snap.GetClaims()) > ss.s.cfg.MaxClaimsPerSnapshot {
		return status.Errorf(codes.ResourceExhausted, "snapshot has more than %d claims", ss.s.cfg.MaxClaimsPerSnapshot)
	}
	ss.chunks = append(ss.chunks, snap.GetClaims()...)
	if !snap.GetFinal() {
		return nil
	}
	ack := &agentv1.Ack{Epoch: ss.epoch}
	accepted := make([]Claim, 0, len(ss.chunks))
	index := make(map[netip.Addr]int, len(ss.chunks))
	for _, p := range ss.chunks {
		c, err := ss.check(ctx, p)
		if transient(err) {
			return err
		}
		if err != nil {
			ack.Rejections = append(ack.Rejections, ss.reject(p.GetIp(), c.IP, err))
			continue
		}
		if i, dup := index[c.IP]; dup {
			accepted[i] = c // a later claim on one IP wins
			continue
		}
		index[c.IP] = len(accepted)
		accepted = append(accepted, c)
	}
	ss.chunks, ss.receiving = nil, false
	ss.s.cfg.Sink.ReplaceNode(ss.node, accepted)
	ss.synced, ss.seq = true, 0
	ss.logRejections(ack)
	return ss.send(ack)
}

func (ss *session) delta(ctx context.Context, d *agentv1.Delta) error {
	if !ss.synced {
		return status.Error(codes.FailedPrecondition, "delta before a complete snapshot; send a snapshot")
	}
	if d.GetEpoch() != ss.epoch || d.GetSeq() != ss.seq+1 {
		return status.Errorf(codes.FailedPrecondition, "sequence gap: got epoch %d seq %d, want epoch %d seq %d; reconnect and send a snapshot",
			d.GetEpoch(), d.GetSeq(), ss.epoch, ss.seq+1)
	}
	ack := &agentv1.Ack{Epoch: ss.epoch, Seq: d.GetSeq()}
	for _, p := range d.GetUpserts() {
		c, err := ss.check(ctx, p)
		if transient(err) {
			return err
		}
		if err != nil {
			ack.Rejections = append(ack.Rejections, ss.reject(p.GetIp(), c.IP, err))
			if c.IP.IsValid() {
				// The node no longer asserts what it claimed before on this
				// IP; don't keep the old claim alive.
				ss.s.cfg.Sink.Delete(ss.node, c.IP)
			}
			continue
		}
		ss.s.cfg.Sink.Upsert(ss.node, c)
	}
	for _, b := range d.GetDeletes() {
		ip, err := agentv1.ParseAddr(b)
		if err != nil {
			ack.Rejections = append(ack.Rejections, ss.reject(b, ip, err))
			continue
		}
		ss.s.cfg.Sink.Delete(ss.node, ip)
	}
	ss.seq = d.GetSeq()
	ss.logRejections(ack)
	return ss.send(ack)
}

// check parses p and decides whether the node may claim it. The returned
// Claim's IP is valid whenever the address parsed.
func (ss *session) check(ctx context.Context, p *agentv1.Claim) (Claim, error) {
	ip, id, firstSeen, sc, err := agentv1.ClaimFromProto(p)
	if err != nil {
		return Claim{}, fmt.Errorf("malformed claim: %w", err)
	}
	c := Claim{IP: ip, Identity: id, FirstSeen: firstSeen, Span: sc}
	if id.Kind != tags.KindPod {
		return c, fmt.Errorf("claims of kind %q are not accepted from agents (only %q)", id.Kind, tags.KindPod)
	}
	if ss.s.cfg.ClaimChecker != nil {
		if err := ss.s.cfg.ClaimChecker.CheckClaim(ctx, ss.node, ip, id); err != nil {
			return c, err
		}
	}
	return c, nil
}

func transient(err error) bool {
	return err != nil && status.Code(err) == codes.Unavailable
}

func (ss *session) reject(raw []byte, ip netip.Addr, err error) *agentv1.Rejection {
	ss.s.rejected.Add(1)
	if ss.s.cfg.OnReject != nil {
		ss.s.cfg.OnReject(ss.node, ip, err.Error())
	}
	return &agentv1.Rejection{Ip: raw, Reason: err.Error()}
}

func (ss *session) logRejections(ack *agentv1.Ack) {
	if len(ack.Rejections) == 0 {
		return
	}
	first := ack.Rejections[0]
	ip, _ := agentv1.ParseAddr(first.GetIp())
	ss.log.Warn("agent claims rejected", "epoch", ack.GetEpoch(), "seq", ack.GetSeq(),
		"count", len(ack.Rejections), "first_ip", ip, "first_reason", first.GetReason())
}

func (ss *session) send(ack *agentv1.Ack) error {
	if err := ss.stream.Send(&agentv1.AggregatorMessage{Msg: &agentv1.AggregatorMessage_Ack{Ack: ack}}); err != nil {
		return fmt.Errorf("send ack: %w", err)
	}
	return nil
}
