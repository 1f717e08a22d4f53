package aws

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/kubedag/kubedag/aggregator/sandwich"
)

var s = awssdk.String

func subnet(id, cidr, zone string, v6 ...string) ec2types.Subnet {
	sn := ec2types.Subnet{SubnetId: s(id), AvailabilityZone: s(zone)}
	if cidr != "" {
		sn.CidrBlock = s(cidr)
	}
	for _, c := range v6 {
		state := ec2types.SubnetCidrBlockStateCodeAssociated
		c, disassociated := strings.CutSuffix(c, "!")
		if disassociated {
			state = ec2types.SubnetCidrBlockStateCodeDisassociated
		}
		sn.Ipv6CidrBlockAssociationSet = append(sn.Ipv6CidrBlockAssociationSet, ec2types.SubnetIpv6CidrBlockAssociation{
			Ipv6CidrBlock: s(c), Ipv6CidrBlockState: &ec2types.SubnetCidrBlockState{State: state}})
	}
	return sn
}

// firewall is an instance whose ENIs are "deviceIndex:subnet" pairs.
func firewall(id, zone string, enis ...string) ec2types.Instance {
	in := ec2types.Instance{InstanceId: s(id), Placement: &ec2types.Placement{AvailabilityZone: s(zone)}}
	for i, e := range enis {
		var idx int32
		var sub string
		fmt.Sscanf(e, "%d:%s", &idx, &sub)
		in.NetworkInterfaces = append(in.NetworkInterfaces, ec2types.InstanceNetworkInterface{
			NetworkInterfaceId: s(fmt.Sprintf("eni-%s-%d", id, i)), SubnetId: s(sub),
			Attachment: &ec2types.InstanceNetworkInterfaceAttachment{DeviceIndex: awssdk.Int32(idx)}})
	}
	return in
}

func cluster(vpc string, subnets ...string) *ekstypes.Cluster {
	return &ekstypes.Cluster{Name: s("prod"), ResourcesVpcConfig: &ekstypes.VpcConfigResponse{VpcId: s(vpc), SubnetIds: subnets}}
}

func TestBuild(t *testing.T) {
	base := Answers{
		Cluster: cluster("vpc-1", "subnet-a", "subnet-b", "subnet-c"),
		Subnets: []ec2types.Subnet{
			subnet("subnet-a", "10.0.1.0/24", "us-east-1a", "2600:1f18::/64", "2600:1f18:0:9::/64!"),
			subnet("subnet-b", "10.0.2.0/24", "us-east-1b"),
			subnet("subnet-c", "", "us-east-1c", "2600:1f18:0:c::/64"),
			subnet("subnet-t1", "10.0.120.0/24", "us-east-1a"),
			subnet("subnet-t2", "10.0.121.0/24", "us-east-1b"),
		},
		Instances: []ec2types.Instance{
			firewall("i-2", "us-east-1b", "0:subnet-m2", "1:subnet-u2", "2:subnet-t2"),
			firewall("i-1", "us-east-1a", "0:subnet-m1", "1:subnet-u1", "2:subnet-t1"),
		},
		LoadBalancers: []elbv2types.LoadBalancer{{DNSName: s("Web-Abc.elb.us-east-1.amazonaws.com"), LoadBalancerArn: s("arn:lb/web"),
			Type: elbv2types.LoadBalancerTypeEnumNetwork, Scheme: elbv2types.LoadBalancerSchemeEnumInternal, VpcId: s("vpc-1")}},
	}
	fw1 := sandwich.Firewall{ID: "i-1", Zone: "us-east-1a", TrustSubnet: netip.MustParsePrefix("10.0.120.0/24"), TrustGateway: netip.MustParseAddr("10.0.120.1")}
	fw2 := sandwich.Firewall{ID: "i-2", Zone: "us-east-1b", TrustSubnet: netip.MustParsePrefix("10.0.121.0/24"), TrustGateway: netip.MustParseAddr("10.0.121.1")}
	subnets := []sandwich.Subnet{
		{ID: "subnet-a", CIDR: netip.MustParsePrefix("10.0.1.0/24"), Zone: "us-east-1a"},
		{ID: "subnet-a", CIDR: netip.MustParsePrefix("2600:1f18::/64"), Zone: "us-east-1a"},
		{ID: "subnet-b", CIDR: netip.MustParsePrefix("10.0.2.0/24"), Zone: "us-east-1b"},
		{ID: "subnet-c", CIDR: netip.MustParsePrefix("2600:1f18:0:c::/64"), Zone: "us-east-1c"},
	}
	lbs := map[string]sandwich.LoadBalancer{"web-abc.elb.us-east-1.amazonaws.com": {DNSName: "web-abc.elb.us-east-1.amazonaws.com",
		ARN: "arn:lb/web", Type: "network", Scheme: "internal", VPC: "vpc-1"}}

	tests := []struct {
		name      string
		change    func(a *Answers)
		trust     Trust
		firewalls []sandwich.Firewall
		subnets   []sandwich.Subnet
		problems  []string // kind/subject
		fatal     bool
	}{
		{name: "two firewalls, IPv4 and IPv6 subnets", trust: Trust{DeviceIndex: 2}, firewalls: []sandwich.Firewall{fw1, fw2}, subnets: subnets},
		{name: "trust at another device index", trust: Trust{DeviceIndex: 1},
			change: func(a *Answers) {
				a.Subnets = append(a.Subnets, subnet("subnet-u1", "10.0.110.0/25", "us-east-1a"), subnet("subnet-u2", "10.0.111.0/24", "us-east-1b"))
			},
			firewalls: []sandwich.Firewall{
				{ID: "i-1", Zone: "us-east-1a", TrustSubnet: netip.MustParsePrefix("10.0.110.0/25"), TrustGateway: netip.MustParseAddr("10.0.110.1")},
				{ID: "i-2", Zone: "us-east-1b", TrustSubnet: netip.MustParsePrefix("10.0.111.0/24"), TrustGateway: netip.MustParseAddr("10.0.111.1")},
			}, subnets: subnets},
		{name: "a firewall without a trust ENI is left out", trust: Trust{DeviceIndex: 2},
			change:    func(a *Answers) { a.Instances[0] = firewall("i-2", "us-east-1b", "0:subnet-m2") },
			firewalls: []sandwich.Firewall{fw1}, subnets: subnets, problems: []string{"NoTrustInterface/i-2"}},
		{name: "a trust subnet AWS did not return", trust: Trust{DeviceIndex: 2},
			change: func(a *Answers) {
				a.Subnets = slices.DeleteFunc(a.Subnets, func(x ec2types.Subnet) bool { return *x.SubnetId == "subnet-t1" })
			},
			firewalls: []sandwich.Firewall{fw2}, subnets: subnets, problems: []string{"NoTrustInterface/i-1"}},
		{name: "a cluster subnet AWS did not return", trust: Trust{DeviceIndex: 2},
			change: func(a *Answers) {
				a.Subnets = slices.DeleteFunc(a.Subnets, func(x ec2types.Subnet) bool { return *x.SubnetId == "subnet-b" })
			},
			firewalls: []sandwich.Firewall{fw1, fw2}, subnets: slices.Delete(slices.Clone(subnets), 2, 3), problems: []string{"SubnetNotFound/subnet-b"}},
		{name: "no firewalls is fatal", trust: Trust{DeviceIndex: 2},
			change: func(a *Answers) { a.Instances = nil }, subnets: subnets, problems: []string{"NoFirewalls/"}, fatal: true},
		{name: "no usable firewall is fatal", trust: Trust{DeviceIndex: 7}, subnets: subnets,
			problems: []string{"NoFirewalls/", "NoTrustInterface/i-1", "NoTrustInterface/i-2"}, fatal: true},
		{name: "trust ENI by tag", trust: Trust{Tag: "role=trust"},
			change: func(a *Answers) {
				a.Interfaces = []ec2types.NetworkInterface{{NetworkInterfaceId: s("eni-x"), SubnetId: s("subnet-t2"),
					Attachment: &ec2types.NetworkInterfaceAttachment{InstanceId: s("i-2"), DeviceIndex: awssdk.Int32(5)}}}
			},
			firewalls: []sandwich.Firewall{fw2}, subnets: subnets, problems: []string{"NoTrustInterface/i-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			a.Instances = slices.Clone(base.Instances)
			a.Subnets = slices.Clone(base.Subnets)
			if tt.change != nil {
				tt.change(&a)
			}
			inv, problems := Build(a, tt.trust)
			var got []string
			fatal := false
			for _, p := range problems {
				got = append(got, p.Kind+"/"+p.Subject)
				fatal = fatal || p.Fatal
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.problems) || fatal != tt.fatal {
				t.Fatalf("problems %v (fatal %v), want %v (fatal %v): %+v", got, fatal, tt.problems, tt.fatal, problems)
			}
			if !reflect.DeepEqual(inv.Firewalls, tt.firewalls) {
				t.Errorf("firewalls\n got %+v\nwant %+v", inv.Firewalls, tt.firewalls)
			}
			if !reflect.DeepEqual(inv.Subnets, tt.subnets) {
				t.Errorf("subnets\n got %+v\nwant %+v", inv.Subnets, tt.subnets)
			}
			if inv.VPC != "vpc-1" || !reflect.DeepEqual(inv.LoadBalancers, lbs) {
				t.Errorf("VPC %q, load balancers %+v", inv.VPC, inv.LoadBalancers)
			}
		})
	}
}

func TestSubnetIDs(t *testing.T) {
	a := Answers{Cluster: cluster("vpc-1", "subnet-b", "subnet-a"), Instances: []ec2types.Instance{
		firewall("i-1", "z", "0:subnet-m", "2:subnet-t"), firewall("i-2", "z", "2:subnet-t"), firewall("i-3", "z", "1:subnet-u")}}
	if got := SubnetIDs(a, Trust{DeviceIndex: 2}); !slices.Equal(got, []string{"subnet-a", "subnet-b", "subnet-t"}) {
		t.Fatal(got)
	}
}

func TestClusterVPC(t *testing.T) {
	inVPC := func(id, vpc string) ec2types.Subnet {
		sn := subnet(id, "10.0.0.0/24", "z")
		sn.VpcId = s(vpc)
		return sn
	}
	tests := []struct {
		name string
		a    Answers
		want string
	}{
		{"from DescribeCluster", Answers{Cluster: cluster("vpc-1", "subnet-a"), Subnets: []ec2types.Subnet{inVPC("subnet-a", "vpc-2")}}, "vpc-1"},
		{"no vpcId: first cluster subnet's", Answers{Cluster: cluster("", "subnet-b", "subnet-a"),
			Subnets: []ec2types.Subnet{inVPC("subnet-t", "vpc-9"), inVPC("subnet-a", "vpc-3"), inVPC("subnet-b", "vpc-2")}}, "vpc-2"},
		{"no vpcId, cluster subnet not described", Answers{Cluster: cluster("", "subnet-gone", "subnet-a"),
			Subnets: []ec2types.Subnet{inVPC("subnet-a", "vpc-3")}}, "vpc-3"},
		{"no vpcId, no subnets", Answers{Cluster: cluster("", "subnet-a")}, ""},
		{"only a trust subnet", Answers{Cluster: cluster(""), Subnets: []ec2types.Subnet{inVPC("subnet-t", "vpc-9")}}, ""},
		{"no cluster", Answers{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClusterVPC(tt.a); got != tt.want {
				t.Fatalf("ClusterVPC = %q, want %q", got, tt.want)
			}
			if tt.a.Cluster == nil {
				return
			}
			inv, _ := Build(tt.a, Trust{DeviceIndex: 2})
			if inv.VPC != tt.want {
				t.Fatalf("Build: inventory VPC %q, want %q", inv.VPC, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	op := func(service, op string, err error) error {
		return &smithy.OperationError{ServiceID: service, OperationName: op, Err: err}
	}
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	tests := []struct {
		err           error
		kind, subject string
	}{
		{op("EC2", "DescribeInstances", api("UnauthorizedOperation")), KindAccessDenied, "ec2:DescribeInstances"},
		{op("EKS", "DescribeCluster", api("AccessDeniedException")), KindAccessDenied, "eks:DescribeCluster"},
		{op("Elastic Load Balancing v2", "DescribeLoadBalancers", api("AccessDenied")), KindAccessDenied, "elasticloadbalancing:DescribeLoadBalancers"},
		{op("STS", "AssumeRole", api("AccessDenied")), KindAccessDenied, "sts:AssumeRole"},
		{op("EKS", "DescribeCluster", api("ResourceNotFoundException")), KindClusterNotFound, ""},
		{op("EC2", "DescribeSubnets", api("RequestLimitExceeded")), KindThrottled, "ec2:DescribeSubnets"},
		{op("EC2", "DescribeSubnets", api("AuthFailure")), KindInvalidCredentials, "ec2:DescribeSubnets"},
		// What EKS (REST-JSON) answers a wrong secret or a credential scoped to another region.
		{op("EKS", "DescribeCluster", api("InvalidSignatureException")), KindInvalidCredentials, "eks:DescribeCluster"},
		{op("EKS", "DescribeCluster", api("UnrecognizedClientException")), KindInvalidCredentials, "eks:DescribeCluster"},
		// Expired session credentials (or a skewed clock), as EKS and EC2 answer them.
		{op("EKS", "DescribeCluster", api("ExpiredTokenException")), KindInvalidCredentials, "eks:DescribeCluster"},
		{op("EC2", "DescribeInstances", api("RequestExpired")), KindInvalidCredentials, "ec2:DescribeInstances"},
		{op("EC2", "DescribeSubnets", api("InternalError")), KindAPIError, "ec2:DescribeSubnets"},
		{op("EC2", "DescribeSubnets", errors.New("connection refused")), KindAPIError, "ec2:DescribeSubnets"},
	}
	for _, tt := range tests {
		p := Classify(tt.err)
		if p.Kind != tt.kind || p.Subject != tt.subject || !p.Fatal {
			t.Errorf("%v: got %+v, want %s/%s", tt.err, p, tt.kind, tt.subject)
		}
		if tt.kind == KindAccessDenied && !strings.Contains(p.Message, tt.subject) {
			t.Errorf("access denied message does not name the action: %s", p.Message)
		}
	}
}

func TestValidate(t *testing.T) {
	idx := 2
	tests := []struct {
		cfg  Config
		want []string // fields named
	}{
		{Config{Region: "us-east-1", ClusterName: "prod", FirewallStack: "fw"}, nil},
		{Config{}, []string{"x.region", "x.clusterName", "x.firewallStack"}},
		{Config{Region: "r", ClusterName: "c", FirewallStack: "fw", FirewallTags: map[string]string{"a": "b"}}, []string{"x.firewallStack"}},
		{Config{Region: "r", ClusterName: "c", FirewallASG: "asg", RoleARN: "role/x"}, []string{"x.roleARN"}},
		{Config{Region: "r", ClusterName: "c", FirewallASG: "asg", TrustInterfaceTag: "novalue", TrustDeviceIndex: &idx}, []string{"x.trustInterfaceTag", "x.trustInterfaceTag"}},
		{Config{Region: "r", ClusterName: "c", FirewallASG: "asg", RefreshInterval: 1, Endpoint: "localhost:1"}, []string{"x.refreshInterval", "x.endpoint"}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate("x")
		var got []string
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				f, _, _ := strings.Cut(line, ":")
				got = append(got, f)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%+v: fields %v, want %v (%v)", tt.cfg, got, tt.want, err)
		}
	}
}
