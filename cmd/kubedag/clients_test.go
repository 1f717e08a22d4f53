package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TestLeaseClientHasItsOwnRateLimit checks that the aggregator's API
// client being throttled (every agent reconnecting at once costs a
// TokenReview each) does not delay the Lease's renewals.
func TestLeaseClientHasItsOwnRateLimit(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","namespace":"ns"}}`))
	}))
	defer srv.Close()

	// One request a second at most, for the main client.
	client, lease, err := aggregatorClients(&rest.Config{Host: srv.URL, UserAgent: "kubedag-aggregator/test"}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := client.CoordinationV1().Leases("ns").Get(ctx, "l", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// The main client's budget is spent: its next request waits.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := client.CoordinationV1().Leases("ns").Get(short, "l", metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Fatalf("main client not throttled at 1 request/s (the test proves nothing): %v", err)
	}
	// The Lease's renewals go through at once.
	for i := range 5 {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := lease.CoordinationV1().Leases("ns").Get(short, "l", metav1.GetOptions{})
		cancel()
		if err != nil {
			t.Fatalf("lease request %d while the main client is throttled: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := agents[len(agents)-1]; got != "kubedag-aggregator/test/leader-election" {
		t.Errorf("lease client User-Agent %q, want it marked /leader-election (API server audit and priority-and-fairness can tell it apart)", got)
	}
}
