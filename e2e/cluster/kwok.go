package cluster

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// KwokNodeAnnotation marks the nodes kwok manages (value "fake"); kwok runs
// with --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// kwokStages is kwok's --config: the node and pod stages copied from kwok
// v0.8.0 (Apache-2.0, see the file's header). kwok has no built-in stages.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// nodePodCIDR returns the i'th subnet of size NodeCIDRMaskSize of PodCIDR.
// Subnet 0 is kwok's --cidr, for nodes that have no podCIDR.
func (c *Cluster) nodePodCIDR(i int) (string, error) {
	pod := netip.MustParsePrefix(c.opts.PodCIDR).Masked()
	bits := c.opts.NodeCIDRMaskSize - pod.Bits()
	if i < 0 || bits < 31 && i >= 1<<bits {
		return "", fmt.Errorf("pod CIDR %s has no room for node subnet %d of /%d", c.opts.PodCIDR, i, c.opts.NodeCIDRMaskSize)
	}
	base := binary.BigEndian.Uint32(pod.Addr().AsSlice())
	addr := base + uint32(i)<<(32-c.opts.NodeCIDRMaskSize)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], addr)
	return netip.PrefixFrom(netip.AddrFrom4(b), c.opts.NodeCIDRMaskSize).String(), nil
}

// nodePodCIDR6 returns node i's IPv6 podCIDR with DualStack:
// fd00:10:244:<i>::/64 of DualStackPodCIDR (a /56: 256 nodes).
func (c *Cluster) nodePodCIDR6(i int) (string, error) {
	if i < 0 || i > 255 {
		return "", fmt.Errorf("IPv6 pod CIDR %s has no room for node subnet %d of /64", DualStackPodCIDR, i)
	}
	b := netip.MustParsePrefix(DualStackPodCIDR).Addr().As16()
	b[7] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom16(b), 64).String(), nil
}

// serviceRange is the apiserver's --service-cluster-ip-range.
func (c *Cluster) serviceRange() string {
	if c.opts.DualStack {
		return c.opts.ServiceCIDR + "," + DualStackServiceCIDR
	}
	return c.opts.ServiceCIDR
}

// nodeAddress returns host i+1 of NodeAddressCIDR (host 1 is kwok's
// --node-ip, for nodes without an InternalIP).
func (c *Cluster) nodeAddress(i int) (string, error) {
	p := netip.MustParsePrefix(c.opts.NodeAddressCIDR).Masked()
	hostBits := 32 - p.Bits()
	if i < 0 || hostBits < 31 && i+2 >= 1<<hostBits {
		return "", fmt.Errorf("node address CIDR %s has no room for node %d", c.opts.NodeAddressCIDR, i)
	}
	base := binary.BigEndian.Uint32(p.Addr().AsSlice())
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], base+uint32(i)+1)
	return netip.AddrFrom4(b).String(), nil
}

func (c *Cluster) defaultNodePodCIDR() string {
	s, _ := c.nodePodCIDR(0) // subnet 0 always exists: setDefaults checked the mask size
	return s
}

func (c *Cluster) defaultNodeIP() string {
	s, _ := c.nodeAddress(0) // validated: IPv4 prefix of at most /30
	return s
}
