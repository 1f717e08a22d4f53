package demo

import (
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/userid"
)

// The sandwich part of the demo: one internal-NLB Service labelled
// panw-tg-port in its own namespace (so the tag steps' world is not
// changed), the firewall's NAT rules and routes printed as they appear.
const (
	sandwichNS      = "edge"
	sandwichService = "storefront"
	sandwichPort    = 8443
	sandwichILB     = "internal-storefront-0a1b2c3d4e5f.elb.us-east-1.amazonaws.com"
	sandwichViewer  = "viewer"
)

// sandwichConfig is the demo aggregator's sandwich section: the emulated
// firewall, two cluster subnets and two firewalls in two zones.
func sandwichConfig() config.Sandwich {
	return config.Sandwich{
		Enabled: true,
		Targets: []string{targetName},
		Admin:   "admin",
		Quiet:   config.Duration{Duration: 200 * time.Millisecond},
		Inventory: config.Inventory{
			Subnets: []config.Subnet{
				{ID: "subnet-a", CIDR: "10.0.0.0/19", Zone: "us-east-1a"},
				{ID: "subnet-b", CIDR: "10.0.32.0/19", Zone: "us-east-1b"},
			},
			Firewalls: []config.Firewall{
				{ID: "fw-a", Zone: "us-east-1a", TrustSubnet: "10.0.128.0/24"},
				{ID: "fw-b", Zone: "us-east-1b", TrustSubnet: "10.0.129.0/24"},
			},
		},
	}
}

// showSandwich labels a Service, gives it an ILB hostname and prints the
// firewall's NAT rules and routes as they appear.
func (s *stack) showSandwich(ctx context.Context, p *printer, timeout time.Duration) error {
	key, err := s.sim.Sim.APIKeyFor(sandwichViewer)
	if err != nil {
		return err
	}
	fw, err := userid.New(userid.Config{URL: s.sim.URL, APIKey: key, RootCAs: s.sim.CAPool})
	if err != nil {
		return err
	}
	defer fw.Close()
	target := sandwich.Target{Name: targetName, Admin: "admin"}
	if err := target.Validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	// await polls the firewall's running config until want holds, printing
	// every NAT rule and route the first time it is there.
	await := func(what string, want func(rules, routes []string) bool) error {
		var last string
		err := wait.PollUntilContextTimeout(ctx, pollEvery, timeout, true, func(ctx context.Context) (bool, error) {
			rules, err := shown[natRule](ctx, fw, target.Container(sandwich.KindNATRule))
			if err != nil {
				last = err.Error()
				return false, nil
			}
			routes, err := shown[route](ctx, fw, target.Container(sandwich.KindRoute))
			if err != nil {
				last = err.Error()
				return false, nil
			}
			var rn, rt []string
			for _, r := range rules {
				rn = append(rn, r.Name)
				if !seen[r.Name] {
					seen[r.Name] = true
					p.note("NAT rule  %s", r)
				}
			}
			for _, r := range routes {
				rt = append(rt, r.Name)
				if !seen[r.Name] {
					seen[r.Name] = true
					p.note("route     %s", r)
				}
			}
			return want(rn, rt), nil
		})
		if err != nil {
			return fmt.Errorf("sandwich: %s: %w (%s)", what, err, last)
		}
		return nil
	}

	p.raw("\n")
	p.progress("sandwich  cluster subnets 10.0.0.0/19, 10.0.32.0/19; firewalls in us-east-1a and us-east-1b: outbound NAT and one route per zone")
	if err := await("subnet rules and routes", func(rules, routes []string) bool { return len(rules) >= 2 && len(routes) >= 4 }); err != nil {
		return err
	}
	c := s.cluster.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sandwichNS}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("sandwich namespace: %w", err)
	}
	svc, err := c.CoreV1().Services(sandwichNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: sandwichService,
			Labels: map[string]string{"panw-tg-port": fmt.Sprint(sandwichPort)},
			Annotations: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
				"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": sandwichService},
			Ports: []corev1.ServicePort{{Name: "https", Port: 443}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("sandwich service: %w", err)
	}
	began := time.Now()
	p.progress("sandwich  Service %s/%s (type LoadBalancer, internal NLB) labelled panw-tg-port=%d; ILB hostname set on its status: %s",
		sandwichNS, sandwichService, sandwichPort, sandwichILB)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: sandwichILB}}
	if _, err := c.CoreV1().Services(sandwichNS).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("sandwich service status: %w", err)
	}
	inbound := sandwich.Names{Cluster: clusterName}.Inbound(sandwichNS, sandwichService, sandwichPort)
	if err := await("inbound rule", func(rules, _ []string) bool { return slices.Contains(rules, inbound) }); err != nil {
		return err
	}
	p.progress("sandwich  committed on the firewall %s after the label: internet -> ALB -> firewall port %d -> ILB port 443", since(began), sandwichPort)
	return nil
}

// shown reads the running config's entries under container.
func shown[T any](ctx context.Context, fw *userid.Client, container string) ([]T, error) {
	res, err := fw.Show(ctx, container)
	if userid.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// res is the container element (rules, static-route) with its entries.
	var x struct {
		Entries []T `xml:"entry"`
	}
	if err := xml.Unmarshal(res, &x); err != nil {
		return nil, err
	}
	return x.Entries, nil
}

type natRule struct {
	Name    string   `xml:"name,attr"`
	From    []string `xml:"from>member"`
	To      []string `xml:"to>member"`
	Source  []string `xml:"source>member"`
	Service string   `xml:"service"`
	SNAT    string   `xml:"source-translation>dynamic-ip-and-port>interface-address>interface"`
	DNAT    string   `xml:"dynamic-destination-translation>translated-address"`
	DPort   string   `xml:"dynamic-destination-translation>translated-port"`
}

func (r natRule) String() string {
	s := fmt.Sprintf("%s: %s -> %s, source %s, service %s, source NAT to %s's address",
		r.Name, strings.Join(r.From, ","), strings.Join(r.To, ","), strings.Join(r.Source, ","), r.Service, r.SNAT)
	if r.DNAT != "" {
		s += fmt.Sprintf(", destination NAT to %s port %s", r.DNAT, r.DPort)
	}
	return s
}

type route struct {
	Name        string `xml:"name,attr"`
	Destination string `xml:"destination"`
	Interface   string `xml:"interface"`
	NextHop     string `xml:"nexthop>ip-address"`
	Metric      string `xml:"metric"`
}

func (r route) String() string {
	return fmt.Sprintf("%s: %s via %s on %s, metric %s (path-monitored)", r.Name, r.Destination, r.NextHop, r.Interface, r.Metric)
}
