package aggregator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/userid"
)

// callFirewall counts calls; with block set, a call waits for its context
// to end and returns its error.
type callFirewall struct {
	calls int
	block bool
}

func (f *callFirewall) Update(ctx context.Context, _ push.Update) (push.UpdateResult, error) {
	f.calls++
	if f.block {
		<-ctx.Done()
		return push.UpdateResult{}, ctx.Err()
	}
	return push.UpdateResult{}, nil
}

func (f *callFirewall) RegisteredIPs(ctx context.Context, _ string) ([]push.RegisteredIP, error) {
	f.calls++
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, nil
}

func TestFencedFirewall(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name     string
		deadline time.Time
		wantCall bool
	}{
		{name: "lease renewed recently", deadline: now.Add(2 * time.Second), wantCall: true},
		{name: "fence reached", deadline: now},
		{name: "fence passed (resumed after SIGSTOP)", deadline: now.Add(-10 * time.Second)},
		{name: "not holding the lease", deadline: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &callFirewall{}
			fw := fencedFirewall{Firewall: inner, leaseFence: leaseFence{deadline: func() time.Time { return tt.deadline }, now: func() time.Time { return now }}}
			_, uerr := fw.Update(context.Background(), push.Update{})
			_, lerr := fw.RegisteredIPs(context.Background(), "")
			if tt.wantCall {
				if uerr != nil || lerr != nil || inner.calls != 2 {
					t.Fatalf("calls %d, errs %v %v: want both calls made", inner.calls, uerr, lerr)
				}
				return
			}
			if inner.calls != 0 || !errors.Is(uerr, ErrFenced) || !errors.Is(lerr, ErrFenced) {
				t.Fatalf("calls %d, errs %v %v: want none made, ErrFenced", inner.calls, uerr, lerr)
			}
		})
	}
}

// TestFencedFirewallCutsCallAtLapsedFence: a long call (a reconcile's
// listing) survives fences that renews keep extending, and is cancelled
// once the fence passes unrenewed.
func TestFencedFirewallCutsCallAtLapsedFence(t *testing.T) {
	start := time.Now()
	renewals := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond}
	deadline := func() time.Time {
		// Renewed twice, then the renews stop (lost the Lease).
		el := time.Since(start)
		for _, r := range renewals {
			if el < r {
				return start.Add(r)
			}
		}
		return start.Add(renewals[len(renewals)-1])
	}
	inner := &callFirewall{block: true}
	fw := fencedFirewall{Firewall: inner, leaseFence: leaseFence{deadline: deadline, now: time.Now}}
	_, err := fw.RegisteredIPs(context.Background(), "")
	took := time.Since(start)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("err = %v, want ErrFenced", err)
	}
	if took < renewals[len(renewals)-1] {
		t.Fatalf("cut after %v, before the last renewed fence %v", took, renewals[len(renewals)-1])
	}
}

// callSandwich counts the sandwich client calls that reach it.
type callSandwich struct{ calls int }

func (c *callSandwich) Get(context.Context, string) ([]byte, error) { c.calls++; return nil, nil }
func (c *callSandwich) Edit(context.Context, string, string) error  { c.calls++; return nil }
func (c *callSandwich) Delete(context.Context, string) error        { c.calls++; return nil }
func (c *callSandwich) Move(context.Context, string, string, string) error {
	c.calls++
	return nil
}
func (c *callSandwich) CommitPartial(context.Context, userid.Partial) (int, error) {
	c.calls++
	return 1, nil
}
func (c *callSandwich) CommitAll(context.Context, string, bool) (int, error) {
	c.calls++
	return 1, nil
}
func (c *callSandwich) WaitJob(context.Context, int, time.Duration) (*userid.Job, error) {
	c.calls++
	return &userid.Job{}, nil
}

// TestFencedSandwichClient: past the fence no config change, commit or
// push reaches the target; reads still do.
func TestFencedSandwichClient(t *testing.T) {
	now := time.Unix(1000, 0)
	ctx := context.Background()
	calls := []struct {
		name  string
		write bool
		call  func(c sandwich.Client) error
	}{
		{"get", false, func(c sandwich.Client) error { _, err := c.Get(ctx, "/x"); return err }},
		{"wait job", false, func(c sandwich.Client) error { _, err := c.WaitJob(ctx, 1, time.Second); return err }},
		{"edit", true, func(c sandwich.Client) error { return c.Edit(ctx, "/x", "<e/>") }},
		{"delete", true, func(c sandwich.Client) error { return c.Delete(ctx, "/x") }},
		{"move", true, func(c sandwich.Client) error { return c.Move(ctx, "/x", "top", "") }},
		{"commit", true, func(c sandwich.Client) error { _, err := c.CommitPartial(ctx, userid.Partial{}); return err }},
		{"push", true, func(c sandwich.Client) error { _, err := c.CommitAll(ctx, "dg", true); return err }},
	}
	for _, held := range []bool{true, false} {
		for _, cl := range calls {
			t.Run(fmt.Sprintf("%s/lease held %v", cl.name, held), func(t *testing.T) {
				deadline := now.Add(-time.Second)
				if held {
					deadline = now.Add(2 * time.Second)
				}
				inner := &callSandwich{}
				c := fencedSandwichClient{Client: inner, leaseFence: leaseFence{deadline: func() time.Time { return deadline }, now: func() time.Time { return now }}}
				err := cl.call(c)
				if held || !cl.write {
					if err != nil || inner.calls != 1 {
						t.Fatalf("calls %d, err %v: want the call made", inner.calls, err)
					}
					return
				}
				if inner.calls != 0 || !errors.Is(err, ErrFenced) {
					t.Fatalf("calls %d, err %v: want none made, ErrFenced", inner.calls, err)
				}
			})
		}
	}
}
