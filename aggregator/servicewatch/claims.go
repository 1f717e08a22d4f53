package servicewatch

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/tags"
)

// IPs returns the IPs a Service is reachable on: its ClusterIPs (every
// family of a dual-stack Service; none for headless Services),
// LoadBalancer ingress IPs and externalIPs, each once. Unparsable
// addresses are returned in bad. ExternalName Services and hostname-only
// LoadBalancer ingresses have no IP to tag: see Skipped.
func IPs(svc *corev1.Service) (ips []netip.Addr, bad []string) {
	add := func(s string) {
		if s == "" || s == corev1.ClusterIPNone {
			return
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			bad = append(bad, s)
			return
		}
		ip = ip.Unmap()
		if !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, nil
	}
	clusterIPs := svc.Spec.ClusterIPs
	if len(clusterIPs) == 0 && svc.Spec.ClusterIP != "" {
		clusterIPs = []string{svc.Spec.ClusterIP}
	}
	for _, s := range clusterIPs {
		add(s)
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		add(ing.IP)
	}
	for _, s := range svc.Spec.ExternalIPs {
		add(s)
	}
	return ips, bad
}

// Skip reasons: what Skipped reports, and the problem reason counted.
const (
	// SkipExternalName: an ExternalName Service is a DNS alias with no IP
	// of its own.
	SkipExternalName = "external-name"
	// SkipIngressHostname: a LoadBalancer ingress given only as a hostname
	// (AWS NLB/ELB) is not resolved: its addresses are the load
	// balancer's, change without notice and are not the Service's alone.
	SkipIngressHostname = "ingress-hostname"
)

// Skip is a part of a Service that is deliberately not tagged, and why.
type Skip struct {
	Reason string // SkipExternalName or SkipIngressHostname
	Detail string
}

// Skipped returns the parts of svc that IPs leaves out on purpose:
// ExternalName Services and LoadBalancer ingresses with a hostname but no
// IP. They are reported, not tagged.
func Skipped(svc *corev1.Service) []Skip {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return []Skip{{Reason: SkipExternalName, Detail: "ExternalName Service (a DNS alias for " + strconv.Quote(svc.Spec.ExternalName) +
			") has no IP of its own: not tagged"}}
	}
	var out []Skip
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP == "" && ing.Hostname != "" {
			out = append(out, Skip{Reason: SkipIngressHostname, Detail: "LoadBalancer ingress hostname " + strconv.Quote(ing.Hostname) +
				" not tagged: a hostname does not resolve to stable IPs of this Service alone (on EKS the load-balancer sandwich covers this path)"})
		}
	}
	return out
}

// Identity is the tag identity of a Service.
func Identity(svc *corev1.Service) tags.Identity {
	return tags.Identity{
		Kind:      tags.KindService,
		Namespace: svc.Namespace,
		Name:      svc.Name,
		UID:       string(svc.UID),
		Labels:    svc.Labels,
		Selector:  svc.Spec.Selector,
	}
}

// ipClaim is what the Services say about one IP before it becomes a store
// claim: several Services may share an IP (shared LoadBalancer IPs), and
// then the IP carries the union of their tags.
type ipClaim struct {
	tags   []string
	owners []string
}

// build derives the claims of all services. derive turns a Service into
// tags; unparsable IPs and the parts Skipped leaves out go to report, with
// the problem reason.
func build(services []*corev1.Service, derive func(*corev1.Service) tags.Set, report func(svc *corev1.Service, reason, msg string)) map[netip.Addr]*ipClaim {
	out := make(map[netip.Addr]*ipClaim)
	for _, svc := range services {
		ips, bad := IPs(svc)
		for _, b := range bad {
			report(svc, "invalid-ip", "unparsable IP "+b)
		}
		for _, s := range Skipped(svc) {
			report(svc, s.Reason, s.Detail)
		}
		if len(ips) == 0 {
			continue
		}
		set := derive(svc)
		for _, ip := range ips {
			c := out[ip]
			if c == nil {
				c = &ipClaim{}
				out[ip] = c
			}
			c.tags = append(c.tags, set.Slice()...)
			c.owners = append(c.owners, string(svc.UID))
		}
	}
	return out
}

// owner joins the owning UIDs deterministically, so an unchanged set of
// Services sharing an IP is one unchanged owner.
func (c *ipClaim) owner() string {
	slices.Sort(c.owners)
	return strings.Join(slices.Compact(c.owners), ",")
}
