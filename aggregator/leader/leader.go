package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Default Lease timings: chosen for a new leader pushing within five
// seconds of a hard failure (client-go recommends 15s/10s/2s, which takes
// 15-17s). A standby takes the Lease LeaseDuration after it last saw a
// renew; it sees a renew, and tries the Lease, once every 1 to 2.2
// RetryPeriods (client-go's jitter), so a hard-failed leader is replaced
// LeaseDuration - RetryPeriod to LeaseDuration + 4.4 RetryPeriods after
// the failure: 2.5-5.2 s, about 3.6 s on average. At 4s/3s/1s that was
// 3-8.4 s (measured 4.6-6.1 s). Each replica makes one Lease request per
// RetryPeriod: the leader a PUT (renew), every standby a GET.
const (
	DefaultLeaseDuration = 3 * time.Second
	DefaultRenewDeadline = 2 * time.Second
	DefaultRetryPeriod   = 500 * time.Millisecond
)

// Options configures an Elector. Durations default to DefaultLeaseDuration,
// DefaultRenewDeadline and DefaultRetryPeriod; client-go requires
// LeaseDuration > RenewDeadline > 1.2 * RetryPeriod.
type Options struct {
	Client    kubernetes.Interface
	Namespace string // of the Lease, required
	Name      string // of the Lease, default "kubedag-aggregator"
	Identity  string // this replica, required (pod name)

	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// OnNewLeader, if set, is told each observed leader identity.
	OnNewLeader func(identity string)
	Logger      *slog.Logger
}

// Elector campaigns for the Lease.
type Elector struct {
	opts    Options
	leading atomic.Bool
	fence   *fence
}

// New validates opts; it starts nothing.
func New(opts Options) (*Elector, error) {
	if opts.Client == nil {
		return nil, errors.New("leader: Client is required")
	}
	if opts.Namespace == "" {
		return nil, errors.New("leader: Namespace is required (set --leader-election-namespace or POD_NAMESPACE)")
	}
	if opts.Identity == "" {
		return nil, errors.New("leader: Identity is required (set POD_NAME)")
	}
	if opts.Name == "" {
		opts.Name = "kubedag-aggregator"
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = DefaultLeaseDuration
	}
	if opts.RenewDeadline == 0 {
		opts.RenewDeadline = DefaultRenewDeadline
	}
	if opts.RetryPeriod == 0 {
		opts.RetryPeriod = DefaultRetryPeriod
	}
	if err := ValidateTimings(opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Elector{opts: opts, fence: &fence{window: opts.RenewDeadline}}, nil
}

// ValidateTimings makes client-go's checks of the Lease timings
// (NewLeaderElector's), so a bad flag fails at start rather than on the
// first campaign.
func ValidateTimings(lease, renew, retry time.Duration) error {
	switch {
	case retry <= 0:
		return fmt.Errorf("leader: retry period %v must be positive", retry)
	case lease <= renew:
		return fmt.Errorf("leader: lease duration %v must be greater than the renew deadline %v", lease, renew)
	case renew <= time.Duration(leaderelection.JitterFactor*float64(retry)):
		return fmt.Errorf("leader: renew deadline %v must be greater than %v x the retry period %v", renew, leaderelection.JitterFactor, retry)
	}
	return nil
}

// IsLeader reports whether this replica currently leads.
func (e *Elector) IsLeader() bool { return e.leading.Load() }

// LeaseDeadline returns the instant until which this replica may act as
// the leader: RenewDeadline after the start of its last successful write
// of the Lease as holder (zero when it does not hold the Lease). No other
// replica can hold the Lease before it. Callers that act on the firewall
// check it right before every call (fencing): a replica frozen past its
// Lease resumes with its leadership context still alive, but past this
// instant.
func (e *Elector) LeaseDeadline() time.Time { return e.fence.deadline() }

// LeaseValid reports whether now is before LeaseDeadline.
func (e *Elector) LeaseValid(now time.Time) bool { return now.Before(e.fence.deadline()) }

// Run campaigns until ctx ends. Each time this replica wins, lead runs with
// a context that is cancelled when leadership is lost or ctx ends. The
// Lease is renewed until lead has returned, then released, so a successor
// takes over at once but never while this replica may still be pushing.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	lock := fencedLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1ObjectMeta(e.opts.Namespace, e.opts.Name),
		Client:     e.opts.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.opts.Identity},
	}, fence: e.fence}
	for ctx.Err() == nil {
		won := make(chan context.Context, 1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   e.opts.LeaseDuration,
			RenewDeadline:   e.opts.RenewDeadline,
			RetryPeriod:     e.opts.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            e.opts.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				// client-go runs this in a goroutine it does not wait for;
				// hand the context over and run lead here instead.
				OnStartedLeading: func(lctx context.Context) { won <- lctx },
				OnStoppedLeading: func() {},
				OnNewLeader: func(id string) {
					if e.opts.OnNewLeader != nil {
						e.opts.OnNewLeader(id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election %s/%s: %w", e.opts.Namespace, e.opts.Name, err)
		}
		// The elector's context is not ctx: it must outlive lead, so the
		// lease is released only after lead has returned.
		leCtx, stopLE := context.WithCancel(context.Background())
		leDone := make(chan struct{})
		go func() {
			defer close(leDone)
			le.Run(leCtx)
		}()
		select {
		case lctx := <-won:
			runCtx, cancel := context.WithCancel(lctx)
			stop := context.AfterFunc(ctx, cancel)
			e.leading.Store(true)
			e.opts.Logger.Info("became leader", "lease", e.opts.Namespace+"/"+e.opts.Name, "identity", e.opts.Identity)
			lead(runCtx)
			e.leading.Store(false)
			e.fence.clear()
			e.opts.Logger.Info("stopped leading", "lease", e.opts.Namespace+"/"+e.opts.Name, "identity", e.opts.Identity)
			stop()
			cancel()
		case <-ctx.Done():
		case <-leDone:
		}
		stopLE()
		<-leDone
	}
	return nil
}
