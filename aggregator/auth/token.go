package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// Audience is the token audience agents must use.
	Audience = "kubedag"
	// NodeNameExtra is the user extra key carrying the node a projected
	// pod token is bound to.
	NodeNameExtra = "authentication.kubernetes.io/node-name"
)

// TokenConfig configures a TokenAuthenticator.
type TokenConfig struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Audience the token must be valid for. Default Audience.
	Audience string
	// Users, if not empty, lists the user names (e.g.
	// "system:serviceaccount:kubedag:kubedag-agent") allowed to stream.
	Users []string
	// CacheSize bounds the cached reviews. Default 4096.
	CacheSize int
	// CacheTTL is how long a review result is reused. Default 30s.
	CacheTTL time.Duration
}

// TokenAuthenticator authenticates bearer tokens with TokenReview.
type TokenAuthenticator struct {
	cfg   TokenConfig
	cache *ttlCache[[sha256.Size]byte, tokenResult]
}

type tokenResult struct {
	node string
	err  error // definitive refusal (a gRPC status error), or nil
}

// NewTokenAuthenticator returns an authenticator; it starts nothing.
func NewTokenAuthenticator(cfg TokenConfig) (*TokenAuthenticator, error) {
	if cfg.Client == nil {
		return nil, errors.New("auth: TokenConfig.Client is required")
	}
	if cfg.Audience == "" {
		cfg.Audience = Audience
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 4096
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	return &TokenAuthenticator{cfg: cfg, cache: newTTLCache[[sha256.Size]byte, tokenResult](cfg.CacheSize, cfg.CacheTTL)}, nil
}

// Authenticate returns the node token is bound to. Errors are gRPC status
// errors: Unauthenticated (token invalid), PermissionDenied (valid but not a
// node-bound token of an allowed user), Unavailable (review failed).
func (a *TokenAuthenticator) Authenticate(ctx context.Context, token string) (string, error) {
	key := sha256.Sum256([]byte(token))
	if r, ok := a.cache.Get(key); ok {
		return r.node, r.err
	}
	tr, err := a.cfg.Client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{a.cfg.Audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		// Not cached: the next attempt asks again.
		return "", status.Errorf(codes.Unavailable, "token review failed: %v", err)
	}
	r := a.judge(tr.Status)
	a.cache.Add(key, r)
	return r.node, r.err
}

func (a *TokenAuthenticator) judge(st authnv1.TokenReviewStatus) tokenResult {
	if !st.Authenticated {
		msg := "token not authenticated"
		if st.Error != "" {
			msg += ": " + st.Error
		}
		return tokenResult{err: status.Error(codes.Unauthenticated, msg)}
	}
	if !slices.Contains(st.Audiences, a.cfg.Audience) {
		return tokenResult{err: status.Errorf(codes.Unauthenticated, "token is not valid for audience %q (got %v)", a.cfg.Audience, st.Audiences)}
	}
	if len(a.cfg.Users) > 0 && !slices.Contains(a.cfg.Users, st.User.Username) {
		return tokenResult{err: status.Errorf(codes.PermissionDenied, "user %q may not stream agent claims", st.User.Username)}
	}
	nodes := st.User.Extra[NodeNameExtra]
	if len(nodes) != 1 || nodes[0] == "" {
		return tokenResult{err: status.Errorf(codes.PermissionDenied,
			"token of %q is not bound to a node (no %s extra): use a projected ServiceAccount token of a pod", st.User.Username, NodeNameExtra)}
	}
	return tokenResult{node: nodes[0]}
}

// String describes the authenticator (never any token).
func (a *TokenAuthenticator) String() string {
	return fmt.Sprintf("TokenReview(audience=%s)", a.cfg.Audience)
}
