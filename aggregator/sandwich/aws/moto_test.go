package aws

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/internal/syncbuf"
)

// startMoto runs moto's server (an AWS emulator written independently of
// awssim) on a free loopback port, so discovery is also checked against
// answers awssim did not shape: anything discovery took from awssim's
// quirks rather than from AWS's models shows up here.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		// moto comes with this project's machine image (pyenv); neither
		// Debian nor the Go proxy serves it, so no script of ours installs it.
		t.Skip("skipped only when exec.LookPath(\"moto_server\") fails: moto's server (pip install 'moto[server]') is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	out := &syncbuf.Buffer{}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case werr := <-exited:
			exited <- werr // for Cleanup
			t.Fatalf("moto_server at %s exited before answering (%v); its output:\n%s", bin, werr, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within 60s: %v; its output:\n%s", url, err, out.String())
		}
	}
}

// TestDiscoveryAgainstMoto seeds moto with a cluster VPC holding two tagged
// firewalls (trust ENI at device index 2), an internal NLB, and a second VPC
// holding a firewall with the same tags: discovery must read the cluster's
// VPC (moto's DescribeCluster, unlike EKS, has no vpcId, so it comes from
// the cluster's subnets), take only the firewalls in it, and report both
// load balancers with their VPCs.
func TestDiscoveryAgainstMoto(t *testing.T) {
	url := startMoto(t)
	ctx := t.Context()
	awsCfg := awssdk.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", ""),
		BaseEndpoint: awssdk.String(url)}
	ec2c, eksc, elbc := ec2.NewFromConfig(awsCfg), eks.NewFromConfig(awsCfg), elbv2.NewFromConfig(awsCfg)

	vpc := func(cidr string) string {
		out, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: awssdk.String(cidr)})
		if err != nil {
			t.Fatalf("CreateVpc: %v", err)
		}
		return awssdk.ToString(out.Vpc.VpcId)
	}
	subnet := func(vpc, cidr, zone string) string {
		out, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: awssdk.String(vpc), CidrBlock: awssdk.String(cidr), AvailabilityZone: awssdk.String(zone)})
		if err != nil {
			t.Fatalf("CreateSubnet %s: %v", cidr, err)
		}
		return awssdk.ToString(out.Subnet.SubnetId)
	}
	images, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(images.Images) == 0 {
		t.Fatalf("DescribeImages: %v (%d images)", err, len(images.Images))
	}
	ami := images.Images[0].ImageId
	// firewall launches a tagged instance in mgmt and attaches untrust and
	// trust ENIs at device indexes 1 and 2, as Palo Alto's templates do.
	firewall := func(mgmt, untrust, trust string) string {
		out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: ami, InstanceType: ec2types.InstanceTypeM5Xlarge,
			MinCount: awssdk.Int32(1), MaxCount: awssdk.Int32(1), SubnetId: awssdk.String(mgmt),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: awssdk.String("role"), Value: awssdk.String("panw-fw")}}}}})
		if err != nil {
			t.Fatalf("RunInstances: %v", err)
		}
		id := out.Instances[0].InstanceId
		for i, sn := range []string{untrust, trust} {
			eni, err := ec2c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: awssdk.String(sn)})
			if err != nil {
				t.Fatalf("CreateNetworkInterface: %v", err)
			}
			if _, err := ec2c.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{InstanceId: id,
				NetworkInterfaceId: eni.NetworkInterface.NetworkInterfaceId, DeviceIndex: awssdk.Int32(int32(i + 1))}); err != nil {
				t.Fatalf("AttachNetworkInterface: %v", err)
			}
		}
		return awssdk.ToString(id)
	}
	nlb := func(name string, subnets ...string) string {
		out, err := elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: awssdk.String(name), Subnets: subnets,
			Scheme: elbv2types.LoadBalancerSchemeEnumInternal, Type: elbv2types.LoadBalancerTypeEnumNetwork})
		if err != nil {
			t.Fatalf("CreateLoadBalancer %s: %v", name, err)
		}
		return awssdk.ToString(out.LoadBalancers[0].DNSName)
	}

	clusterVPC, otherVPC := vpc("10.0.0.0/16"), vpc("10.1.0.0/16")
	podA, podB := subnet(clusterVPC, "10.0.0.0/19", "us-east-1a"), subnet(clusterVPC, "10.0.32.0/19", "us-east-1b")
	trustA, trustB := subnet(clusterVPC, "10.0.128.0/24", "us-east-1a"), subnet(clusterVPC, "10.0.129.0/24", "us-east-1b")
	untrustA, untrustB := subnet(clusterVPC, "10.0.130.0/24", "us-east-1a"), subnet(clusterVPC, "10.0.131.0/24", "us-east-1b")
	mgmtA, mgmtB := subnet(clusterVPC, "10.0.132.0/24", "us-east-1a"), subnet(clusterVPC, "10.0.133.0/24", "us-east-1b")
	otherTrust, otherUntrust := subnet(otherVPC, "10.1.128.0/24", "us-east-1a"), subnet(otherVPC, "10.1.130.0/24", "us-east-1a")
	otherMgmt := subnet(otherVPC, "10.1.132.0/24", "us-east-1a")
	fwA, fwB := firewall(mgmtA, untrustA, trustA), firewall(mgmtB, untrustB, trustB)
	firewall(otherMgmt, otherUntrust, otherTrust)
	if _, err := eksc.CreateCluster(ctx, &eks.CreateClusterInput{Name: awssdk.String("prod"), RoleArn: awssdk.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{podA, podB}}}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	web, elsewhere := nlb("web", podA, podB), nlb("elsewhere", otherTrust)

	d, err := New(ctx, Config{Region: "us-east-1", ClusterName: "prod", FirewallTags: map[string]string{"role": "panw-fw"}, Endpoint: url, MaxAttempts: 2},
		Options{Credentials: awsCfg.Credentials})
	if err != nil {
		t.Fatal(err)
	}
	inv, problems := d.read(ctx)
	if len(problems) != 0 {
		t.Fatalf("problems: %+v", problems)
	}
	if inv.VPC != clusterVPC {
		t.Errorf("VPC %q, want the cluster's %q", inv.VPC, clusterVPC)
	}
	wantSubnets := []sandwich.Subnet{{ID: podA, CIDR: netip.MustParsePrefix("10.0.0.0/19"), Zone: "us-east-1a"},
		{ID: podB, CIDR: netip.MustParsePrefix("10.0.32.0/19"), Zone: "us-east-1b"}}
	if !reflect.DeepEqual(inv.Subnets, wantSubnets) {
		t.Errorf("subnets %+v, want %+v", inv.Subnets, wantSubnets)
	}
	wantFirewalls := []sandwich.Firewall{
		{ID: fwA, TrustSubnet: netip.MustParsePrefix("10.0.128.0/24"), TrustGateway: netip.MustParseAddr("10.0.128.1")},
		{ID: fwB, TrustSubnet: netip.MustParsePrefix("10.0.129.0/24"), TrustGateway: netip.MustParseAddr("10.0.129.1")},
	}
	slices.SortFunc(wantFirewalls, func(x, y sandwich.Firewall) int {
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	got := slices.Clone(inv.Firewalls)
	for i := range got {
		// moto places instances in its own zones, whatever the subnet's.
		got[i].Zone = ""
	}
	if !reflect.DeepEqual(got, wantFirewalls) {
		t.Errorf("firewalls %+v, want the cluster VPC's two %+v", got, wantFirewalls)
	}
	for dns, vpc := range map[string]string{web: clusterVPC, elsewhere: otherVPC} {
		lb, ok := inv.LoadBalancers[dns]
		if !ok || lb.VPC != vpc || lb.Type != "network" || lb.Scheme != "internal" {
			t.Errorf("load balancer %s: %+v (found %t), want an internal network load balancer in %s", dns, lb, ok, vpc)
		}
	}
}
