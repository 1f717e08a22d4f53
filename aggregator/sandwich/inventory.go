// Package sandwich keeps the firewall side of the EKS inbound "load balancer
// sandwich" (internet -> external ALB/NLB -> VM-Series firewall set -> each
// labelled Service's internal NLB -> pods) in step: address and service
// objects and an inbound NAT rule per labelled Service, an outbound NAT rule
// and static routes per cluster subnet, committed (and pushed from Panorama)
// once per change burst.
//
// The network facts it needs (cluster subnets, the firewall set with its
// zones and trust gateways, the internal NLBs) are an Inventory, read from a
// Source: static configuration, or AWS discovery (package sandwich/aws).
//
// Shape: Build is a pure function from (cluster, Inventory, Services,
// Target) to the Desired config (XPath -> element); Plan is a pure diff from
// what a target holds (Actual, parsed by ParseHeld) to ordered operations;
// Engine is the thin loop (one per target: read, plan, apply, one partial
// commit per burst, Panorama push, jobs polled, backoff). Ownership: every
// name starts with "kd.<cluster>." and every object and rule carries the
// tag object "kubedag.<cluster>"; Plan touches nothing without both (routes,
// which cannot carry tags, by the name alone). The Kubernetes side (labelled
// Services in, Events out) is package sandwich/kube.
package sandwich

import (
	"context"
	"net/netip"
)

// Inventory is what the sandwich knows about the cluster's network. A Source
// returns it whole; the engine never mixes two reads.
type Inventory struct {
	// Subnets are the cluster's subnets. Each gets one outbound NAT rule
	// and, on every firewall, one static route per firewall zone.
	Subnets []Subnet
	// Firewalls is the firewall set the sandwich runs through.
	Firewalls []Firewall
	// LoadBalancers are the internal NLBs known to the source, by DNS name
	// (lower case, as in a Service's status.loadBalancer.ingress[].hostname).
	// Nil means the source does not check load balancers (static inventory):
	// every hostname is taken as given. Non-nil: a hostname absent from the
	// map, or present but not an internal network load balancer in the
	// cluster's VPC, is reported and not programmed.
	LoadBalancers map[string]LoadBalancer
	// VPC is the cluster's VPC ID, against which load balancers are
	// checked. Empty when the source does not know it (static inventory).
	VPC string
}

// Subnet is one cluster subnet.
type Subnet struct {
	// ID is the cloud's subnet ID (e.g. subnet-0abc), or a name in static
	// config. Optional; used in names and reports only.
	ID string
	// CIDR is the subnet's prefix (IPv4 or IPv6).
	CIDR netip.Prefix
	// Zone is the availability zone (e.g. us-east-1a). Optional.
	Zone string
}

// Firewall is one VM-Series firewall of the set.
type Firewall struct {
	// ID is the instance ID (or a name in static config).
	ID string
	// Zone is the firewall's availability zone.
	Zone string
	// TrustSubnet is the prefix of the subnet of its trust interface.
	TrustSubnet netip.Prefix
	// TrustGateway is the next hop for cluster subnets from this firewall:
	// the trust subnet's VPC router, its first host address.
	TrustGateway netip.Addr
}

// LoadBalancer is an internal load balancer as the cloud describes it.
type LoadBalancer struct {
	DNSName string
	ARN     string
	// Type is "network", "application" or "gateway".
	Type string
	// Scheme is "internal" or "internet-facing".
	Scheme string
	// VPC is the load balancer's VPC ID.
	VPC string
}

// Source yields the current inventory.
//
// Implementations cache and refresh on their own schedule; Inventory must be
// cheap to call often. On a failed refresh a Source returns the last good
// inventory together with the error (or a zero Inventory and the error when
// it never had one); the engine then keeps what the firewalls hold rather
// than removing routes or rules because the cloud was unreachable.
type Source interface {
	Inventory(ctx context.Context) (Inventory, error)
	// Refresh asks for a re-read soon (a labelled Service changed, so a new
	// load balancer may exist). It must not block.
	Refresh()
}
