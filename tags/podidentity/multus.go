package podidentity

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NetworkStatusAnnotation is the pod annotation in which Multus (and
// other CNI meta-plugins following the Network Plumbing Working Group's
// spec) records every interface of the pod: a JSON list of
// {"name", "interface", "ips", "mac", "default", "dns"}.
const NetworkStatusAnnotation = "k8s.v1.cni.cncf.io/network-status"

// Bounds of what ParseNetworkStatus accepts, so a hostile or broken
// annotation costs little: the API server already caps all annotations of
// an object at 256 KiB.
const (
	maxNetworks      = 32
	maxIPsPerNetwork = 16
	maxNetworkName   = 253 + 1 + 63 // namespace/name of a NetworkAttachmentDefinition
)

// NetworkIP is an IP of a pod's secondary (non-default) interface and the
// network attachment it belongs to.
type NetworkIP struct {
	IP netip.Addr
	// Network is the attachment's name as network-status gives it,
	// "namespace/name" (a NetworkAttachmentDefinition), or "name" alone.
	Network string
}

// ErrNetworkStatus wraps every reason an annotation is refused.
var ErrNetworkStatus = errors.New("malformed " + NetworkStatusAnnotation + " annotation")

// ParseNetworkStatus returns the IPs of the secondary interfaces listed in
// a network-status annotation value: every entry not marked default,
// sorted by IP, each IP once (an IP listed under two networks is refused:
// it cannot be told which it is). The default network's IPs are the pod's
// own (status.podIPs) and are left out. A malformed value (bad JSON,
// names, or addresses, or more than the bounds allow) returns an error
// wrapping ErrNetworkStatus and no IPs: a pod's secondary IPs are tagged
// all or none. Addresses that are not global unicast (link-local,
// loopback, multicast) are not routable pod addresses and are left out.
func ParseNetworkStatus(value string) ([]NetworkIP, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var entries []struct {
		Name    string   `json:"name"`
		IPs     []string `json:"ips"`
		Default bool     `json:"default"`
	}
	if err := json.Unmarshal([]byte(value), &entries); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNetworkStatus, err)
	}
	if len(entries) > maxNetworks {
		return nil, fmt.Errorf("%w: %d networks, at most %d", ErrNetworkStatus, len(entries), maxNetworks)
	}
	var out []NetworkIP
	for i, e := range entries {
		if e.Default {
			continue
		}
		if err := checkNetworkName(e.Name); err != nil {
			return nil, fmt.Errorf("%w: network %d: %v", ErrNetworkStatus, i, err)
		}
		if len(e.IPs) > maxIPsPerNetwork {
			return nil, fmt.Errorf("%w: network %q: %d IPs, at most %d", ErrNetworkStatus, e.Name, len(e.IPs), maxIPsPerNetwork)
		}
		for _, s := range e.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil || ip.Zone() != "" {
				return nil, fmt.Errorf("%w: network %q: IP %q does not parse", ErrNetworkStatus, e.Name, s)
			}
			if ip = ip.Unmap(); !ip.IsGlobalUnicast() {
				continue // link-local, loopback, multicast: not one of the pod's routable addresses
			}
			out = append(out, NetworkIP{IP: ip, Network: e.Name})
		}
	}
	slices.SortFunc(out, func(a, b NetworkIP) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return strings.Compare(a.Network, b.Network)
	})
	for i := 1; i < len(out); i++ {
		if out[i].IP == out[i-1].IP {
			if out[i].Network != out[i-1].Network {
				return nil, fmt.Errorf("%w: IP %s listed under networks %q and %q", ErrNetworkStatus, out[i].IP, out[i-1].Network, out[i].Network)
			}
		}
	}
	out = slices.CompactFunc(out, func(a, b NetworkIP) bool { return a.IP == b.IP })
	return out, nil
}

// checkNetworkName accepts "name" or "namespace/name" of DNS-label-like
// parts ([a-z0-9.-], as Kubernetes object names).
func checkNetworkName(n string) error {
	if n == "" || len(n) > maxNetworkName {
		return fmt.Errorf("name %q: empty or longer than %d", n, maxNetworkName)
	}
	ns, name, ok := strings.Cut(n, "/")
	parts := []string{ns}
	if ok {
		parts = append(parts, name)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("name %q: empty part", n)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return fmt.Errorf("name %q: character %q not allowed", n, c)
			}
		}
	}
	return nil
}

// SecondaryIPs returns the secondary-interface IPs of a pod from its
// annotations, leaving out any IP the pod holds as its own (primary, in
// primary); err reports a malformed annotation (and then no IPs).
func SecondaryIPs(annotations map[string]string, primary []netip.Addr) ([]NetworkIP, error) {
	v, ok := annotations[NetworkStatusAnnotation]
	if !ok {
		return nil, nil
	}
	nets, err := ParseNetworkStatus(v)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(nets, func(n NetworkIP) bool { return slices.Contains(primary, n.IP) }), nil
}
