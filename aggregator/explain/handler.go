package explain

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/aggregator/nodewatch"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/servicewatch"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/tags"
)

const (
	// PathPrefix is where the endpoint serves: PathPrefix + "pod/<ns>/<name>",
	// "service/<ns>/<name>" and "ip/<addr>", GET, JSON Reports.
	PathPrefix = "/explain/v1/"
	// TokenHeader carries the caller's bearer token ("Bearer <token>"):
	// the API server's service proxy consumes the Authorization header of
	// the requests it forwards. Authorization is accepted too (a direct
	// connection, e.g. through a port-forward).
	TokenHeader = "X-Kubedag-Authorization"
)

// Pods is what the endpoint needs of the pod view (*podview.View).
type Pods interface {
	ByName(namespace, name string) (podview.Named, bool)
	Holders(ip netip.Addr) []podview.Pod
}

// Store is what it needs of the desired state (*store.Store).
type Store interface {
	Desired(ip netip.Addr) store.Desired
	Claims(ip netip.Addr) map[string]store.Claim
}

// Agents is what it needs of the claim gate (*verify.Gate).
type Agents interface {
	Inspect(ip netip.Addr) []verify.ClaimState
}

// TargetSource is one target as the endpoint sees it.
type TargetSource struct {
	Name string
	// Holding asks the target's running pusher (push.Pusher.Holding).
	Holding func(ctx context.Context, ip netip.Addr) (push.Holding, error)
	Status  func() push.Status
	// DAGs returns the target's last good DAG read; nil (or a nil func)
	// when DAGs are not read.
	DAGs func() *dags.Set
}

// Config configures a Handler.
type Config struct {
	// Client reviews callers' tokens and access (TokenReview,
	// SubjectAccessReview: create) and reads Services (get, list) and
	// Nodes (list).
	Client  kubernetes.Interface
	Deriver *tags.Deriver
	Pods    Pods
	Store   Store
	Agents  Agents
	// Targets returns the targets of the current leadership term (none
	// while this replica does not lead).
	Targets func() []TargetSource
	// Leading reports whether this replica pushes.
	Leading  func() bool
	Recorder *Recorder
	// Audiences the caller's token must be valid for; default none, which
	// means the API server's own (a kubectl user's token).
	Audiences []string
	// CacheTTL is how long token and access reviews are reused (default
	// 10s; at most 4,096 of each are kept).
	CacheTTL time.Duration
	// TargetTimeout bounds the wait for each pusher's answer (default 3s).
	TargetTimeout time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Handler serves the explain endpoint. Build it with NewHandler.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	tokens *expirable.LRU[[sha256.Size]byte, user] // refused tokens too (user.name "")
	access *expirable.LRU[string, bool]
	// inflight bounds concurrent requests, so callers cannot turn the
	// endpoint into a flood of reviews on the API server.
	inflight chan struct{}
}

// MaxInFlight is how many explain requests are served at once; more are
// refused with 429.
const MaxInFlight = 16

// user is an authenticated caller.
type user struct {
	name, uid string
	groups    []string
	extra     map[string]authzv1.ExtraValue
	key       string // identifies the user in the access cache
}

// NewHandler validates cfg; it starts nothing.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Client == nil || cfg.Deriver == nil || cfg.Pods == nil || cfg.Store == nil || cfg.Agents == nil || cfg.Targets == nil || cfg.Leading == nil {
		return nil, errors.New("explain: Client, Deriver, Pods, Store, Agents, Targets and Leading are required")
	}
	if cfg.Recorder == nil {
		cfg.Recorder = NewRecorder(0, nil)
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	if cfg.TargetTimeout <= 0 {
		cfg.TargetTimeout = 3 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(),
		tokens: expirable.NewLRU[[sha256.Size]byte, user](4096, nil, cfg.CacheTTL),
		access: expirable.NewLRU[string, bool](4096, nil, cfg.CacheTTL), inflight: make(chan struct{}, MaxInFlight)}
	h.mux.HandleFunc("GET "+PathPrefix+"pod/{namespace}/{name}", h.pod)
	h.mux.HandleFunc("GET "+PathPrefix+"service/{namespace}/{name}", h.service)
	h.mux.HandleFunc("GET "+PathPrefix+"ip/{ip}", h.ip)
	return h, nil
}

// httpError is an error with its HTTP status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP authenticates the caller, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case h.inflight <- struct{}{}:
		defer func() { <-h.inflight }()
	default:
		h.fail(w, r, "", errorf(http.StatusTooManyRequests, "too many explain requests at once; try again"))
		return
	}
	u, err := h.authenticate(r)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
}

type userKey struct{}

func (h *Handler) pod(w http.ResponseWriter, r *http.Request) {
	u := r.Context().Value(userKey{}).(user)
	q := Query{Kind: KindPod, Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	h.answer(w, r, u, q, func(ctx context.Context, acc *accessSet) (Facts, error) {
		if err := h.require(ctx, u, acc, "pods", q.Namespace, q.Name); err != nil {
			return Facts{}, err
		}
		p, ok := h.cfg.Pods.ByName(q.Namespace, q.Name)
		if !ok {
			return Facts{}, errorf(http.StatusNotFound, "pod %s/%s not found", q.Namespace, q.Name)
		}
		f := Facts{Pod: &p}
		return f, h.gather(ctx, &f, p.IPs)
	})
}

func (h *Handler) service(w http.ResponseWriter, r *http.Request) {
	u := r.Context().Value(userKey{}).(user)
	q := Query{Kind: KindService, Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	h.answer(w, r, u, q, func(ctx context.Context, acc *accessSet) (Facts, error) {
		if err := h.require(ctx, u, acc, "services", q.Namespace, q.Name); err != nil {
			return Facts{}, err
		}
		svc, err := h.cfg.Client.CoreV1().Services(q.Namespace).Get(ctx, q.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return Facts{}, errorf(http.StatusNotFound, "service %s/%s not found", q.Namespace, q.Name)
		}
		if err != nil {
			return Facts{}, errorf(http.StatusBadGateway, "get service %s/%s: %v", q.Namespace, q.Name, err)
		}
		ips, bad := servicewatch.IPs(svc)
		f := Facts{Service: &ServiceFacts{Identity: servicewatch.Identity(svc), IPs: ips, BadIPs: bad}}
		return f, h.gather(ctx, &f, ips)
	})
}

func (h *Handler) ip(w http.ResponseWriter, r *http.Request) {
	u := r.Context().Value(userKey{}).(user)
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil {
		h.fail(w, r, u.name, errorf(http.StatusBadRequest, "not an IP address: %q", r.PathValue("ip")))
		return
	}
	q := Query{Kind: KindIP, IP: ip.Unmap().WithZone("")}
	h.answer(w, r, u, q, func(ctx context.Context, _ *accessSet) (Facts, error) {
		var f Facts
		return f, h.gather(ctx, &f, []netip.Addr{q.IP})
	})
}

// answer gathers facts, reviews the caller's access to every namespace
// they involve, builds the report and writes it.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, u user, q Query, facts func(context.Context, *accessSet) (Facts, error)) {
	ctx := r.Context()
	acc := &accessSet{m: map[string]bool{}}
	f, err := facts(ctx, acc)
	if err != nil {
		h.fail(w, r, u.name, err)
		return
	}
	f.Now, f.Leader, f.Deriver = h.cfg.Now(), h.cfg.Leading(), h.cfg.Deriver
	if err := h.review(ctx, u, acc, &f); err != nil {
		h.fail(w, r, u.name, err)
		return
	}
	rep := Build(q, f, acc)
	h.cfg.Logger.Info("explain", "user", u.name, "query", q.String())
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

// gather fills f.IPs for ips from the store, the pod view, the claim gate,
// the Services and every target.
func (h *Handler) gather(ctx context.Context, f *Facts, ips []netip.Addr) error {
	var services []*corev1.Service
	var nodes []corev1.Node
	listed := false
	targets := h.cfg.Targets()
	for _, ip := range ips {
		x := IPFacts{IP: ip, Desired: h.cfg.Store.Desired(ip), Claims: h.cfg.Store.Claims(ip),
			Holders: h.cfg.Pods.Holders(ip), Agents: h.cfg.Agents.Inspect(ip)}
		// Services are read only when they claim the IP (a rare, on-demand
		// cluster-wide list served from the API server's cache).
		if _, ok := x.Claims[servicewatch.Source]; ok {
			if !listed {
				list, err := h.cfg.Client.CoreV1().Services("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
				if err != nil {
					return errorf(http.StatusBadGateway, "list services: %v", err)
				}
				for i := range list.Items {
					services = append(services, &list.Items[i])
				}
				listed = true
			}
			for _, s := range services {
				if sips, _ := servicewatch.IPs(s); slices.Contains(sips, ip) {
					x.Services = append(x.Services, servicewatch.Identity(s))
				}
			}
		}
		if _, ok := x.Claims[nodewatch.Source]; ok {
			if nodes == nil {
				list, err := h.cfg.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
				if err != nil {
					return errorf(http.StatusBadGateway, "list nodes: %v", err)
				}
				nodes = list.Items
			}
			for i := range nodes {
				addrs, _ := nodewatch.Addrs(&nodes[i], true)
				if slices.ContainsFunc(addrs, func(a nodewatch.Addr) bool { return a.IP == ip }) {
					x.Nodes = append(x.Nodes, nodewatch.Identity(&nodes[i]))
				}
			}
		}
		x.Targets = make([]TargetFacts, len(targets))
		var wg sync.WaitGroup
		for i, t := range targets {
			tf := &x.Targets[i]
			tf.Name = t.Name
			tf.Status = t.Status()
			tf.Ack, tf.HasAck = h.cfg.Recorder.Get(t.Name, ip)
			if t.DAGs != nil {
				tf.DAGs = t.DAGs()
			}
			wg.Go(func() {
				tctx, cancel := context.WithTimeout(ctx, h.cfg.TargetTimeout)
				defer cancel()
				tf.Holding, tf.HoldingErr = t.Holding(tctx, ip)
				if errors.Is(tf.HoldingErr, context.DeadlineExceeded) {
					tf.HoldingErr = errors.New("the pusher is busy with a call to the target; try again")
				}
			})
		}
		wg.Wait()
		f.IPs = append(f.IPs, x)
	}
	return nil
}

// review asks SubjectAccessReview about every namespace the facts
// involve, so Build can show only what the caller may get.
func (h *Handler) review(ctx context.Context, u user, acc *accessSet, f *Facts) error {
	type ask struct{ resource, ns string }
	asks := []ask{{"pods", ""}, {"services", ""}}
	add := func(resource, ns string) {
		if a := (ask{resource, ns}); !slices.Contains(asks, a) {
			asks = append(asks, a)
		}
	}
	for _, x := range f.IPs {
		for _, p := range x.Holders {
			add("pods", p.Identity.Namespace)
		}
		for _, a := range x.Agents {
			add("pods", a.Identity.Namespace)
		}
		for _, s := range x.Services {
			add("services", s.Namespace)
		}
		if len(x.Nodes) > 0 {
			add("nodes", "")
		}
	}
	for _, a := range asks {
		if _, err := h.allowed(ctx, u, acc, a.resource, a.ns, ""); err != nil {
			return err
		}
	}
	return nil
}

// require fails unless the caller may get the named object.
func (h *Handler) require(ctx context.Context, u user, acc *accessSet, resource, ns, name string) error {
	ok, err := h.allowed(ctx, u, acc, resource, ns, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusForbidden, "%s may not get %s %q in namespace %q", u.name, resource, name, ns)
	}
	return nil
}

// allowed asks (or recalls) whether u may get resource in ns (name: that
// object only; "": any) and records the answer in acc.
func (h *Handler) allowed(ctx context.Context, u user, acc *accessSet, resource, ns, name string) (bool, error) {
	key := u.key + "\x00" + resource + "\x00" + ns + "\x00" + name
	ok, cached := h.access.Get(key)
	if !cached {
		sar, err := h.cfg.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
			Spec: authzv1.SubjectAccessReviewSpec{
				User: u.name, UID: u.uid, Groups: u.groups, Extra: u.extra,
				ResourceAttributes: &authzv1.ResourceAttributes{Verb: "get", Resource: resource, Namespace: ns, Name: name},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, errorf(http.StatusBadGateway, "subject access review: %v", err)
		}
		ok = sar.Status.Allowed && !sar.Status.Denied
		h.access.Add(key, ok)
	}
	acc.set(resource, ns, name, ok)
	return ok, nil
}

// accessSet is the Access Build sees: the answers gathered for one
// request, per namespace and per named object.
type accessSet struct{ m map[string]bool }

func accessKey(resource, ns, name string) string { return resource + "/" + ns + "/" + name }

func (a *accessSet) set(resource, ns, name string, ok bool) { a.m[accessKey(resource, ns, name)] = ok }

// MayGet implements Access: the namespace as a whole, or the named object.
func (a *accessSet) MayGet(resource, ns, name string) bool {
	return a.m[accessKey(resource, ns, "")] || (name != "" && a.m[accessKey(resource, ns, name)])
}

// authenticate reviews the caller's bearer token.
func (h *Handler) authenticate(r *http.Request) (user, error) {
	raw := r.Header.Get(TokenHeader)
	if raw == "" {
		raw = r.Header.Get("Authorization")
	}
	token, ok := strings.CutPrefix(raw, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return user{}, errorf(http.StatusUnauthorized,
			"no bearer token: send your Kubernetes token in the %s header (kubectl kubedag explain does); a kubeconfig with only a client certificate cannot be used", TokenHeader)
	}
	token = strings.TrimSpace(token)
	key := sha256.Sum256([]byte(token))
	if u, ok := h.tokens.Get(key); ok {
		if u.name == "" {
			return user{}, errorf(http.StatusUnauthorized, "token not authenticated by the API server")
		}
		return u, nil
	}
	tr, err := h.cfg.Client.AuthenticationV1().TokenReviews().Create(r.Context(), &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: h.cfg.Audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		// Not cached: the next request asks again.
		return user{}, errorf(http.StatusBadGateway, "token review: %v", err)
	}
	if !tr.Status.Authenticated || tr.Status.User.Username == "" {
		// Refusals are cached too, so replaying a bad token costs the
		// API server one review per CacheTTL.
		h.tokens.Add(key, user{})
		return user{}, errorf(http.StatusUnauthorized, "token not authenticated by the API server")
	}
	st := tr.Status.User
	u := user{name: st.Username, uid: st.UID, groups: st.Groups}
	if len(st.Extra) > 0 {
		u.extra = make(map[string]authzv1.ExtraValue, len(st.Extra))
		for k, v := range st.Extra {
			u.extra[k] = authzv1.ExtraValue(v)
		}
	}
	// The access cache key: a hash of the whole identity, never the token.
	id, _ := json.Marshal([]any{u.name, u.uid, u.groups, st.Extra})
	sum := sha256.Sum256(id)
	u.key = string(sum[:])
	h.tokens.Add(key, u)
	return u, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, who string, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	}
	if code >= 500 {
		h.cfg.Logger.Warn("explain failed", "user", who, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Serve serves h over TLS on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config, h http.Handler) error {
	srv := &http.Server{Handler: h, TLSConfig: tlsCfg.Clone(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("explain: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return nil
}
