// Package awssim is a local stand-in for the AWS APIs that sandwich
// discovery calls, speaking each one's real wire protocol so real AWS
// clients can be pointed at it (aws-sdk-go-v2's BaseEndpoint, the AWS CLI's
// --endpoint-url) in tests and in `kubedag demo`:
//
//   - EKS DescribeCluster and ListClusters (REST-JSON: GET /clusters/{name},
//     GET /clusters with maxResults/nextToken; errors named by the
//     X-Amzn-ErrorType header, with the shape's members such as clusterName);
//     a cluster has a stable endpoint, a CA certificate and an OIDC issuer,
//     so `aws eks update-kubeconfig` writes a usable kubeconfig entry;
//   - EC2 DescribeSubnets, DescribeInstances, DescribeNetworkInterfaces,
//     DescribeVpcs, DescribeAvailabilityZones (the zones the model's subnets
//     and instances are in), DescribeSecurityGroups (each VPC's default
//     group, which its instances, their interfaces and its application load
//     balancers are in) and DescribeRouteTables (each VPC's main table with
//     its local route), in the EC2 query protocol (form-encoded POST, XML
//     answers of <item> lists), with EC2's filters (* and ? wildcards,
//     tag:<key>, tag-key, tag-value, the documented names, legacy aliases
//     included; an undocumented name is InvalidParameterValue),
//     MaxResults/NextToken paging, DryRun, malformed and unknown IDs,
//     unknown parameters (UnknownParameter), and its <Response><Errors>
//     envelope;
//   - ELBv2 DescribeLoadBalancers (AWS query protocol, Marker/PageSize paging,
//     a load balancer's zones from its subnets, its security groups left out
//     when it has none, as AWS leaves them out of a network load balancer
//     created without; an application one always has some),
//     DescribeTargetGroups (by ARNs, names or load balancer, paged),
//     DescribeTargetHealth (all of a group's targets or those asked for) and
//     DescribeListeners (by load balancer or ARNs, paged), with ELBv2's
//     not-found errors (TargetGroupNotFound, ListenerNotFound,
//     LoadBalancerNotFound, InvalidTarget); Layout.AddALB builds the
//     sandwich's front door, an application load balancer with a target
//     group per port holding the firewalls; the Classic API's
//     DescribeLoadBalancers (same signing name, Version 2012-06-01) lists
//     none, the model's load balancers all being ELBv2 ones;
//   - STS GetCallerIdentity, AssumeRole (AWS query protocol) and
//     AssumeRoleWithWebIdentity (IRSA's unsigned exchange of a ServiceAccount
//     token), and the EKS Pod Identity agent's credentials endpoint
//     (PodIdentityPath), all issuing session credentials that later calls
//     must be signed with; AssumeRole* check their parameters against STS's
//     constraints (session name pattern, DurationSeconds up to the roles'
//     default 1-hour maximum) and answer STS's ValidationError messages.
//
// The query protocols also take their parameters from a GET's URL, as AWS
// does. An action the simulator does not implement is answered as AWS
// answers an unknown one (InvalidAction, EKS's UnknownOperationException).
//
// Every request must carry a valid SigV4 signature from a known key. The
// server verifies it as AWS does: over exactly the headers the client
// listed in SignedHeaders (botocore signs content-type;host;x-amz-date, the
// Go SDK adds content-length), the path normalised and encoded twice, the
// query re-encoded and sorted, and the payload hash; the scope's region must
// be the server's, and the signing time within 15 minutes of its clock.
// Presigned URLs (X-Amz-* query parameters, as `aws eks get-token` makes
// for GetCallerIdentity with x-k8s-aws-id signed) are checked the same way
// and until X-Amz-Expires. A failure gets each service's own answer: EC2
// AuthFailure (401) or RequestExpired, EKS InvalidSignatureException or
// UnrecognizedClientException, the query services SignatureDoesNotMatch or
// InvalidClientTokenId. A session key is known only with its token, and
// past its expiry gets EC2 RequestExpired, EKS ExpiredTokenException or
// ExpiredToken; an unsigned request MissingAuthenticationToken in the
// envelope of the service its path or Version names. One request ID is in
// the X-Amzn-RequestId header and in the body. Every answer takes at least
// a millisecond, as a network round trip would (an instant one makes
// aws-sdk-go-v2's retries race in net/http; see ServeHTTP).
//
// The model (cluster, subnets, instances, load balancers, roles) and faults
// (throttling as each service answers it: EC2 503 RequestLimitExceeded, EKS
// 429 ThrottlingException, the query services 400 Throttling; IAM denials
// per action naming it; a full outage) are editable while the server runs; a
// request log lets tests see which calls were made and with which key.
//
// # Fidelity
//
// Besides aws-sdk-go-v2, the server has been checked against the AWS CLI v1
// (aws-cli 1.45.11, botocore 1.43.11, a separate signer and parser), over
// HTTP and HTTPS: every operation above, with filters, ID lists and paging
// (--page-size, --max-items, --starting-token); eks update-kubeconfig and
// get-token; botocore's own IRSA (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE)
// and Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI) credential
// providers; session credentials; and the error cases (unknown and
// malformed IDs, an unknown filter, DryRun, throttling, access denied, a
// wrong secret, a wrong region, an unsigned request, an unsupported action),
// each answer checked against botocore's service models (result wrappers,
// list member names, enums, timestamps). botocore_wire_test.go replays the
// requests the CLI sent (testdata/botocore) and checks the answers' shape,
// so that does not depend on the CLI being installed; TestAWSCLI runs the
// CLI itself where it is installed. The VPC, zone, security-group,
// route-table, target-group, target-health and listener calls were also
// run from boto3 1.43.11 (its paginators and the instance_running,
// vpc_available, security_group_exists, target_in_service and
// load_balancer_available waiters), their member sets compared with moto
// 5.2.1's answers and checked against AWS CLI output recorded in public
// repositories, where moto lacks members AWS sends; TestSandwichNetworkSDK
// reads them with aws-sdk-go-v2.
//
// What remains approximate:
//   - Error messages are AWS's where known (not-found, filter, DryRun,
//     signature, region, clock skew) and plausible otherwise; codes and
//     HTTP statuses are what clients act on and follow AWS.
//   - IDs are checked for their prefix only (subnet-, i-, eni-), not for
//     AWS's 8 or 17 hex digits, so fixtures can use readable IDs.
//   - Answers carry the members AWS always sends (as recorded CLI output
//     shows them: DNS names, MACs, private address sets, launch and attach
//     times, platform, security groups, the root EBS volume, metadata, CPU,
//     DNS-name and maintenance options, an empty productCodes, the state
//     transition reason; a VPC's CIDR association and block-public-access
//     state; a zone's opt-in status, group and border group) and those
//     discovery reads, not every one: values such as the launch time,
//     instance type (m5.xlarge) and IMDS settings (the documented defaults)
//     are fixed; instances have no client token, public addresses or
//     Marketplace product code (a VM-Series from the Marketplace has one);
//     load balancers have no addresses, and their CanonicalHostedZoneId is
//     their region's for their type in eight common regions, us-east-1's
//     elsewhere (a gateway load balancer gets the network one); paging
//     tokens are opaque but not AWS's.
//   - The model's network is its VPCs (Model.VPCs; DefaultLayout's is
//     10.0.0.0/16, untagged, not the default VPC), the zones in use (not
//     every zone of the region) and one default security group per VPC with
//     EC2's default rules and one main route table per VPC with only its
//     local route, implicitly associated with every subnet; there are no
//     gateways, other routes, route tables, security groups or rules (the
//     sandwich's firewalls reach the ILBs by NAT, not by VPC routes). Asking
//     for a security group by name answers InvalidGroup.NotFound as EC2 does
//     for a name outside the default VPC, naming no default VPC ('none': the
//     account has none, a case no source shows).
//   - A target group has one listener per load balancer it names, on its
//     own port and protocol, forwarding to it alone (no rules, certificates
//     or weights but 1); its health-check settings are CreateTargetGroup's
//     defaults. Target health is not checked: a registered target is
//     healthy when its group has a load balancer and its instance runs,
//     otherwise unused with the reason AWS documents (Target.NotInUse,
//     Target.InvalidState, Target.NotRegistered). DescribeListeners without
//     a load balancer or ARNs, and DescribeTargetHealth of an instance that
//     does not exist, answer with the API reference's own wording.
//   - Documented filters the model has no data for (architecture,
//     instance-lifecycle, ...) are accepted, as AWS accepts them, but match
//     nothing.
//   - SigV4a is not accepted; a presigned URL past X-Amz-Expires gets an
//     answer of the expiry's kind with a plausible message.
//   - AssumeRoleWithWebIdentity reads the token's claims (sub, aud, iss,
//     exp: SubjectFromWebIdentityToken, Audience, Provider, expiry and
//     audience errors) but does not verify its signature against the
//     issuer's keys, and accepts a token without aud or exp. The Pod
//     Identity endpoint accepts the token the test registers.
//   - One region and one account; no eventual consistency.
package awssim
