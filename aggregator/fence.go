package aggregator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/userid"
)

// ErrFenced is returned instead of calling a target once this replica can
// no longer be sure it holds the Lease.
var ErrFenced = errors.New("not calling the target: this replica's Lease may have lapsed (fenced)")

// leaseFence checks the Lease right before a call to a target, so a
// replica that lost the Lease without noticing (frozen by SIGSTOP, a long
// pause, cut off from the API server) never starts a call while another
// replica may lead. A call in progress (a reconcile's listing can take
// longer than one renew) is cancelled once the fence passes without having
// been extended by a renew, so its later requests are not sent.
type leaseFence struct {
	// deadline is the instant until which this replica may push
	// (leader.Elector.LeaseDeadline); zero means never.
	deadline func() time.Time
	now      func() time.Time
}

// fence returns ctx cancelled (cause ErrFenced) when the fence passes, and
// the function that ends the watch; or ErrFenced if it has passed already.
func (f leaseFence) fence(ctx context.Context) (context.Context, func(), error) {
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

// do makes call under the fence.
func (f leaseFence) do(ctx context.Context, call func(context.Context) error) error {
	ctx, end, err := f.fence(ctx)
	defer end()
	if err != nil {
		return err
	}
	return fenced(ctx, call(ctx))
}

// fenced names the fence as the reason a call was cut short.
func fenced(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrFenced) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}

// fencedFirewall is a User-ID target behind the Lease fence.
type fencedFirewall struct {
	push.Firewall
	leaseFence
}

func (f fencedFirewall) Update(ctx context.Context, u push.Update) (res push.UpdateResult, err error) {
	err = f.do(ctx, func(ctx context.Context) error {
		res, err = f.Firewall.Update(ctx, u)
		return err
	})
	return res, err
}

func (f fencedFirewall) RegisteredIPs(ctx context.Context, tag string) (ips []push.RegisteredIP, err error) {
	err = f.do(ctx, func(ctx context.Context) error {
		ips, err = f.Firewall.RegisteredIPs(ctx, tag)
		return err
	})
	return ips, err
}

// fencedSandwichClient is a sandwich target behind the Lease fence: every
// config change and every commit (or Panorama push) checks it, so a
// leader resumed after a freeze past its Lease changes no config while
// another replica may lead. Reads (Get, WaitJob) change nothing and are
// not fenced.
type fencedSandwichClient struct {
	sandwich.Client
	leaseFence
}

func (f fencedSandwichClient) Edit(ctx context.Context, xpath, element string) error {
	return f.do(ctx, func(ctx context.Context) error { return f.Client.Edit(ctx, xpath, element) })
}

func (f fencedSandwichClient) Delete(ctx context.Context, xpath string) error {
	return f.do(ctx, func(ctx context.Context) error { return f.Client.Delete(ctx, xpath) })
}

func (f fencedSandwichClient) Move(ctx context.Context, xpath, where, dst string) error {
	return f.do(ctx, func(ctx context.Context) error { return f.Client.Move(ctx, xpath, where, dst) })
}

func (f fencedSandwichClient) CommitPartial(ctx context.Context, p userid.Partial) (id int, err error) {
	err = f.do(ctx, func(ctx context.Context) error {
		id, err = f.Client.CommitPartial(ctx, p)
		return err
	})
	return id, err
}

func (f fencedSandwichClient) CommitAll(ctx context.Context, deviceGroup string, includeTemplate bool) (id int, err error) {
	err = f.do(ctx, func(ctx context.Context) error {
		id, err = f.Client.CommitAll(ctx, deviceGroup, includeTemplate)
		return err
	})
	return id, err
}
