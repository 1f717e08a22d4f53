package kube

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedag/kubedag/aggregator/sandwich"
)

// lb is an internal NLB Service labelled for port, created at minute age.
func lb(name string, port string, age int, mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, age, 0, 0, time.UTC)),
			Labels:            map[string]string{DefaultLabelKey: port},
			Annotations:       map[string]string{annLBType: "nlb", annLBInternal: "0.0.0.0/0"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{Hostname: "Internal-" + name + ".elb.us-east-1.amazonaws.com"}}}},
	}
	if mut != nil {
		mut(s)
	}
	return s
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		svcs []*corev1.Service
		// want per Service: "port/targetPort/hostname" or the problem reason
		want map[string]string
	}{
		{"good", []*corev1.Service{lb("web", "82", 0, nil)},
			map[string]string{"web": "82/80/internal-web.elb.us-east-1.amazonaws.com"}},
		{"unlabelled Services are ignored", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) { s.Labels = nil })}, map[string]string{}},
		{"bad port values", []*corev1.Service{lb("a", "http", 0, nil), lb("b", "0", 0, nil), lb("c", "65536", 0, nil), lb("d", "", 0, nil)},
			map[string]string{"a": sandwich.ReasonBadPort, "b": sandwich.ReasonBadPort, "c": sandwich.ReasonBadPort, "d": sandwich.ReasonBadPort}},
		{"the older Service keeps a port", []*corev1.Service{lb("new", "82", 5, nil), lb("old", "82", 1, nil)},
			map[string]string{"old": "82/80/internal-old.elb.us-east-1.amazonaws.com", "new": sandwich.ReasonDuplicatePort}},
		{"a waiting Service keeps its claim", []*corev1.Service{
			lb("old", "82", 1, func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = nil }), lb("new", "82", 5, nil)},
			map[string]string{"old": sandwich.ReasonNoHostname, "new": sandwich.ReasonDuplicatePort}},
		{"not a LoadBalancer", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP })},
			map[string]string{"web": sandwich.ReasonNotInternalNLB}},
		{"a classic ELB", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) { delete(s.Annotations, annLBType) })},
			map[string]string{"web": sandwich.ReasonNotInternalNLB}},
		{"internet-facing", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) { delete(s.Annotations, annLBInternal) })},
			map[string]string{"web": sandwich.ReasonNotInternalNLB}},
		{"AWS Load Balancer Controller annotations", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) {
			s.Annotations = map[string]string{annLBType: "external", annLBScheme: "internal"}
		})}, map[string]string{"web": "82/80/internal-web.elb.us-east-1.amazonaws.com"}},
		{"several ports need the annotation", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443})
		})}, map[string]string{"web": sandwich.ReasonBadTargetPort}},
		{"annotation by name", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443})
			s.Annotations[TargetPortAnnotation] = "https"
		})}, map[string]string{"web": "82/443/internal-web.elb.us-east-1.amazonaws.com"}},
		{"annotation by number", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443})
			s.Annotations[TargetPortAnnotation] = "80"
		})}, map[string]string{"web": "82/80/internal-web.elb.us-east-1.amazonaws.com"}},
		{"annotation naming no port", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) {
			s.Annotations[TargetPortAnnotation] = "8443"
		})}, map[string]string{"web": sandwich.ReasonBadTargetPort}},
		{"no hostname yet", []*corev1.Service{lb("web", "82", 0, func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.9"}}
		})}, map[string]string{"web": sandwich.ReasonNoHostname}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, c := range Check(tc.svcs, DefaultLabelKey) {
				if c.Problem != nil {
					got[c.Svc.Name] = c.Problem.Reason
					if c.Problem.Service != "shop/"+c.Svc.Name || c.Problem.Message == "" {
						t.Errorf("problem %+v", c.Problem)
					}
					continue
				}
				s := c.Service
				got[c.Svc.Name] = fmt.Sprintf("%d/%d/%s", s.Port, s.TargetPort, s.Hostname)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
