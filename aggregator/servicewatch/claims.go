package servicewatch

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/tags"
)

// IPs returns the IPs a Service is reachable on: its ClusterIPs (not for
// headless Services), LoadBalancer ingress IPs and externalIPs, each once.
// Unparsable addresses are returned in bad.
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
// tags; unparsable IPs go to report.
func build(services []*corev1.Service, derive func(*corev1.Service) tags.Set, report func(svc *corev1.Service, msg string)) map[netip.Addr]*ipClaim {
	out := make(map[netip.Addr]*ipClaim)
	for _, svc := range services {
		ips, bad := IPs(svc)
		for _, b := range bad {
			report(svc, "unparsable IP "+b)
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
