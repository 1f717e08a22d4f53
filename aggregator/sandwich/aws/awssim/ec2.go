package awssim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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
	ID                 string            `xml:"subnetId"`
	ARN                string            `xml:"subnetArn"`
	State              string            `xml:"state"`
	VPC                string            `xml:"vpcId"`
	Owner              string            `xml:"ownerId"`
	CIDR               string            `xml:"cidrBlock,omitempty"`
	IPv6               []ec2IPv6Assoc    `xml:"ipv6CidrBlockAssociationSet>item"`
	Available          int               `xml:"availableIpAddressCount"`
	Zone               string            `xml:"availabilityZone"`
	ZoneID             string            `xml:"availabilityZoneId"`
	DefaultForAz       bool              `xml:"defaultForAz"`
	MapPublicIP        bool              `xml:"mapPublicIpOnLaunch"`
	AssignIPv6OnCreate bool              `xml:"assignIpv6AddressOnCreation"`
	IPv6Native         bool              `xml:"ipv6Native"`
	MapCustomerOwned   bool              `xml:"mapCustomerOwnedIpOnLaunch"`
	EnableDNS64        bool              `xml:"enableDns64"`
	HostnameType       string            `xml:"privateDnsNameOptionsOnLaunch>hostnameType"`
	DNSARecord         bool              `xml:"privateDnsNameOptionsOnLaunch>enableResourceNameDnsARecord"`
	DNSAAAARecord      bool              `xml:"privateDnsNameOptionsOnLaunch>enableResourceNameDnsAAAARecord"`
	Tags               *ec2Items[ec2Tag] `xml:"tagSet,omitempty"`
}

// ec2PrivateIP is one of an ENI's private addresses.
type ec2PrivateIP struct {
	IP      string `xml:"privateIpAddress"`
	DNS     string `xml:"privateDnsName"`
	Primary bool   `xml:"primary"`
}

type ec2IPv6Addr struct {
	Addr string `xml:"ipv6Address"`
}

// ec2Group is a security group reference. An instance and its interfaces
// are in their VPC's default group; a reservation's groupSet is empty, as
// AWS sends it for instances in a VPC.
type ec2Group struct {
	ID   string `xml:"groupId"`
	Name string `xml:"groupName"`
}

type ec2Attachment struct {
	AttachTime          string `xml:"attachTime"`
	ID                  string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwner       string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int    `xml:"deviceIndex"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
	Status              string `xml:"status"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type ec2InstanceENI struct {
	ID          string         `xml:"networkInterfaceId"`
	SubnetID    string         `xml:"subnetId"`
	VPC         string         `xml:"vpcId"`
	Description string         `xml:"description"`
	Owner       string         `xml:"ownerId"`
	Status      string         `xml:"status"`
	MAC         string         `xml:"macAddress"`
	PrivateIP   string         `xml:"privateIpAddress"`
	PrivateDNS  string         `xml:"privateDnsName"`
	SrcDst      bool           `xml:"sourceDestCheck"`
	Groups      []ec2Group     `xml:"groupSet>item"`
	Attachment  ec2Attachment  `xml:"attachment"`
	PrivateIPs  []ec2PrivateIP `xml:"privateIpAddressesSet>item"`
	IPv6        []ec2IPv6Addr  `xml:"ipv6AddressesSet>item"` // sent empty
	Type        string         `xml:"interfaceType"`
}

// launchTime is every instance's launch time (and its ENIs' and volume's
// attach time): the model has no clock of its own.
const launchTime = "2026-01-02T03:04:05.000Z"

// ec2BlockDevice is an instance's EBS volume.
type ec2BlockDevice struct {
	Device              string `xml:"deviceName"`
	VolumeID            string `xml:"ebs>volumeId"`
	Status              string `xml:"ebs>status"`
	AttachTime          string `xml:"ebs>attachTime"`
	DeleteOnTermination bool   `xml:"ebs>deleteOnTermination"`
}

type ec2ProductCode struct {
	ID   string `xml:"productCode"`
	Type string `xml:"type"`
}

// ec2InstanceOptions are the option blocks AWS answers for every
// instance (recorded describe-instances output), at their defaults.
type ec2InstanceOptions struct {
	CoreCount        int    `xml:"cpuOptions>coreCount"`
	ThreadsPerCore   int    `xml:"cpuOptions>threadsPerCore"`
	CapacityPref     string `xml:"capacityReservationSpecification>capacityReservationPreference"`
	Hibernation      bool   `xml:"hibernationOptions>configured"`
	MetadataState    string `xml:"metadataOptions>state"`
	HTTPTokens       string `xml:"metadataOptions>httpTokens"`
	HopLimit         int    `xml:"metadataOptions>httpPutResponseHopLimit"`
	HTTPEndpoint     string `xml:"metadataOptions>httpEndpoint"`
	HTTPProtocolIPv6 string `xml:"metadataOptions>httpProtocolIpv6"`
	MetadataTags     string `xml:"metadataOptions>instanceMetadataTags"`
	Enclave          bool   `xml:"enclaveOptions>enabled"`
	HostnameType     string `xml:"privateDnsNameOptions>hostnameType"`
	DNSARecord       bool   `xml:"privateDnsNameOptions>enableResourceNameDnsARecord"`
	DNSAAAARecord    bool   `xml:"privateDnsNameOptions>enableResourceNameDnsAAAARecord"`
	AutoRecovery     string `xml:"maintenanceOptions>autoRecovery"`
	CurrentBootMode  string `xml:"currentInstanceBootMode"`
}

// ec2StateReason is why an instance left running; EC2 leaves it out of a
// running one.
type ec2StateReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

// instanceOptions are AWS's defaults for an m5.xlarge (2 cores, 2
// threads each) launched without options: IMDS tokens optional, hop limit
// 1 (the documented defaults for an AMI without ImdsSupport v2.0).
var instanceOptions = ec2InstanceOptions{CoreCount: 2, ThreadsPerCore: 2, CapacityPref: "open", MetadataState: "applied",
	HTTPTokens: "optional", HopLimit: 1, HTTPEndpoint: "enabled", HTTPProtocolIPv6: "disabled", MetadataTags: "disabled",
	HostnameType: "ip-name", AutoRecovery: "default", CurrentBootMode: "legacy-bios"}

type ec2Instance struct {
	ID             string            `xml:"instanceId"`
	ImageID        string            `xml:"imageId"`
	StateCode      int               `xml:"instanceState>code"`
	StateName      string            `xml:"instanceState>name"`
	PrivateDNS     string            `xml:"privateDnsName"`
	DNSName        string            `xml:"dnsName"`
	Reason         string            `xml:"reason"`
	LaunchIndex    int               `xml:"amiLaunchIndex"`
	ProductCodes   []ec2ProductCode  `xml:"productCodes>item"`
	Type           string            `xml:"instanceType"`
	LaunchTime     string            `xml:"launchTime"`
	Zone           string            `xml:"placement>availabilityZone"`
	PlacementGroup string            `xml:"placement>groupName"` // sent empty
	Tenancy        string            `xml:"placement>tenancy"`
	Monitoring     string            `xml:"monitoring>state"`
	SubnetID       string            `xml:"subnetId,omitempty"`
	VPC            string            `xml:"vpcId,omitempty"`
	PrivateIP      string            `xml:"privateIpAddress,omitempty"`
	SrcDst         bool              `xml:"sourceDestCheck"`
	Groups         []ec2Group        `xml:"groupSet>item"`
	Architecture   string            `xml:"architecture"`
	RootDeviceType string            `xml:"rootDeviceType"`
	RootDeviceName string            `xml:"rootDeviceName"`
	BlockDevices   []ec2BlockDevice  `xml:"blockDeviceMapping>item"`
	Virtualization string            `xml:"virtualizationType"`
	Tags           *ec2Items[ec2Tag] `xml:"tagSet,omitempty"`
	Hypervisor     string            `xml:"hypervisor"`
	ENIs           []ec2InstanceENI  `xml:"networkInterfaceSet>item"`
	EBSOptimized   bool              `xml:"ebsOptimized"`
	ENASupport     bool              `xml:"enaSupport"`
	Platform       string            `xml:"platformDetails"`
	UsageOperation string            `xml:"usageOperation"`
	StateReason    *ec2StateReason   `xml:"stateReason,omitempty"`
	ec2InstanceOptions
}

type ec2Reservation struct {
	ID        string        `xml:"reservationId"`
	Owner     string        `xml:"ownerId"`
	Groups    []ec2Group    `xml:"groupSet>item"`
	Instances []ec2Instance `xml:"instancesSet>item"`
}

type ec2ENI struct {
	ID          string         `xml:"networkInterfaceId"`
	SubnetID    string         `xml:"subnetId"`
	VPC         string         `xml:"vpcId"`
	Zone        string         `xml:"availabilityZone"`
	ZoneID      string         `xml:"availabilityZoneId"`
	Description string         `xml:"description"`
	Owner       string         `xml:"ownerId"`
	RequesterMg bool           `xml:"requesterManaged"`
	Status      string         `xml:"status"`
	MAC         string         `xml:"macAddress"`
	PrivateIP   string         `xml:"privateIpAddress"`
	PrivateDNS  string         `xml:"privateDnsName"`
	SrcDst      bool           `xml:"sourceDestCheck"`
	Groups      []ec2Group     `xml:"groupSet>item"`
	Attachment  *ec2Attachment `xml:"attachment,omitempty"`
	PrivateIPs  []ec2PrivateIP `xml:"privateIpAddressesSet>item"`
	IPv6        []ec2IPv6Addr  `xml:"ipv6AddressesSet>item"`
	Type        string         `xml:"interfaceType"`
	Tags        []ec2Tag       `xml:"tagSet>item"` // always present for ENIs
}

// ec2Response is any of the three answers: each action sets its own list
// (present, if empty, as EC2 sends <subnetSet/>) and leaves the others nil,
// so an answer carries only its action's elements.
type ec2Response struct {
	XMLName      xml.Name
	Xmlns        string                      `xml:"xmlns,attr"`
	RequestID    string                      `xml:"requestId"`
	Subnets      *ec2Items[ec2Subnet]        `xml:"subnetSet,omitempty"`
	Reservations *ec2Items[ec2Reservation]   `xml:"reservationSet,omitempty"`
	ENIs         *ec2Items[ec2ENI]           `xml:"networkInterfaceSet,omitempty"`
	VPCs         *ec2Items[ec2VPC]           `xml:"vpcSet,omitempty"`
	Zones        *ec2Items[ec2Zone]          `xml:"availabilityZoneInfo,omitempty"`
	Groups       *ec2Items[ec2SecurityGroup] `xml:"securityGroupInfo,omitempty"`
	RouteTables  *ec2Items[ec2RouteTable]    `xml:"routeTableSet,omitempty"`
	NextToken    string                      `xml:"nextToken,omitempty"`
}

// ec2Items is an EC2 list: an element holding <item>s.
type ec2Items[T any] struct {
	Items []T `xml:"item"`
}

// tagSet is an EC2 tagSet; EC2 leaves it out of subnets and instances
// that have no tags (nil here), but gives ENIs an empty one.
func tagSet(tags map[string]string) *ec2Items[ec2Tag] {
	if len(tags) == 0 {
		return nil
	}
	out := &ec2Items[ec2Tag]{}
	for _, k := range sortedKeys(tags) {
		out.Items = append(out.Items, ec2Tag{Key: k, Value: tags[k]})
	}
	return out
}

func marshalEC2(c *call, r ec2Response) []byte {
	r.XMLName = xml.Name{Local: c.action + "Response"}
	r.Xmlns = namespace("ec2")
	r.RequestID = c.id
	b, _ := xml.Marshal(r)
	return append([]byte(xml.Header), b...)
}

// ec2Filter is one Filter.N: a name and values, any of which may match;
// filters are ANDed.
type ec2Filter struct {
	name   string
	values []string
}

// filterFields are the values an item shows each filter name it supports;
// tag:<key>, tag-key and tag-value come from its tags.
type filterFields map[string][]string

// parseFilters reads Filter.N.Name/Value.M, refusing a name the action does
// not support as EC2 does: the names of fields (one item's, to list those
// modelled) and the other documented ones, which match nothing here.
func parseFilters(c *call, fields filterFields) ([]ec2Filter, *apiError) {
	var fs []ec2Filter
	for i := 1; ; i++ {
		name, ok := c.form[fmt.Sprintf("Filter.%d.Name", i)]
		if !ok {
			break
		}
		n := strings.Join(name, "")
		_, known := fields[n]
		known = known || slices.Contains(documentedFilters[c.action], n)
		if !known && !strings.HasPrefix(n, "tag:") && n != "tag-key" && n != "tag-value" {
			return nil, &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("The filter '%s' is invalid", n)}
		}
		fs = append(fs, ec2Filter{name: n, values: listParam(c, fmt.Sprintf("Filter.%d.Value", i))})
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

// matches applies EC2 filter semantics: filters ANDed, a filter's values
// ORed, each value a pattern with EC2's * and ? wildcards.
func matches(fs []ec2Filter, fields filterFields, tags map[string]string) bool {
	for _, f := range fs {
		var have []string
		switch {
		case f.name == "tag-key":
			have = sortedKeys(tags)
		case f.name == "tag-value":
			for _, k := range sortedKeys(tags) {
				have = append(have, tags[k])
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
			if wildcard(p, h) {
				return true
			}
		}
	}
	return false
}

// wildcard matches s against an EC2 filter value: * is any run of
// characters ('/' included, unlike path.Match), ? one character, and a
// backslash escapes the next character.
func wildcard(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcard(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		_, n := utf8.DecodeRuneInString(s)
		return n > 0 && wildcard(p[1:], s[n:])
	case '\\':
		if len(p) > 1 {
			p = p[1:]
		}
	}
	return s != "" && s[0] == p[0] && wildcard(p[1:], s[1:])
}

// wantIDs reads an action's ID list (SubnetId.N, ...), refusing an ID
// without the resource's prefix as malformed, as EC2 does.
func wantIDs(c *call, param, prefix, malformed string) ([]string, *apiError) {
	ids := listParam(c, param)
	for _, id := range ids {
		if !strings.HasPrefix(id, prefix) {
			return nil, &apiError{status: 400, code: malformed, msg: fmt.Sprintf("Invalid id: \"%s\"", id)}
		}
	}
	return ids, nil
}

// missing is EC2's answer naming every requested ID that does not exist.
// selectIDs is what a Describe call lists of items, in ID order: every ID
// asked for (want) must exist, or the answer is code's NotFound error
// naming them all, and the result is the items asked for (all when none
// were) that match.
func selectIDs[V any](items map[string]V, want []string, code, kind string, match func(id string, v V) bool) ([]string, *apiError) {
	var gone []string
	for _, id := range want {
		if _, ok := items[id]; !ok {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		return nil, missing(code, kind, gone)
	}
	var ids []string
	for _, id := range sortedKeys(items) {
		if (len(want) == 0 || slices.Contains(want, id)) && match(id, items[id]) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func missing(code, kind string, ids []string) *apiError {
	if len(ids) == 1 {
		return &apiError{status: 400, code: code, msg: fmt.Sprintf("The %s ID '%s' does not exist", kind, ids[0])}
	}
	return &apiError{status: 400, code: code, msg: fmt.Sprintf("The %s IDs '%s' do not exist", kind, strings.Join(ids, ", "))}
}

var ec2Common = regexp.MustCompile(`^(Action|Version|DryRun|MaxResults|NextToken|Filter\.[1-9][0-9]*\.(Name|Value\.[1-9][0-9]*))$`)

// unknownParameter refuses a parameter the action does not take, as EC2
// does (the other query services ignore them); own are the action's own
// parameters: its lists (SubnetId, sent as SubnetId.N) and flags.
func unknownParameter(c *call, own ...string) *apiError {
	for _, k := range sortedKeys(c.form) {
		id, n, _ := strings.Cut(k, ".")
		_, err := strconv.ParseUint(n, 10, 31)
		list := slices.Contains(own, id) && err == nil && n[0] != '0'
		if !ec2Common.MatchString(k) && !list && !(n == "" && slices.Contains(own, k)) {
			return &apiError{status: 400, code: "UnknownParameter", msg: fmt.Sprintf("The parameter %s is not recognized", k)}
		}
	}
	return nil
}

// dryRun answers DryRun=true as EC2 does once the caller is allowed.
func dryRun(c *call) *apiError {
	if c.form.Get("DryRun") != "true" {
		return nil
	}
	return &apiError{status: 412, code: "DryRunOperation", msg: "Request would have succeeded, but DryRun flag is set."}
}

// page cuts ids (sorted) at the token and the smaller of MaxResults and
// the server's page size, returning the next token ("" on the last page).
func page(c *call, ids []string, tokenParam, sizeParam string, minSize, maxSize int) ([]string, string, *apiError) {
	size := c.pageSize
	if v := c.form.Get(sizeParam); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minSize || n > maxSize {
			return nil, "", &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("Value ( %s ) for parameter %s is invalid. Expecting a value between %d and %d.", v, lowerFirst(sizeParam), minSize, maxSize)}
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

// subnetFields are a subnet's values for DescribeSubnets' filters (the
// documented names the model can answer, legacy aliases included).
func subnetFields(c *call, id string, s *Subnet) filterFields {
	f := filterFields{"subnet-id": {id}, "vpc-id": {s.VPC}, "availability-zone": {s.Zone}, "availabilityZone": {s.Zone},
		"availability-zone-id": {zoneID(s.Zone)}, "cidr-block": {s.CIDR}, "cidr": {s.CIDR}, "cidrBlock": {s.CIDR},
		"ipv6-cidr-block-association.ipv6-cidr-block": s.IPv6CIDRs, "ipv6-cidr-block-association.state": nil,
		"ipv6-cidr-block-association.association-id": nil, "state": {"available"}, "owner-id": {Account},
		"subnet-arn": {fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", c.region, Account, id)}, "default-for-az": {"false"},
		"defaultForAz": {"false"}, "map-public-ip-on-launch": {"false"}, "ipv6-native": {strconv.FormatBool(s.CIDR == "")},
		"available-ip-address-count": {strconv.Itoa(availableIPs(s.CIDR))}}
	for i := range s.IPv6CIDRs {
		f["ipv6-cidr-block-association.state"] = append(f["ipv6-cidr-block-association.state"], "associated")
		f["ipv6-cidr-block-association.association-id"] = append(f["ipv6-cidr-block-association.association-id"], v6AssocID(id, i))
	}
	return f
}

func availableIPs(cidr string) int {
	if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is4() {
		return max(1<<(32-p.Bits())-5, 0)
	}
	return 0
}

func v6AssocID(subnet string, i int) string {
	return fmt.Sprintf("subnet-cidr-assoc-%s%d", strings.TrimPrefix(subnet, "subnet-"), i)
}

func describeSubnets(c *call) ([]byte, *apiError) {
	if err := unknownParameter(c, "SubnetId"); err != nil {
		return nil, err
	}
	fs, err := parseFilters(c, subnetFields(c, "", &Subnet{}))
	if err != nil {
		return nil, err
	}
	want, err := wantIDs(c, "SubnetId", "subnet-", "InvalidSubnetID.Malformed")
	if err != nil {
		return nil, err
	}
	if err := dryRun(c); err != nil {
		return nil, err
	}
	ids, err := selectIDs(c.model.Subnets, want, "InvalidSubnetID.NotFound", "subnet", func(id string, s *Subnet) bool {
		return matches(fs, subnetFields(c, id, s), s.Tags)
	})
	if err != nil {
		return nil, err
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next, Subnets: &ec2Items[ec2Subnet]{}}
	for _, id := range got {
		s := c.model.Subnets[id]
		out := ec2Subnet{ID: id, ARN: fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", c.region, Account, id), State: "available",
			VPC: s.VPC, Owner: Account, CIDR: s.CIDR, Zone: s.Zone, ZoneID: zoneID(s.Zone), Tags: tagSet(s.Tags), IPv6Native: s.CIDR == "",
			Available: availableIPs(s.CIDR), HostnameType: "ip-name"}
		for i, v6 := range s.IPv6CIDRs {
			out.IPv6 = append(out.IPv6, ec2IPv6Assoc{CIDR: v6, ID: v6AssocID(id, i), State: "associated"})
		}
		r.Subnets.Items = append(r.Subnets.Items, out)
	}
	return marshalEC2(c, r), nil
}

// zoneID is an AZ ID in AWS's form for a zone name (us-east-1a ->
// use1-az1, ap-southeast-2b -> apse2-az2); AWS maps names to IDs per
// account, the simulator by letter.
func zoneID(zone string) string {
	if len(zone) < 2 {
		return ""
	}
	region, letter := zone[:len(zone)-1], zone[len(zone)-1]
	parts := strings.Split(region, "-")
	if len(parts) < 3 {
		return ""
	}
	short := map[string]string{"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
		"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}[parts[len(parts)-2]]
	return parts[0] + short + parts[len(parts)-1] + "-az" + strconv.Itoa(int(letter-'a'+1))
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func instanceState(i *Instance) string {
	if i.State == "" {
		return "running"
	}
	return i.State
}

// instanceFields are an instance's values for DescribeInstances' filters.
func instanceFields(id string, in *Instance) filterFields {
	f := filterFields{"instance-id": {id}, "instance-state-name": {instanceState(in)},
		"instance-state-code": {strconv.Itoa(stateCodes[instanceState(in)])}, "vpc-id": {in.VPC}, "availability-zone": {in.Zone},
		"subnet-id": {primarySubnet(in)}, "instance-type": {"m5.xlarge"}, "image-id": {"ami-0sim0vmseries"}, "owner-id": {Account},
		"reservation-id": {reservationID(id)}, "tenancy": {"default"}, "private-ip-address": nil,
		"network-interface.subnet-id": nil, "network-interface.network-interface-id": nil, "network-interface.vpc-id": nil,
		"network-interface.addresses.private-ip-address": nil, "network-interface.attachment.device-index": nil,
		"network-interface.status": nil, "instance.group-id": {DefaultSecurityGroup(in.VPC)}, "instance.group-name": {"default"},
		"network-interface.group-id": {DefaultSecurityGroup(in.VPC)}, "network-interface.group-name": {"default"},
		"block-device-mapping.device-name": {"/dev/xvda"}, "block-device-mapping.volume-id": {"vol-" + suffix(id)},
		"metadata-options.http-tokens": {"optional"}, "product-code": nil}
	for _, e := range in.ENIs {
		if e.DeviceIndex == 0 {
			f["private-ip-address"] = []string{e.PrivateIP}
		}
		f["network-interface.subnet-id"] = append(f["network-interface.subnet-id"], e.SubnetID)
		f["network-interface.network-interface-id"] = append(f["network-interface.network-interface-id"], e.ID)
		f["network-interface.vpc-id"] = append(f["network-interface.vpc-id"], in.VPC)
		f["network-interface.addresses.private-ip-address"] = append(f["network-interface.addresses.private-ip-address"], e.PrivateIP)
		f["network-interface.attachment.device-index"] = append(f["network-interface.attachment.device-index"], strconv.Itoa(e.DeviceIndex))
		f["network-interface.status"] = append(f["network-interface.status"], "in-use")
	}
	return f
}

// defaultGroups is the groupSet of whatever is in vpc: its default group.
func defaultGroups(vpc string) []ec2Group {
	return []ec2Group{{ID: DefaultSecurityGroup(vpc), Name: "default"}}
}

func reservationID(instance string) string { return "r-" + strings.TrimPrefix(instance, "i-") }

func describeInstances(c *call) ([]byte, *apiError) {
	if err := unknownParameter(c, "InstanceId"); err != nil {
		return nil, err
	}
	fs, err := parseFilters(c, instanceFields("", &Instance{}))
	if err != nil {
		return nil, err
	}
	want, err := wantIDs(c, "InstanceId", "i-", "InvalidInstanceID.Malformed")
	if err != nil {
		return nil, err
	}
	if len(want) > 0 && c.form.Get("MaxResults") != "" {
		return nil, &apiError{status: 400, code: "InvalidParameterCombination", msg: "The parameter instancesSet cannot be used with the parameter maxResults"}
	}
	if err := dryRun(c); err != nil {
		return nil, err
	}
	ids, err := selectIDs(c.model.Instances, want, "InvalidInstanceID.NotFound", "instance", func(id string, in *Instance) bool {
		return matches(fs, instanceFields(id, in), in.Tags)
	})
	if err != nil {
		return nil, err
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next, Reservations: &ec2Items[ec2Reservation]{}}
	for _, id := range got {
		in := c.model.Instances[id]
		out := ec2Instance{ID: id, ImageID: "ami-0sim0vmseries", StateCode: stateCodes[instanceState(in)], StateName: instanceState(in),
			Type: "m5.xlarge", LaunchTime: launchTime, Zone: in.Zone, Tenancy: "default", Monitoring: "disabled",
			VPC: in.VPC, SubnetID: primarySubnet(in), Tags: tagSet(in.Tags), Groups: defaultGroups(in.VPC), Architecture: "x86_64",
			RootDeviceType: "ebs", RootDeviceName: "/dev/xvda", Virtualization: "hvm", Hypervisor: "xen", ENASupport: true,
			Platform: "Linux/UNIX", UsageOperation: "RunInstances", ec2InstanceOptions: instanceOptions,
			BlockDevices: []ec2BlockDevice{{Device: "/dev/xvda", VolumeID: "vol-" + suffix(id), Status: "attached",
				AttachTime: launchTime, DeleteOnTermination: true}}}
		switch instanceState(in) {
		case "stopping", "stopped", "shutting-down", "terminated":
			// What EC2 records for a stop or termination through the API.
			out.Reason = "User initiated (2026-01-02 04:05:06 GMT)"
			out.StateReason = &ec2StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		}
		for _, e := range in.ENIs {
			if e.DeviceIndex == 0 {
				out.PrivateIP, out.PrivateDNS = e.PrivateIP, privateDNS(c.region, e.PrivateIP)
			}
			dns := privateDNS(c.region, e.PrivateIP)
			out.ENIs = append(out.ENIs, ec2InstanceENI{ID: e.ID, SubnetID: e.SubnetID, VPC: in.VPC, Owner: Account, Status: "in-use",
				MAC: macAddress(e.ID), PrivateIP: e.PrivateIP, PrivateDNS: dns, Groups: defaultGroups(in.VPC), Type: "interface",
				Attachment: attachment(id, e, false), PrivateIPs: []ec2PrivateIP{{IP: e.PrivateIP, DNS: dns, Primary: true}}})
		}
		// One reservation per instance: an ASG launches them one at a time.
		r.Reservations.Items = append(r.Reservations.Items, ec2Reservation{ID: reservationID(id), Owner: Account, Groups: []ec2Group{}, Instances: []ec2Instance{out}})
	}
	return marshalEC2(c, r), nil
}

func eniTags(tags map[string]string) []ec2Tag {
	if t := tagSet(tags); t != nil {
		return t.Items
	}
	return nil
}

// privateDNS is the name EC2 gives a private address (ip-10-0-1-5.ec2.internal
// in us-east-1, ip-10-0-1-5.<region>.compute.internal elsewhere).
func privateDNS(region, ip string) string {
	if ip == "" {
		return ""
	}
	host := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
}

// macAddress is a stable locally administered MAC for an ENI, as EC2's are.
func macAddress(eni string) string {
	sum := sha256.Sum256([]byte(eni))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
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
	a := ec2Attachment{AttachTime: launchTime, ID: "eni-attach-" + strings.TrimPrefix(e.ID, "eni-"), DeviceIndex: e.DeviceIndex, Status: "attached", DeleteOnTermination: e.DeviceIndex == 0}
	if withInstance {
		a.InstanceID, a.InstanceOwner = instanceID, Account
	}
	return a
}

// eniFields are an ENI's values for DescribeNetworkInterfaces' filters.
func eniFields(id string, in *Instance, e ENI) filterFields {
	a := attachment(in.ID, e, true)
	return filterFields{"network-interface-id": {id}, "attachment.instance-id": {in.ID}, "attachment.instance-owner-id": {Account},
		"attachment.device-index": {strconv.Itoa(e.DeviceIndex)}, "attachment.attachment-id": {a.ID}, "attachment.status": {"attached"},
		"attachment.delete-on-termination": {strconv.FormatBool(a.DeleteOnTermination)}, "subnet-id": {e.SubnetID}, "vpc-id": {in.VPC},
		"availability-zone": {in.Zone}, "status": {"in-use"}, "owner-id": {Account}, "private-ip-address": {e.PrivateIP},
		"addresses.private-ip-address": {e.PrivateIP}, "interface-type": {"interface"}, "source-dest-check": {"false"},
		"group-id": {DefaultSecurityGroup(in.VPC)}, "requester-managed": {"false"}}
}

func describeNetworkInterfaces(c *call) ([]byte, *apiError) {
	if err := unknownParameter(c, "NetworkInterfaceId"); err != nil {
		return nil, err
	}
	fs, err := parseFilters(c, eniFields("", &Instance{}, ENI{}))
	if err != nil {
		return nil, err
	}
	want, err := wantIDs(c, "NetworkInterfaceId", "eni-", "InvalidNetworkInterfaceID.Malformed")
	if err != nil {
		return nil, err
	}
	if err := dryRun(c); err != nil {
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
	ids, err := selectIDs(all, want, "InvalidNetworkInterfaceID.NotFound", "networkInterface", func(id string, o owned) bool {
		return matches(fs, eniFields(id, o.in, o.eni), o.eni.Tags)
	})
	if err != nil {
		return nil, err
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next, ENIs: &ec2Items[ec2ENI]{}}
	for _, id := range got {
		o := all[id]
		a := attachment(o.in.ID, o.eni, true)
		dns := privateDNS(c.region, o.eni.PrivateIP)
		r.ENIs.Items = append(r.ENIs.Items, ec2ENI{ID: id, SubnetID: o.eni.SubnetID, VPC: o.in.VPC, Zone: o.in.Zone, ZoneID: zoneID(o.in.Zone),
			Owner: Account, Status: "in-use", MAC: macAddress(id), PrivateIP: o.eni.PrivateIP, PrivateDNS: dns, Groups: defaultGroups(o.in.VPC),
			Attachment: &a, PrivateIPs: []ec2PrivateIP{{IP: o.eni.PrivateIP, DNS: dns, Primary: true}}, Type: "interface", Tags: eniTags(o.eni.Tags)})
	}
	return marshalEC2(c, r), nil
}

// lowerFirst is a parameter's name as EC2's messages give it (maxResults).
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
