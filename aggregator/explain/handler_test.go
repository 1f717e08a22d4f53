package explain

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/tags"
)

type fakePods map[string]podview.Named

func (p fakePods) ByName(ns, name string) (podview.Named, bool) {
	n, ok := p[ns+"/"+name]
	return n, ok
}
func (p fakePods) Holders(netip.Addr) []podview.Pod { return nil }

type noAgents struct{}

func (noAgents) Inspect(netip.Addr) []verify.ClaimState { return nil }

// TestHandlerReviews: tokens come from TokenHeader or Authorization; every
// answer of TokenReview, refusals included, is cached; a failed review is
// not; access follows SubjectAccessReview; a flood is refused.
func TestHandlerReviews(t *testing.T) {
	client := fake.NewClientset()
	var reviews, sars atomic.Int64
	var reviewDown, sarDown atomic.Bool
	client.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		reviews.Add(1)
		if reviewDown.Load() {
			return true, nil, errors.New("connection refused")
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview).DeepCopy()
		if tr.Spec.Token == "good" {
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "alice", Groups: []string{"devs"}}}
		}
		return true, tr, nil
	})
	client.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sars.Add(1)
		if sarDown.Load() {
			return true, nil, errors.New("connection refused")
		}
		sar := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview).DeepCopy()
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "alice" && ra.Resource == "pods" && ra.Namespace == "shop" && ra.Verb == "get"
		return true, sar, nil
	})
	d := deriver(t, tags.Config{Cluster: "prod"})
	h, err := NewHandler(Config{Client: client, Deriver: d, Store: store.New(store.Options{}), Agents: noAgents{},
		Pods:    fakePods{"shop/web-1": {Pod: podview.Pod{Identity: web}}},
		Targets: func() []TargetSource { return nil }, Leading: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	do := func(path, header, token string) int {
		t.Helper()
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil)
		if header != "" {
			req.Header.Set(header, "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	pod := Path(Query{Kind: KindPod, Namespace: "shop", Name: "web-1"})

	steps := []struct {
		name           string
		path, header   string
		token          string
		want           int
		reviews        int64 // TokenReviews so far, after the step
		down, sarsDown bool  // TokenReview, SubjectAccessReview failing
	}{
		{"no token", pod, "", "", http.StatusUnauthorized, 0, false, false},
		{"bad token", pod, TokenHeader, "bad", http.StatusUnauthorized, 1, false, false},
		{"bad token again: refusal cached", pod, TokenHeader, "bad", http.StatusUnauthorized, 1, false, false},
		{"review fails: not cached", pod, TokenHeader, "other", http.StatusBadGateway, 2, true, false},
		{"good token via Authorization", pod, "Authorization", "good", http.StatusOK, 3, false, false},
		{"good token cached", pod, TokenHeader, "good", http.StatusOK, 3, false, false},
		{"pod in a namespace alice may not read", Path(Query{Kind: KindPod, Namespace: "other", Name: "x"}), TokenHeader, "good", http.StatusForbidden, 3, false, false},
		{"missing pod alice may read: 404 after authz", Path(Query{Kind: KindPod, Namespace: "shop", Name: "nope"}), TokenHeader, "good", http.StatusNotFound, 3, false, false},
		{"not an IP", PathPrefix + "ip/nonsense", TokenHeader, "good", http.StatusBadRequest, 3, false, false},
		{"access review fails", Path(Query{Kind: KindPod, Namespace: "shop", Name: "db"}), TokenHeader, "good", http.StatusBadGateway, 3, false, true},
	}
	for _, s := range steps {
		reviewDown.Store(s.down)
		sarDown.Store(s.sarsDown)
		if got := do(s.path, s.header, s.token); got != s.want {
			t.Errorf("%s: status %d, want %d", s.name, got, s.want)
		}
		if got := reviews.Load(); got != s.reviews {
			t.Errorf("%s: %d token reviews so far, want %d", s.name, got, s.reviews)
		}
	}
	// Access reviews are cached per user and question: asking about the
	// same pod again asks nothing new.
	before := sars.Load()
	if got := do(pod, TokenHeader, "good"); got != http.StatusOK || sars.Load() != before {
		t.Errorf("repeat: status %d, %d new access reviews", got, sars.Load()-before)
	}

	// A flood: with every slot taken, the next request is refused at once.
	for range MaxInFlight {
		h.inflight <- struct{}{}
	}
	if got := do(pod, TokenHeader, "good"); got != http.StatusTooManyRequests {
		t.Errorf("over the in-flight limit: status %d, want 429", got)
	}
	for range MaxInFlight {
		<-h.inflight
	}
}
