package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid/panossim"
)

// Deadlines are generous: two loaded cores run the control plane, kwok,
// the emulator, the aggregator and three agents.
const (
	convergeTimeout = 90 * time.Second
	pollEvery       = 150 * time.Millisecond
)

// state is IP -> sorted tags.
type state map[string][]string

// simDo calls a /_sim/ control endpoint; out, if not nil, receives the
// JSON answer.
func (e *env) simDo(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, e.simURL+"/_sim/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := e.simHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s /_sim/%s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s /_sim/%s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s /_sim/%s: decode: %w", method, path, err)
	}
	return nil
}

func (e *env) simPost(ctx context.Context, path string) error {
	return e.simDo(ctx, http.MethodPost, path, nil)
}

// simRegistered is everything the emulator holds in vsys1 (/_sim/registered).
func (e *env) simRegistered(ctx context.Context) (state, error) {
	var items []struct {
		IP   string   `json:"ip"`
		Tags []string `json:"tags"`
	}
	if err := e.simDo(ctx, http.MethodGet, "registered", &items); err != nil {
		return nil, err
	}
	s := state{}
	for _, it := range items {
		tags := slices.Clone(it.Tags)
		sort.Strings(tags)
		s[it.IP] = tags
	}
	return s, nil
}

// xmlRegistered is everything the emulator holds, listed through the XML
// API (show object registered-ip) by kubedag's own client.
func (e *env) xmlRegistered(ctx context.Context) (state, error) {
	list, err := e.fw.RegisteredIPs(ctx, "")
	if err != nil {
		return nil, err
	}
	s := state{}
	for _, r := range list {
		for _, t := range r.Tags {
			s[r.IP.String()] = append(s[r.IP.String()], t.Name)
		}
		sort.Strings(s[r.IP.String()])
	}
	return s, nil
}

func (e *env) simStats(ctx context.Context) (panossim.Stats, error) {
	var st panossim.Stats
	err := e.simDo(ctx, http.MethodGet, "stats", &st)
	return st, err
}

// owned keeps the tags kubedag owns (the cluster's prefix) and drops the
// canary IP: what the aggregator is supposed to maintain.
func owned(s state) state {
	out := state{}
	for ip, tags := range s {
		if ip == canaryIP || ip == floorIP {
			continue
		}
		var keep []string
		for _, t := range tags {
			if strings.HasPrefix(t, tagPrefix+".") {
				keep = append(keep, t)
			}
		}
		if len(keep) > 0 {
			out[ip] = keep
		}
	}
	return out
}

// expected computes, from the API server alone, what the emulator must
// hold: the k8s preset (namespace, owner, service and label tags) on every
// Running pod IP of the system's nodes (hostNetwork pods excluded: the
// node IP never carries a pod's tags), and the namespace, service and label
// tags on every ClusterIP. Service membership is the service's selector
// over Ready pods, so it is ahead of the EndpointSlices the aggregator reads
// and equality is never reached early.
func (e *env) expected(ctx context.Context) (state, error) {
	cs := e.c.Client
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	svcs, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	ours := map[string]bool{}
	for _, n := range e.allNodes() {
		ours[n] = true
	}
	want := state{}
	add := func(ip string, tags ...string) {
		want[ip] = append(want[ip], tags...)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	// Node tags (the aggregator runs with tags.nodes on, ExternalIPs too,
	// default node labels) on every node's addresses.
	for i := range nodes.Items {
		n := &nodes.Items[i]
		for _, a := range n.Status.Addresses {
			switch a.Type {
			case corev1.NodeInternalIP:
				add(canonical(a.Address), nodesTag)
			case corev1.NodeExternalIP:
				add(canonical(a.Address), nodesTag+".external")
			default:
				continue
			}
			for k, v := range n.Labels {
				if slices.Contains(tags.DefaultNodeLabels, k) {
					add(canonical(a.Address), tagPrefix+".node."+sanitize(k)+"."+sanitize(v))
				}
			}
		}
	}
	for i := range svcs.Items {
		s := &svcs.Items[i]
		for _, ip := range s.Spec.ClusterIPs {
			if ip == "" || ip == corev1.ClusterIPNone {
				continue
			}
			ip = canonical(ip)
			add(ip, nsTag(s.Namespace), svcTag(s.Namespace, s.Name))
			add(ip, labelTags(s.Namespace, s.Labels)...)
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if !ours[p.Spec.NodeName] || p.Spec.HostNetwork || p.DeletionTimestamp != nil ||
			p.Status.Phase != corev1.PodRunning || len(p.Status.PodIPs) == 0 {
			continue
		}
		var own []string
		for _, pip := range p.Status.PodIPs {
			addPod(add, canonical(pip.IP), p, svcs.Items)
			own = append(own, canonical(pip.IP))
		}
		// Secondary (Multus) interfaces: the pod's tags plus the network's.
		for ip, net := range multusIPs(p) {
			if !slices.Contains(own, ip) {
				addPod(add, ip, p, svcs.Items)
				nns, name, ok := strings.Cut(net, "/")
				if !ok {
					nns, name = p.Namespace, net
				}
				add(ip, tagPrefix+".net_"+nns+"."+name)
			}
		}
	}
	for ip, tags := range want {
		sort.Strings(tags)
		want[ip] = slices.Compact(tags)
	}
	return want, nil
}

// multusIPs reads a pod's network-status annotation as the test's model
// of it: IP -> network of every non-default entry, nothing if it does not
// decode or has an unparsable IP.
func multusIPs(p *corev1.Pod) map[string]string {
	var entries []struct {
		Name    string   `json:"name"`
		IPs     []string `json:"ips"`
		Default bool     `json:"default"`
	}
	if json.Unmarshal([]byte(p.Annotations["k8s.v1.cni.cncf.io/network-status"]), &entries) != nil {
		return nil
	}
	out := map[string]string{}
	for _, e := range entries {
		for _, s := range e.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil
			}
			if !e.Default {
				out[ip.Unmap().String()] = e.Name
			}
		}
	}
	return out
}

// nodesTag is the k8s preset's cluster node tag.
const nodesTag = tagPrefix + ".nodes"

// canonical is an address as the emulator lists it (RFC 5952 for IPv6).
func canonical(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return a.Unmap().String()
}

// addPod adds the tags of pod p's IP ip.
func addPod(add func(string, ...string), ip string, p *corev1.Pod, svcs []corev1.Service) {
	add(ip, nsTag(p.Namespace))
	if o := metav1.GetControllerOf(p); o != nil {
		switch o.Kind {
		case "ReplicaSet":
			add(ip, nsTag(p.Namespace)+".rs_"+o.Name)
		case "DaemonSet":
			add(ip, nsTag(p.Namespace)+".ds_"+o.Name)
		case "StatefulSet":
			add(ip, nsTag(p.Namespace)+".ss_"+o.Name)
		}
	}
	add(ip, labelTags(p.Namespace, p.Labels)...)
	if !podReady(p) {
		return
	}
	for j := range svcs {
		s := &svcs[j]
		if s.Namespace == p.Namespace && len(s.Spec.Selector) > 0 &&
			labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(p.Labels)) {
			add(ip, svcTag(s.Namespace, s.Name))
		}
	}
}

func nsTag(ns string) string        { return tagPrefix + ".ns_" + sanitize(ns) }
func svcTag(ns, name string) string { return nsTag(ns) + ".svc_" + sanitize(name) }

// labelTags are the label tags of an object; pod-template-hash is denied
// in the aggregator's config.
func labelTags(ns string, l map[string]string) []string {
	var out []string
	for k, v := range l {
		if k == appsv1.DefaultDeploymentUniqueLabelKey {
			continue
		}
		t := nsTag(ns) + "." + sanitize(k)
		if v != "" {
			t += "." + sanitize(v)
		}
		out = append(out, t)
	}
	return out
}

// sanitize replaces what PAN-OS refuses, as documented in package tags.
// The tests keep names short, so truncation never applies.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// diff describes how got differs from want, IP by IP.
func diff(want, got state) string {
	ips := slices.Sorted(maps.Keys(want))
	for ip := range got {
		if _, ok := want[ip]; !ok {
			ips = append(ips, ip)
		}
	}
	var b strings.Builder
	for _, ip := range ips {
		w, g := want[ip], got[ip]
		var missing, extra []string
		for _, t := range w {
			if !slices.Contains(g, t) {
				missing = append(missing, t)
			}
		}
		for _, t := range g {
			if !slices.Contains(w, t) {
				extra = append(extra, t)
			}
		}
		if len(missing)+len(extra) > 0 {
			fmt.Fprintf(&b, "  %s: missing %v, unexpected %v\n", ip, missing, extra)
		}
	}
	return b.String()
}

// waitConverged waits until the emulator holds exactly the expected
// kubedag tags, read through /_sim/registered and confirmed through the
// XML API, and returns that state.
func (e *env) waitConverged(ctx context.Context, t *testing.T, what string) state {
	t.Helper()
	var want, got state
	var lastErr error
	begin := time.Now()
	err := wait.PollUntilContextTimeout(ctx, pollEvery, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		if want, lastErr = e.expected(ctx); lastErr != nil {
			return false, nil
		}
		reg, err := e.simRegistered(ctx)
		if lastErr = err; err != nil {
			return false, nil
		}
		if got = owned(reg); diff(want, got) != "" {
			return false, nil
		}
		xreg, err := e.xmlRegistered(ctx)
		if lastErr = err; err != nil {
			return false, nil
		}
		got = owned(xreg)
		return diff(want, got) == "", nil
	})
	if err != nil {
		t.Fatalf("%s: the emulator did not converge within %s (last error %v); differences:\n%s", what, convergeTimeout, lastErr, diff(want, got))
	}
	t.Logf("%s: converged in %s (%d IPs)", what, time.Since(begin).Round(time.Millisecond), len(got))
	return got
}

// mustAlive fails the test if a process died. (TestMain prints every
// process's log when a test failed.)
func (e *env) mustAlive(t *testing.T) {
	t.Helper()
	if err := e.alive(); err != nil {
		t.Fatal(err)
	}
}

// waitAgentReady waits for the agent's /readyz (informers synced) and for
// its stream to the aggregator (kubedag_agent_stream_connected 1: readiness
// leaves the stream out, so rollouts do not stall on the aggregator).
func (e *env) waitAgentReady(ctx context.Context, node string) error {
	return waitReady(ctx, node, e.agents[node])
}

func waitReady(ctx context.Context, node string, a *agentProc) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := a.alive(); err != nil {
			return false, err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.health+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		if resp.StatusCode != http.StatusOK {
			return false, nil
		}
		connected, err := metricSum(ctx, a.health, "kubedag_agent_stream_connected")
		if err != nil || connected != 1 {
			last = fmt.Sprintf("ready, stream connected %v (%v)", connected, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("agent on %s not ready (%s): %w", node, last, err)
	}
	return nil
}

// sampler reads /_sim/registered as fast as the emulator answers and calls
// check with each sample and the time its request was sent, until stop is
// called; stop returns the number of samples and the first violation.
type sampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	n      int
	err    error
}

func (e *env) startSampler(ctx context.Context, check func(sent time.Time, s state) error) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	sm := &sampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sm.done)
		for ctx.Err() == nil {
			sent := time.Now()
			s, err := e.simRegistered(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				sm.err = fmt.Errorf("sample: %w", err)
				return
			}
			sm.n++
			if err := check(sent, s); err != nil {
				sm.err = fmt.Errorf("sample %d at %s: %w", sm.n, sent.Format("15:04:05.000"), err)
				return
			}
		}
	}()
	return sm
}

func (sm *sampler) stop() (int, error) {
	sm.cancel()
	<-sm.done
	return sm.n, sm.err
}

// keepsLive is a sampler check: every tag of live (IP -> tags) stays on
// the emulator in every sample.
func keepsLive(live state) func(time.Time, state) error {
	return func(_ time.Time, s state) error {
		for ip, tags := range live {
			for _, t := range tags {
				if !slices.Contains(s[ip], t) {
					return fmt.Errorf("live tag %s went missing from %s (holds %v)", t, ip, s[ip])
				}
			}
		}
		return nil
	}
}

// newNamespace gives a test its own namespace, deleted at the end.
func (e *env) newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := e.c.CreateNamespace(t.Context(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.c.DeleteNamespace(ctx, ns); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})
	return ns
}

// deployWeb creates Deployment and Service "web" (app=web, tier=front) with
// replicas pods spread on the web nodes, and waits for them to run.
func (e *env) deployWeb(ctx context.Context, t *testing.T, ns string, replicas int32) []corev1.Pod {
	t.Helper()
	podLabels := map[string]string{"app": "web", "tier": "front"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					NodeSelector:                  map[string]string{cluster.NodeGroupLabel: webGroup},
					Containers:                    []corev1.Container{{Name: "web", Image: "registry.k8s.io/pause:3.10"}},
					AutomountServiceAccountToken:  new(false),
					TerminationGracePeriodSeconds: new(int64(0)),
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					}},
				},
			},
		},
	}
	if _, err := e.c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{"exposure": "internal"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
	if _, err := e.c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e.waitPods(ctx, t, ns, "app=web", int(replicas))
}

func (e *env) waitPods(ctx context.Context, t *testing.T, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, convergeTimeout)
	defer cancel()
	pods, err := e.c.WaitPodsRunning(wctx, ns, selector, n)
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

// patchPodLabels merge-patches labels (a nil value removes the label).
func (e *env) patchPodLabels(ctx context.Context, t *testing.T, ns, name string, l map[string]any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": l}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Client.CoreV1().Pods(ns).Patch(ctx, name, "application/merge-patch+json", b, metav1.PatchOptions{}); err != nil {
		t.Fatalf("relabel pod %s/%s: %v", ns, name, err)
	}
}

func (e *env) scale(ctx context.Context, t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	b := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if _, err := e.c.Client.AppsV1().Deployments(ns).Patch(ctx, name, "application/merge-patch+json", b, metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale %s/%s: %v", ns, name, err)
	}
}

func (e *env) deletePod(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	if err := e.c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatalf("delete pod %s/%s: %v", ns, name, err)
	}
}

// podsOn returns the pods of pods on node.
func podsOn(pods []corev1.Pod, node string) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}

// aggMetric sums the samples of one metric on the aggregator's /metrics
// (Prometheus text format), all label sets together.
func (e *env) aggMetric(ctx context.Context, name string) (float64, error) {
	return metricSum(ctx, e.aggHealth, name)
}

// metricSum sums the samples of one metric on the /metrics of addr.
func metricSum(ctx context.Context, addr, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s/metrics: %w", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("%s/metrics: %w", addr, err)
	}
	var sum float64
	found := false
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(fields[0], &v); err != nil {
			return 0, fmt.Errorf("metric %s: %q: %w", name, line, err)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not on /metrics", name)
	}
	return sum, nil
}

// waitStreams waits until the aggregator reports n connected agent streams.
func (e *env) waitStreams(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	var last float64
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		last, lastErr = e.aggMetric(ctx, "kubedag_stream_connections")
		return lastErr == nil && int(last) == n, nil
	})
	if err != nil {
		t.Fatalf("aggregator never reported %d agent streams (last %v, error %v)", n, last, lastErr)
	}
}

// only returns the part of s on the given IPs.
func only(s state, ips ...string) state {
	out := state{}
	for _, ip := range ips {
		if tags, ok := s[ip]; ok {
			out[ip] = tags
		}
	}
	return out
}

// except returns s without the given IPs.
func except(s state, ips ...string) state {
	out := maps.Clone(s)
	for _, ip := range ips {
		delete(out, ip)
	}
	return out
}

func podIPs(pods []corev1.Pod) []string {
	var ips []string
	for _, p := range pods {
		for _, ip := range p.Status.PodIPs { // both families: the cluster is dual-stack
			ips = append(ips, canonical(ip.IP))
		}
	}
	return ips
}
