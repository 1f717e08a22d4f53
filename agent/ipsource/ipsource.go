package ipsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/agent/nodestate"
	"github.com/kubedag/kubedag/agent/routewatch"
	"github.com/kubedag/kubedag/tags"
)

// Mode is the --ip-source setting.
type Mode string

const (
	ModeAPI     Mode = "api"
	ModeNetlink Mode = "netlink"
	ModeBoth    Mode = "both"
)

// DefaultMode is the default --ip-source.
const DefaultMode = ModeBoth

// ParseMode parses an --ip-source value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAPI, ModeNetlink, ModeBoth:
		return m, nil
	}
	return "", fmt.Errorf("invalid ip source %q (want api, netlink or both)", s)
}

// UsesNetlink reports whether the mode needs the route watcher.
func (m Mode) UsesNetlink() bool { return m == ModeNetlink || m == ModeBoth }

// TracerName is the OpenTelemetry tracer of the tag-latency spans.
const TracerName = "kubedag/agent"

// SpanName is the name of the span started for each claim.
const SpanName = "kubedag.agent.ip_change"

// Config configures a Combiner.
type Config struct {
	// Mode is the ip source; default DefaultMode.
	Mode Mode
	// State receives the claims. Required.
	State *nodestate.State
	// TracerProvider defaults to otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Combiner merges API claims and route liveness into a nodestate. It
// implements podwatch.Sink and routewatch.Sink and is safe for concurrent use.
type Combiner struct {
	mode   Mode
	state  *nodestate.State
	tracer trace.Tracer
	log    *slog.Logger
	now    func() time.Time

	mu  sync.Mutex
	ips map[netip.Addr]*entry
}

// entry is everything known about one IP. It is dropped when nothing is
// known any more, so memory is bounded by API IPs plus live routes.
type entry struct {
	// From the API.
	api     bool
	id      tags.Identity
	apiSeen time.Time
	// From netlink.
	route, neigh         bool
	routeSince, neighSee time.Time
	// routeFor is the UID of the API claim that a route was seen for
	// (routeSeen); with ModeBoth its route vanishing withdraws the claim.
	routeSeen bool
	routeFor  string
	// What was handed to the nodestate.
	claimed   bool
	claimedID tags.Identity
	// withdrawnAt is when the claim was last withdrawn; evidence older than
	// that does not date a new claim.
	withdrawnAt time.Time
	// deadRoute: the claim was withdrawn because routeFor's route vanished;
	// only netlink evidence dates its revival.
	deadRoute bool
}

// New returns a Combiner writing into cfg.State.
func New(cfg Config) (*Combiner, error) {
	if cfg.State == nil {
		return nil, errors.New("ipsource: State is required")
	}
	if cfg.Mode == "" {
		cfg.Mode = DefaultMode
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("ipsource: %w", err)
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Combiner{
		mode:   cfg.Mode,
		state:  cfg.State,
		tracer: cfg.TracerProvider.Tracer(TracerName),
		log:    cfg.Logger.With("component", "ipsource"),
		now:    cfg.Now,
		ips:    make(map[netip.Addr]*entry),
	}, nil
}

// Mode returns the combiner's mode.
func (c *Combiner) Mode() Mode { return c.mode }

// Upsert implements podwatch.Sink: the API says a local pod holds ip.
func (c *Combiner) Upsert(ip netip.Addr, id tags.Identity, seen time.Time) {
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.get(ip)
	e.api, e.id, e.apiSeen = true, id, seen
	c.eval(ip, e, seen)
}

// Remove implements podwatch.Sink: no local pod holds ip any more.
func (c *Combiner) Remove(ip netip.Addr) {
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ips[ip]
	if !ok {
		return
	}
	e.api, e.id = false, tags.Identity{}
	c.eval(ip, e, c.now())
}

// Observe implements routewatch.Sink. In ModeAPI it is ignored.
func (c *Combiner) Observe(ip netip.Addr, l routewatch.Liveness, at time.Time) {
	if c.mode == ModeAPI {
		return
	}
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ips[ip]
	if !ok {
		if l == (routewatch.Liveness{}) {
			return
		}
		e = c.get(ip)
	}
	if l.Route && !e.route {
		e.routeSince = at
	}
	if l.Neighbour && !e.neigh {
		e.neighSee = at
	}
	e.route, e.neigh = l.Route, l.Neighbour
	c.eval(ip, e, at)
}

func (c *Combiner) get(ip netip.Addr) *entry {
	e, ok := c.ips[ip]
	if !ok {
		e = &entry{}
		c.ips[ip] = e
	}
	return e
}

// eval decides whether ip is claimed and updates the nodestate. at is the
// time of the event being applied.
func (c *Combiner) eval(ip netip.Addr, e *entry, at time.Time) {
	if e.api && e.route {
		e.routeSeen, e.routeFor = true, e.id.UID
	}
	want := e.api
	switch c.mode {
	case ModeNetlink:
		want = e.api && e.route
	case ModeBoth:
		if e.api && !e.route && e.routeSeen && e.routeFor == e.id.UID {
			want = false // its route vanished: dead before the API knows
		}
	}
	switch {
	case want && !e.claimed:
		c.hand(ip, e, c.firstSeen(e, at), "new")
		e.deadRoute = false
	case want && !e.claimedID.Equal(e.id):
		c.hand(ip, e, e.apiSeen, "update")
	case !want && e.claimed:
		c.state.Delete(ip)
		e.claimed, e.claimedID, e.withdrawnAt = false, tags.Identity{}, at
		if e.api {
			e.deadRoute = true
			c.log.Debug("route gone, claim withdrawn before the API", "ip", ip, "pod", e.id.Namespace+"/"+e.id.Name)
		}
	}
	if !e.api && !e.route && !e.neigh && !e.claimed {
		delete(c.ips, ip)
	}
}

// firstSeen is when a new claim's condition first held: the earliest
// evidence (informer event, route or neighbour appearance) not older than
// the last withdrawal. A pod whose claim was withdrawn because its route
// vanished is revived, and dated, by netlink evidence only.
func (c *Combiner) firstSeen(e *entry, at time.Time) time.Time {
	first := time.Time{}
	consider := func(t time.Time, ok bool) {
		if !ok || t.IsZero() || t.Before(e.withdrawnAt) {
			return
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	consider(e.apiSeen, e.api && !(e.deadRoute && e.routeFor == e.id.UID))
	consider(e.routeSince, e.route)
	consider(e.neighSee, e.neigh)
	if first.IsZero() {
		return at
	}
	return first
}

// hand starts the claim's span at firstSeen, hands the claim to the
// nodestate and ends the local span.
func (c *Combiner) hand(ip netip.Addr, e *entry, firstSeen time.Time, kind string) {
	_, span := c.tracer.Start(context.Background(), SpanName,
		trace.WithTimestamp(firstSeen),
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("kubedag.ip", ip.String()),
			attribute.String("kubedag.change", kind),
			attribute.String("k8s.namespace.name", e.id.Namespace),
			attribute.String("k8s.pod.name", e.id.Name),
			attribute.String("kubedag.ip_source", string(c.mode)),
		))
	c.state.Set(nodestate.Claim{IP: ip, Identity: e.id, FirstSeen: firstSeen, Span: span.SpanContext()})
	span.End()
	e.claimed, e.claimedID = true, e.id
}

// Len returns the number of IPs the combiner tracks (claimed or not).
func (c *Combiner) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ips)
}
