package awssim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
)

const region = "us-east-1"

// clients are the real SDK clients pointed at a simulator.
type clients struct {
	sim  *awssim.Server
	cfg  aws.Config
	eks  *eks.Client
	ec2  *ec2.Client
	elb  *elbv2.Client
	sts  *sts.Client
	base string
}

func start(t *testing.T) *clients {
	t.Helper()
	sim := awssim.New(region)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c := sim.Credentials()
	return newClients(sim, srv.URL, credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""))
}

func newClients(sim *awssim.Server, url string, creds aws.CredentialsProvider) *clients {
	cfg := aws.Config{
		Region:       region,
		Credentials:  aws.NewCredentialsCache(creds),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.NewExponentialJitterBackoff(5 * time.Millisecond)
			})
		},
	}
	return &clients{sim: sim, cfg: cfg, base: url,
		eks: eks.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg), elb: elbv2.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg)}
}

func seed(m *awssim.Model) {
	m.Clusters["prod"] = &awssim.Cluster{Name: "prod", VPC: "vpc-1", SubnetIDs: []string{"subnet-a", "subnet-b", "subnet-c"}}
	m.Subnets["subnet-a"] = &awssim.Subnet{ID: "subnet-a", VPC: "vpc-1", CIDR: "10.0.1.0/24", Zone: "us-east-1a", IPv6CIDRs: []string{"2600:1f18:1:a00::/64"}}
	m.Subnets["subnet-b"] = &awssim.Subnet{ID: "subnet-b", VPC: "vpc-1", CIDR: "10.0.2.0/24", Zone: "us-east-1b"}
	m.Subnets["subnet-c"] = &awssim.Subnet{ID: "subnet-c", VPC: "vpc-1", Zone: "us-east-1c", IPv6CIDRs: []string{"2600:1f18:1:c00::/64"}}
	for i := range 6 {
		id := fmt.Sprintf("subnet-x%d", i)
		m.Subnets[id] = &awssim.Subnet{ID: id, VPC: "vpc-2", CIDR: fmt.Sprintf("10.9.%d.0/24", i), Zone: "us-east-1a", Tags: map[string]string{"Name": id}}
	}
	asg := map[string]string{"aws:autoscaling:groupName": "fw-PANW-Firewall-ASG", "Name": "fw"}
	m.Instances["i-fw1"] = &awssim.Instance{ID: "i-fw1", VPC: "vpc-1", Zone: "us-east-1a", Tags: asg, ENIs: []awssim.ENI{
		{ID: "eni-1m", SubnetID: "subnet-m1", DeviceIndex: 0, PrivateIP: "10.0.100.10"},
		{ID: "eni-1u", SubnetID: "subnet-u1", DeviceIndex: 1, PrivateIP: "10.0.110.10"},
		{ID: "eni-1t", SubnetID: "subnet-t1", DeviceIndex: 2, PrivateIP: "10.0.120.10", Tags: map[string]string{"role": "trust"}},
	}}
	m.Instances["i-fw2"] = &awssim.Instance{ID: "i-fw2", VPC: "vpc-1", Zone: "us-east-1b", Tags: asg, State: "stopped"}
	m.Instances["i-other"] = &awssim.Instance{ID: "i-other", VPC: "vpc-1", Zone: "us-east-1a", Tags: map[string]string{"Name": "web"}}
	for i := range 5 {
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/lb%d/%d", i, i)
		m.LoadBalancers[arn] = &awssim.LoadBalancer{ARN: arn, Name: fmt.Sprintf("lb%d", i), DNSName: fmt.Sprintf("lb%d-x.elb.us-east-1.amazonaws.com", i),
			Type: "network", Scheme: "internal", VPC: "vpc-1"}
	}
}

func apiCode(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

func TestDescribeCluster(t *testing.T) {
	c := start(t)
	c.sim.Update(seed)
	ctx := t.Context()
	out, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("prod")})
	if err != nil {
		t.Fatal(err)
	}
	vpc := out.Cluster.ResourcesVpcConfig
	if aws.ToString(vpc.VpcId) != "vpc-1" || !slices.Equal(vpc.SubnetIds, []string{"subnet-a", "subnet-b", "subnet-c"}) ||
		out.Cluster.Status != ekstypes.ClusterStatusActive || out.Cluster.KubernetesNetworkConfig.IpFamily != ekstypes.IpFamilyIpv4 ||
		out.Cluster.CreatedAt == nil || out.Cluster.CreatedAt.Year() != 2026 {
		t.Fatalf("cluster parsed wrong: %+v %+v", out.Cluster, vpc)
	}

	_, err = c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("nope")})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "nope") {
		t.Fatalf("want ResourceNotFoundException, got %v", err)
	}
}

func TestDescribeSubnetsPagesAndFilters(t *testing.T) {
	c := start(t)
	c.sim.Update(seed)
	c.sim.SetPageSize(2)
	ctx := t.Context()

	var got []ec2types.Subnet
	pages := 0
	p := ec2.NewDescribeSubnetsPaginator(c.ec2, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, out.Subnets...)
	}
	if len(got) != 9 || pages != 5 {
		t.Fatalf("got %d subnets in %d pages, want 9 in 5", len(got), pages)
	}

	tests := []struct {
		name    string
		in      ec2.DescribeSubnetsInput
		wantIDs []string
		code    string
	}{
		{name: "by id filter, missing id ignored", in: ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("subnet-id"), Values: []string{"subnet-a", "subnet-c", "subnet-gone"}}}},
			wantIDs: []string{"subnet-a", "subnet-c"}},
		{name: "vpc and tag wildcard", in: ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{"vpc-2"}}, {Name: aws.String("tag:Name"), Values: []string{"subnet-x?"}}}},
			wantIDs: []string{"subnet-x0", "subnet-x1", "subnet-x2", "subnet-x3", "subnet-x4", "subnet-x5"}},
		{name: "by id, missing id is an error", in: ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-a", "subnet-gone"}}, code: "InvalidSubnetID.NotFound"},
		{name: "unknown filter", in: ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}}, code: "InvalidParameterValue"},
		{name: "MaxResults under 5", in: ec2.DescribeSubnetsInput{MaxResults: aws.Int32(3)}, code: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ids []string
			p := ec2.NewDescribeSubnetsPaginator(c.ec2, &tt.in)
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if tt.code != "" {
					if code, _ := apiCode(t, err); code != tt.code {
						t.Fatalf("code %s, want %s", code, tt.code)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range out.Subnets {
					ids = append(ids, aws.ToString(s.SubnetId))
				}
			}
			if tt.code != "" {
				t.Fatal("no error")
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Fatalf("ids %v, want %v", ids, tt.wantIDs)
			}
		})
	}

	out, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-a", "subnet-c"}})
	if err != nil {
		t.Fatal(err)
	}
	a, v6only := out.Subnets[0], out.Subnets[1]
	if aws.ToString(a.CidrBlock) != "10.0.1.0/24" || aws.ToString(a.AvailabilityZone) != "us-east-1a" || aws.ToString(a.VpcId) != "vpc-1" ||
		len(a.Ipv6CidrBlockAssociationSet) != 1 || aws.ToString(a.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock) != "2600:1f18:1:a00::/64" ||
		a.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlockState.State != ec2types.SubnetCidrBlockStateCodeAssociated || aws.ToInt32(a.AvailableIpAddressCount) != 251 {
		t.Fatalf("subnet-a parsed wrong: %+v", a)
	}
	if v6only.CidrBlock != nil || !aws.ToBool(v6only.Ipv6Native) || len(v6only.Ipv6CidrBlockAssociationSet) != 1 {
		t.Fatalf("IPv6-only subnet parsed wrong: %+v", v6only)
	}
}

func TestDescribeInstancesAndInterfaces(t *testing.T) {
	c := start(t)
	c.sim.Update(seed)
	c.sim.SetPageSize(1)
	ctx := t.Context()

	var insts []ec2types.Instance
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:aws:autoscaling:groupName"), Values: []string{"fw-PANW-Firewall-ASG"}},
		{Name: aws.String("instance-state-name"), Values: []string{"running", "pending"}},
	}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Reservations {
			insts = append(insts, r.Instances...)
		}
	}
	if len(insts) != 1 {
		t.Fatalf("got %d instances, want the one running firewall", len(insts))
	}
	i := insts[0]
	if aws.ToString(i.InstanceId) != "i-fw1" || i.State.Name != ec2types.InstanceStateNameRunning || aws.ToInt32(i.State.Code) != 16 ||
		aws.ToString(i.Placement.AvailabilityZone) != "us-east-1a" || aws.ToString(i.VpcId) != "vpc-1" || len(i.NetworkInterfaces) != 3 || len(i.Tags) != 2 {
		t.Fatalf("instance parsed wrong: %+v", i)
	}
	trust := i.NetworkInterfaces[2]
	if aws.ToString(trust.SubnetId) != "subnet-t1" || aws.ToInt32(trust.Attachment.DeviceIndex) != 2 || aws.ToString(trust.PrivateIpAddress) != "10.0.120.10" {
		t.Fatalf("trust ENI parsed wrong: %+v", trust)
	}

	_, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-fw1"}, MaxResults: aws.Int32(5)})
	if code, _ := apiCode(t, err); code != "InvalidParameterCombination" {
		t.Fatalf("code %s", code)
	}

	var enis []ec2types.NetworkInterface
	np := ec2.NewDescribeNetworkInterfacesPaginator(c.ec2, &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{"i-fw1"}},
		{Name: aws.String("tag:role"), Values: []string{"trust"}},
	}})
	for np.HasMorePages() {
		out, err := np.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		enis = append(enis, out.NetworkInterfaces...)
	}
	if len(enis) != 1 || aws.ToString(enis[0].NetworkInterfaceId) != "eni-1t" || aws.ToString(enis[0].Attachment.InstanceId) != "i-fw1" ||
		aws.ToInt32(enis[0].Attachment.DeviceIndex) != 2 || aws.ToString(enis[0].AvailabilityZone) != "us-east-1a" || len(enis[0].TagSet) != 1 {
		t.Fatalf("ENIs parsed wrong: %+v", enis)
	}
}

func TestDescribeLoadBalancersPages(t *testing.T) {
	c := start(t)
	c.sim.Update(seed)
	c.sim.SetPageSize(2)
	ctx := t.Context()
	var lbs []elbv2types.LoadBalancer
	pages := 0
	p := elbv2.NewDescribeLoadBalancersPaginator(c.elb, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(400)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		lbs = append(lbs, out.LoadBalancers...)
	}
	if len(lbs) != 5 || pages != 3 {
		t.Fatalf("got %d LBs in %d pages", len(lbs), pages)
	}
	lb := lbs[0]
	if lb.Type != elbv2types.LoadBalancerTypeEnumNetwork || lb.Scheme != elbv2types.LoadBalancerSchemeEnumInternal || aws.ToString(lb.VpcId) != "vpc-1" ||
		aws.ToString(lb.DNSName) != "lb0-x.elb.us-east-1.amazonaws.com" || lb.State.Code != elbv2types.LoadBalancerStateEnumActive || lb.CreatedTime == nil {
		t.Fatalf("LB parsed wrong: %+v", lb)
	}
	_, err := c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"lb1", "nope"}})
	var nf *elbv2types.LoadBalancerNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("want LoadBalancerNotFoundException, got %v", err)
	}
}

// TestThrottlingIsRetried checks each service's throttling answer is one the
// SDK's standard retryer retries, and that it gives up after MaxAttempts.
func TestThrottlingIsRetried(t *testing.T) {
	calls := map[string]func(c *clients) error{
		"eks:DescribeCluster": func(c *clients) error {
			_, err := c.eks.DescribeCluster(t.Context(), &eks.DescribeClusterInput{Name: aws.String("prod")})
			return err
		},
		"ec2:DescribeSubnets": func(c *clients) error {
			_, err := c.ec2.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{})
			return err
		},
		"elasticloadbalancing:DescribeLoadBalancers": func(c *clients) error {
			_, err := c.elb.DescribeLoadBalancers(t.Context(), &elbv2.DescribeLoadBalancersInput{})
			return err
		},
	}
	for action, call := range calls {
		t.Run(action, func(t *testing.T) {
			c := start(t)
			c.sim.Update(seed)
			c.sim.Throttle(action, 2)
			if err := call(c); err != nil {
				t.Fatalf("two throttles then success: %v", err)
			}
			if n := len(c.sim.Requests()); n != 3 {
				t.Fatalf("%d requests, want 3", n)
			}
			c.sim.Throttle(action, 10)
			err := call(c)
			code, _ := apiCode(t, err)
			if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
				t.Fatalf("%s not classified as throttling by the SDK", code)
			}
			if n := len(c.sim.Requests()); n != 6 {
				t.Fatalf("%d requests, want 3 more (MaxAttempts)", n)
			}
		})
	}
}

func TestAccessDeniedNamesTheAction(t *testing.T) {
	c := start(t)
	c.sim.Update(seed)
	ctx := t.Context()
	for _, a := range []string{"eks:DescribeCluster", "ec2:DescribeInstances", "elasticloadbalancing:DescribeLoadBalancers"} {
		c.sim.Deny(a, true)
	}
	_, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("prod")})
	var ad *ekstypes.AccessDeniedException
	if !errors.As(err, &ad) || !strings.Contains(ad.ErrorMessage(), "eks:DescribeCluster") {
		t.Fatalf("eks: %v", err)
	}
	_, err = c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if code, msg := apiCode(t, err); code != "UnauthorizedOperation" || !strings.Contains(msg, "ec2:DescribeInstances") {
		t.Fatalf("ec2: %s %s", code, msg)
	}
	_, err = c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if code, msg := apiCode(t, err); code != "AccessDenied" || !strings.Contains(msg, "elasticloadbalancing:DescribeLoadBalancers") {
		t.Fatalf("elbv2: %s %s", code, msg)
	}
	if _, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{}); err != nil {
		t.Fatalf("an action not denied must work: %v", err)
	}
}

func TestSignatureChecked(t *testing.T) {
	sim := awssim.New(region)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	good := sim.Credentials()
	wrongSecret := credentials.NewStaticCredentialsProvider(good.AccessKeyID, "not-the-secret", "")
	unknown := credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", good.SecretAccessKey, "")
	// Each service answers a bad signature and an unknown key in its own way.
	tests := []struct {
		name  string
		creds aws.CredentialsProvider
		call  func(c *clients) error
		code  string
	}{
		{"ec2 wrong secret", wrongSecret, describeSubnets, "AuthFailure"},
		{"ec2 unknown key", unknown, describeSubnets, "AuthFailure"},
		{"ec2 anonymous", aws.AnonymousCredentials{}, describeSubnets, "MissingAuthenticationToken"},
		{"eks wrong secret", wrongSecret, describeCluster, "InvalidSignatureException"},
		{"eks unknown key", unknown, describeCluster, "UnrecognizedClientException"},
		{"elbv2 wrong secret", wrongSecret, describeLBs, "SignatureDoesNotMatch"},
		{"elbv2 unknown key", unknown, describeLBs, "InvalidClientTokenId"},
		{"elbv2 anonymous", aws.AnonymousCredentials{}, describeLBs, "MissingAuthenticationToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClients(sim, srv.URL, tt.creds)
			if code, _ := apiCode(t, tt.call(c)); code != tt.code {
				t.Fatalf("code %s, want %s", code, tt.code)
			}
		})
	}
}

func describeSubnets(c *clients) error {
	_, err := c.ec2.DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{})
	return err
}

func describeCluster(c *clients) error {
	_, err := c.eks.DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String("prod")})
	return err
}

func describeLBs(c *clients) error {
	_, err := c.elb.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{})
	return err
}

func TestAssumeRole(t *testing.T) {
	c := start(t)
	c.sim.Update(seed)
	const role = "arn:aws:iam::123456789012:role/kubedag-sandwich"
	c.sim.Update(func(m *awssim.Model) { m.Roles[role] = true })
	ctx := t.Context()

	assumed := newClients(c.sim, c.base, stscreds.NewAssumeRoleProvider(c.sts, role))
	if _, err := assumed.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{}); err != nil {
		t.Fatal(err)
	}
	log := c.sim.Requests()
	if len(log) != 2 || log[0].Action != "AssumeRole" || log[0].AccessKey != awssim.AccessKeyID ||
		log[1].Action != "DescribeSubnets" || !strings.HasPrefix(log[1].AccessKey, "ASIA") {
		t.Fatalf("want AssumeRole with the user's key then DescribeSubnets with the session key, got %+v", log)
	}

	other := newClients(c.sim, c.base, stscreds.NewAssumeRoleProvider(c.sts, "arn:aws:iam::123456789012:role/other"))
	_, err := other.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), "sts:AssumeRole") {
		t.Fatalf("want AssumeRole denied, got %v", err)
	}
}

func TestOutage(t *testing.T) {
	c := start(t)
	c.sim.Update(seed)
	c.sim.SetOutage(true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("prod")})
	if code, _ := apiCode(t, err); code != "ServiceUnavailableException" {
		t.Fatalf("code %s", code)
	}
	_, err = c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if code, _ := apiCode(t, err); code != "ServiceUnavailable" {
		t.Fatalf("code %s", code)
	}
	c.sim.SetOutage(false)
	if _, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{}); err != nil {
		t.Fatal(err)
	}
}

// TestSandwichNetworkSDK reads the sandwich's VPC, zones, security group,
// route table, ALB target groups, listeners and target health with
// aws-sdk-go-v2, which must parse every answer and map each error to its
// typed exception.
func TestSandwichNetworkSDK(t *testing.T) {
	c := start(t)
	l := awssim.DefaultLayout(region, "prod")
	var tgs []string
	c.sim.Update(func(m *awssim.Model) {
		l.Apply(m)
		tgs = l.AddALB(m, "front", "front-1.us-east-1.elb.amazonaws.com", 82, 83, 84)
	})
	c.sim.SetPageSize(2)
	ctx := t.Context()

	vpcs, err := c.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{l.VPC}})
	if err != nil || len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "10.0.0.0/16" || aws.ToBool(vpcs.Vpcs[0].IsDefault) {
		t.Fatalf("DescribeVpcs: %v %+v", err, vpcs)
	}
	zones, err := c.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil || len(zones.AvailabilityZones) != 3 || zones.AvailabilityZones[2].State != ec2types.AvailabilityZoneStateAvailable {
		t.Fatalf("DescribeAvailabilityZones: %v %+v", err, zones)
	}
	sgs, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{awssim.DefaultSecurityGroup(l.VPC)}})
	if err != nil || len(sgs.SecurityGroups) != 1 || len(sgs.SecurityGroups[0].IpPermissionsEgress) != 1 {
		t.Fatalf("DescribeSecurityGroups: %v %+v", err, sgs)
	}
	rtbs, err := c.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
	if err != nil || len(rtbs.RouteTables) != 1 || !aws.ToBool(rtbs.RouteTables[0].Associations[0].Main) {
		t.Fatalf("DescribeRouteTables: %v %+v", err, rtbs)
	}
	out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{awssim.Firewall(0)}})
	if err != nil {
		t.Fatal(err)
	}
	in := out.Reservations[0].Instances[0]
	if len(in.SecurityGroups) != 1 || len(in.BlockDeviceMappings) != 1 || in.MetadataOptions == nil ||
		in.NetworkInterfaces[0].Attachment.AttachTime == nil || in.ProductCodes == nil {
		t.Fatalf("instance members missing: %+v", in)
	}

	var names []string
	p := elbv2.NewDescribeTargetGroupsPaginator(c.elb, &elbv2.DescribeTargetGroupsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range page.TargetGroups {
			names = append(names, aws.ToString(tg.TargetGroupName))
		}
	}
	if !slices.Equal(names, []string{"front-tg82", "front-tg83", "front-tg84"}) {
		t.Fatalf("target groups %v", names)
	}
	h, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgs[0])})
	if err != nil || len(h.TargetHealthDescriptions) != 2 || h.TargetHealthDescriptions[0].TargetHealth.State != elbv2types.TargetHealthStateEnumHealthy {
		t.Fatalf("DescribeTargetHealth: %v %+v", err, h)
	}
	lbs, err := c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"front"}})
	if err != nil || len(lbs.LoadBalancers[0].SecurityGroups) != 1 {
		t.Fatalf("DescribeLoadBalancers: %v %+v", err, lbs)
	}
	ls, err := c.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lbs.LoadBalancers[0].LoadBalancerArn})
	if err != nil || len(ls.Listeners) != 2 || ls.NextMarker == nil || ls.Listeners[0].DefaultActions[0].Type != elbv2types.ActionTypeEnumForward {
		t.Fatalf("DescribeListeners first page: %v %+v", err, ls)
	}

	var tgNF *elbv2types.TargetGroupNotFoundException
	if _, err := c.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"nope"}}); !errors.As(err, &tgNF) {
		t.Errorf("want TargetGroupNotFoundException, got %v", err)
	}
	var lNF *elbv2types.ListenerNotFoundException
	if _, err := c.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/front/0/0"}}); !errors.As(err, &lNF) {
		t.Errorf("want ListenerNotFoundException, got %v", err)
	}
	var bad *elbv2types.InvalidTargetException
	if _, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgs[0]),
		Targets: []elbv2types.TargetDescription{{Id: aws.String("i-gone")}}}); !errors.As(err, &bad) {
		t.Errorf("want InvalidTargetException, got %v", err)
	}
	if _, err := c.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-gone"}}); err == nil || !strings.Contains(err.Error(), "InvalidVpcID.NotFound") {
		t.Errorf("want InvalidVpcID.NotFound, got %v", err)
	}
}
