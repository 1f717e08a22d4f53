package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedag/kubedag/tags"
)

// ClaimConfig configures a ClaimValidator.
type ClaimConfig struct {
	// Client reads Nodes and Pods. Required.
	Client kubernetes.Interface
	// AllowNodeIP allows claims on a node's own InternalIPs (hostNetwork
	// pods). Default false: such claims are refused.
	AllowNodeIP bool
	// CacheSize bounds each of the node and pod caches. Default 16384.
	CacheSize int
	// CacheTTL is how long a Node or Pod read is reused. Default 30s.
	CacheTTL time.Duration
}

// ClaimValidator checks that a node holds the IPs it claims.
type ClaimValidator struct {
	cfg   ClaimConfig
	nodes *ttlCache[string, nodeInfo]
	pods  *ttlCache[string, podInfo]
}

type nodeInfo struct {
	cidrs       []netip.Prefix
	internalIPs []netip.Addr
}

type podInfo struct {
	uid      string
	nodeName string
	ips      []netip.Addr
}

// NewClaimValidator returns a validator; it starts nothing.
func NewClaimValidator(cfg ClaimConfig) (*ClaimValidator, error) {
	if cfg.Client == nil {
		return nil, errors.New("auth: ClaimConfig.Client is required")
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 16384
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	return &ClaimValidator{
		cfg:   cfg,
		nodes: newTTLCache[string, nodeInfo](cfg.CacheSize, cfg.CacheTTL),
		pods:  newTTLCache[string, podInfo](cfg.CacheSize, cfg.CacheTTL),
	}, nil
}

// CheckClaim returns nil if node may claim ip for id, a plain error (the
// reason) if not, and an Unavailable status error if the API server could
// not be asked.
func (v *ClaimValidator) CheckClaim(ctx context.Context, node string, ip netip.Addr, id tags.Identity) error {
	if id.Kind != tags.KindPod {
		return fmt.Errorf("claims of kind %q are not accepted from agents", id.Kind)
	}
	ip = ip.Unmap()
	n, err := v.node(ctx, node)
	if err != nil {
		return err
	}
	if slices.Contains(n.internalIPs, ip) && !v.cfg.AllowNodeIP {
		return fmt.Errorf("%v is an InternalIP of node %s (hostNetwork pod); node IPs are not tagged", ip, node)
	}
	for _, p := range n.cidrs {
		if p.Contains(ip) {
			return nil
		}
	}
	// Not in the node's pod CIDRs (or none set, as with the AWS VPC CNI):
	// the pod the claim names must hold the IP on this node.
	if id.Namespace == "" || id.Name == "" {
		return fmt.Errorf("%v is outside node %s's podCIDRs and the claim names no pod", ip, node)
	}
	key := id.Namespace + "/" + id.Name
	p, cached, err := v.pod(ctx, id.Namespace, id.Name, false)
	if err != nil {
		return err
	}
	reason := podMismatch(p, node, ip, id)
	if reason != "" && cached {
		// The cache may predate the pod's IP or a re-creation: look once more.
		if p, _, err = v.pod(ctx, id.Namespace, id.Name, true); err != nil {
			return err
		}
		reason = podMismatch(p, node, ip, id)
	}
	if reason != "" {
		return fmt.Errorf("%v is not held by pod %s on node %s: %s", ip, key, node, reason)
	}
	return nil
}

func podMismatch(p *podInfo, node string, ip netip.Addr, id tags.Identity) string {
	switch {
	case p == nil:
		return "pod not found"
	case id.UID != "" && p.uid != id.UID:
		return fmt.Sprintf("pod uid is %s, claim says %s", p.uid, id.UID)
	case p.nodeName != node:
		return fmt.Sprintf("pod runs on node %q", p.nodeName)
	case !slices.Contains(p.ips, ip):
		return "IP not in the pod's status.podIPs"
	}
	return ""
}

func unavailable(what string, err error) error {
	return status.Errorf(codes.Unavailable, "%s: %v", what, err)
}

func (v *ClaimValidator) node(ctx context.Context, name string) (nodeInfo, error) {
	if n, ok := v.nodes.Get(name); ok {
		return n, nil
	}
	obj, err := v.cfg.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nodeInfo{}, fmt.Errorf("node %q does not exist", name)
	}
	if err != nil {
		return nodeInfo{}, unavailable("get node "+name, err)
	}
	var n nodeInfo
	cidrs := obj.Spec.PodCIDRs
	if len(cidrs) == 0 && obj.Spec.PodCIDR != "" {
		cidrs = []string{obj.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			n.cidrs = append(n.cidrs, p.Masked())
		}
	}
	for _, a := range obj.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			n.internalIPs = append(n.internalIPs, ip.Unmap())
		}
	}
	v.nodes.Add(name, n)
	return n, nil
}

// pod returns the pod (nil if it does not exist) and whether it came from
// the cache.
func (v *ClaimValidator) pod(ctx context.Context, ns, name string, fresh bool) (*podInfo, bool, error) {
	key := ns + "/" + name
	if !fresh {
		if p, ok := v.pods.Get(key); ok {
			return &p, true, nil
		}
	}
	obj, err := v.cfg.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		v.pods.Remove(key)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable("get pod "+key, err)
	}
	p := podInfo{uid: string(obj.UID), nodeName: obj.Spec.NodeName}
	for _, a := range obj.Status.PodIPs {
		if ip, err := netip.ParseAddr(a.IP); err == nil {
			p.ips = append(p.ips, ip.Unmap())
		}
	}
	if len(p.ips) == 0 && obj.Status.PodIP != "" {
		if ip, err := netip.ParseAddr(obj.Status.PodIP); err == nil {
			p.ips = append(p.ips, ip.Unmap())
		}
	}
	v.pods.Add(key, p)
	return &p, false, nil
}
