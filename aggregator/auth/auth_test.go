package auth_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubedag/kubedag/aggregator/auth"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

var (
	_ stream.Authenticator = (*auth.TokenAuthenticator)(nil)
	_ stream.ClaimChecker  = (*auth.ClaimValidator)(nil)
)

// reviewer answers TokenReviews from a table and counts them.
func reviewer(client *fake.Clientset, table map[string]authnv1.TokenReviewStatus, calls *atomic.Int64, fail *atomic.Bool) {
	client.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if fail != nil && fail.Load() {
			return true, nil, errors.New("connection refused")
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview).DeepCopy()
		st, ok := table[tr.Spec.Token]
		if !ok {
			st = authnv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		if st.Authenticated && len(st.Audiences) == 0 {
			st.Audiences = tr.Spec.Audiences
		}
		tr.Status = st
		return true, tr, nil
	})
}

func nodeUser(node string) authnv1.TokenReviewStatus {
	return authnv1.TokenReviewStatus{
		Authenticated: true,
		User: authnv1.UserInfo{
			Username: "system:serviceaccount:kubedag:agent",
			Extra:    map[string]authnv1.ExtraValue{auth.NodeNameExtra: {node}},
		},
	}
}

func TestTokenAuthenticator(t *testing.T) {
	noNode := nodeUser("")
	noNode.User.Extra = nil
	wrongAud := nodeUser("node-a")
	wrongAud.Audiences = []string{"https://kubernetes.default.svc"}
	otherUser := nodeUser("node-a")
	otherUser.User.Username = "system:serviceaccount:default:default"
	table := map[string]authnv1.TokenReviewStatus{
		"secret-good":      nodeUser("node-a"),
		"secret-nonode":    noNode,
		"secret-wrongaud":  wrongAud,
		"secret-otheruser": otherUser,
	}
	tests := []struct {
		token    string
		wantNode string
		wantCode codes.Code
	}{
		{"secret-good", "node-a", codes.OK},
		{"secret-bad", "", codes.Unauthenticated},
		{"secret-nonode", "", codes.PermissionDenied},
		{"secret-wrongaud", "", codes.Unauthenticated},
		{"secret-otheruser", "", codes.PermissionDenied},
	}
	client := fake.NewClientset()
	var calls atomic.Int64
	reviewer(client, table, &calls, nil)
	a, err := auth.NewTokenAuthenticator(auth.TokenConfig{Client: client, Users: []string{"system:serviceaccount:kubedag:agent"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			before := calls.Load()
			for range 3 { // second and third answers come from the cache
				node, err := a.Authenticate(context.Background(), tt.token)
				if node != tt.wantNode || status.Code(err) != tt.wantCode {
					t.Fatalf("Authenticate = %q, %v; want %q, %v", node, err, tt.wantNode, tt.wantCode)
				}
				if err != nil && strings.Contains(err.Error(), tt.token) {
					t.Fatalf("token leaked into error: %v", err)
				}
			}
			if n := calls.Load() - before; n != 1 {
				t.Fatalf("%d TokenReviews for 3 calls, want 1 (cached)", n)
			}
		})
	}
}

func TestTokenReviewFailureNotCached(t *testing.T) {
	client := fake.NewClientset()
	var calls atomic.Int64
	var fail atomic.Bool
	fail.Store(true)
	reviewer(client, map[string]authnv1.TokenReviewStatus{"secret-good": nodeUser("node-a")}, &calls, &fail)
	a, _ := auth.NewTokenAuthenticator(auth.TokenConfig{Client: client})
	if _, err := a.Authenticate(context.Background(), "secret-good"); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	fail.Store(false)
	if node, err := a.Authenticate(context.Background(), "secret-good"); err != nil || node != "node-a" {
		t.Fatalf("after recovery = %q, %v", node, err)
	}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func podID(ns, name, uid string) tags.Identity {
	return tags.Identity{Kind: tags.KindPod, Namespace: ns, Name: name, UID: uid}
}

func TestClaimValidator(t *testing.T) {
	objs := []runtime.Object{
		&corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "cidr-node"},
			Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24", "fd00:1::/64"}},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.10"}}},
		},
		&corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "vpc-node"},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.11"}}},
		},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "other-node"}},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-web"},
			Spec:       corev1.PodSpec{NodeName: "vpc-node"},
			Status:     corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "172.31.5.5"}, {IP: "2600::5"}}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "host", UID: "uid-host"},
			Spec:       corev1.PodSpec{NodeName: "vpc-node", HostNetwork: true},
			Status:     corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "192.168.0.11"}}},
		},
	}
	tests := []struct {
		name        string
		node        string
		ip          string
		id          tags.Identity
		allowNodeIP bool
		wantOK      bool
		wantCode    codes.Code // for non-nil errors with a status
	}{
		{"inside podCIDR", "cidr-node", "10.244.1.7", podID("ns", "x", "u"), false, true, 0},
		{"inside v6 podCIDR", "cidr-node", "fd00:1::9", podID("ns", "x", "u"), false, true, 0},
		{"outside podCIDR, no such pod", "cidr-node", "10.244.2.7", podID("ns", "x", "u"), false, false, 0},
		{"pod on node holds ip", "vpc-node", "172.31.5.5", podID("ns", "web", "uid-web"), false, true, 0},
		{"pod on node holds v6 ip", "vpc-node", "2600::5", podID("ns", "web", "uid-web"), false, true, 0},
		{"pod on another node", "other-node", "172.31.5.5", podID("ns", "web", "uid-web"), false, false, 0},
		{"ip not the pod's", "vpc-node", "172.31.5.6", podID("ns", "web", "uid-web"), false, false, 0},
		{"stale uid", "vpc-node", "172.31.5.5", podID("ns", "web", "uid-old"), false, false, 0},
		{"no pod named", "vpc-node", "172.31.5.5", tags.Identity{Kind: tags.KindPod}, false, false, 0},
		{"service claim", "cidr-node", "10.244.1.7", tags.Identity{Kind: tags.KindService, Namespace: "ns", Name: "s"}, false, false, 0},
		{"node ip refused", "vpc-node", "192.168.0.11", podID("ns", "host", "uid-host"), false, false, 0},
		{"node ip allowed by option", "vpc-node", "192.168.0.11", podID("ns", "host", "uid-host"), true, true, 0},
		{"unknown node", "ghost", "10.0.0.1", podID("ns", "web", "uid-web"), false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auth.NewClaimValidator(auth.ClaimConfig{Client: fake.NewClientset(objs...), AllowNodeIP: tt.allowNodeIP})
			if err != nil {
				t.Fatal(err)
			}
			err = v.CheckClaim(context.Background(), tt.node, ip(tt.ip), tt.id)
			if (err == nil) != tt.wantOK {
				t.Fatalf("CheckClaim = %v, want ok=%v", err, tt.wantOK)
			}
			if err != nil && status.Code(err) == codes.Unavailable {
				t.Fatalf("definitive refusal reported as Unavailable: %v", err)
			}
		})
	}
}

func TestClaimValidatorCachesAndRefreshes(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec:       corev1.PodSpec{NodeName: "n"},
		Status:     corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "172.31.0.1"}}},
	}
	client := fake.NewClientset(node, pod)
	var podGets atomic.Int64
	client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		podGets.Add(1)
		return false, nil, nil
	})
	v, _ := auth.NewClaimValidator(auth.ClaimConfig{Client: client})
	ctx := context.Background()
	for range 3 {
		if err := v.CheckClaim(ctx, "n", ip("172.31.0.1"), podID("ns", "p", "u1")); err != nil {
			t.Fatal(err)
		}
	}
	if podGets.Load() != 1 {
		t.Fatalf("pod GETs = %d, want 1 (cached)", podGets.Load())
	}
	// The pod gets a second IP: the cached entry misses it, one fresh GET finds it.
	pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: "172.31.0.2"})
	if _, err := client.CoreV1().Pods("ns").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckClaim(ctx, "n", ip("172.31.0.2"), podID("ns", "p", "u1")); err != nil {
		t.Fatalf("new IP after refresh: %v", err)
	}
	if podGets.Load() != 2 {
		t.Fatalf("pod GETs = %d, want 2", podGets.Load())
	}
	// API server errors are Unavailable (transient), not refusals.
	client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcd down")
	})
	err := v.CheckClaim(ctx, "n", ip("172.31.0.9"), podID("ns", "q", "u"))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
}
