package kubeapi

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Client lists and watches the objects the agent reads. It implements
// podwatch.Source.
type Client struct {
	core, discovery rest.Interface
}

// New returns a Client for cfg (which it does not modify). Objects are
// requested as protobuf, which the API server encodes and the agent decodes
// at a fraction of JSON's cost.
func New(cfg *rest.Config) (*Client, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("kubeapi: register core/v1: %w", err)
	}
	if err := discoveryv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("kubeapi: register discovery/v1: %w", err)
	}
	codecs := serializer.NewCodecFactory(scheme)
	client := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		c := rest.CopyConfig(cfg)
		c.GroupVersion = &gv
		c.APIPath = apiPath
		c.NegotiatedSerializer = codecs.WithoutConversion()
		c.ContentType = runtime.ContentTypeProtobuf
		c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		if c.UserAgent == "" {
			c.UserAgent = rest.DefaultKubernetesUserAgent()
		}
		rc, err := rest.RESTClientFor(c)
		if err != nil {
			return nil, fmt.Errorf("kubeapi: %s client: %w", gv, err)
		}
		return rc, nil
	}
	core, err := client(corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	disc, err := client(discoveryv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return &Client{core: core, discovery: disc}, nil
}

// Pods lists and watches the pods bound to node (field selector
// spec.nodeName), in every namespace.
func (c *Client) Pods(node string) cache.ListerWatcher {
	return cache.NewListWatchFromClient(c.core, "pods", metav1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", node))
}

// AllPods lists and watches every pod of the cluster: the cluster-wide
// view a central watcher keeps (the Panorama plugins' model), which
// e2e/bench/scale compares with the agents' node-scoped watches. The agent
// never uses it.
func (c *Client) AllPods() cache.ListerWatcher {
	return cache.NewListWatchFromClient(c.core, "pods", metav1.NamespaceAll, fields.Everything())
}

// EndpointSlices lists and watches every EndpointSlice: like AllPods, for
// e2e/bench/scale's cluster-wide model. The agent never uses it (which
// Services a pod backs is the aggregator's to derive).
func (c *Client) EndpointSlices() cache.ListerWatcher {
	return cache.NewListWatchFromClient(c.discovery, "endpointslices", metav1.NamespaceAll, fields.Everything())
}

// Namespaces lists and watches every Namespace.
func (c *Client) Namespaces() cache.ListerWatcher {
	return cache.NewListWatchFromClient(c.core, "namespaces", metav1.NamespaceAll, fields.Everything())
}
