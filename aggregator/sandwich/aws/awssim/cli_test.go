package awssim_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubedag/kubedag/aggregator/sandwich/aws/awssim"
)

// TestAWSCLI runs the real AWS CLI (botocore: another signer, serializer
// and parser than aws-sdk-go-v2) against the server when it is installed.
// TestBotocoreWire holds the same checks at the wire level without it.
func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed (make test installs it: e2e/tools/host-deps.sh)")
	}
	sim := awssim.New(region)
	var tgs []string
	l := awssim.DefaultLayout(region, "prod")
	sim.Update(func(m *awssim.Model) {
		l.Apply(m)
		l.AddNLB(m, "k8s-web-nlb", "k8s-web-nlb-abc.elb.us-east-1.amazonaws.com", true)
		l.AddNLB(m, "k8s-api-nlb", "k8s-api-nlb-abc.elb.us-east-1.amazonaws.com", false)
		tgs = l.AddALB(m, "kubedag-alb", "kubedag-alb-123.us-east-1.elb.amazonaws.com", 82, 83, 84)
		m.Roles["arn:aws:iam::123456789012:role/kubedag"] = true
	})
	// Pages of 2 make the CLI follow NextToken and NextMarker.
	sim.SetPageSize(2)
	srv := httptest.NewServer(sim)
	defer srv.Close()

	dir := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID=" + awssim.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + awssim.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_DEFAULT_REGION=" + region, "AWS_PAGER="}
	run := func(t *testing.T, args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", srv.URL, "--region", region, "--output", "json"}, args...)...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return string(out), stderr.String(), err
	}
	tests := []struct {
		name  string
		args  []string
		query string
		want  []string
		code  string // the error code the CLI reports instead
	}{
		{name: "sts get-caller-identity", args: []string{"sts", "get-caller-identity"}, query: "[Arn]",
			want: []string{"arn:aws:iam::123456789012:user/kubedag"}},
		{name: "sts assume-role", args: []string{"sts", "assume-role", "--role-arn", "arn:aws:iam::123456789012:role/kubedag",
			"--role-session-name", "cli"}, query: "[AssumedRoleUser.Arn]", want: []string{"arn:aws:sts::123456789012:assumed-role/kubedag/cli"}},
		{name: "eks describe-cluster", args: []string{"eks", "describe-cluster", "--name", "prod"}, query: "cluster.resourcesVpcConfig.subnetIds",
			want: []string{"subnet-0eks1", "subnet-0eks2", "subnet-0eks3"}},
		{name: "ec2 describe-subnets filters, paged", args: []string{"ec2", "describe-subnets", "--page-size", "5", "--filters",
			"Name=vpc-id,Values=vpc-0kubedag", "Name=tag-key,Values=kubernetes.io/cluster/prod"}, query: "Subnets[].SubnetId",
			want: []string{"subnet-0eks1", "subnet-0eks2", "subnet-0eks3"}},
		{name: "ec2 describe-instances, paged", args: []string{"ec2", "describe-instances", "--filters",
			"Name=tag:aws:autoscaling:groupName,Values=kubedag-fw-PANW-Firewall-ASG"}, query: "Reservations[].Instances[].InstanceId",
			want: []string{"i-0fw1", "i-0fw2"}},
		{name: "ec2 describe-network-interfaces", args: []string{"ec2", "describe-network-interfaces", "--filters",
			"Name=attachment.device-index,Values=2"}, query: "NetworkInterfaces[].NetworkInterfaceId", want: []string{"eni-0trust1", "eni-0trust2"}},
		{name: "elbv2 describe-load-balancers, paged", args: []string{"elbv2", "describe-load-balancers"}, query: "LoadBalancers[].LoadBalancerName",
			want: []string{"kubedag-alb", "k8s-api-nlb", "k8s-web-nlb"}},
		{name: "elbv2 describe-target-groups, paged", args: []string{"elbv2", "describe-target-groups"}, query: "TargetGroups[].TargetGroupName",
			want: []string{"kubedag-alb-tg82", "kubedag-alb-tg83", "kubedag-alb-tg84"}},
		{name: "elbv2 describe-target-health", args: []string{"elbv2", "describe-target-health", "--target-group-arn", tgs[1]},
			query: "TargetHealthDescriptions[].[Target.Id, TargetHealth.State][]", want: []string{"i-0fw1", "healthy", "i-0fw2", "healthy"}},
		{name: "elbv2 describe-listeners, paged", args: []string{"elbv2", "describe-listeners", "--load-balancer-arn", sim.Snapshot().TargetGroups[tgs[0]].LoadBalancers[0]},
			query: "sort(Listeners[].DefaultActions[0].TargetGroupArn)", want: slices.Sorted(slices.Values(tgs))},
		{name: "elbv2 unknown target group", args: []string{"elbv2", "describe-target-groups", "--names", "nope"}, code: "TargetGroupNotFound"},
		{name: "ec2 describe-vpcs", args: []string{"ec2", "describe-vpcs", "--filters", "Name=vpc-id,Values=vpc-0kubedag"},
			query: "Vpcs[].[VpcId, CidrBlock, BlockPublicAccessStates.InternetGatewayBlockMode][]", want: []string{"vpc-0kubedag", "10.0.0.0/16", "off"}},
		{name: "ec2 describe-availability-zones", args: []string{"ec2", "describe-availability-zones", "--filters", "Name=zone-type,Values=availability-zone"},
			query: "AvailabilityZones[].ZoneId", want: []string{"use1-az1", "use1-az2", "use1-az3"}},
		{name: "ec2 describe-security-groups, paged", args: []string{"ec2", "describe-security-groups", "--page-size", "5"},
			query: "SecurityGroups[].[GroupId, GroupName][]", want: []string{"sg-0kubedag", "default"}},
		{name: "ec2 instances' groups and volumes", args: []string{"ec2", "describe-instances", "--instance-ids", "i-0fw2"},
			query: "Reservations[].Instances[].[SecurityGroups[0].GroupId, NetworkInterfaces[0].Groups[0].GroupId, BlockDeviceMappings[0].DeviceName, MetadataOptions.State][]",
			want:  []string{"sg-0kubedag", "sg-0kubedag", "/dev/xvda", "applied"}},
		{name: "ec2 describe-route-tables", args: []string{"ec2", "describe-route-tables", "--filters", "Name=vpc-id,Values=vpc-0kubedag"},
			query: "RouteTables[].Routes[].[DestinationCidrBlock, GatewayId][]", want: []string{"10.0.0.0/16", "local"}},
		{name: "ec2 unknown VPC", args: []string{"ec2", "describe-vpcs", "--vpc-ids", "vpc-0gone1"}, code: "InvalidVpcID.NotFound"},
		{name: "ec2 unknown subnet", args: []string{"ec2", "describe-subnets", "--subnet-ids", "subnet-0gone1"}, code: "InvalidSubnetID.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.query != "" {
				args = append(args, "--query", tt.query)
			}
			out, stderr, err := run(t, args...)
			if tt.code != "" {
				var exit *exec.ExitError
				if !errors.As(err, &exit) || !strings.Contains(stderr, "("+tt.code+")") {
					t.Fatalf("want the CLI to fail with %s, got %v: %s %s", tt.code, err, out, stderr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			var got []string
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("CLI output %q: %v", out, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
