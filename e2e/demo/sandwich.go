package demo

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	sandwichaws "github.com/kubedag/kubedag/aggregator/sandwich/aws"
	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
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

// The simulated AWS account the sandwich is discovered from.
const (
	awsRegion     = "us-east-1"
	awsCluster    = "demo-eks"
	awsStack      = "demo-fw"
	awsVPC        = "vpc-0demo"
	addedSubnet   = "10.0.64.0/19"
	addedSubnetID = "subnet-0c"
)

// sandwichConfig is the demo aggregator's sandwich section: the emulated
// firewall, the inventory discovered from the simulated AWS at awsURL.
func sandwichConfig(awsURL string) config.Sandwich {
	return config.Sandwich{
		Enabled: true,
		Targets: []string{targetName},
		Admin:   "admin",
		Quiet:   config.Duration{Duration: 200 * time.Millisecond},
		AWS: &config.SandwichAWS{Region: awsRegion, ClusterName: awsCluster, FirewallStack: awsStack, Endpoint: awsURL,
			RefreshInterval: config.Duration{Duration: 2 * time.Second}},
	}
}

// demoAWS is the simulated account: the EKS cluster with two subnets, the
// firewall autoscaling group as Palo Alto's template names it, one
// firewall per zone (ENIs: 0 management, 1 untrust, 2 trust), and the
// storefront Service's internal NLB.
func demoAWS(m *awssim.Model) {
	m.Clusters[awsCluster] = &awssim.Cluster{Name: awsCluster, VPC: awsVPC, SubnetIDs: []string{"subnet-0a", "subnet-0b"}}
	subnet := func(id, cidr, zone string) {
		m.Subnets[id] = &awssim.Subnet{ID: id, VPC: awsVPC, CIDR: cidr, Zone: zone}
	}
	subnet("subnet-0a", "10.0.0.0/19", "us-east-1a")
	subnet("subnet-0b", "10.0.32.0/19", "us-east-1b")
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		n := i + 1
		subnet(fmt.Sprintf("subnet-0mgmt%d", n), fmt.Sprintf("10.0.%d.0/24", 100+i), z)
		subnet(fmt.Sprintf("subnet-0untrust%d", n), fmt.Sprintf("10.0.%d.0/24", 110+i), z)
		subnet(fmt.Sprintf("subnet-0trust%d", n), fmt.Sprintf("10.0.%d.0/24", 128+i), z)
		id := fmt.Sprintf("i-0fw%d", n)
		m.Instances[id] = &awssim.Instance{ID: id, VPC: awsVPC, Zone: z,
			Tags: map[string]string{"aws:autoscaling:groupName": awsStack + sandwichaws.ASGSuffix},
			ENIs: []awssim.ENI{
				{ID: fmt.Sprintf("eni-0mgmt%d", n), SubnetID: fmt.Sprintf("subnet-0mgmt%d", n), DeviceIndex: 0, PrivateIP: fmt.Sprintf("10.0.%d.10", 100+i)},
				{ID: fmt.Sprintf("eni-0untrust%d", n), SubnetID: fmt.Sprintf("subnet-0untrust%d", n), DeviceIndex: 1, PrivateIP: fmt.Sprintf("10.0.%d.10", 110+i)},
				{ID: fmt.Sprintf("eni-0trust%d", n), SubnetID: fmt.Sprintf("subnet-0trust%d", n), DeviceIndex: 2, PrivateIP: fmt.Sprintf("10.0.%d.10", 128+i)},
			}}
	}
	arn := "arn:aws:elasticloadbalancing:us-east-1:" + awssim.Account + ":loadbalancer/net/internal-storefront/0a1b2c3d4e5f"
	m.LoadBalancers[arn] = &awssim.LoadBalancer{ARN: arn, Name: "internal-storefront", DNSName: sandwichILB, Type: "network", Scheme: "internal", VPC: awsVPC}
}

// addSubnet adds a third subnet to the cluster, as growing it into a new
// zone would.
func addSubnet(m *awssim.Model) {
	m.Subnets[addedSubnetID] = &awssim.Subnet{ID: addedSubnetID, VPC: awsVPC, CIDR: addedSubnet, Zone: "us-east-1c"}
	c := m.Clusters[awsCluster]
	c.SubnetIDs = append(c.SubnetIDs, addedSubnetID)
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
	p.progress("sandwich  discovered from AWS (simulated at %s, through aws-sdk-go-v2): EKS cluster %s's subnets 10.0.0.0/19, 10.0.32.0/19; "+
		"firewalls of ASG %s%s in us-east-1a and us-east-1b: outbound NAT and one route per zone", s.awsSrv.URL, awsCluster, awsStack, sandwichaws.ASGSuffix)
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

	began = time.Now()
	p.progress("sandwich  subnet %s (us-east-1c) added to the cluster in AWS", addedSubnet)
	s.aws.Update(addSubnet)
	outbound := sandwich.Names{Cluster: clusterName}.Outbound(netip.MustParsePrefix(addedSubnet))
	if err := await("the added subnet's rule and routes", func(rules, routes []string) bool {
		return slices.Contains(rules, outbound) && len(routes) >= 6
	}); err != nil {
		return err
	}
	p.progress("sandwich  discovered and committed %s later (AWS is re-read every 2s here, 1m by default)", since(began))
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
