package demo

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// object is a pod or Service of the demo namespace that holds an IP.
type object struct {
	Kind      string // "pod" or "svc"
	Name      string
	Node      string // pods only
	IP        netip.Addr
	Labels    map[string]string
	OwnerKind string            // pods: controller kind (ReplicaSet, ...)
	OwnerName string            // pods: controller name
	Selector  map[string]string // services only
}

func (o object) ref() string { return o.Kind + "/" + o.Name }

// world is one observation: the demo namespace's IP holders according to
// the API server, and what the firewall has registered.
type world struct {
	Objects   []object // Running pods with an IP (not terminating) and Services with a ClusterIP
	Unsettled []string // pods not Running yet or terminating
	Firewall  map[netip.Addr][]string
}

// observe lists the namespace's pods and Services and reads the emulator.
func observe(ctx context.Context, c kubernetes.Interface, ns string, firewall func() map[netip.Addr][]string) (world, error) {
	var w world
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return w, fmt.Errorf("list pods: %w", err)
	}
	svcs, err := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return w, fmt.Errorf("list services: %w", err)
	}
	// Read the firewall last: what it shows can only be newer than the
	// cluster state it is compared with.
	w.Firewall = firewall()
	for i := range pods.Items {
		p := &pods.Items[i]
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || err != nil {
			w.Unsettled = append(w.Unsettled, p.Name)
			continue
		}
		o := object{Kind: "pod", Name: p.Name, Node: p.Spec.NodeName, IP: ip, Labels: p.Labels}
		if ref := metav1.GetControllerOf(p); ref != nil {
			o.OwnerKind, o.OwnerName = ref.Kind, ref.Name
		}
		w.Objects = append(w.Objects, o)
	}
	for _, s := range svcs.Items {
		ip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil {
			continue // headless
		}
		w.Objects = append(w.Objects, object{Kind: "svc", Name: s.Name, IP: ip, Labels: s.Labels, Selector: s.Spec.Selector})
	}
	slices.SortFunc(w.Objects, func(a, b object) int {
		return cmp.Or(-cmp.Compare(a.Kind, b.Kind), a.IP.Compare(b.IP))
	})
	return w, nil
}

// pods counts the Running pods.
func (w world) pods() int {
	n := 0
	for _, o := range w.Objects {
		if o.Kind == "pod" {
			n++
		}
	}
	return n
}

// byIP returns the object holding ip.
func (w world) byIP(ip netip.Addr) (object, bool) {
	for _, o := range w.Objects {
		if o.IP == ip {
			return o, true
		}
	}
	return object{}, false
}

// preset computes tags the way the k8s preset documents them (see package
// tags): written out here independently, so the demo checks the product
// rather than repeating it.
type preset struct {
	Cluster string
	Deny    []string
}

func (p preset) prefix() string { return "k8s.cl_" + p.Cluster }

func (p preset) nsTag(ns string) string { return p.prefix() + ".ns_" + ns }

// expected returns the tags each object's IP must carry.
func (p preset) expected(ns string, objs []object) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	base := p.nsTag(ns)
	for _, o := range objs {
		t := []string{base}
		switch o.Kind {
		case "pod":
			if o.OwnerKind == "ReplicaSet" {
				t = append(t, base+".rs_"+o.OwnerName)
			}
			for _, s := range objs {
				if s.Kind == "svc" && len(s.Selector) > 0 && labels.SelectorFromSet(s.Selector).Matches(labels.Set(o.Labels)) {
					t = append(t, base+".svc_"+s.Name)
				}
			}
		case "svc":
			t = append(t, base+".svc_"+o.Name)
		}
		for k, v := range o.Labels {
			if slices.Contains(p.Deny, k) {
				continue
			}
			// Characters PAN-OS may refuse become '_' (the demo keeps
			// names short: no truncation).
			if v == "" {
				t = append(t, base+"."+sanitize(k))
			} else {
				t = append(t, base+"."+sanitize(k)+"."+sanitize(v))
			}
		}
		slices.Sort(t)
		out[o.IP] = slices.Compact(t)
	}
	return out
}

// sanitize replaces every character outside [A-Za-z0-9._-] by '_', as
// package tags documents: pods carry topology.kubernetes.io/zone, which
// the API server copies from their node when it binds them.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// inNamespace returns the firewall's registrations that carry a tag of
// namespace ns (with only those tags).
func (p preset) inNamespace(ns string, fw map[netip.Addr][]string) map[netip.Addr][]string {
	base := p.nsTag(ns)
	out := map[netip.Addr][]string{}
	for ip, tags := range fw {
		for _, t := range tags {
			if t == base || strings.HasPrefix(t, base+".") {
				out[ip] = append(out[ip], t)
			}
		}
	}
	return out
}

// mismatch compares the firewall's tags for namespace ns with the
// expectation; it returns "" when they are equal, else the first few
// differences.
func mismatch(want, got map[netip.Addr][]string) string {
	var diffs []string
	for ip, w := range want {
		g, ok := got[ip]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s not registered (want %s)", ip, strings.Join(w, " ")))
		case !slices.Equal(g, w):
			diffs = append(diffs, fmt.Sprintf("%s has %s, want %s", ip, strings.Join(g, " "), strings.Join(w, " ")))
		}
	}
	for ip, g := range got {
		if _, ok := want[ip]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s still has %s", ip, strings.Join(g, " ")))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 4 {
		diffs = append(diffs[:4], fmt.Sprintf("and %d more", len(diffs)-4))
	}
	return strings.Join(diffs, "; ")
}
