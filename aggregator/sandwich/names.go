package sandwich

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// MaxNameLen is PAN-OS's limit on object and rule names.
const MaxNameLen = 63

// Kind is a kind of config entry the sandwich manages.
type Kind int

// Entry kinds in creation order: a kind only references kinds before it.
const (
	KindTag Kind = iota
	KindAddress
	KindService
	KindNATRule
	KindRoute
	numKinds
)

var kindNames = [...]string{"tag", "address", "service", "nat-rule", "static-route"}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// Kinds lists every kind in creation order.
func Kinds() []Kind { return []Kind{KindTag, KindAddress, KindService, KindNATRule, KindRoute} }

// Names derives kubedag's cluster-scoped names. Every name starts with
// "kd.<cluster>." (cluster names hold no '.', so one cluster's prefix is
// never a prefix of another's) and is at most 63 characters: longer names
// keep the prefix, are cut, and end in a hash of the full name, so they
// stay deterministic and distinct.
type Names struct {
	Cluster string
}

// Prefix is the start of every name of the cluster.
func (n Names) Prefix() string { return "kd." + n.Cluster + "." }

// Tag is the PAN-OS tag object that marks the cluster's objects and rules.
func (n Names) Tag() string { return "kubedag." + n.Cluster }

// TagPrefix is the start of every kubedag cluster's tag.
const TagPrefix = "kubedag."

// Owns reports whether name is one of the cluster's names.
func (n Names) Owns(name string) bool { return strings.HasPrefix(name, n.Prefix()) }

func (n Names) name(rest string) string {
	full := n.Prefix() + sanitize(rest)
	if len(full) <= MaxNameLen {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	h := hex.EncodeToString(sum[:4])
	cut := MaxNameLen - len(h) - 1
	return strings.TrimRight(full[:cut], "-._") + "-" + h
}

// Address names a Service's ILB address object.
func (n Names) Address(ns, svc string) string { return n.name(ns + "." + svc + ".ilb") }

// Service names the service object of a firewall port.
func (n Names) Service(port int) string { return n.name("tcp" + strconv.Itoa(port)) }

// Inbound names a Service's inbound NAT rule (the guide's
// <service>-<port>-inbound, scoped).
func (n Names) Inbound(ns, svc string, port int) string {
	return n.name(ns + "." + svc + "-" + strconv.Itoa(port) + "-inbound")
}

// Outbound names a subnet's outbound NAT rule.
func (n Names) Outbound(cidr netip.Prefix) string { return n.name(prefixName(cidr) + "-outbound") }

// Route names the route to a subnet through one firewall zone.
func (n Names) Route(cidr netip.Prefix, zone string) string {
	return n.name(prefixName(cidr) + "-" + zone)
}

func prefixName(p netip.Prefix) string {
	return p.Addr().String() + "_" + strconv.Itoa(p.Bits())
}

// sanitize keeps the characters PAN-OS allows in names (letters, digits,
// '.', '-', '_') and replaces the rest with '_'.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
