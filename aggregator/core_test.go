package aggregator

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

// dropValidator forwards only the claims of IP keep, and is synced once
// synced is closed.
type dropValidator struct {
	stream.Sink
	keep   netip.Addr
	synced chan struct{}
}

func (v *dropValidator) Upsert(node string, c stream.Claim) {
	if c.IP == v.keep {
		v.Sink.Upsert(node, c)
	}
}

func (v *dropValidator) Synced() <-chan struct{} { return v.synced }

// TestCoreValidatorInFront: the stream-facing sink is the validator, so only
// the claims it forwards reach the store; the snapshot gate waits for the
// validator's sync too.
func TestCoreValidatorInFront(t *testing.T) {
	d, err := tags.NewDeriver(tags.Config{Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	keep, drop := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v := &dropValidator{keep: keep, synced: make(chan struct{})}
	core, err := NewCore(CoreOptions{Deriver: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewValidator: func(sink stream.Sink) (ClaimValidator, error) { v.Sink = sink; return v, nil }})
	if err != nil {
		t.Fatal(err)
	}
	id := tags.Identity{Kind: tags.KindPod, Namespace: "ns", Name: "p", UID: "u"}
	for _, ip := range []netip.Addr{keep, drop} {
		core.Sink().Upsert("n", stream.Claim{IP: ip, Identity: id})
	}
	if got := core.Store().Stats().IPs; got != 1 {
		t.Fatalf("store holds %d IPs, want 1 (the validator dropped one)", got)
	}

	core.Sink().ReplaceNode("n", nil)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go core.WaitSnapshots(ctx, time.Time{}, time.Hour, func(context.Context) ([]string, error) { return []string{"n"}, nil }, nil, ready)
	select {
	case <-ready:
		t.Fatal("snapshot gate open before the validator synced")
	case <-time.After(50 * time.Millisecond): // absence: no event to wait for
	}
	close(v.synced)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("snapshot gate still closed after the validator synced")
	}
}

// TestCorePushOptions: every target's pusher gets the core's settings, and
// the canary only if configured.
func TestCorePushOptions(t *testing.T) {
	d, err := tags.NewDeriver(tags.Config{Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	canary := netip.MustParseAddr("192.0.2.254")
	for _, tc := range []struct {
		name      string
		canaryIP  netip.Addr
		wantCanIP netip.Addr
	}{
		{"no canary", netip.Addr{}, netip.Addr{}},
		{"canary", canary, canary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, err := NewCore(CoreOptions{Deriver: d, BatchInterval: 7 * time.Millisecond, MaxBatch: 9, TagTTL: time.Hour,
				MaxCallsPerSecond: map[string]float64{"fw1": 400}, ResyncInterval: time.Minute, SnapshotGrace: 3 * time.Second, CanaryIP: tc.canaryIP,
				NewValidator: func(sink stream.Sink) (ClaimValidator, error) {
					return &dropValidator{Sink: sink, synced: make(chan struct{})}, nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			o := core.PushOptions("fw1")
			if o.Name != "fw1" || o.BatchInterval != 7*time.Millisecond || o.MaxBatch != 9 || o.TagTTL != time.Hour ||
				o.ResyncInterval != time.Minute || o.ReadyTimeout != 3*time.Second || o.Owns == nil ||
				o.MaxCallsPerSecond != 400 || core.PushOptions("fw2").MaxCallsPerSecond != 0 {
				t.Errorf("options = %+v", o)
			}
			if o.Canary.IP != tc.wantCanIP {
				t.Errorf("canary IP = %v, want %v", o.Canary.IP, tc.wantCanIP)
			}
			if tc.wantCanIP.IsValid() && o.Canary.Tag != d.Prefix()+".kubedag-canary" {
				t.Errorf("canary tag = %q", o.Canary.Tag)
			}
		})
	}
}
