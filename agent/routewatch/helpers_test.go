package routewatch

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// recorder is a Sink that checks every Observe is a change.
type recorder struct {
	mu     sync.Mutex
	state  map[netip.Addr]Liveness
	events []string
}

func newRecorder() *recorder { return &recorder{state: map[netip.Addr]Liveness{}} }

func (r *recorder) Observe(ip netip.Addr, l Liveness, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.IsZero() {
		panic("zero time")
	}
	if r.state[ip] == l {
		panic(fmt.Sprintf("Observe(%s, %+v) without a change", ip, l))
	}
	if l == (Liveness{}) {
		delete(r.state, ip)
	} else {
		r.state[ip] = l
	}
	r.events = append(r.events, fmt.Sprintf("%s %+v", ip, l))
}

func TestHostDst(t *testing.T) {
	tests := []struct {
		cidr string
		want string // "" = not a usable host route
	}{
		{"10.1.2.3/32", "10.1.2.3"},
		{"10.1.2.0/24", ""},
		{"fd00::1/128", "fd00::1"},
		{"fd00::/64", ""},
		{"fe80::1/128", ""},
		{"224.0.0.1/32", ""},
		{"127.0.0.1/32", ""},
		{"0.0.0.0/32", ""},
	}
	for _, tc := range tests {
		_, ipn, err := net.ParseCIDR(tc.cidr)
		if err != nil {
			t.Fatal(err)
		}
		ip, ok := hostDst(ipn)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != tc.want {
			t.Errorf("hostDst(%s) = %q, want %q", tc.cidr, got, tc.want)
		}
	}
	if _, ok := hostDst(nil); ok {
		t.Error("hostDst(nil) ok")
	}
}
