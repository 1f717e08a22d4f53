package apiservertest

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubedag/kubedag/agent/nodestate"
	agentstream "github.com/kubedag/kubedag/agent/stream"
	"github.com/kubedag/kubedag/aggregator/auth"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/stream/streamtest"
	"github.com/kubedag/kubedag/aggregator/verify"
	agentv1 "github.com/kubedag/kubedag/api/agent/v1"
	"github.com/kubedag/kubedag/e2e/pki"
	"github.com/kubedag/kubedag/tags"
)

type fixture struct {
	ns         string
	nodes      []string
	cidrs      []netip.Prefix
	pods       []*corev1.Pod // pods[i] runs on nodes[i]
	sa         string
	aggAddr    string
	sink       *streamtest.Sink
	srv        *stream.Server
	tls        pki.TestTLS
	gate       *verify.Gate
	refusals   chan verify.Refusal
	authorizer *auth.TokenAuthenticator
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	c := testCluster.Client
	f := &fixture{sa: "kubedag-agent", sink: streamtest.NewSink(), tls: pki.NewTestTLS(t, streamtest.ServerName)}
	ns, err := testCluster.CreateNamespace(ctx, "auth")
	if err != nil {
		t.Fatal(err)
	}
	f.ns = ns
	t.Cleanup(func() {
		// No kubelet runs here (no kwok), so pods must be deleted with grace
		// period 0 or the namespace never goes away.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, p := range f.pods {
			_ = c.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}
		for _, n := range f.nodes {
			_ = c.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{})
		}
		if err := testCluster.DeleteNamespace(ctx, ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if f.nodes, err = testCluster.CreateNodes(ctx, ns+"-node", 2); err != nil {
		t.Fatal(err)
	}
	for _, n := range f.nodes {
		node, err := c.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.cidrs = append(f.cidrs, netip.MustParsePrefix(node.Spec.PodCIDRs[0]))
	}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: f.sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, n := range f.nodes {
		p, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "agent-" + string(rune('a'+i)), Labels: map[string]string{"app": "agent"}},
			Spec: corev1.PodSpec{
				NodeName:           n,
				ServiceAccountName: f.sa,
				Containers:         []corev1.Container{{Name: "agent", Image: "kubedag:test"}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No kubelet runs here: give the pod the first IP of its node's
		// podCIDR, as a CNI would.
		p.Status.PodIP = f.cidrs[i].Addr().Next().String()
		p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
		p.Status.Phase = corev1.PodRunning
		if p, err = c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		f.pods = append(f.pods, p)
	}

	if f.authorizer, err = auth.NewTokenAuthenticator(auth.TokenConfig{Client: c}); err != nil {
		t.Fatal(err)
	}
	// Claims are checked as the aggregator checks them: against a pod
	// view of this API server.
	f.refusals = make(chan verify.Refusal, 16)
	view, err := podview.New(podview.Options{Client: c, OnChange: func(ips []netip.Addr) { f.gate.Changed(ips) }})
	if err != nil {
		t.Fatal(err)
	}
	if f.gate, err = verify.New(verify.Options{View: view, Sink: f.sink, OnRefuse: func(r verify.Refusal) { f.refusals <- r }}); err != nil {
		t.Fatal(err)
	}
	if f.srv, err = stream.NewServer(stream.Config{Sink: f.gate, Authenticator: f.authorizer}); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.aggAddr = lis.Addr().String()
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(sctx, lis, f.tls.Server) }()
	go func() { _ = view.Run(sctx) }()
	go func() { _ = f.gate.Run(sctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// token mints a TokenRequest for the agent ServiceAccount, bound to pod if
// not nil (which gives it the node-name extra).
func (f *fixture) token(t *testing.T, audience string, pod *corev1.Pod) string {
	t.Helper()
	req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600)}}
	if pod != nil {
		req.Spec.BoundObjectRef = &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tr, err := testCluster.Client.CoreV1().ServiceAccounts(f.ns).CreateToken(t.Context(), f.sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	return tr.Status.Token
}

func TestTokenReviewWithProjectedTokens(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name     string
		token    string
		wantNode string
		wantCode codes.Code
	}{
		{"pod-bound kubedag token", f.token(t, auth.Audience, f.pods[0]), f.nodes[0], codes.OK},
		{"other pod's token", f.token(t, auth.Audience, f.pods[1]), f.nodes[1], codes.OK},
		{"wrong audience", f.token(t, "https://kubernetes.default.svc.cluster.local", f.pods[0]), "", codes.Unauthenticated},
		{"not bound to a pod", f.token(t, auth.Audience, nil), "", codes.PermissionDenied},
		{"garbage", "not-a-token", "", codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, err := f.authorizer.Authenticate(t.Context(), tt.token)
			if node != tt.wantNode || status.Code(err) != tt.wantCode {
				t.Fatalf("Authenticate = %q, %v; want %q, %v", node, err, tt.wantNode, tt.wantCode)
			}
		})
	}
}

func (f *fixture) podClaim(i int, ip netip.Addr) nodestate.Claim {
	return nodestate.Claim{
		IP: ip,
		Identity: tags.Identity{Kind: tags.KindPod, Namespace: f.ns, Name: f.pods[i].Name, UID: string(f.pods[i].UID),
			Labels: map[string]string{"app": "agent"}, NamespaceLabels: map[string]string{corev1.LabelMetadataName: f.ns}},
		FirstSeen: time.Now(),
	}
}

func TestAgentStreamAgainstAPIServer(t *testing.T) {
	f := setup(t)
	node := f.nodes[0]
	own := netip.MustParseAddr(f.pods[0].Status.PodIP)
	foreign := netip.MustParseAddr(f.pods[1].Status.PodIP) // node 1's pod's IP, naming node 1's pod

	// Accepted for its own node, through the real agent client.
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(f.token(t, auth.Audience, f.pods[0])), 0o600); err != nil {
		t.Fatal(err)
	}
	st := nodestate.New()
	st.Set(f.podClaim(0, own))
	st.Set(f.podClaim(1, foreign))
	client, err := agentstream.New(agentstream.Config{
		Addr: f.aggAddr, Node: node, State: st, TLS: f.tls.Client, TokenFile: tokFile,
		BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	defer func() { cancel(); <-done }()
	streamtest.Eventually(t, time.Minute, "agent connected with its projected token", client.Connected)
	select {
	case r := <-f.refusals:
		if r.Node != node || r.IP != foreign || r.Reason != verify.ReasonOtherNode {
			t.Fatalf("refusal %+v, want node %s ip %v reason %s", r, node, foreign, verify.ReasonOtherNode)
		}
	case <-time.After(time.Minute):
		t.Fatal("foreign claim not refused")
	}
	streamtest.Eventually(t, time.Minute, "own claim accepted", func() bool { return slices.Equal(f.sink.IPs(node), []netip.Addr{own}) })
	if got := f.sink.IPs(node); !slices.Equal(got, []netip.Addr{own}) {
		t.Fatalf("sink for %s = %v, want only %v", node, got, own)
	}

	// The same token is refused when it speaks for another node.
	conn, err := grpc.NewClient(f.aggAddr, grpc.WithTransportCredentials(credentials.NewTLS(f.tls.Client)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+f.token(t, auth.Audience, f.pods[0]))
	s, err := agentv1.NewAgentStreamClient(conn).Sync(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Snapshot{Snapshot: &agentv1.Snapshot{Epoch: 1, Final: true, Node: f.nodes[1]}}}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = s.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("stream for another node: %v, want PermissionDenied", err)
	}
	if _, known := f.sink.Claims(f.nodes[1]); known {
		t.Fatal("foreign-node stream reached the sink")
	}
}
