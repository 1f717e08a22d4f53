package awssim

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AWS query protocol (ELBv2, STS): lists are <member>s, names are
// UpperCamelCase, the answer is <ActionResponse><ActionResult>.

type elbv2LB struct {
	ARN         string      `xml:"LoadBalancerArn"`
	DNSName     string      `xml:"DNSName"`
	HostedZone  string      `xml:"CanonicalHostedZoneId"`
	CreatedTime string      `xml:"CreatedTime"`
	Name        string      `xml:"LoadBalancerName"`
	Scheme      string      `xml:"Scheme"`
	VPC         string      `xml:"VpcId"`
	State       string      `xml:"State>Code"`
	Type        string      `xml:"Type"`
	Zones       []elbv2Zone `xml:"AvailabilityZones>member"`
	// SecurityGroups is left out when empty, as AWS leaves it out of
	// network load balancers created without groups.
	SecurityGroups *elbv2Members[string] `xml:"SecurityGroups,omitempty"`
	IPType         string                `xml:"IpAddressType"`
}

type elbv2Zone struct {
	Zone   string `xml:"ZoneName"`
	Subnet string `xml:"SubnetId"`
}

type describeLBsResponse struct {
	XMLName       xml.Name  `xml:"DescribeLoadBalancersResponse"`
	Xmlns         string    `xml:"xmlns,attr"`
	LoadBalancers []elbv2LB `xml:"DescribeLoadBalancersResult>LoadBalancers>member"`
	NextMarker    string    `xml:"DescribeLoadBalancersResult>NextMarker,omitempty"`
	RequestID     string    `xml:"ResponseMetadata>RequestId"`
}

// hostedZones are the Route 53 zones of load balancers' DNS names per
// region, {application, network}, as the AWS General Reference's
// Elastic Load Balancing endpoints table lists them (some regions).
var hostedZones = map[string][2]string{
	"us-east-1":      {"Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"},
	"us-east-2":      {"Z3AADJGX6KTTL2", "ZLMOA37VPKANP"},
	"us-west-1":      {"Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"},
	"us-west-2":      {"Z1H1FL5HABSF5", "Z18D5FSROUN65G"},
	"eu-west-1":      {"Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"},
	"eu-central-1":   {"Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"},
	"ap-southeast-1": {"Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"},
	"ap-northeast-1": {"Z14GRHDCWA56QT", "Z31USIVHYNEOWT"},
}

// hostedZone is a load balancer's CanonicalHostedZoneId: its region's
// zone for its type (us-east-1's for a region not listed).
func hostedZone(region, typ string) string {
	z, ok := hostedZones[region]
	if !ok {
		z = hostedZones["us-east-1"]
	}
	if typ == "application" {
		return z[0]
	}
	return z[1]
}

func describeLoadBalancers(c *call) ([]byte, *apiError) {
	arns := listParam(c, "LoadBalancerArns.member")
	names := listParam(c, "Names.member")
	if len(arns) > 0 && len(names) > 0 {
		return nil, &apiError{status: 400, code: "ValidationError", msg: "Load balancer names and load balancer ARNs cannot be specified at the same time"}
	}
	byName := map[string]string{}
	for arn, lb := range c.model.LoadBalancers {
		byName[lb.Name] = arn
	}
	for _, a := range arns {
		if c.model.LoadBalancers[a] == nil {
			// By ARN AWS names none (recorded CLI answers); by name it
			// does, below.
			return nil, lbNotFound()
		}
	}
	for _, n := range names {
		if byName[n] == "" {
			return nil, &apiError{status: 400, code: "LoadBalancerNotFound", msg: fmt.Sprintf("Load balancers '[%s]' not found", n)}
		}
	}
	var ids []string
	for _, arn := range sortedKeys(c.model.LoadBalancers) {
		lb := c.model.LoadBalancers[arn]
		if (len(arns) == 0 || slices.Contains(arns, arn)) && (len(names) == 0 || slices.Contains(names, lb.Name)) {
			ids = append(ids, arn)
		}
	}
	got, next, err := elbv2Page(c, ids)
	if err != nil {
		return nil, err
	}
	r := describeLBsResponse{Xmlns: namespace("elasticloadbalancing"), NextMarker: next, RequestID: c.id}
	for _, arn := range got {
		lb := c.model.LoadBalancers[arn]
		state := lb.State
		if state == "" {
			state = "active"
		}
		out := elbv2LB{ARN: arn, DNSName: lb.DNSName, HostedZone: hostedZone(c.region, lb.Type),
			CreatedTime: "2026-01-02T03:04:05.000Z", Name: lb.Name, Scheme: lb.Scheme, VPC: lb.VPC, State: state, Type: lb.Type, IPType: "ipv4"}
		if len(lb.SecurityGroups) > 0 {
			out.SecurityGroups = &elbv2Members[string]{Items: slices.Clone(lb.SecurityGroups)}
		}
		for _, id := range lb.Subnets {
			zone := ""
			if sn := c.model.Subnets[id]; sn != nil {
				zone = sn.Zone
			}
			out.Zones = append(out.Zones, elbv2Zone{Zone: zone, Subnet: id})
		}
		r.LoadBalancers = append(r.LoadBalancers, out)
	}
	b, _ := xml.Marshal(r)
	return b, nil
}

type assumeRoleResponse struct {
	XMLName   xml.Name `xml:"AssumeRoleResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	UserARN   string   `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	UserID    string   `xml:"AssumeRoleResult>AssumedRoleUser>AssumedRoleId"`
	KeyID     string   `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
	Secret    string   `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
	Token     string   `xml:"AssumeRoleResult>Credentials>SessionToken"`
	Expires   string   `xml:"AssumeRoleResult>Credentials>Expiration"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

// assumeRole issues session credentials that the server then accepts,
// signed as the role; called with s.mu held.
func (s *Server) assumeRole(c *call) ([]byte, *apiError) {
	role, session := c.form.Get("RoleArn"), c.form.Get("RoleSessionName")
	dur, verr := validateAssume(c, false)
	if verr != nil {
		return nil, verr
	}
	if !c.model.Roles[role] {
		return nil, &apiError{status: 403, code: "AccessDenied", msg: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.caller.arn, role)}
	}
	id, k := s.issue(role, session, dur)
	b, _ := xml.Marshal(assumeRoleResponse{Xmlns: namespace("sts"), UserARN: k.arn, UserID: k.userID,
		KeyID: id, Secret: k.secret, Token: k.token, Expires: k.expires.Format(time.RFC3339), RequestID: c.id})
	return b, nil
}

var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)

// validateAssume checks AssumeRole(WithWebIdentity)'s parameters against
// STS's constraints, answering as STS does ("N validation errors detected:
// Value ... at 'roleSessionName' failed to satisfy constraint: ..."), and
// returns the session duration (1 hour unless asked; the roles have IAM's
// default MaxSessionDuration of 1 hour).
func validateAssume(c *call, webIdentity bool) (time.Duration, *apiError) {
	var errs []string
	check := func(param, member string, minLen, maxLen int, pattern *regexp.Regexp, patternText string) {
		v, ok := c.form[param]
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
		case len(v[0]) < minLen:
			errs = append(errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", v[0], member, minLen))
		case len(v[0]) > maxLen:
			errs = append(errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v[0], member, maxLen))
		case pattern != nil && !pattern.MatchString(v[0]):
			errs = append(errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", v[0], member, patternText))
		}
	}
	check("RoleArn", "roleArn", 20, 2048, nil, "")
	check("RoleSessionName", "roleSessionName", 2, 64, sessionNamePattern, `[\w+=,.@-]*`)
	if webIdentity {
		check("WebIdentityToken", "webIdentityToken", 4, 20000, nil, "")
	}
	dur := 3600
	if v := c.form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return 0, &apiError{status: 400, code: "MalformedInput", msg: fmt.Sprintf("Invalid value '%s' for DurationSeconds", v)}
		case n < 900:
			errs = append(errs, fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", n))
		case n > 43200:
			errs = append(errs, fmt.Sprintf("Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n))
		}
		dur = n
	}
	switch {
	case len(errs) == 1:
		return 0, &apiError{status: 400, code: "ValidationError", msg: "1 validation error detected: " + errs[0]}
	case len(errs) > 1:
		return 0, &apiError{status: 400, code: "ValidationError", msg: fmt.Sprintf("%d validation errors detected: %s", len(errs), strings.Join(errs, "; "))}
	case dur > 3600:
		return 0, &apiError{status: 400, code: "ValidationError", msg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
	}
	return time.Duration(dur) * time.Second, nil
}

type describeClassicLBsResponse struct {
	XMLName   xml.Name  `xml:"DescribeLoadBalancersResponse"`
	Xmlns     string    `xml:"xmlns,attr"`
	LBs       *struct{} `xml:"DescribeLoadBalancersResult>LoadBalancerDescriptions"`
	RequestID string    `xml:"ResponseMetadata>RequestId"`
}

// describeClassicLoadBalancers answers `aws elb describe-load-balancers`:
// the model's load balancers are all ELBv2 ones, which the Classic API
// does not list.
func describeClassicLoadBalancers(c *call) ([]byte, *apiError) {
	if names := listParam(c, "LoadBalancerNames.member"); len(names) > 0 {
		return nil, &apiError{status: 400, code: "LoadBalancerNotFound", msg: fmt.Sprintf("There is no ACTIVE Load Balancer named '%s'", names[0])}
	}
	b, _ := xml.Marshal(describeClassicLBsResponse{Xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/", LBs: &struct{}{}, RequestID: c.id})
	return b, nil
}
