package leader

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
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
