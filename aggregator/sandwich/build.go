package sandwich

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Service is a labelled Service as the builder needs it, already checked
// by the Service side (port range, one Service per firewall port, an ILB
// hostname).
type Service struct {
	Namespace, Name string
	// Port is the firewall port (the label's value, the ALB target group's
	// port).
	Port int
	// TargetPort is the Service's port the ILB listens on.
	TargetPort int
	// Hostname is the ILB's DNS name.
	Hostname string
}

// Key is namespace/name.
func (s Service) Key() string { return s.Namespace + "/" + s.Name }

// Problem reasons: the Kubernetes Event reasons and metric labels.
const (
	ReasonBadPort        = "BadPort"
	ReasonBadTargetPort  = "BadTargetPort"
	ReasonDuplicatePort  = "DuplicatePort"
	ReasonNoHostname     = "NoILBHostname"
	ReasonNotInternalNLB = "NotInternalNLB"
	ReasonILBNotFound    = "ILBNotFound"
	ReasonNameConflict   = "NameConflict"
	ReasonPortConflict   = "FirewallPortConflict" // another cluster's inbound rule holds the port
	ReasonSetFailed      = "SetFailed"
	ReasonCommitFailed   = "CommitFailed"
	ReasonPushFailed     = "PushFailed"
	ReasonTargetDown     = "TargetDown"
	ReasonRepaired       = "Repaired"
	ReasonBadSubnet      = "BadSubnet"
	// ReasonIPv6Subnet: IPv6 subnets get no routes and no outbound NAT
	// (PAN-OS's IPv6 outbound translation is NPTv6/NAT64, not modelled).
	ReasonIPv6Subnet   = "IPv6SubnetUnsupported"
	ReasonRuleNotFound = "PlacementRuleNotFound"
)

// Problem is something that kept a Service (or, with Service empty, a
// subnet or the target) from being programmed as asked, or a repair.
type Problem struct {
	// Service is namespace/name; empty for problems of no one Service.
	Service string
	// Target is the sandwich target's name; empty for input problems.
	Target  string
	Reason  string
	Message string
}

func (p Problem) String() string {
	s := p.Reason + ": " + p.Message
	if p.Target != "" {
		s = "target " + p.Target + ": " + s
	}
	return s
}

// Entry is one config entry kubedag wants on a target.
type Entry struct {
	Kind Kind
	Name string
	// Element is the whole <entry name="...">...</entry>.
	Element string
	// Service is the namespace/name of the Service the entry is for; empty
	// for the tag object and subnet entries.
	Service string

	canon string
	// port is a Service's service object's firewall port.
	port string
}

// Desired is the config a target should hold for one cluster, in creation
// order (by kind, then name).
type Desired struct {
	Entries []Entry
}

// Names returns the names of the desired entries of kind k.
func (d Desired) Names(k Kind) []string {
	var out []string
	for _, e := range d.Entries {
		if e.Kind == k {
			out = append(out, e.Name)
		}
	}
	return out
}

// Build returns the config target t should hold for cluster: the ownership
// tag; per Service an FQDN address object, a service object and an inbound
// NAT rule; per subnet an outbound NAT rule and one static route per
// firewall zone. It is pure. Services the inventory does not vouch for,
// and subnets it cannot route, are left out and reported.
//
// Routes: every firewall gets a route to each subnet through every zone's
// trust gateway, with metric 10 + the zone's index (zones sorted) and path
// monitoring of that gateway, as Palo Alto's ASG Lambda does. A firewall
// reaches only its own zone's gateway, so monitoring leaves exactly one
// route active on each, and one template serves every firewall of the set.
func Build(cluster string, inv Inventory, svcs []Service, t Target) (Desired, []Problem) {
	n := Names{Cluster: cluster}
	tag := n.Tag()
	var entries []Entry
	var problems []Problem
	add := func(k Kind, svc string, e *elem) {
		entries = append(entries, Entry{Kind: k, Name: e.name, Element: e.String(), Service: svc, canon: e.canonical()})
	}
	addPort := func(svc string, port int, e *elem) {
		add(KindService, svc, e)
		entries[len(entries)-1].port = strconv.Itoa(port)
	}
	marker := members("tag", tag)

	add(KindTag, "", named(tag,
		leaf("color", "color24"),
		leaf("comments", "Managed by kubedag for cluster "+cluster+": objects and rules with this tag are rewritten or deleted by kubedag"),
	))

	svcs = slices.Clone(svcs)
	slices.SortFunc(svcs, func(a, b Service) int { return cmp.Compare(a.Key(), b.Key()) })
	for _, s := range svcs {
		if inv.LoadBalancers != nil {
			lb, ok := inv.LoadBalancers[strings.ToLower(s.Hostname)]
			switch {
			case !ok:
				problems = append(problems, Problem{Service: s.Key(), Reason: ReasonILBNotFound,
					Message: fmt.Sprintf("no load balancer with DNS name %s in the cluster's inventory (yet)", s.Hostname)})
				continue
			case lb.Type != "network" || lb.Scheme != "internal":
				problems = append(problems, Problem{Service: s.Key(), Reason: ReasonNotInternalNLB,
					Message: fmt.Sprintf("load balancer %s is %s %s, not an internal network load balancer", s.Hostname, lb.Scheme, lb.Type)})
				continue
			case inv.VPC != "" && lb.VPC != inv.VPC:
				problems = append(problems, Problem{Service: s.Key(), Reason: ReasonNotInternalNLB,
					Message: fmt.Sprintf("load balancer %s is in VPC %s, not the cluster's VPC %s", s.Hostname, lb.VPC, inv.VPC)})
				continue
			}
		}
		addr, svcObj, rule := n.Address(s.Namespace, s.Name), n.Service(s.Port), n.Inbound(s.Namespace, s.Name, s.Port)
		desc := fmt.Sprintf("kubedag cluster %s: Service %s", cluster, s.Key())
		add(KindAddress, s.Key(), named(addr, leaf("fqdn", strings.ToLower(s.Hostname)), leaf("description", desc+" internal NLB"), marker))
		addPort(s.Key(), s.Port, named(svcObj,
			el("protocol", el("tcp", leaf("port", strconv.Itoa(s.Port)))),
			leaf("description", desc+" firewall port"), marker))
		add(KindNATRule, s.Key(), named(rule,
			el("source-translation", el("dynamic-ip-and-port", el("interface-address", leaf("interface", t.TrustInterface)))),
			el("dynamic-destination-translation",
				leaf("translated-address", addr), leaf("translated-port", strconv.Itoa(s.TargetPort)),
				leaf("distribution", "round-robin")),
			members("to", t.UntrustZone),
			members("from", t.UntrustZone),
			members("source", "any"),
			members("destination", "any"),
			leaf("service", svcObj),
			leaf("nat-type", "ipv4"),
			leaf("to-interface", t.UntrustInterface),
			leaf("description", fmt.Sprintf("%s inbound: port %d to its internal NLB port %d", desc, s.Port, s.TargetPort)),
			marker))
	}

	gws := gateways(inv.Firewalls)
	subnets := slices.Clone(inv.Subnets)
	slices.SortFunc(subnets, func(a, b Subnet) int { return cmp.Compare(a.CIDR.String(), b.CIDR.String()) })
	for i, sn := range subnets {
		if p := subnetProblem(sn); p != nil {
			problems = append(problems, *p)
			continue
		}
		if i > 0 && subnets[i-1].CIDR == sn.CIDR {
			continue
		}
		cidr := sn.CIDR.Masked()
		add(KindNATRule, "", named(n.Outbound(cidr),
			el("source-translation", el("dynamic-ip-and-port", el("interface-address", leaf("interface", t.UntrustInterface)))),
			members("to", t.UntrustZone),
			members("from", t.TrustZone),
			members("source", cidr.String()),
			members("destination", "any"),
			leaf("service", "any"),
			leaf("nat-type", "ipv4"),
			leaf("description", fmt.Sprintf("kubedag cluster %s: outbound from subnet %s %s", cluster, sn.ID, cidr)),
			marker))
		for zi, gw := range gws {
			add(KindRoute, "", named(n.Route(cidr, gw.label),
				leaf("destination", cidr.String()),
				leaf("interface", t.TrustInterface),
				el("nexthop", leaf("ip-address", gw.addr.String())),
				leaf("metric", strconv.Itoa(10+zi)),
				el("path-monitor",
					leaf("enable", "yes"),
					leaf("failure-condition", "any"),
					el("monitor-destinations", named("trust-gateway",
						leaf("enable", "yes"),
						leaf("source", t.PathMonitorSource),
						leaf("destination", gw.addr.String()),
						leaf("interval", "3"),
						leaf("count", "5"))))))
		}
	}
	slices.SortStableFunc(entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	// Two Services or subnets whose names hash alike would fight over
	// one entry: keep the first, report the rest.
	entries = slices.CompactFunc(entries, func(a, b Entry) bool {
		if a.Kind == b.Kind && a.Name == b.Name {
			problems = append(problems, Problem{Service: b.Service, Reason: ReasonNameConflict,
				Message: fmt.Sprintf("%s name %s is also derived for another Service or subnet", b.Kind, b.Name)})
			return true
		}
		return false
	})
	return Desired{Entries: entries}, problems
}

// subnetProblem says why a subnet is not programmed; nil when it is.
func subnetProblem(sn Subnet) *Problem {
	switch {
	case !sn.CIDR.IsValid():
		return &Problem{Reason: ReasonBadSubnet, Message: fmt.Sprintf("subnet %s: no valid CIDR; it gets no route and no outbound NAT rule", sn.ID)}
	case sn.CIDR.Addr().Is6() && !sn.CIDR.Addr().Is4In6():
		return &Problem{Reason: ReasonIPv6Subnet, Message: fmt.Sprintf("subnet %s %s: kubedag programs IPv4 only; this IPv6 subnet gets no route and no outbound NAT rule (IPv6 outbound translation is NPTv6/NAT64, which kubedag does not configure), so its pods are not reachable through the firewalls over IPv6", sn.ID, sn.CIDR)}
	case !sn.CIDR.Addr().Is4():
		return &Problem{Reason: ReasonBadSubnet, Message: fmt.Sprintf("subnet %s %s: only IPv4 subnets are routed", sn.ID, sn.CIDR)}
	}
	return nil
}

// SubnetProblems returns, per subnet of inv that Build leaves out, why.
func SubnetProblems(inv Inventory) []Problem {
	var out []Problem
	for _, sn := range inv.Subnets {
		if p := subnetProblem(sn); p != nil {
			out = append(out, *p)
		}
	}
	return out
}

type gateway struct {
	label string
	addr  netip.Addr
}

// gateways returns the distinct trust gateways of the firewall set, sorted
// by zone then address, labelled by zone (plus the address when a zone has
// several).
func gateways(fws []Firewall) []gateway {
	type key struct {
		zone string
		addr netip.Addr
	}
	seen := map[key]bool{}
	var keys []key
	perZone := map[string]int{}
	for _, f := range fws {
		k := key{f.Zone, f.TrustGateway}
		if !k.addr.IsValid() || !k.addr.Is4() || seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		perZone[k.zone]++
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.zone, b.zone), a.addr.Compare(b.addr)) })
	out := make([]gateway, len(keys))
	for i, k := range keys {
		label := k.zone
		if label == "" || perZone[k.zone] > 1 {
			label = strings.Trim(k.zone+"-"+k.addr.String(), "-")
		}
		out[i] = gateway{label: label, addr: k.addr}
	}
	return out
}
