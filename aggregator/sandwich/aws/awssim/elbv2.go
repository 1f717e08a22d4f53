package awssim

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ELBv2 target groups, their targets' health and the listeners that
// forward to them (AWS query protocol, as DescribeLoadBalancers).
// Members and wrappers follow botocore's elbv2 model; values its
// documented examples (botocore's examples-1.json) and the defaults
// CreateTargetGroup documents.

type elbv2TargetGroup struct {
	ARN                string   `xml:"TargetGroupArn"`
	Name               string   `xml:"TargetGroupName"`
	Protocol           string   `xml:"Protocol"`
	Port               int      `xml:"Port"`
	VPC                string   `xml:"VpcId"`
	HealthProtocol     string   `xml:"HealthCheckProtocol"`
	HealthPort         string   `xml:"HealthCheckPort"`
	HealthEnabled      bool     `xml:"HealthCheckEnabled"`
	HealthInterval     int      `xml:"HealthCheckIntervalSeconds"`
	HealthTimeout      int      `xml:"HealthCheckTimeoutSeconds"`
	HealthyThreshold   int      `xml:"HealthyThresholdCount"`
	UnhealthyThreshold int      `xml:"UnhealthyThresholdCount"`
	HealthPath         string   `xml:"HealthCheckPath,omitempty"`
	MatcherHTTP        string   `xml:"Matcher>HttpCode,omitempty"`
	LoadBalancers      []string `xml:"LoadBalancerArns>member"`
	TargetType         string   `xml:"TargetType"`
	ProtocolVersion    string   `xml:"ProtocolVersion,omitempty"`
	IPType             string   `xml:"IpAddressType"`
}

type describeTGsResponse struct {
	XMLName      xml.Name                       `xml:"DescribeTargetGroupsResponse"`
	Xmlns        string                         `xml:"xmlns,attr"`
	TargetGroups elbv2Members[elbv2TargetGroup] `xml:"DescribeTargetGroupsResult>TargetGroups"`
	NextMarker   string                         `xml:"DescribeTargetGroupsResult>NextMarker,omitempty"`
	RequestID    string                         `xml:"ResponseMetadata>RequestId"`
}

// elbv2Members is a query-protocol list: an element holding <member>s,
// present if empty as AWS sends it.
type elbv2Members[T any] struct {
	Items []T `xml:"member"`
}

type elbv2TargetHealth struct {
	ID         string `xml:"Target>Id"`
	Port       int    `xml:"Target>Port"`
	HealthPort string `xml:"HealthCheckPort,omitempty"`
	State      string `xml:"TargetHealth>State"`
	Reason     string `xml:"TargetHealth>Reason,omitempty"`
	Desc       string `xml:"TargetHealth>Description,omitempty"`
	// AWS answers every target with the override it has (none here), as
	// recorded CLI output shows.
	Override       string `xml:"AdministrativeOverride>State"`
	OverrideReason string `xml:"AdministrativeOverride>Reason"`
	OverrideDesc   string `xml:"AdministrativeOverride>Description"`
}

type describeHealthResponse struct {
	XMLName   xml.Name                        `xml:"DescribeTargetHealthResponse"`
	Xmlns     string                          `xml:"xmlns,attr"`
	Health    elbv2Members[elbv2TargetHealth] `xml:"DescribeTargetHealthResult>TargetHealthDescriptions"`
	RequestID string                          `xml:"ResponseMetadata>RequestId"`
}

type elbv2Listener struct {
	ARN          string `xml:"ListenerArn"`
	LoadBalancer string `xml:"LoadBalancerArn"`
	Port         int    `xml:"Port"`
	Protocol     string `xml:"Protocol"`
	// One forward action, as the API reports a plain forward: its target
	// group both directly and in ForwardConfig.
	ActionType  string `xml:"DefaultActions>member>Type"`
	TargetGroup string `xml:"DefaultActions>member>TargetGroupArn"`
	ForwardTG   string `xml:"DefaultActions>member>ForwardConfig>TargetGroups>member>TargetGroupArn"`
	ForwardW    int    `xml:"DefaultActions>member>ForwardConfig>TargetGroups>member>Weight"`
	Stickiness  bool   `xml:"DefaultActions>member>ForwardConfig>TargetGroupStickinessConfig>Enabled"`
}

type describeListenersResponse struct {
	XMLName    xml.Name                    `xml:"DescribeListenersResponse"`
	Xmlns      string                      `xml:"xmlns,attr"`
	Listeners  elbv2Members[elbv2Listener] `xml:"DescribeListenersResult>Listeners"`
	NextMarker string                      `xml:"DescribeListenersResult>NextMarker,omitempty"`
	RequestID  string                      `xml:"ResponseMetadata>RequestId"`
}

// elbv2Page checks PageSize as ELBv2 does (Coral's "validation error
// detected", as STS answers) and cuts ids at Marker.
func elbv2Page(c *call, ids []string) ([]string, string, *apiError) {
	if v := c.form.Get("PageSize"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && (n < 1 || n > 400) {
			bound := "greater than or equal to 1"
			if n > 400 {
				bound = "less than or equal to 400"
			}
			return nil, "", &apiError{status: 400, code: "ValidationError", msg: fmt.Sprintf(
				"1 validation error detected: Value '%d' at 'pageSize' failed to satisfy constraint: Member must have value %s", n, bound)}
		}
	}
	got, next, err := page(c, ids, "Marker", "PageSize", 1, 400)
	if err != nil {
		err.code = "ValidationError"
	}
	return got, next, err
}

// lbNotFound is ELBv2's answer to an unknown load balancer ARN (by name,
// DescribeLoadBalancers names it instead).
func lbNotFound() *apiError {
	return &apiError{status: 400, code: "LoadBalancerNotFound", msg: "One or more load balancers not found"}
}

func tgNotFound() *apiError {
	return &apiError{status: 400, code: "TargetGroupNotFound", msg: "One or more target groups not found"}
}

func targetType(tg *TargetGroup) string {
	if tg.TargetType == "" {
		return "instance"
	}
	return tg.TargetType
}

func describeTargetGroups(c *call) ([]byte, *apiError) {
	arns := listParam(c, "TargetGroupArns.member")
	names := listParam(c, "Names.member")
	lbARN := c.form.Get("LoadBalancerArn")
	given := 0
	for _, set := range []bool{len(arns) > 0, len(names) > 0, lbARN != ""} {
		if set {
			given++
		}
	}
	if given > 1 {
		return nil, &apiError{status: 400, code: "ValidationError", msg: "Target group names, target group ARNs, and a load balancer ARN cannot be specified at the same time"}
	}
	if lbARN != "" && c.model.LoadBalancers[lbARN] == nil {
		return nil, lbNotFound()
	}
	byName := map[string]bool{}
	for _, tg := range c.model.TargetGroups {
		byName[tg.Name] = true
	}
	for _, a := range arns {
		if c.model.TargetGroups[a] == nil {
			return nil, tgNotFound()
		}
	}
	for _, n := range names {
		if !byName[n] {
			return nil, tgNotFound()
		}
	}
	var ids []string
	for _, arn := range sortedKeys(c.model.TargetGroups) {
		tg := c.model.TargetGroups[arn]
		switch {
		case len(arns) > 0 && !slices.Contains(arns, arn),
			len(names) > 0 && !slices.Contains(names, tg.Name),
			lbARN != "" && !slices.Contains(tg.LoadBalancers, lbARN):
			continue
		}
		ids = append(ids, arn)
	}
	got, next, err := elbv2Page(c, ids)
	if err != nil {
		return nil, err
	}
	r := describeTGsResponse{Xmlns: namespace("elasticloadbalancing"), NextMarker: next, RequestID: c.id}
	for _, arn := range got {
		tg := c.model.TargetGroups[arn]
		out := elbv2TargetGroup{ARN: arn, Name: tg.Name, Protocol: tg.Protocol, Port: tg.Port, VPC: tg.VPC,
			HealthProtocol: tg.Protocol, HealthPort: "traffic-port", HealthEnabled: true, HealthInterval: 30,
			HealthyThreshold: 5, UnhealthyThreshold: 2, LoadBalancers: slices.Clone(tg.LoadBalancers),
			TargetType: targetType(tg), IPType: "ipv4"}
		switch tg.Protocol {
		case "HTTP", "HTTPS":
			// An application load balancer's group: path, matcher and
			// protocol version, as CreateTargetGroup defaults them.
			out.HealthTimeout, out.HealthPath, out.MatcherHTTP, out.ProtocolVersion = 5, "/", "200", "HTTP1"
		default:
			out.HealthTimeout = 10
		}
		r.TargetGroups.Items = append(r.TargetGroups.Items, out)
	}
	b, _ := xml.Marshal(r)
	return b, nil
}

// targetHealth is a registered target's health: healthy when its group
// has a load balancer and the instance runs (the simulator runs no health
// checks), otherwise unused with the reason AWS documents.
func targetHealth(c *call, tg *TargetGroup, t Target) elbv2TargetHealth {
	h := elbv2TargetHealth{ID: t.ID, Port: t.Port, Override: "no_override", OverrideReason: "AdministrativeOverride.NoOverride",
		OverrideDesc: "No override is currently active on target"}
	inst := c.model.Instances[t.ID]
	switch {
	case !slices.Contains(tg.Targets, t):
		h.State, h.Reason, h.Desc = "unused", "Target.NotRegistered", "Target is not registered to the target group"
		h.HealthPort = strconv.Itoa(t.Port)
	case len(tg.LoadBalancers) == 0:
		h.State, h.Reason, h.Desc = "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"
	case targetType(tg) == "instance" && (inst == nil || instanceState(inst) != "running"):
		state := "terminated"
		if inst != nil {
			state = instanceState(inst)
		}
		h.State, h.Reason, h.Desc = "unused", "Target.InvalidState", fmt.Sprintf("Target is in the %s state", state)
		h.HealthPort = strconv.Itoa(t.Port)
	default:
		h.State, h.HealthPort = "healthy", strconv.Itoa(t.Port)
	}
	return h
}

func describeTargetHealth(c *call) ([]byte, *apiError) {
	arn := c.form.Get("TargetGroupArn")
	if arn == "" {
		return nil, &apiError{status: 400, code: "ValidationError", msg: "1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null"}
	}
	tg := c.model.TargetGroups[arn]
	if tg == nil {
		return nil, tgNotFound()
	}
	targets := tg.Targets
	if _, ok := c.form["Targets.member.1.Id"]; ok {
		targets = nil
		for i := 1; ; i++ {
			id, ok := c.form[fmt.Sprintf("Targets.member.%d.Id", i)]
			if !ok {
				break
			}
			t := Target{ID: strings.Join(id, ""), Port: tg.Port}
			if p := c.form.Get(fmt.Sprintf("Targets.member.%d.Port", i)); p != "" {
				t.Port, _ = strconv.Atoi(p)
			}
			if targetType(tg) == "instance" && c.model.Instances[t.ID] == nil {
				// The text botocore's model documents for InvalidTarget.
				return nil, &apiError{status: 400, code: "InvalidTarget", msg: "The specified target does not exist, is not in the same VPC as the target group, or has an unsupported instance type."}
			}
			targets = append(targets, t)
		}
	}
	r := describeHealthResponse{Xmlns: namespace("elasticloadbalancing"), RequestID: c.id}
	for _, t := range targets {
		r.Health.Items = append(r.Health.Items, targetHealth(c, tg, t))
	}
	b, _ := xml.Marshal(r)
	return b, nil
}

// listenerARN names the listener of lb forwarding to tg:
// listener/<app|net>/<name>/<lb id>/<listener id>.
func listenerARN(lbARN, tgARN string) string {
	return strings.Replace(lbARN, ":loadbalancer/", ":listener/", 1) + "/" + hexID(lbARN+" "+tgARN)
}

type listener struct {
	arn, lb string
	tg      *TargetGroup
}

// listeners are the model's listeners by ARN: one per load balancer and
// target group forwarding to it.
func listeners(m *Model) map[string]listener {
	out := map[string]listener{}
	for _, tg := range m.TargetGroups {
		for _, lb := range tg.LoadBalancers {
			if m.LoadBalancers[lb] != nil {
				a := listenerARN(lb, tg.ARN)
				out[a] = listener{arn: a, lb: lb, tg: tg}
			}
		}
	}
	return out
}

func describeListeners(c *call) ([]byte, *apiError) {
	arns := listParam(c, "ListenerArns.member")
	lbARN := c.form.Get("LoadBalancerArn")
	switch {
	case lbARN != "" && len(arns) > 0:
		return nil, &apiError{status: 400, code: "ValidationError", msg: "Listener ARNs and a load balancer ARN cannot be specified at the same time"}
	case lbARN == "" && len(arns) == 0:
		// The API reference: "You must specify either a load balancer or
		// one or more listeners."
		return nil, &apiError{status: 400, code: "ValidationError", msg: "You must specify either a load balancer or one or more listeners"}
	case lbARN != "" && c.model.LoadBalancers[lbARN] == nil:
		return nil, lbNotFound()
	}
	all := listeners(c.model)
	for _, a := range arns {
		if _, ok := all[a]; !ok {
			return nil, &apiError{status: 400, code: "ListenerNotFound", msg: "One or more listeners not found"}
		}
	}
	var ids []string
	for _, a := range sortedKeys(all) {
		if (lbARN == "" || all[a].lb == lbARN) && (len(arns) == 0 || slices.Contains(arns, a)) {
			ids = append(ids, a)
		}
	}
	got, next, err := elbv2Page(c, ids)
	if err != nil {
		return nil, err
	}
	r := describeListenersResponse{Xmlns: namespace("elasticloadbalancing"), NextMarker: next, RequestID: c.id}
	for _, a := range got {
		l := all[a]
		r.Listeners.Items = append(r.Listeners.Items, elbv2Listener{ARN: a, LoadBalancer: l.lb, Port: l.tg.Port, Protocol: l.tg.Protocol,
			ActionType: "forward", TargetGroup: l.tg.ARN, ForwardTG: l.tg.ARN, ForwardW: 1})
	}
	b, _ := xml.Marshal(r)
	return b, nil
}
