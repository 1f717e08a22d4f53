package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Defaults of the aggregator's explain Service (the Helm chart's).
const (
	DefaultNamespace = "kubedag"
	DefaultService   = "kubedag-aggregator"
	DefaultPort      = "explain"
)

// Client asks the aggregator's explain endpoint through the API server's
// service proxy, with the user's own kubeconfig credentials.
type Client struct {
	rest rest.Interface
	// Namespace, Service and Port name the aggregator's Service and its
	// explain port (a name or number); the proxy speaks https to it.
	Namespace, Service, Port string
	// Attempts bounds the requests Explain makes to reach the leader
	// (default DefaultAttempts): every Ready replica answers, but only the
	// one that pushes knows what targets hold, and the service proxy picks
	// a random endpoint per request.
	Attempts int
}

// DefaultAttempts is Client.Attempts' default: with two replicas, the
// leader is missed 8 times in a row once in 256.
const DefaultAttempts = 8

// RESTConfig loads a kubeconfig as kubectl does: path (or $KUBECONFIG, or
// ~/.kube/config, or in-cluster) and context ("" = current). It also
// returns the context's namespace ("default" if it names none).
func RESTConfig(path, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return cfg, ns, nil
}

// NewClient returns a Client using cfg's server and credentials. The
// credentials' bearer token (static, file, exec plugin or auth provider)
// is copied into TokenHeader, because the API server consumes
// Authorization and does not forward it.
func NewClient(cfg *rest.Config) (*Client, error) {
	c := rest.CopyConfig(cfg)
	c.Wrap(copyToken)
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("explain client: %w", err)
	}
	return &Client{rest: cs.CoreV1().RESTClient(), Namespace: DefaultNamespace, Service: DefaultService, Port: DefaultPort}, nil
}

// copyToken wraps the transport under client-go's authentication: it sees
// the Authorization header the credentials set and copies it.
func copyToken(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			r = r.Clone(r.Context())
			r.Header.Set(TokenHeader, a)
		}
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Path is the endpoint path of q.
func Path(q Query) string {
	if q.Kind == KindIP {
		return PathPrefix + "ip/" + q.IP.String()
	}
	return PathPrefix + q.Kind + "/" + url.PathEscape(q.Namespace) + "/" + url.PathEscape(q.Name)
}

// Explain asks the endpoint about q, again while a replica that does not
// lead answers (up to Attempts); it returns the leader's report, or the
// last one.
func (c *Client) Explain(ctx context.Context, q Query) (Report, error) {
	n := c.Attempts
	if n <= 0 {
		n = DefaultAttempts
	}
	var r Report
	var err error
	for i := 0; i < n; i++ {
		if r, err = c.once(ctx, q); err != nil || r.Leader {
			break
		}
	}
	return r, err
}

func (c *Client) once(ctx context.Context, q Query) (Report, error) {
	res := c.rest.Get().Namespace(c.Namespace).Resource("services").
		Name("https:" + c.Service + ":" + c.Port).SubResource("proxy").
		Suffix(strings.TrimPrefix(Path(q), "/")).Do(ctx)
	body, err := res.Raw()
	if err != nil {
		return Report{}, c.explainError(err, body)
	}
	var r Report
	if err := json.Unmarshal(body, &r); err != nil {
		return Report{}, fmt.Errorf("explain: decode the answer: %w", err)
	}
	return r, nil
}

// explainError turns a failed proxy call into a helpful error: the
// endpoint's own message when it answered, else the API server's.
func (c *Client) explainError(err error, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("explain: %s", e.Error)
	}
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		switch {
		case apierrors.IsForbidden(err):
			return fmt.Errorf("explain: the API server refused the proxy request (you need get on services/proxy %s in namespace %s): %w", c.Service, c.Namespace, err)
		case apierrors.IsNotFound(err):
			return fmt.Errorf("explain: service %s/%s not found (is kubedag installed there? see --kubedag-namespace): %w", c.Namespace, c.Service, err)
		case apierrors.IsServiceUnavailable(err):
			return fmt.Errorf("explain: no aggregator ready behind service %s/%s: %w", c.Namespace, c.Service, err)
		}
	}
	return fmt.Errorf("explain: %w", err)
}
