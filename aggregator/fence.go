package aggregator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kubedag/kubedag/aggregator/push"
)

// ErrFenced is returned instead of calling a target once this replica can
// no longer be sure it holds the Lease.
var ErrFenced = errors.New("not calling the target: this replica's Lease may have lapsed (fenced)")

// fencedFirewall checks the Lease right before every call to the target,
// so a replica that lost the Lease without noticing (frozen by SIGSTOP, a
// long pause, cut off from the API server) never starts a call while
// another replica may lead. A call in progress (a reconcile's listing can
// take longer than one renew) is cancelled once the fence passes without
// having been extended by a renew, so its later requests are not sent.
type fencedFirewall struct {
	push.Firewall
	// deadline is the instant until which this replica may push
	// (leader.Elector.LeaseDeadline); zero means never.
	deadline func() time.Time
	now      func() time.Time
}

// fence returns ctx cancelled (cause ErrFenced) when the fence passes, and
// the function that ends the watch; or ErrFenced if it has passed already.
func (f fencedFirewall) fence(ctx context.Context) (context.Context, func(), error) {
	d := f.deadline()
	if !f.now().Before(d) {
		return ctx, func() {}, ErrFenced
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTimer(d.Sub(f.now()))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if d = f.deadline(); !f.now().Before(d) {
					cancel(ErrFenced)
					return
				}
				t.Reset(d.Sub(f.now()))
			}
		}
	}()
	return ctx, func() { close(stop); <-done; cancel(nil) }, nil
}

// fenced names the fence as the reason a call was cut short.
func fenced(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrFenced) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}

func (f fencedFirewall) Update(ctx context.Context, u push.Update) (push.UpdateResult, error) {
	ctx, end, err := f.fence(ctx)
	defer end()
	if err != nil {
		return push.UpdateResult{}, err
	}
	res, err := f.Firewall.Update(ctx, u)
	return res, fenced(ctx, err)
}

func (f fencedFirewall) RegisteredIPs(ctx context.Context, tag string) ([]push.RegisteredIP, error) {
	ctx, end, err := f.fence(ctx)
	defer end()
	if err != nil {
		return nil, err
	}
	ips, err := f.Firewall.RegisteredIPs(ctx, tag)
	return ips, fenced(ctx, err)
}
