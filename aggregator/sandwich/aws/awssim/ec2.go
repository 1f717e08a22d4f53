package awssim

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// EC2 query protocol: every list in an answer is an element holding <item>s,
// names are lowerCamelCase, the root is <ActionResponse> in the 2016-11-15
// namespace.

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2IPv6Assoc struct {
	CIDR  string `xml:"ipv6CidrBlock"`
	ID    string `xml:"associationId"`
	State string `xml:"ipv6CidrBlockState>state"`
}

type ec2Subnet struct {
	ID                 string         `xml:"subnetId"`
	ARN                string         `xml:"subnetArn"`
	State              string         `xml:"state"`
	VPC                string         `xml:"vpcId"`
	Owner              string         `xml:"ownerId"`
	CIDR               string         `xml:"cidrBlock,omitempty"`
	IPv6               []ec2IPv6Assoc `xml:"ipv6CidrBlockAssociationSet>item"`
	Available          int            `xml:"availableIpAddressCount"`
	Zone               string         `xml:"availabilityZone"`
	ZoneID             string         `xml:"availabilityZoneId"`
	DefaultForAz       bool           `xml:"defaultForAz"`
	MapPublicIP        bool           `xml:"mapPublicIpOnLaunch"`
	AssignIPv6OnCreate bool           `xml:"assignIpv6AddressOnCreation"`
	IPv6Native         bool           `xml:"ipv6Native"`
	Tags               []ec2Tag       `xml:"tagSet>item"`
}

type ec2Attachment struct {
	ID                  string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwner       string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int    `xml:"deviceIndex"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
	Status              string `xml:"status"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type ec2InstanceENI struct {
	ID         string        `xml:"networkInterfaceId"`
	SubnetID   string        `xml:"subnetId"`
	VPC        string        `xml:"vpcId"`
	Owner      string        `xml:"ownerId"`
	Status     string        `xml:"status"`
	PrivateIP  string        `xml:"privateIpAddress"`
	SrcDst     bool          `xml:"sourceDestCheck"`
	Type       string        `xml:"interfaceType"`
	Attachment ec2Attachment `xml:"attachment"`
}

type ec2Instance struct {
	ID        string           `xml:"instanceId"`
	ImageID   string           `xml:"imageId"`
	StateCode int              `xml:"instanceState>code"`
	StateName string           `xml:"instanceState>name"`
	Type      string           `xml:"instanceType"`
	Zone      string           `xml:"placement>availabilityZone"`
	Tenancy   string           `xml:"placement>tenancy"`
	SubnetID  string           `xml:"subnetId,omitempty"`
	VPC       string           `xml:"vpcId,omitempty"`
	PrivateIP string           `xml:"privateIpAddress,omitempty"`
	ENIs      []ec2InstanceENI `xml:"networkInterfaceSet>item"`
	Tags      []ec2Tag         `xml:"tagSet>item"`
}

type ec2Reservation struct {
	ID        string        `xml:"reservationId"`
	Owner     string        `xml:"ownerId"`
	Instances []ec2Instance `xml:"instancesSet>item"`
}

type ec2ENI struct {
	ID         string         `xml:"networkInterfaceId"`
	SubnetID   string         `xml:"subnetId"`
	VPC        string         `xml:"vpcId"`
	Zone       string         `xml:"availabilityZone"`
	Owner      string         `xml:"ownerId"`
	Status     string         `xml:"status"`
	PrivateIP  string         `xml:"privateIpAddress"`
	SrcDst     bool           `xml:"sourceDestCheck"`
	Type       string         `xml:"interfaceType"`
	Attachment *ec2Attachment `xml:"attachment,omitempty"`
	Tags       []ec2Tag       `xml:"tagSet>item"`
}

type ec2Response struct {
	XMLName      xml.Name
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Subnets      []ec2Subnet      `xml:"subnetSet>item,omitempty"`
	Reservations []ec2Reservation `xml:"reservationSet>item,omitempty"`
	ENIs         []ec2ENI         `xml:"networkInterfaceSet>item,omitempty"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

func marshalEC2(action string, r ec2Response) []byte {
	r.XMLName = xml.Name{Local: action + "Response"}
	r.Xmlns = namespace("ec2")
	r.RequestID = requestID()
	b, _ := xml.Marshal(r)
	return append([]byte(xml.Header), b...)
}

// ec2Filter is one Filter.N: a name and values, any of which may match;
// filters are ANDed.
type ec2Filter struct {
	name   string
	values []string
}

// filterFields are the fields an item exposes to filters; tags are separate.
type filterFields map[string][]string

func parseFilters(c *call, allowed ...string) ([]ec2Filter, *apiError) {
	var fs []ec2Filter
	for i := 1; ; i++ {
		name := c.form.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name == "" {
			break
		}
		if !strings.HasPrefix(name, "tag:") && name != "tag-key" && !slices.Contains(allowed, name) {
			return nil, &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("The filter '%s' is invalid", name)}
		}
		f := ec2Filter{name: name, values: listParam(c, fmt.Sprintf("Filter.%d.Value", i))}
		fs = append(fs, f)
	}
	return fs, nil
}

func listParam(c *call, prefix string) []string {
	var vs []string
	for j := 1; ; j++ {
		v, ok := c.form[fmt.Sprintf("%s.%d", prefix, j)]
		if !ok {
			return vs
		}
		vs = append(vs, v...)
	}
}

// matches applies EC2 filter semantics, including its * and ? wildcards.
func matches(fs []ec2Filter, fields filterFields, tags map[string]string) bool {
	for _, f := range fs {
		var have []string
		switch {
		case f.name == "tag-key":
			for k := range tags {
				have = append(have, k)
			}
		case strings.HasPrefix(f.name, "tag:"):
			if v, ok := tags[strings.TrimPrefix(f.name, "tag:")]; ok {
				have = []string{v}
			}
		default:
			have = fields[f.name]
		}
		if !anyMatch(f.values, have) {
			return false
		}
	}
	return true
}

func anyMatch(patterns, have []string) bool {
	for _, p := range patterns {
		for _, h := range have {
			// path.Match's '/' rule does not matter for the values filtered here.
			if ok, _ := path.Match(p, h); ok || p == h {
				return true
			}
		}
	}
	return false
}

func tagSet(tags map[string]string) []ec2Tag {
	var out []ec2Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, ec2Tag{Key: k, Value: tags[k]})
	}
	return out
}

// page cuts ids (sorted) at the token and the smaller of MaxResults and
// the server's page size, returning the next token ("" on the last page).
func page(c *call, ids []string, tokenParam, sizeParam string, minSize, maxSize int) ([]string, string, *apiError) {
	size := c.pageSize
	if v := c.form.Get(sizeParam); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minSize || n > maxSize {
			return nil, "", &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("Value ( %s ) for parameter %s is invalid. Expecting a value between %d and %d.", v, sizeParam, minSize, maxSize)}
		}
		size = min(size, n)
	}
	start := 0
	if tok := c.form.Get(tokenParam); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		action, after, ok := strings.Cut(string(raw), "|")
		if err != nil || !ok || action != c.action {
			return nil, "", &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("The value '%s' for parameter %s is invalid.", tok, tokenParam)}
		}
		for start < len(ids) && ids[start] <= after {
			start++
		}
	}
	end := min(start+size, len(ids))
	next := ""
	if end < len(ids) {
		next = base64.RawURLEncoding.EncodeToString([]byte(c.action + "|" + ids[end-1]))
	}
	return ids[start:end], next, nil
}

func notFound(code, kind string, id string) *apiError {
	return &apiError{status: 400, code: code, msg: fmt.Sprintf("The %s '%s' does not exist", kind, id)}
}

func describeSubnets(c *call) ([]byte, *apiError) {
	fs, err := parseFilters(c, "subnet-id", "vpc-id", "availability-zone", "cidr-block", "ipv6-cidr-block-association.ipv6-cidr-block", "state")
	if err != nil {
		return nil, err
	}
	want := listParam(c, "SubnetId")
	for _, id := range want {
		if c.model.Subnets[id] == nil {
			return nil, notFound("InvalidSubnetID.NotFound", "subnet ID", id)
		}
	}
	var ids []string
	for _, id := range sortedKeys(c.model.Subnets) {
		s := c.model.Subnets[id]
		if len(want) > 0 && !slices.Contains(want, id) {
			continue
		}
		if matches(fs, filterFields{"subnet-id": {id}, "vpc-id": {s.VPC}, "availability-zone": {s.Zone}, "cidr-block": {s.CIDR},
			"ipv6-cidr-block-association.ipv6-cidr-block": s.IPv6CIDRs, "state": {"available"}}, s.Tags) {
			ids = append(ids, id)
		}
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next}
	for _, id := range got {
		s := c.model.Subnets[id]
		out := ec2Subnet{ID: id, ARN: fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", c.region, Account, id), State: "available",
			VPC: s.VPC, Owner: Account, CIDR: s.CIDR, Zone: s.Zone, ZoneID: zoneID(s.Zone), Tags: tagSet(s.Tags), IPv6Native: s.CIDR == ""}
		if p, err := netip.ParsePrefix(s.CIDR); err == nil {
			out.Available = max(1<<(32-p.Bits())-5, 0)
		}
		for i, v6 := range s.IPv6CIDRs {
			out.IPv6 = append(out.IPv6, ec2IPv6Assoc{CIDR: v6, ID: fmt.Sprintf("subnet-cidr-assoc-%s%d", strings.TrimPrefix(id, "subnet-"), i), State: "associated"})
		}
		r.Subnets = append(r.Subnets, out)
	}
	return marshalEC2(c.action, r), nil
}

// zoneID is a plausible AZ ID for a zone name (us-east-1a -> use1-az1).
func zoneID(zone string) string {
	if zone == "" {
		return ""
	}
	return "sim-az" + strconv.Itoa(int(zone[len(zone)-1]-'a'+1))
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func instanceState(i *Instance) string {
	if i.State == "" {
		return "running"
	}
	return i.State
}

func describeInstances(c *call) ([]byte, *apiError) {
	fs, err := parseFilters(c, "instance-id", "instance-state-name", "vpc-id", "availability-zone", "subnet-id", "network-interface.subnet-id")
	if err != nil {
		return nil, err
	}
	want := listParam(c, "InstanceId")
	if len(want) > 0 && c.form.Get("MaxResults") != "" {
		return nil, &apiError{status: 400, code: "InvalidParameterCombination", msg: "The parameter instancesSet cannot be used with the parameter maxResults"}
	}
	for _, id := range want {
		if c.model.Instances[id] == nil {
			return nil, notFound("InvalidInstanceID.NotFound", "instance ID", id)
		}
	}
	var ids []string
	for _, id := range sortedKeys(c.model.Instances) {
		in := c.model.Instances[id]
		if len(want) > 0 && !slices.Contains(want, id) {
			continue
		}
		var subnets []string
		for _, e := range in.ENIs {
			subnets = append(subnets, e.SubnetID)
		}
		primary := ""
		if len(subnets) > 0 {
			primary = primarySubnet(in)
		}
		if matches(fs, filterFields{"instance-id": {id}, "instance-state-name": {instanceState(in)}, "vpc-id": {in.VPC},
			"availability-zone": {in.Zone}, "subnet-id": {primary}, "network-interface.subnet-id": subnets}, in.Tags) {
			ids = append(ids, id)
		}
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next}
	for _, id := range got {
		in := c.model.Instances[id]
		out := ec2Instance{ID: id, ImageID: "ami-0sim0vmseries", StateCode: stateCodes[instanceState(in)], StateName: instanceState(in),
			Type: "m5.xlarge", Zone: in.Zone, Tenancy: "default", VPC: in.VPC, SubnetID: primarySubnet(in), Tags: tagSet(in.Tags)}
		for _, e := range in.ENIs {
			if e.DeviceIndex == 0 {
				out.PrivateIP = e.PrivateIP
			}
			out.ENIs = append(out.ENIs, ec2InstanceENI{ID: e.ID, SubnetID: e.SubnetID, VPC: in.VPC, Owner: Account, Status: "in-use",
				PrivateIP: e.PrivateIP, Type: "interface", Attachment: attachment(id, e, false)})
		}
		// One reservation per instance: an ASG launches them one at a time.
		r.Reservations = append(r.Reservations, ec2Reservation{ID: "r-" + strings.TrimPrefix(id, "i-"), Owner: Account, Instances: []ec2Instance{out}})
	}
	return marshalEC2(c.action, r), nil
}

func primarySubnet(in *Instance) string {
	for _, e := range in.ENIs {
		if e.DeviceIndex == 0 {
			return e.SubnetID
		}
	}
	return ""
}

func attachment(instanceID string, e ENI, withInstance bool) ec2Attachment {
	a := ec2Attachment{ID: "eni-attach-" + strings.TrimPrefix(e.ID, "eni-"), DeviceIndex: e.DeviceIndex, Status: "attached", DeleteOnTermination: e.DeviceIndex == 0}
	if withInstance {
		a.InstanceID, a.InstanceOwner = instanceID, Account
	}
	return a
}

func describeNetworkInterfaces(c *call) ([]byte, *apiError) {
	fs, err := parseFilters(c, "network-interface-id", "attachment.instance-id", "attachment.device-index", "subnet-id", "vpc-id", "availability-zone", "status")
	if err != nil {
		return nil, err
	}
	type owned struct {
		in  *Instance
		eni ENI
	}
	all := map[string]owned{}
	for _, in := range c.model.Instances {
		for _, e := range in.ENIs {
			all[e.ID] = owned{in, e}
		}
	}
	want := listParam(c, "NetworkInterfaceId")
	for _, id := range want {
		if _, ok := all[id]; !ok {
			return nil, notFound("InvalidNetworkInterfaceID.NotFound", "networkInterface ID", id)
		}
	}
	var ids []string
	for _, id := range sortedKeys(all) {
		o := all[id]
		if len(want) > 0 && !slices.Contains(want, id) {
			continue
		}
		if matches(fs, filterFields{"network-interface-id": {id}, "attachment.instance-id": {o.in.ID}, "attachment.device-index": {strconv.Itoa(o.eni.DeviceIndex)},
			"subnet-id": {o.eni.SubnetID}, "vpc-id": {o.in.VPC}, "availability-zone": {o.in.Zone}, "status": {"in-use"}}, o.eni.Tags) {
			ids = append(ids, id)
		}
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next}
	for _, id := range got {
		o := all[id]
		a := attachment(o.in.ID, o.eni, true)
		r.ENIs = append(r.ENIs, ec2ENI{ID: id, SubnetID: o.eni.SubnetID, VPC: o.in.VPC, Zone: o.in.Zone, Owner: Account, Status: "in-use",
			PrivateIP: o.eni.PrivateIP, Type: "interface", Attachment: &a, Tags: tagSet(o.eni.Tags)})
	}
	return marshalEC2(c.action, r), nil
}
