package awssim

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// AWS query protocol (ELBv2, STS): lists are <member>s, names are
// UpperCamelCase, the answer is <ActionResponse><ActionResult>.

type elbv2LB struct {
	ARN         string `xml:"LoadBalancerArn"`
	DNSName     string `xml:"DNSName"`
	HostedZone  string `xml:"CanonicalHostedZoneId"`
	CreatedTime string `xml:"CreatedTime"`
	Name        string `xml:"LoadBalancerName"`
	Scheme      string `xml:"Scheme"`
	VPC         string `xml:"VpcId"`
	State       string `xml:"State>Code"`
	Type        string `xml:"Type"`
	IPType      string `xml:"IpAddressType"`
}

type describeLBsResponse struct {
	XMLName       xml.Name  `xml:"DescribeLoadBalancersResponse"`
	Xmlns         string    `xml:"xmlns,attr"`
	LoadBalancers []elbv2LB `xml:"DescribeLoadBalancersResult>LoadBalancers>member"`
	NextMarker    string    `xml:"DescribeLoadBalancersResult>NextMarker,omitempty"`
	RequestID     string    `xml:"ResponseMetadata>RequestId"`
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
			return nil, &apiError{status: 400, code: "LoadBalancerNotFound", msg: fmt.Sprintf("Load balancers '[%s]' not found", a)}
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
	got, next, err := page(c, ids, "Marker", "PageSize", 1, 400)
	if err != nil {
		err.code = "ValidationError"
		return nil, err
	}
	r := describeLBsResponse{Xmlns: namespace("elasticloadbalancing"), NextMarker: next, RequestID: c.id}
	for _, arn := range got {
		lb := c.model.LoadBalancers[arn]
		state := lb.State
		if state == "" {
			state = "active"
		}
		r.LoadBalancers = append(r.LoadBalancers, elbv2LB{ARN: arn, DNSName: lb.DNSName, HostedZone: "Z26RNL4JYFTOTI",
			CreatedTime: "2026-01-02T03:04:05.000Z", Name: lb.Name, Scheme: lb.Scheme, VPC: lb.VPC, State: state, Type: lb.Type, IPType: "ipv4"})
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
	if role == "" || session == "" {
		return nil, &apiError{status: 400, code: "ValidationError", msg: "1 validation error detected: RoleArn and RoleSessionName must not be null"}
	}
	if !c.model.Roles[role] {
		return nil, &apiError{status: 403, code: "AccessDenied", msg: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.caller.arn, role)}
	}
	dur := 3600
	if v := c.form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, &apiError{status: 400, code: "ValidationError", msg: "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint"}
		}
		dur = n
	}
	id, k := s.issue(role, session, time.Duration(dur)*time.Second)
	b, _ := xml.Marshal(assumeRoleResponse{Xmlns: namespace("sts"), UserARN: k.arn, UserID: k.userID,
		KeyID: id, Secret: k.secret, Token: k.token, Expires: k.expires.Format(time.RFC3339), RequestID: c.id})
	return b, nil
}
