package verify

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/stream"
)

type nopSink struct{}

func (nopSink) ReplaceNode(string, []stream.Claim) {}
func (nopSink) Upsert(string, stream.Claim)        {}
func (nopSink) Delete(string, netip.Addr)          {}
func (nopSink) NodeGone(string)                    {}

// BenchmarkCoreHonestUpsert is the gate's cost on the honest path: a claim
// the view confirms at once, alternating between two identities per IP
// (each a new pod, as the view says), over 10,000 IPs.
func BenchmarkCoreHonestUpsert(b *testing.B) {
	const ips = 10000
	v := fakeView{}
	claims := make([][2]stream.Claim, ips)
	for i := range ips {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		for r := range 2 {
			id := ident("shop", fmt.Sprintf("web-%d-%d", i, r), nil)
			claims[i][r] = stream.Claim{IP: ip, Identity: id}
		}
		v[ip] = []podview.Pod{{Node: "n1", Identity: claims[i][0].Identity}}
	}
	c := NewCore(v.holders, nopSink{}, wait, false)
	c.Synced(t0)
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		i, r := n%ips, (n/ips)%2
		cl := claims[i][r]
		v[cl.IP][0] = podview.Pod{Node: "n1", Identity: cl.Identity}
		c.Upsert("n1", cl, now)
		now = now.Add(time.Microsecond)
	}
	if c.Pending() != 0 {
		b.Fatalf("%d claims pending on the honest path", c.Pending())
	}
}
