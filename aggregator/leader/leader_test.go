package leader

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func fastOpts(c kubernetes.Interface, id string) Options {
	return Options{Client: c, Namespace: "kubedag", Identity: id,
		LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewValidates(t *testing.T) {
	c := fake.NewClientset()
	for _, o := range []Options{{}, {Client: c}, {Client: c, Namespace: "ns"}} {
		if _, err := New(o); err == nil {
			t.Fatalf("New(%+v) succeeded", o)
		}
	}
}

// TestFailover checks that exactly one replica leads at a time, that a
// replica stopping hands over (lease released), and that lead always
// returns before the next replica starts leading.
func TestFailover(t *testing.T) {
	testFailover(t, fake.NewClientset())
}

func testFailover(t *testing.T, client kubernetes.Interface) {
	var (
		mu      sync.Mutex
		current string // who is inside lead right now
		overlap atomic.Bool
		leads   atomic.Int32
	)
	lead := func(id string) func(ctx context.Context) {
		return func(ctx context.Context) {
			mu.Lock()
			if current != "" {
				overlap.Store(true)
			}
			current = id
			mu.Unlock()
			leads.Add(1)
			<-ctx.Done()
			mu.Lock()
			current = ""
			mu.Unlock()
		}
	}
	run := func(id string) (*Elector, context.CancelFunc, chan error) {
		e, err := New(fastOpts(client, id))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx, lead(id)) }()
		return e, cancel, done
	}
	a, cancelA, doneA := run("a")
	waitFor(t, "a to lead", a.IsLeader)
	b, cancelB, doneB := run("b")
	defer func() { cancelB(); <-doneB }()
	time.Sleep(500 * time.Millisecond)
	if b.IsLeader() {
		t.Fatal("b leads while a holds the lease")
	}

	start := time.Now()
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatalf("a.Run: %v", err)
	}
	if a.IsLeader() {
		t.Fatal("a still leader after Run returned")
	}
	waitFor(t, "b to take over", b.IsLeader)
	// Released on cancel: b must not have waited for the lease to expire.
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("takeover took %s", took)
	}
	mu.Lock()
	if current != "b" {
		t.Fatalf("inside lead: %q, want b", current)
	}
	mu.Unlock()
	if overlap.Load() {
		t.Fatal("two replicas were inside lead at once")
	}
	l, err := client.CoordinationV1().Leases("kubedag").Get(context.Background(), "kubedag-aggregator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "b" {
		t.Fatalf("lease holder = %v", l.Spec.HolderIdentity)
	}
}

func TestNewValidatesTimings(t *testing.T) {
	c := fake.NewClientset()
	base := Options{Client: c, Namespace: "ns", Identity: "a"}
	tests := []struct {
		name          string
		lease, renew  time.Duration
		retry         time.Duration
		wantErr       bool
		wantL, wantRD time.Duration
	}{
		{name: "defaults", wantL: DefaultLeaseDuration, wantRD: DefaultRenewDeadline},
		{name: "explicit", lease: 10 * time.Second, renew: 5 * time.Second, retry: time.Second, wantL: 10 * time.Second, wantRD: 5 * time.Second},
		{name: "renew not below lease", lease: 3 * time.Second, renew: 3 * time.Second, retry: time.Second, wantErr: true},
		{name: "retry too close to renew", lease: 4 * time.Second, renew: time.Second, retry: time.Second, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = tt.lease, tt.renew, tt.retry
			e, err := New(o)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (e.opts.LeaseDuration != tt.wantL || e.opts.RenewDeadline != tt.wantRD) {
				t.Fatalf("timings %v/%v, want %v/%v", e.opts.LeaseDuration, e.opts.RenewDeadline, tt.wantL, tt.wantRD)
			}
		})
	}
}

// TestFenceLapsesBeforeSuccessorLeads: a leader cut off from the API (its
// renewals fail) keeps a valid fence only until RenewDeadline after its
// last successful renew began, which is always before a successor can
// start leading; on release the fence closes at once.
func TestFenceLapsesBeforeSuccessorLeads(t *testing.T) {
	client := fake.NewClientset()
	var cutA atomic.Bool
	client.PrependReactor("update", "leases", func(action clienttesting.Action) (bool, runtime.Object, error) {
		l := action.(clienttesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		// Only b writes while a is cut off (a's renewals and its release
		// both fail), so b must wait for the Lease to expire.
		if cutA.Load() && (l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "b") {
			return true, nil, errors.New("a is partitioned from the API server")
		}
		return false, nil, nil
	})
	// run starts id's elector; the returned stop cancels it and waits for
	// Run (once, also at the end of the test).
	run := func(id string) (*Elector, func()) {
		e, err := New(fastOpts(client, id))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx, func(ctx context.Context) { <-ctx.Done() }) }()
		stop := sync.OnceFunc(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run = %v", id, err)
			}
		})
		t.Cleanup(stop)
		return e, stop
	}
	a, _ := run("a")
	waitFor(t, "a to lead", a.IsLeader)
	now := time.Now()
	if d := a.LeaseDeadline(); !a.LeaseValid(now) || d.After(now.Add(time.Second)) {
		t.Fatalf("leader's fence %v (now %v): want valid, at most RenewDeadline ahead", d, now)
	}
	b, stopB := run("b")
	if b.LeaseValid(time.Now()) {
		t.Fatal("standby's fence is open")
	}

	cutA.Store(true)
	cut := time.Now()
	var last time.Time
	waitFor(t, "b to lead", func() bool {
		if d := a.LeaseDeadline(); d.After(last) {
			last = d
		}
		return b.IsLeader()
	})
	bLeads := time.Now()
	if took := bLeads.Sub(cut); took < fastOpts(client, "").LeaseDuration-fastOpts(client, "").RetryPeriod*2 {
		t.Fatalf("b led %v after the cut: before a's Lease could expire", took)
	}
	if !last.Before(bLeads) {
		t.Fatalf("a's fence lasted until %v, after b started leading at %v", last, bLeads)
	}
	if a.LeaseValid(bLeads) {
		t.Fatal("a's fence still valid while b leads")
	}
	if !b.LeaseValid(time.Now()) {
		t.Fatal("new leader's fence not open")
	}
	stopB()
	if b.LeaseValid(time.Now()) || !b.LeaseDeadline().IsZero() {
		t.Fatal("fence open after release")
	}
}

// TestResumedLeaderDoesNotReleaseSuccessorsLease replays client-go's
// release as a leader frozen past its Lease makes it on resuming: it reads
// the Lease (now its successor's), then, judging by the record it observed
// before the freeze, writes an empty holder. That write must not happen:
// it would hand the successor's Lease to anyone while the successor's
// fence is open (two leaders pushing).
func TestResumedLeaderDoesNotReleaseSuccessorsLease(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset()
	lock := func(id string) fencedLock {
		return fencedLock{Interface: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: "kubedag", Name: "l"},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}, fence: &fence{window: time.Second}}
	}
	a, b := lock("a"), lock("b")
	rec := func(holder string) resourcelock.LeaderElectionRecord {
		now := metav1.Now()
		return resourcelock.LeaderElectionRecord{HolderIdentity: holder, LeaseDurationSeconds: 4, AcquireTime: now, RenewTime: now}
	}
	if err := a.Create(ctx, rec("a")); err != nil {
		t.Fatal(err)
	}
	// a freezes; b takes the expired Lease.
	if _, _, err := b.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, rec("b")); err != nil {
		t.Fatal(err)
	}
	// a resumes and releases: read, then write an empty holder.
	if _, _, err := a.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, rec("")); err == nil {
		t.Error("a released a Lease held by b")
	}
	if got, _, err := b.Get(ctx); err != nil || got.HolderIdentity != "b" {
		t.Fatalf("Lease holder %q (%v), want b", got.HolderIdentity, err)
	}
	if a.fence.deadline() != (time.Time{}) {
		t.Error("a's fence open after the refused release")
	}
	// Its own Lease a may still release.
	if _, _, err := b.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, rec("")); err != nil {
		t.Errorf("b could not release its own Lease: %v", err)
	}
}
