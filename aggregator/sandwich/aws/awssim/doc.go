// Package awssim is a local stand-in for the AWS APIs that sandwich
// discovery calls, speaking each one's real wire protocol so the real
// aws-sdk-go-v2 clients can be pointed at it (BaseEndpoint) in tests and in
// `kubedag demo`:
//
//   - EKS DescribeCluster (REST-JSON, GET /clusters/{name});
//   - EC2 DescribeSubnets, DescribeInstances, DescribeNetworkInterfaces
//     (EC2 query protocol: form-encoded POST, XML answers), with EC2's
//     filters, MaxResults/NextToken paging and its error envelope;
//   - ELBv2 DescribeLoadBalancers (AWS query protocol, Marker paging);
//   - STS AssumeRole (AWS query protocol) and AssumeRoleWithWebIdentity
//     (IRSA's unsigned exchange of a ServiceAccount token), and the EKS Pod
//     Identity agent's credentials endpoint (PodIdentityPath), all issuing
//     session credentials that later calls must be signed with.
//
// Every request must carry a valid SigV4 signature from a known key: the
// server recomputes it with the SDK's own signer, so a credential that did
// not reach the request is caught here, as AWS would catch it.
//
// The model (cluster, subnets, instances, load balancers, roles) and faults
// (throttling as AWS answers it, IAM denials per action, a full outage) are
// editable while the server runs; a request log lets tests see which calls
// were made and with which key.
package awssim
