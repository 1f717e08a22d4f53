package kube

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/aggregator/sandwich"
)

// Label and annotation keys.
const (
	// DefaultLabelKey is the Panorama AWS plugin's label.
	DefaultLabelKey = "panw-tg-port"
	// TargetPortAnnotation names the Service port (number or name) the
	// firewall forwards to when the Service has several.
	TargetPortAnnotation = "kubedag.io/target-port"

	annLBType     = "service.beta.kubernetes.io/aws-load-balancer-type"
	annLBInternal = "service.beta.kubernetes.io/aws-load-balancer-internal"
	annLBScheme   = "service.beta.kubernetes.io/aws-load-balancer-scheme"
)

// Checked is one labelled Service after checking: either a Service to
// program, or the problem that keeps it out.
type Checked struct {
	Svc     *corev1.Service
	Service sandwich.Service
	// Problem is nil when Service can be programmed.
	Problem *sandwich.Problem
}

// Check checks every Service carrying labelKey. Services are taken oldest
// first, so when two claim one firewall port the older keeps it. Pure.
func Check(svcs []*corev1.Service, labelKey string) []Checked {
	svcs = slices.Clone(svcs)
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	holder := map[int]string{}
	var out []Checked
	for _, svc := range svcs {
		v, ok := svc.Labels[labelKey]
		if !ok {
			continue
		}
		c := Checked{Svc: svc}
		c.Service, c.Problem = checkOne(svc, labelKey, v)
		if c.Problem == nil || c.Problem.Reason != sandwich.ReasonBadPort {
			// The port is claimed even while the Service waits for its
			// ILB, so a newer Service cannot take it meanwhile.
			port := c.Service.Port
			if h, taken := holder[port]; taken {
				c.Problem = problem(svc, sandwich.ReasonDuplicatePort,
					"firewall port %d (label %s) is already used by the older Service %s", port, labelKey, h)
			} else {
				holder[port] = svc.Namespace + "/" + svc.Name
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Checked) int {
		return cmp.Or(cmp.Compare(a.Svc.Namespace, b.Svc.Namespace), cmp.Compare(a.Svc.Name, b.Svc.Name))
	})
	return out
}

func problem(svc *corev1.Service, reason, format string, args ...any) *sandwich.Problem {
	return &sandwich.Problem{Service: svc.Namespace + "/" + svc.Name, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func checkOne(svc *corev1.Service, labelKey, value string) (sandwich.Service, *sandwich.Problem) {
	s := sandwich.Service{Namespace: svc.Namespace, Name: svc.Name}
	port, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || port < 1 || port > 65535 {
		return s, problem(svc, sandwich.ReasonBadPort, "label %s=%q is not a port (1-65535)", labelKey, value)
	}
	s.Port = port
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return s, problem(svc, sandwich.ReasonNotInternalNLB, "Service is of type %s; the sandwich needs type LoadBalancer with an internal NLB", svc.Spec.Type)
	}
	if !internalNLB(svc.Annotations) {
		return s, problem(svc, sandwich.ReasonNotInternalNLB,
			"Service is not an internal NLB: want annotations %s: nlb and %s: \"true\" (or %s: internal)", annLBType, annLBInternal, annLBScheme)
	}
	tp, p := targetPort(svc)
	if p != nil {
		return s, p
	}
	s.TargetPort = tp
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.Hostname != "" {
			s.Hostname = strings.ToLower(ing.Hostname)
			break
		}
	}
	if s.Hostname == "" {
		return s, problem(svc, sandwich.ReasonNoHostname, "no ILB hostname in status.loadBalancer.ingress yet; programmed once it appears")
	}
	return s, nil
}

// internalNLB accepts the in-tree cloud provider's annotations and the AWS
// Load Balancer Controller's.
func internalNLB(ann map[string]string) bool {
	switch strings.ToLower(ann[annLBType]) {
	case "nlb", "nlb-ip", "external":
	default:
		return false
	}
	if strings.EqualFold(ann[annLBScheme], "internal") {
		return true
	}
	switch v := strings.ToLower(strings.TrimSpace(ann[annLBInternal])); v {
	case "", "false":
		return false
	}
	return true
}

func targetPort(svc *corev1.Service) (int, *sandwich.Problem) {
	var tcp []corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			tcp = append(tcp, p)
		}
	}
	want, set := svc.Annotations[TargetPortAnnotation]
	if !set {
		switch len(tcp) {
		case 1:
			return int(tcp[0].Port), nil
		case 0:
			return 0, problem(svc, sandwich.ReasonBadTargetPort, "Service has no TCP port")
		}
		return 0, problem(svc, sandwich.ReasonBadTargetPort, "Service has %d TCP ports: annotation %s must name the one to forward to", len(tcp), TargetPortAnnotation)
	}
	for _, p := range tcp {
		if p.Name == want || strconv.Itoa(int(p.Port)) == strings.TrimSpace(want) {
			return int(p.Port), nil
		}
	}
	return 0, problem(svc, sandwich.ReasonBadTargetPort, "annotation %s=%q names no TCP port of the Service", TargetPortAnnotation, want)
}
