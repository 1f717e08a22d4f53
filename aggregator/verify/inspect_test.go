package verify

import (
	"net/netip"
	"testing"

	"github.com/kubedag/kubedag/aggregator/podview"
)

// TestCoreInspect follows one IP claimed by two nodes: the honest claim is
// forwarded, the other waits with a deadline and is then refused, and a
// withdrawn claim disappears.
func TestCoreInspect(t *testing.T) {
	c, v, _ := newTestCore()
	ip := netip.MustParseAddr("10.0.0.5")
	web, db := ident("shop", "web", nil), ident("shop", "db", nil)
	v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
	c.Upsert("n1", claim("10.0.0.5", web), at(0))
	c.Upsert("n2", claim("10.0.0.5", db), at(0))

	got := c.Inspect(ip)
	if len(got) != 2 || got[0].Node != "n1" || got[1].Node != "n2" {
		t.Fatalf("Inspect = %+v, want n1 and n2 in order", got)
	}
	if g := got[0]; !g.Forwarded || g.Waiting || g.Refused != "" || g.Identity.Name != "web" {
		t.Errorf("honest claim = %+v", g)
	}
	if g := got[1]; g.Forwarded || !g.Waiting || !g.Deadline.Equal(at(wait)) || g.Refused != "" || g.Identity.Name != "db" {
		t.Errorf("waiting claim = %+v", g)
	}

	c.Expire(at(wait))
	got = c.Inspect(ip)
	if g := got[1]; g.Forwarded || g.Waiting || g.Refused != ReasonOtherNode {
		t.Errorf("refused claim = %+v, want refused %s", g, ReasonOtherNode)
	}

	c.Delete("n2", ip)
	if got := c.Inspect(ip); len(got) != 1 || got[0].Node != "n1" {
		t.Errorf("after delete Inspect = %+v", got)
	}
	if got := c.Inspect(netip.MustParseAddr("10.0.0.6")); len(got) != 0 {
		t.Errorf("unclaimed IP: %+v", got)
	}
}
