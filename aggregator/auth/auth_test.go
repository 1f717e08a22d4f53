package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubedag/kubedag/aggregator/auth"
	"github.com/kubedag/kubedag/aggregator/stream"
)

var (
	_ stream.Authenticator = (*auth.TokenAuthenticator)(nil)
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
