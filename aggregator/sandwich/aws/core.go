package aws

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/kubedag/kubedag/aggregator/sandwich"
)

// Problem kinds: stable strings, used as the metric label.
const (
	KindNoCredentials      = "NoCredentials"
	KindInvalidCredentials = "InvalidCredentials"
	KindAccessDenied       = "AccessDenied"
	KindClusterNotFound    = "ClusterNotFound"
	KindNoFirewalls        = "NoFirewalls"
	KindNoTrustInterface   = "NoTrustInterface"
	KindSubnetNotFound     = "SubnetNotFound"
	KindThrottled          = "Throttled"
	KindAPIError           = "APIError"
)

// Problem is something discovery could not do or found wrong. Fatal
// problems fail the refresh (the last good inventory stays in use); the
// others leave one item out.
type Problem struct {
	Kind string
	// Subject is what it is about: an IAM action, an instance or subnet ID.
	Subject string
	Message string
	Fatal   bool
}

func (p Problem) key() string { return p.Kind + "\x00" + p.Subject + "\x00" + p.Message }

func (p Problem) Error() string { return p.Message }

// Answers are the AWS answers one refresh collected.
type Answers struct {
	Cluster   *ekstypes.Cluster
	Instances []ec2types.Instance
	// Interfaces are the firewalls' tagged trust ENIs (only when the trust
	// interface is chosen by tag).
	Interfaces    []ec2types.NetworkInterface
	Subnets       []ec2types.Subnet
	LoadBalancers []elbv2types.LoadBalancer
}

// Trust says how to find a firewall's trust interface.
type Trust struct {
	// DeviceIndex of the trust ENI, when Tag is empty.
	DeviceIndex int32
	// Tag "key=value" on the trust ENI (found with DescribeNetworkInterfaces).
	Tag string
}

func (t Trust) String() string {
	if t.Tag != "" {
		return "ENI tag " + t.Tag
	}
	return fmt.Sprintf("device index %d", t.DeviceIndex)
}

// trustENIs returns each firewall's trust ENI: instance ID -> (ENI ID, subnet ID).
func trustENIs(a Answers, t Trust) map[string][2]string {
	out := map[string][2]string{}
	if t.Tag != "" {
		for _, e := range a.Interfaces {
			if e.Attachment == nil {
				continue
			}
			id := awssdk.ToString(e.Attachment.InstanceId)
			if _, dup := out[id]; !dup {
				out[id] = [2]string{awssdk.ToString(e.NetworkInterfaceId), awssdk.ToString(e.SubnetId)}
			}
		}
		return out
	}
	for _, in := range a.Instances {
		for _, e := range in.NetworkInterfaces {
			if e.Attachment != nil && awssdk.ToInt32(e.Attachment.DeviceIndex) == t.DeviceIndex {
				out[awssdk.ToString(in.InstanceId)] = [2]string{awssdk.ToString(e.NetworkInterfaceId), awssdk.ToString(e.SubnetId)}
			}
		}
	}
	return out
}

// SubnetIDs are the subnets one refresh must describe: the cluster's and
// the firewalls' trust subnets, sorted.
func SubnetIDs(a Answers, t Trust) []string {
	var ids []string
	if a.Cluster != nil && a.Cluster.ResourcesVpcConfig != nil {
		ids = append(ids, a.Cluster.ResourcesVpcConfig.SubnetIds...)
	}
	for _, e := range trustENIs(a, t) {
		if e[1] != "" {
			ids = append(ids, e[1])
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// ClusterVPC is the cluster's VPC: DescribeCluster's vpcId, or when the
// answer lacks it (EKS always sends it; moto and some proxies do not) the
// VPC of the first cluster subnet among the described subnets. "" when
// neither says.
func ClusterVPC(a Answers) string {
	if a.Cluster == nil || a.Cluster.ResourcesVpcConfig == nil {
		return ""
	}
	if v := awssdk.ToString(a.Cluster.ResourcesVpcConfig.VpcId); v != "" {
		return v
	}
	for _, id := range a.Cluster.ResourcesVpcConfig.SubnetIds {
		for _, s := range a.Subnets {
			if awssdk.ToString(s.SubnetId) == id && awssdk.ToString(s.VpcId) != "" {
				return awssdk.ToString(s.VpcId)
			}
		}
	}
	return ""
}

// Build turns one refresh's answers into the inventory and the problems
// found. It is pure: the loop around it does the calls.
func Build(a Answers, t Trust) (sandwich.Inventory, []Problem) {
	var inv sandwich.Inventory
	var problems []Problem
	if a.Cluster == nil || a.Cluster.ResourcesVpcConfig == nil {
		return inv, []Problem{{Kind: KindClusterNotFound, Message: "the cluster has no VPC configuration", Fatal: true}}
	}
	inv.VPC = ClusterVPC(a)
	subnets := map[string]ec2types.Subnet{}
	for _, s := range a.Subnets {
		subnets[awssdk.ToString(s.SubnetId)] = s
	}

	for _, id := range a.Cluster.ResourcesVpcConfig.SubnetIds {
		s, ok := subnets[id]
		if !ok {
			problems = append(problems, Problem{Kind: KindSubnetNotFound, Subject: id,
				Message: fmt.Sprintf("cluster subnet %s: not returned by ec2:DescribeSubnets (deleted?); it gets no routes", id)})
			continue
		}
		zone := awssdk.ToString(s.AvailabilityZone)
		if p, err := netip.ParsePrefix(awssdk.ToString(s.CidrBlock)); err == nil {
			inv.Subnets = append(inv.Subnets, sandwich.Subnet{ID: id, CIDR: p, Zone: zone})
		}
		// IPv6 blocks are carried through; the engine reports the ones it
		// cannot route rather than discovery dropping them silently.
		for _, as := range s.Ipv6CidrBlockAssociationSet {
			if as.Ipv6CidrBlockState != nil && as.Ipv6CidrBlockState.State != ec2types.SubnetCidrBlockStateCodeAssociated {
				continue
			}
			if p, err := netip.ParsePrefix(awssdk.ToString(as.Ipv6CidrBlock)); err == nil {
				inv.Subnets = append(inv.Subnets, sandwich.Subnet{ID: id, CIDR: p, Zone: zone})
			}
		}
	}

	trust := trustENIs(a, t)
	for _, in := range a.Instances {
		id := awssdk.ToString(in.InstanceId)
		zone := ""
		if in.Placement != nil {
			zone = awssdk.ToString(in.Placement.AvailabilityZone)
		}
		eni, ok := trust[id]
		if !ok {
			problems = append(problems, Problem{Kind: KindNoTrustInterface, Subject: id,
				Message: fmt.Sprintf("firewall %s (%s): no trust interface at %s; it is left out until it has one", id, zone, t)})
			continue
		}
		s, ok := subnets[eni[1]]
		p, err := netip.ParsePrefix(awssdk.ToString(s.CidrBlock))
		if !ok || err != nil || !p.Addr().Is4() {
			problems = append(problems, Problem{Kind: KindNoTrustInterface, Subject: id,
				Message: fmt.Sprintf("firewall %s (%s): trust interface %s is in subnet %s, which has no IPv4 CIDR that ec2:DescribeSubnets returned; it is left out", id, zone, eni[0], eni[1])})
			continue
		}
		p = p.Masked()
		inv.Firewalls = append(inv.Firewalls, sandwich.Firewall{ID: id, Zone: zone, TrustSubnet: p, TrustGateway: p.Addr().Next()})
	}
	slices.SortFunc(inv.Firewalls, func(x, y sandwich.Firewall) int { return cmp.Compare(x.ID, y.ID) })
	if len(inv.Firewalls) == 0 {
		msg := "no running firewall found by the filter"
		if len(a.Instances) > 0 {
			msg = fmt.Sprintf("none of the %d firewalls found has a usable trust interface (%s)", len(a.Instances), t)
		}
		problems = append(problems, Problem{Kind: KindNoFirewalls, Message: msg + "; keeping the last inventory", Fatal: true})
	}

	inv.LoadBalancers = make(map[string]sandwich.LoadBalancer, len(a.LoadBalancers))
	for _, lb := range a.LoadBalancers {
		dns := strings.ToLower(awssdk.ToString(lb.DNSName))
		if dns == "" {
			continue
		}
		inv.LoadBalancers[dns] = sandwich.LoadBalancer{DNSName: dns, ARN: awssdk.ToString(lb.LoadBalancerArn),
			Type: string(lb.Type), Scheme: string(lb.Scheme), VPC: awssdk.ToString(lb.VpcId)}
	}
	return inv, problems
}

// Classify turns a failed call into a Problem a user can act on: which
// IAM action was denied, that the cluster does not exist, that there are
// no credentials, ...
func Classify(err error) Problem {
	var oe *smithy.OperationError
	action := ""
	if errors.As(err, &oe) {
		action = iamAction(oe.Service(), oe.Operation())
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return Problem{Kind: KindAPIError, Subject: action, Message: fmt.Sprintf("%s: %v", action, err), Fatal: true}
	}
	code := ae.ErrorCode()
	switch {
	case code == "AccessDenied" || code == "AccessDeniedException" || code == "UnauthorizedOperation":
		return Problem{Kind: KindAccessDenied, Subject: action, Fatal: true,
			Message: fmt.Sprintf("access denied to %s: the role kubedag runs as needs it allowed (%s)", action, ae.ErrorMessage())}
	case code == "ResourceNotFoundException" && action == "eks:DescribeCluster":
		return Problem{Kind: KindClusterNotFound, Fatal: true, Message: fmt.Sprintf("EKS cluster not found in this region: %s", ae.ErrorMessage())}
	case code == "AuthFailure" || code == "InvalidClientTokenId" || code == "UnrecognizedClientException" ||
		code == "SignatureDoesNotMatch" || code == "InvalidSignatureException" || code == "ExpiredToken" ||
		code == "ExpiredTokenException" || code == "RequestExpired" || code == "InvalidIdentityToken":
		return Problem{Kind: KindInvalidCredentials, Subject: action, Fatal: true,
			Message: fmt.Sprintf("%s: AWS refused the credentials (%s: %s)", action, code, ae.ErrorMessage())}
	case retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool():
		return Problem{Kind: KindThrottled, Subject: action, Fatal: true,
			Message: fmt.Sprintf("%s: still throttled after retries (%s)", action, code)}
	}
	return Problem{Kind: KindAPIError, Subject: action, Fatal: true, Message: fmt.Sprintf("%s: %s: %s", action, code, ae.ErrorMessage())}
}

// iamAction names the IAM action behind an SDK operation.
func iamAction(service, op string) string {
	prefix := map[string]string{"EKS": "eks", "EC2": "ec2", "Elastic Load Balancing v2": "elasticloadbalancing", "STS": "sts"}[service]
	if prefix == "" {
		prefix = strings.ToLower(service)
	}
	return prefix + ":" + op
}
