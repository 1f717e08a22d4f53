package demo

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Node labels the demo gives its nodes, as a cloud would: node i is in
// zone demoZones[i%len] and of instance type demoInstanceType.
var demoZones = []string{"us-east-1a", "us-east-1b"}

const demoInstanceType = "m5.large"

// labelNodes sets the zone and instance type labels on the demo's nodes.
func (s *stack) labelNodes(ctx context.Context) error {
	for i, name := range s.nodes {
		patch := fmt.Sprintf(`{"metadata":{"labels":{"topology.kubernetes.io/zone":%q,"node.kubernetes.io/instance-type":%q}}}`,
			demoZones[i%len(demoZones)], demoInstanceType)
		if _, err := s.cluster.Client.CoreV1().Nodes().Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("label node %s: %w", name, err)
		}
	}
	return nil
}

// nodeTags is what the k8s preset's node tags (see package tags) put on a
// node's InternalIP: the cluster node tag and one tag per allowed label.
func (p preset) nodeTags(labels map[string]string) []string {
	out := []string{p.prefix() + ".nodes"}
	for _, k := range []string{"node.kubernetes.io/instance-type", "topology.kubernetes.io/zone"} {
		if v, ok := labels[k]; ok {
			out = append(out, p.prefix()+".node."+sanitize(k)+"."+sanitize(v))
		}
	}
	slices.Sort(out)
	return out
}

// showNodes waits until every node's InternalIP carries its node tags on
// the firewall and prints them: the aggregator serves them from its own
// Node informer, no agent claims them.
func (s *stack) showNodes(ctx context.Context, p *printer, pr preset, timeout time.Duration) error {
	type nodeRow struct {
		name string
		ip   netip.Addr
		want []string
	}
	var rows []nodeRow
	for _, name := range s.nodes {
		n, err := s.cluster.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", name, err)
		}
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			ip, err := netip.ParseAddr(a.Address)
			if err != nil {
				return fmt.Errorf("node %s InternalIP %q: %w", name, a.Address, err)
			}
			rows = append(rows, nodeRow{name: name, ip: ip, want: pr.nodeTags(n.Labels)})
		}
	}
	began := time.Now()
	var fw map[netip.Addr][]string
	var why string
	err := wait.PollUntilContextTimeout(ctx, pollEvery, timeout, true, func(context.Context) (bool, error) {
		fw = s.sim.Sim.Registered()
		for _, r := range rows {
			if got := fw[r.ip]; !slices.Equal(got, r.want) {
				why = fmt.Sprintf("node %s (%s) holds %v, want %v", r.name, r.ip, got, r.want)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("node tags: %s: %w", why, err)
	}
	p.raw("\n")
	p.progress("node tags on the firewall (%s): every node's InternalIP, served by the aggregator from its Node informer (no agent claims a node)", since(began))
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   \tIP\tNODE\tTAGS\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "   \t%s\t%s\t%s\n", r.ip, r.name, strings.Join(fw[r.ip], " "))
	}
	tw.Flush()
	p.raw(b.String())
	p.note("a Dynamic Address Group matching '%s.nodes' holds exactly the cluster's nodes, as they come and go", pr.prefix())
	return nil
}
