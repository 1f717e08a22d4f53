// Package aws discovers the EKS sandwich's inventory through
// aws-sdk-go-v2, so a cluster entry needs only a cluster name, a region and
// how to find the firewalls:
//
//   - EKS DescribeCluster: the cluster's subnets and VPC (taken from
//     the subnets when the answer has no vpcId, as moto's has none);
//   - EC2 DescribeInstances: the running firewalls, by autoscaling group
//     (Palo Alto's "<stack>-PANW-Firewall-ASG") or by tags, in the
//     cluster's VPC, with their ENIs; DescribeNetworkInterfaces when the
//     trust ENI is chosen by tag rather than by device index;
//   - EC2 DescribeSubnets: the cluster's CIDRs (IPv4 and IPv6) and zones,
//     and each firewall's trust subnet, whose first host is the VPC router
//     used as the routes' next hop;
//   - ELBv2 DescribeLoadBalancers: every load balancer by DNS name, so the
//     engine can check a Service's ILB is an internal NLB in the VPC.
//
// Credentials come from the SDK's default chain (IRSA, EKS Pod Identity,
// instance role, environment), optionally exchanged for a role through STS.
// Build, the pure core, turns the answers into a sandwich.Inventory and a
// list of Problems; Discovery is the thin loop (Run) that calls AWS every
// refresh interval or on Refresh, keeps the last good inventory when a
// refresh fails, and logs and counts each problem once when it appears.
package aws
