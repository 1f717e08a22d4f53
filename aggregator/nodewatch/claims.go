package nodewatch

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/tags"
)

// Addr is one address of a Node to tag.
type Addr struct {
	IP       netip.Addr
	External bool // an ExternalIP, not an InternalIP
}

// Addrs returns a Node's InternalIPs and, with external, its ExternalIPs,
// each once (an address listed as both counts as internal). Unparsable
// or unspecified addresses are returned in bad.
func Addrs(n *corev1.Node, external bool) (out []Addr, bad []string) {
	add := func(s string, ext bool) {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || ip.IsUnspecified() || ip.Zone() != "" {
			bad = append(bad, s)
			return
		}
		ip = ip.Unmap()
		if i := slices.IndexFunc(out, func(a Addr) bool { return a.IP == ip }); i >= 0 {
			out[i].External = out[i].External && ext
			return
		}
		out = append(out, Addr{IP: ip, External: ext})
	}
	for _, a := range n.Status.Addresses {
		switch {
		case a.Type == corev1.NodeInternalIP:
			add(a.Address, false)
		case a.Type == corev1.NodeExternalIP && external:
			add(a.Address, true)
		}
	}
	return out, bad
}

// Identity is the tag identity of a Node.
func Identity(n *corev1.Node) tags.Identity {
	return tags.Identity{Kind: tags.KindNode, Name: n.Name, UID: string(n.UID), Labels: n.Labels}
}

// ipClaim is what the Nodes say about one IP: normally one Node; two Nodes
// reporting one address (a misconfiguration, or a replaced node whose old
// object lingers) share it, with the union of their tags.
type ipClaim struct {
	tags   []string
	owners []string
}

func (c *ipClaim) owner() string {
	slices.Sort(c.owners)
	return strings.Join(slices.Compact(c.owners), ",")
}
