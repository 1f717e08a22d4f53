package push

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/userid"
)

// Defaults of Options.
const (
	DefaultBatchInterval  = 50 * time.Millisecond
	DefaultMaxBatch       = 1000
	DefaultTagTTL         = time.Hour // for the --tag-ttl flag; Options.TagTTL 0 means no timeout
	DefaultResyncInterval = 5 * time.Minute
	DefaultBackoffBase    = 200 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultEntryRetryBase = time.Second
	DefaultEntryRetryMax  = 5 * time.Minute
	DefaultCanaryTTL      = 10 * time.Minute
	DefaultCanaryInterval = 30 * time.Second
)

// Canary configures reboot detection. A zero IP disables it.
type Canary struct {
	// IP to register; pick one no pod or service can have, e.g. from
	// TEST-NET-1 (192.0.2.0/24). It is never unregistered by reconcile.
	IP netip.Addr
	// Tag registered on IP; it should be owned (carry the prefix).
	Tag string
	// TTL is the canary's PAN-OS timeout, refreshed at every check
	// (default DefaultCanaryTTL; must exceed Interval).
	TTL time.Duration
	// Interval between checks (default DefaultCanaryInterval).
	Interval time.Duration
	// FloorIP, if valid, carries the TTL floor marker registered with the
	// canary (ttlfloor.go); like IP, one no pod or service can have, and
	// never unregistered by reconcile. Zero: no marker.
	FloorIP netip.Addr
}

// CallInfo describes one Update call, for metrics.
type CallInfo struct {
	Unregister, Register int // entries
	Failed               int // entries the target refused
	Duration             time.Duration
	Err                  error
}

// Hooks are optional callbacks for metrics and tracing. They run on the
// pusher's goroutine: keep them quick.
type Hooks struct {
	// Call is called after every Update call.
	Call func(target string, c CallInfo)
	// EntryError is called for every entry the target refused.
	EntryError func(target string, e EntryError)
	// Applied is called when the target acknowledged registers that gave
	// an IP tags it did not have (not for TTL refreshes): the end of the
	// tag-latency span. firstSeen and span are the IP's latest claim's
	// (firstSeen no earlier than the last change of the tag filter that
	// touched some IP, so tags a new DAG brings count from when it was
	// noticed); added are the tags the IP did not have.
	Applied func(target string, ip netip.Addr, firstSeen time.Time, span trace.SpanContext, added []string)
	// Removed is called when the target acknowledged unregistering tags of
	// an IP (a pod deleted, a label changed): span is the IP's latest
	// claim's, invalid when nothing claims the IP any more.
	Removed func(target string, ip netip.Addr, removed []string, span trace.SpanContext)
	// The tag slices hooks are given are shared with the pusher's state:
	// read them, never modify them.
	//
	// Reconciled is called after a reconcile listing: IPs listed and IPs
	// whose owned tags differed from what the pusher believed.
	Reconciled func(target string, listed, drift int)
	// Reboot is called when the canary was found missing.
	Reboot func(target string)
}

// Options configures a Pusher. Zero values take the defaults above.
type Options struct {
	// Name of the target, for logs, status and hooks.
	Name string
	// Owns reports whether a tag is the aggregator's (carries the
	// cluster's prefix). Required. Only owned tags are ever unregistered.
	Owns func(tag string) bool
	// BatchInterval is the longest the pusher holds a change back on its
	// own (default 50ms): changes go at once when no call to the target is
	// in flight, and coalesce while one is, so batches grow as the target
	// slows. Only MaxCallsPerSecond holds changes back, by at most one
	// call interval, which must not exceed BatchInterval.
	BatchInterval time.Duration
	// MaxCallsPerSecond limits the Update calls per second to the target
	// (their starts are at least 1/MaxCallsPerSecond apart), for devices
	// that need fewer, larger calls; 0 means no limit. At least
	// 1/BatchInterval.
	MaxCallsPerSecond float64
	// MaxBatch is the most entries per Update call (default 1000).
	MaxBatch int
	// TagTTL is the PAN-OS timeout registered with every tag, refreshed
	// once less than half remains. 0 registers tags without timeout. At
	// most userid.MaxTagTimeout. Flags should default to DefaultTagTTL.
	TagTTL time.Duration
	// ResyncInterval between reconciles (default 5m).
	ResyncInterval time.Duration
	// Ready, once closed, allows unregistering tags of unclaimed IPs. nil
	// means ready from the start.
	Ready <-chan struct{}
	// ReadyTimeout opens the gate this long after Run starts even if Ready
	// is not closed (the grace timeout); 0 waits for Ready only.
	ReadyTimeout time.Duration
	// BackoffBase and BackoffMax bound the target's exponential backoff
	// after a failed call (defaults 200ms, 30s). Delays are jittered in
	// [d/2, d].
	BackoffBase, BackoffMax time.Duration
	// EntryRetryBase and EntryRetryMax bound the per-IP backoff of refused
	// entries (defaults 1s, 5m).
	EntryRetryBase, EntryRetryMax time.Duration
	Canary                        Canary
	// Filter, if set, prunes the target's tags: the pusher registers only
	// the desired tags its current TagFilter keeps, and follows its
	// changes (see Engine.SetFilter). nil registers every desired tag.
	Filter *FilterVar
	// Now is the clock; default time.Now. The Engine takes time as an
	// argument, so only the loop (Run) reads it; timers are real.
	Now    func() time.Time
	Rand   *rand.Rand // jitter source; default the global one
	Logger *slog.Logger
	Hooks  Hooks
	// TracerProvider makes the "kubedag.push.batch" span of every Update
	// call, linked to the spans of the changes it carries (default the
	// global provider; a no-op provider costs nothing measurable).
	TracerProvider trace.TracerProvider
}

func (o *Options) validate() error {
	if o.Owns == nil {
		return errors.New("push: Options.Owns is required")
	}
	if o.TagTTL < 0 || o.TagTTL > userid.MaxTagTimeout {
		return fmt.Errorf("push: Options.TagTTL %v out of range [0, %v]", o.TagTTL, userid.MaxTagTimeout)
	}
	if o.TagTTL > 0 && o.TagTTL < time.Second {
		return fmt.Errorf("push: Options.TagTTL %v below one second", o.TagTTL)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.BatchInterval, DefaultBatchInterval)
	def(&o.ResyncInterval, DefaultResyncInterval)
	def(&o.BackoffBase, DefaultBackoffBase)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.EntryRetryBase, DefaultEntryRetryBase)
	def(&o.EntryRetryMax, DefaultEntryRetryMax)
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxCallsPerSecond < 0 {
		return fmt.Errorf("push: Options.MaxCallsPerSecond %v is negative", o.MaxCallsPerSecond)
	}
	if o.MaxCallsPerSecond > 0 && float64(time.Second)/o.MaxCallsPerSecond > float64(o.BatchInterval) {
		return fmt.Errorf("push: Options.MaxCallsPerSecond %v holds changes back %v, longer than BatchInterval %v; raise it to at least %v",
			o.MaxCallsPerSecond, time.Duration(float64(time.Second)/o.MaxCallsPerSecond), o.BatchInterval, float64(time.Second)/float64(o.BatchInterval))
	}
	if o.ReadyTimeout < 0 {
		return fmt.Errorf("push: Options.ReadyTimeout %v is negative", o.ReadyTimeout)
	}
	if o.Canary.IP.IsValid() {
		if o.Canary.Tag == "" {
			return errors.New("push: Options.Canary.Tag is required with Canary.IP")
		}
		if !o.Owns(o.Canary.Tag) {
			return fmt.Errorf("push: Options.Canary.Tag %q is not owned", o.Canary.Tag)
		}
		def(&o.Canary.TTL, DefaultCanaryTTL)
		def(&o.Canary.Interval, DefaultCanaryInterval)
		if o.Canary.TTL <= o.Canary.Interval {
			return fmt.Errorf("push: Options.Canary.TTL %v must exceed Canary.Interval %v", o.Canary.TTL, o.Canary.Interval)
		}
		o.Canary.IP = o.Canary.IP.Unmap()
		o.Canary.FloorIP = o.Canary.FloorIP.Unmap()
		if o.Canary.FloorIP == o.Canary.IP {
			return errors.New("push: Options.Canary.FloorIP must differ from Canary.IP (the canary IP's 32 tags are for the clusters' canaries)")
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	return nil
}
