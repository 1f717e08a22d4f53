// Package streamtest provides test helpers for the agent stream: a
// recording Sink and a static Authenticator (TLS: e2e/pki.NewTestTLS).
package streamtest

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedag/kubedag/aggregator/stream"
)

// ServerName is the DNS name tests give the stream server's certificate
// (e2e/pki.NewTestTLS).
const ServerName = "aggregator.kubedag.test"

// StaticAuth maps tokens to nodes; unknown tokens are Unauthenticated.
type StaticAuth map[string]string

// Authenticate implements stream.Authenticator.
func (a StaticAuth) Authenticate(_ context.Context, token string) (string, error) {
	if n, ok := a[token]; ok {
		return n, nil
	}
	return "", status.Error(codes.Unauthenticated, "invalid token")
}

// Sink is a stream.Sink that keeps each node's set and counts calls.
type Sink struct {
	mu    sync.Mutex
	nodes map[string]map[netip.Addr]stream.Claim
	gone  map[string]int
	calls int
}

// NewSink returns an empty Sink.
func NewSink() *Sink {
	return &Sink{nodes: map[string]map[netip.Addr]stream.Claim{}, gone: map[string]int{}}
}

func (s *Sink) ReplaceNode(node string, claims []stream.Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	m := make(map[netip.Addr]stream.Claim, len(claims))
	for _, c := range claims {
		m[c.IP] = c
	}
	s.nodes[node] = m
}

func (s *Sink) Upsert(node string, c stream.Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.nodes[node] == nil {
		s.nodes[node] = map[netip.Addr]stream.Claim{}
	}
	s.nodes[node][c.IP] = c
}

func (s *Sink) Delete(node string, ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	delete(s.nodes[node], ip)
}

func (s *Sink) NodeGone(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	delete(s.nodes, node)
	s.gone[node]++
}

// Claims returns a copy of node's claims and whether the node is known.
func (s *Sink) Claims(node string) (map[netip.Addr]stream.Claim, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.nodes[node]
	out := make(map[netip.Addr]stream.Claim, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, ok
}

// IPs returns node's claimed IPs, sorted.
func (s *Sink) IPs(node string) []netip.Addr {
	m, _ := s.Claims(node)
	var out []netip.Addr
	for ip := range m {
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Gone returns how often NodeGone was called for node.
func (s *Sink) Gone(node string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone[node]
}

// Eventually polls cond every 10ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
