package awssim

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// Layout is a typical sandwich deployment: an EKS cluster with one subnet
// per zone and a firewall autoscaling group as Palo Alto's template builds
// it (one firewall per zone in the first Firewalls zones, ENIs at device
// index 0 management, 1 untrust, 2 trust, each in its zone's subnet).
type Layout struct {
	Cluster string
	VPC     string
	// Stack is the firewall CloudFormation stack: the ASG is
	// "<Stack>-PANW-Firewall-ASG".
	Stack     string
	Zones     []string
	Firewalls int
}

// DefaultLayout is the layout of tests and the demo: 3 zones, firewalls in
// 2 (2 firewalls x 3 subnets = 6 routes, as in Palo Alto's guide).
func DefaultLayout(region, cluster string) Layout {
	return Layout{Cluster: cluster, VPC: "vpc-0kubedag", Stack: "kubedag-fw",
		Zones: []string{region + "a", region + "b", region + "c"}, Firewalls: 2}
}

// ClusterSubnet names the cluster subnet of zone i; its CIDR is 10.0.<i+1>.0/24.
func ClusterSubnet(i int) string { return fmt.Sprintf("subnet-0eks%d", i+1) }

// TrustSubnet names the trust subnet of zone i; its CIDR is 10.0.<120+i>.0/24.
func TrustSubnet(i int) string { return fmt.Sprintf("subnet-0trust%d", i+1) }

// Firewall names the firewall instance of zone i.
func Firewall(i int) string { return fmt.Sprintf("i-0fw%d", i+1) }

// Apply writes the layout into m (for Server.Update): the VPC
// (10.0.0.0/16), its subnets, the cluster and the firewalls.
func (l Layout) Apply(m *Model) {
	m.VPCs[l.VPC] = &VPC{ID: l.VPC, CIDR: "10.0.0.0/16"}
	var ids []string
	for i, z := range l.Zones {
		id := ClusterSubnet(i)
		ids = append(ids, id)
		m.Subnets[id] = &Subnet{ID: id, VPC: l.VPC, CIDR: fmt.Sprintf("10.0.%d.0/24", i+1), Zone: z,
			Tags: map[string]string{"kubernetes.io/cluster/" + l.Cluster: "shared"}}
	}
	m.Clusters[l.Cluster] = &Cluster{Name: l.Cluster, VPC: l.VPC, SubnetIDs: ids}
	for i := 0; i < l.Firewalls && i < len(l.Zones); i++ {
		z := l.Zones[i]
		sub := func(kind string, third int) string {
			id := fmt.Sprintf("subnet-0%s%d", kind, i+1)
			m.Subnets[id] = &Subnet{ID: id, VPC: l.VPC, CIDR: fmt.Sprintf("10.0.%d.0/24", third+i), Zone: z}
			return id
		}
		id := Firewall(i)
		m.Instances[id] = &Instance{ID: id, VPC: l.VPC, Zone: z,
			Tags: map[string]string{"aws:autoscaling:groupName": l.Stack + "-PANW-Firewall-ASG", "Name": l.Stack + "-fw"},
			ENIs: []ENI{
				{ID: fmt.Sprintf("eni-0mgmt%d", i+1), SubnetID: sub("mgmt", 100), DeviceIndex: 0, PrivateIP: fmt.Sprintf("10.0.%d.10", 100+i)},
				{ID: fmt.Sprintf("eni-0untrust%d", i+1), SubnetID: sub("untrust", 110), DeviceIndex: 1, PrivateIP: fmt.Sprintf("10.0.%d.10", 110+i)},
				{ID: fmt.Sprintf("eni-0trust%d", i+1), SubnetID: sub("trust", 120), DeviceIndex: 2, PrivateIP: fmt.Sprintf("10.0.%d.10", 120+i)},
			}}
	}
}

// AddNLB adds a load balancer named name with DNS name dns (what the AWS
// load balancer controller would create for a Service), internal and in
// the VPC unless told otherwise, with a node in each cluster subnet.
func (l Layout) AddNLB(m *Model, name, dns string, internal bool) {
	scheme := "internal"
	if !internal {
		scheme = "internet-facing"
	}
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/net/%s/0123456789abcdef", l.region(), Account, name)
	var subnets []string
	for i := range l.Zones {
		subnets = append(subnets, ClusterSubnet(i))
	}
	m.LoadBalancers[arn] = &LoadBalancer{ARN: arn, Name: name, DNSName: dns, Type: "network", Scheme: scheme, VPC: l.VPC, Subnets: subnets}
}

func (l Layout) region() string {
	if len(l.Zones) == 0 {
		return "us-east-1"
	}
	z := l.Zones[0]
	return z[:len(z)-1]
}

// AddClusterSubnet adds a subnet (ID id, CIDR cidr, zone) to the cluster,
// as `eksctl` or a console edit of the cluster's networking would.
func (l Layout) AddClusterSubnet(m *Model, id, cidr, zone string) {
	m.Subnets[id] = &Subnet{ID: id, VPC: l.VPC, CIDR: cidr, Zone: zone}
	c := m.Clusters[l.Cluster]
	c.SubnetIDs = append(c.SubnetIDs, id)
}

// AddALB adds the sandwich's front door: an internet-facing application
// load balancer named name (DNS name dns) with a node in each firewall
// zone's untrust subnet and the VPC's default security group, and for
// each port an HTTP target group of that port (named <name>-tg<port>)
// with every firewall registered on it, as the Panorama plugin's guide
// has one target group per panw-tg-port. It returns the target groups'
// ARNs in the order of ports.
func (l Layout) AddALB(m *Model, name, dns string, ports ...int) []string {
	lbARN := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/app/%s/%s", l.region(), Account, name, hexID(name))
	var subnets []string
	var targets []Target
	for i := 0; i < l.Firewalls && i < len(l.Zones); i++ {
		subnets = append(subnets, fmt.Sprintf("subnet-0untrust%d", i+1))
		targets = append(targets, Target{ID: Firewall(i)})
	}
	m.LoadBalancers[lbARN] = &LoadBalancer{ARN: lbARN, Name: name, DNSName: dns, Type: "application", Scheme: "internet-facing",
		VPC: l.VPC, Subnets: subnets, SecurityGroups: []string{DefaultSecurityGroup(l.VPC)}}
	var arns []string
	for _, p := range ports {
		tgName := fmt.Sprintf("%s-tg%d", name, p)
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", l.region(), Account, tgName, hexID(tgName))
		tg := &TargetGroup{ARN: arn, Name: tgName, Protocol: "HTTP", Port: p, VPC: l.VPC, LoadBalancers: []string{lbARN}}
		for _, t := range targets {
			tg.Targets = append(tg.Targets, Target{ID: t.ID, Port: p})
		}
		m.TargetGroups[arn] = tg
		arns = append(arns, arn)
	}
	return arns
}

// DefaultSecurityGroup is the ID of a VPC's default security group, which
// EC2 creates with the VPC and gives whatever is launched without one.
func DefaultSecurityGroup(vpc string) string { return "sg-" + strings.TrimPrefix(vpc, "vpc-") }

// hexID is the 16 hex digits ending an ELBv2 ARN, stable for a name.
func hexID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%x", sum[:8])
}
