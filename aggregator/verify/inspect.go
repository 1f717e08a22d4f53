package verify

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kubedag/kubedag/tags"
)

// ClaimState is where one node's claim on an IP stands (for `kubedag
// explain`).
type ClaimState struct {
	Node string
	// Identity is what the node asserts.
	Identity tags.Identity
	// Forwarded: the store holds the node's claim (confirmed, or still the
	// truth while an identity update is awaited).
	Forwarded bool
	// Waiting: not confirmed yet; refused at Deadline unless the view
	// confirms it first.
	Waiting  bool
	Deadline time.Time
	// Refused says why the claim was refused ("" if it was not).
	Refused Reason
}

// Inspect returns every node's claim on ip, by node name.
func (c *Core) Inspect(ip netip.Addr) []ClaimState {
	var out []ClaimState
	for node := range c.byIP[ip] {
		e := c.nodes[node][ip]
		if e == nil {
			continue
		}
		out = append(out, ClaimState{Node: node, Identity: e.asserted.Identity, Forwarded: e.stored != nil,
			Waiting: !e.deadline.IsZero(), Deadline: e.deadline, Refused: e.refused})
	}
	slices.SortFunc(out, func(a, b ClaimState) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// Inspect returns every node's claim on ip, by node name.
func (g *Gate) Inspect(ip netip.Addr) []ClaimState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.core.Inspect(ip.Unmap())
}
