package system

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	agentv1 "github.com/kubedag/kubedag/api/agent/v1"
	"github.com/kubedag/kubedag/tags"
)

// TestForgedClaims attacks the aggregator as someone holding one node's
// agent token would: a stream client of its own, with a real projected
// token bound to a pod on that node. Every forgery is refused, and the
// victims' tags on the emulator, sampled as fast as it answers, never change:
//
//   - forged labels, namespace and owner on the node's own pod's IP, and a
//     forged identity on an unused IP of its podCIDR; forged Services on
//     its own pod's IP are not refused but ignored (the aggregator tags a
//     pod with the Services its own view gives it), so they never show;
//   - a claim for an IP the API gives to a pod of another node, with and
//     without podCIDRs (the AWS VPC CNI case);
//   - a claim kept after the API gave its IP to another node's pod (the
//     stale claim must go at once, not linger as an intersection);
//   - a re-claim of the deleted pod.
//
// The attacker's truthful claims are accepted, so refusals are about what
// is claimed, not who claims it.
func TestForgedClaims(t *testing.T) {
	e := sys
	ctx := t.Context()
	cs := e.c.Client
	ns := e.newNamespace(t, "attack")

	// The attacker's nodes: one kwok node with a podCIDR, one without
	// (pod IPs from the VPC, set here as the CNI would). An honest node
	// without podCIDR runs a real agent.
	cidrNodes, err := e.c.CreateNodes(ctx, "sys-evil", 1)
	if err != nil {
		t.Fatal(err)
	}
	evil := cidrNodes[0]
	evilVPC, honestVPC := "sys-evil-vpc", "sys-honest-vpc"
	for _, n := range []string{evilVPC, honestVPC} {
		if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range []string{evil, evilVPC, honestVPC} {
			_ = cs.CoreV1().Pods(systemNS).Delete(context.Background(), "kubedag-agent-"+n, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
			_ = cs.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	if err := e.c.WaitNodesReady(ctx, evil); err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, evil, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evilCIDR := netip.MustParsePrefix(node.Spec.PodCIDRs[0])

	honest, err := e.newAgent(ctx, filepath.Join(e.dir, "kubedag"), honestVPC)
	if err != nil {
		t.Fatal(err)
	}
	if err := honest.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = honest.kill() })
	if err := waitReady(ctx, honestVPC, honest); err != nil {
		t.Fatal(err)
	}

	// Pods: a victim on a web node (real agent, podCIDR), a victim on the
	// honest VPC node, the attacker's own pods on both its nodes.
	victim := e.runPod(ctx, t, ns, "victim", e.webNodes[0], map[string]string{"app": "victim", "tier": "db"}, "")
	victimVPC := e.runPod(ctx, t, ns, "victim-vpc", honestVPC, map[string]string{"app": "victim-vpc"}, "10.250.0.10")
	own := e.runPod(ctx, t, ns, "evil-own", evil, map[string]string{"app": "evil-own"}, "")
	ownVPC := e.runPod(ctx, t, ns, "evil-vpc", evilVPC, map[string]string{"app": "evil-vpc"}, "10.250.0.20")
	nsLabels := map[string]string{corev1.LabelMetadataName: ns}
	truth := func(p *corev1.Pod) tags.Identity {
		return tags.Identity{Kind: tags.KindPod, Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Labels: p.Labels, NamespaceLabels: nsLabels}
	}
	tagsOf := func(p *corev1.Pod) []string {
		out := append([]string{nsTag(p.Namespace)}, labelTags(p.Namespace, p.Labels)...)
		sort.Strings(out)
		return out
	}
	victims := state{victim.Status.PodIP: tagsOf(victim), victimVPC.Status.PodIP: tagsOf(victimVPC)}
	e.waitState(ctx, t, "victims tagged by their agents", victims)

	unused := evilCIDR.Addr().Next().Next().Next().Next().Next().Next().Next().Next().Next() // no pod holds it
	fresh := netip.MustParseAddr("10.250.0.99")
	if unused.String() == own.Status.PodIP {
		unused = unused.Next()
	}
	// Every sample: the victims' tags exactly as the API says, nothing on
	// IPs no pod holds, the attacker's own IPs only ever with their true
	// tags. The stale-claim check is added below.
	var mu sync.Mutex
	extra := func(state) error { return nil }
	sm := e.startSampler(ctx, func(_ time.Time, s state) error {
		for ip, want := range victims {
			if !slices.Equal(s[ip], want) {
				return fmt.Errorf("victim %s holds %v, want %v", ip, s[ip], want)
			}
		}
		for _, ip := range []string{unused.String(), fresh.String()} {
			if got, ok := s[ip]; ok {
				return fmt.Errorf("unheld IP %s carries %v", ip, got)
			}
		}
		if got, ok := s[own.Status.PodIP]; ok && !slices.Equal(got, tagsOf(own)) {
			return fmt.Errorf("attacker's pod IP %s carries %v, want nothing or %v", own.Status.PodIP, got, tagsOf(own))
		}
		mu.Lock()
		defer mu.Unlock()
		return extra(s)
	})
	defer func() {
		if n, err := sm.stop(); err != nil {
			t.Errorf("after %d samples: %v", n, err)
		} else {
			t.Logf("%d samples of the emulator, none with a forged or stale tag", n)
		}
	}()

	refused := e.refusalCounter(ctx, t)

	// The node with a podCIDR.
	a := e.attacker(ctx, t, evil)
	forgedLabels := truth(own)
	forgedLabels.Labels = map[string]string{"app": "victim", "tier": "db"}
	apiserver := tags.Identity{Kind: tags.KindPod, Namespace: "kube-system", Name: "kube-apiserver", UID: "forged",
		Labels: map[string]string{"component": "kube-apiserver"}}
	a.snapshot(t,
		claim(own.Status.PodIP, forgedLabels),
		claim(unused.String(), apiserver),
		claim(victim.Status.PodIP, truth(victim)),
	)
	refused(3, "forged labels on its own pod's IP, an unused podCIDR IP, another node's pod IP")
	forgedNS := truth(own)
	forgedNS.Namespace = "kube-system"
	forgedOwner := truth(own)
	forgedOwner.OwnerKind, forgedOwner.OwnerName = "DaemonSet", "kube-proxy"
	for _, id := range []tags.Identity{forgedNS, forgedOwner} {
		a.delta(t, claim(own.Status.PodIP, id))
		refused(1, fmt.Sprintf("forged identity %+v on its own pod's IP", id))
	}
	// Claimed Services are ignored: the claim is the truth otherwise, so it
	// is accepted with the Services the API gives the pod (none), and the
	// sampler never sees the forged one.
	forgedSvc := truth(own)
	forgedSvc.Services = []string{"payments"}
	a.delta(t, claim(own.Status.PodIP, forgedSvc))
	e.waitState(ctx, t, "the claim with forged Services accepted without them", state{own.Status.PodIP: tagsOf(own)})
	a.delta(t, claim(own.Status.PodIP, truth(own)))
	e.waitState(ctx, t, "the attacker's truthful claim accepted", state{own.Status.PodIP: tagsOf(own)})

	// The node without a podCIDR.
	b := e.attacker(ctx, t, evilVPC)
	b.snapshot(t, claim(victimVPC.Status.PodIP, truth(victimVPC)), claim(ownVPC.Status.PodIP, truth(ownVPC)))
	refused(1, "another node's pod IP, no podCIDRs")
	e.waitState(ctx, t, "the attacker's truthful VPC claim accepted", state{ownVPC.Status.PodIP: tagsOf(ownVPC)})

	// Its pod goes and the IP goes to a pod on the honest node; the
	// attacker never withdraws. Once the newcomer's tags show, the IP
	// carries exactly them (no intersection with the stale claim).
	stale := ownVPC.Status.PodIP
	newcomer := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "newcomer", Labels: map[string]string{"app": "newcomer"}}}
	newcomerTag := nsTag(ns) + ".app.newcomer"
	var seen bool
	mu.Lock()
	extra = func(s state) error {
		got := s[stale]
		if slices.Contains(got, nsTag(ns)+".app.evil-vpc") && seen {
			return fmt.Errorf("%s carries the deleted pod's tags again: %v", stale, got)
		}
		if slices.Contains(got, newcomerTag) {
			seen = true
		}
		if seen && !slices.Equal(got, tagsOf(newcomer)) {
			return fmt.Errorf("%s holds %v after the newcomer's tags appeared, want exactly %v", stale, got, tagsOf(newcomer))
		}
		return nil
	}
	mu.Unlock()
	e.deletePod(ctx, t, ns, ownVPC.Name)
	e.waitGone(ctx, t, ns, ownVPC.Name)
	newcomer = e.runPod(ctx, t, ns, "newcomer", honestVPC, newcomer.Labels, stale)
	e.waitState(ctx, t, "the reused IP carries exactly the newcomer's tags", state{stale: tagsOf(newcomer)})
	refused(1, "the stale claim, dropped when the API moved its IP")

	// A re-claim of the deleted pod, on its old IP and on a fresh one,
	// after a snapshot without them (an assertion kept is refused once).
	b.snapshot(t)
	b.snapshot(t, claim(stale, truth(ownVPC)), claim(fresh.String(), truth(ownVPC)))
	refused(2, "re-claims of the deleted pod")
	e.waitState(ctx, t, "the reused IP still the newcomer's", state{stale: tagsOf(newcomer)})
}

func claim(ip string, id tags.Identity) *agentv1.Claim {
	return agentv1.ClaimToProto(netip.MustParseAddr(ip), id, time.Now(), trace.SpanContext{})
}

// runPod creates a pod on node and waits until it runs with an IP: kwok
// runs it, or (ip set, a node without kubelet) the test sets its status
// as the CNI and kubelet would.
func (e *env) runPod(ctx context.Context, t *testing.T, ns, name, node string, labels map[string]string, ip string) *corev1.Pod {
	t.Helper()
	p, err := e.c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(0)),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip != "" {
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		if p, err = e.c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	err = wait.PollUntilContextTimeout(ctx, pollEvery, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		p, err = e.c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s never ran: %v", ns, name, err)
	}
	return p
}

// waitState waits until the emulator holds want (IP -> exact tags) on
// want's IPs.
func (e *env) waitState(ctx context.Context, t *testing.T, what string, want state) {
	t.Helper()
	var got state
	err := wait.PollUntilContextTimeout(ctx, pollEvery/3, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		s, err := e.simRegistered(ctx)
		if err != nil {
			return false, nil
		}
		got = only(s, keys(want)...)
		return diff(want, got) == "", nil
	})
	if err != nil {
		t.Fatalf("%s: %s", what, diff(want, got))
	}
}

func keys(s state) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	return out
}

// refusalCounter returns a function that waits until the aggregator has
// counted at least n more refused claims than at the previous call. (At
// least: an honest agent's claim that outran the aggregator's informer by
// more than the wait is counted too, then accepted; the emulator samples
// are the proof, the counter shows the refusals happened.)
func (e *env) refusalCounter(ctx context.Context, t *testing.T) func(n int, what string) {
	count := func() float64 {
		v, err := e.aggMetric(ctx, "kubedag_claim_rejections_total")
		if err != nil {
			return 0 // not counted yet: the counter appears with its first refusal
		}
		return v
	}
	base := count()
	return func(n int, what string) {
		t.Helper()
		want := base + float64(n)
		var got float64
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, convergeTimeout, true, func(context.Context) (bool, error) {
			got = count()
			return got >= want, nil
		})
		if err != nil {
			t.Fatalf("%s: %v refusals counted, want %v", what, got-base, n)
		}
		base = got
	}
}

// attacker is a stream client speaking the agent protocol with a real
// token of one node's agent pod.
type attacker struct {
	s      agentv1.AgentStream_SyncClient
	node   string
	epoch  uint64
	seq    uint64
	mu     sync.Mutex
	acked  map[[2]uint64]bool
	ackErr error
}

func (e *env) attacker(ctx context.Context, t *testing.T, node string) *attacker {
	t.Helper()
	tokFile, err := e.agentToken(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(e.dir, "stream-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(e.aggStreamAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(tok))))
	t.Cleanup(func() { cancel(); conn.Close() })
	s, err := agentv1.NewAgentStreamClient(conn).Sync(sctx)
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{s: s, node: node, acked: map[[2]uint64]bool{}}
	go func() {
		for {
			m, err := s.Recv()
			a.mu.Lock()
			if err != nil {
				a.ackErr = err
				a.mu.Unlock()
				return
			}
			a.acked[[2]uint64{m.GetAck().GetEpoch(), m.GetAck().GetSeq()}] = true
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *attacker) send(t *testing.T, m *agentv1.AgentMessage) {
	t.Helper()
	if err := a.s.Send(m); err != nil {
		t.Fatalf("attacker on %s: send: %v", a.node, err)
	}
	key := [2]uint64{a.epoch, a.seq}
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, convergeTimeout, true, func(context.Context) (bool, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.acked[key], a.ackErr
	})
	if err != nil {
		t.Fatalf("attacker on %s: no ack for epoch %d seq %d: %v", a.node, a.epoch, a.seq, err)
	}
}

func (a *attacker) snapshot(t *testing.T, claims ...*agentv1.Claim) {
	t.Helper()
	a.epoch++
	a.seq = 0
	a.send(t, &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Snapshot{Snapshot: &agentv1.Snapshot{Epoch: a.epoch, Claims: claims, Final: true, Node: a.node}}})
}

func (a *attacker) delta(t *testing.T, upserts ...*agentv1.Claim) {
	t.Helper()
	a.seq++
	a.send(t, &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Delta{Delta: &agentv1.Delta{Epoch: a.epoch, Seq: a.seq, Upserts: upserts}}})
}
