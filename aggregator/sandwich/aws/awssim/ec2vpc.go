package awssim

import (
	"fmt"
	"slices"
	"strings"
)

// EC2 DescribeVpcs, DescribeAvailabilityZones and DescribeSecurityGroups:
// the network around the sandwich, from the model's VPCs and the zones its
// subnets and instances are in. Shapes follow botocore's EC2 model and
// AWS CLI output recorded in public repositories (BlockPublicAccessStates
// on VPCs, the zone members, an empty messageSet).

type ec2CIDRAssoc struct {
	ID    string `xml:"associationId"`
	CIDR  string `xml:"cidrBlock"`
	State string `xml:"cidrBlockState>state"`
}

type ec2VPC struct {
	Owner        string            `xml:"ownerId"`
	Tenancy      string            `xml:"instanceTenancy"`
	CIDRAssocs   []ec2CIDRAssoc    `xml:"cidrBlockAssociationSet>item"`
	IsDefault    bool              `xml:"isDefault"`
	Tags         *ec2Items[ec2Tag] `xml:"tagSet,omitempty"`
	IGWBlockMode string            `xml:"blockPublicAccessStates>internetGatewayBlockMode"`
	ID           string            `xml:"vpcId"`
	State        string            `xml:"state"`
	CIDR         string            `xml:"cidrBlock"`
	DHCPOptions  string            `xml:"dhcpOptionsId"`
}

type ec2Zone struct {
	State    string             `xml:"zoneState"`
	OptIn    string             `xml:"optInStatus"`
	Messages ec2Items[struct{}] `xml:"messageSet"`
	Region   string             `xml:"regionName"`
	Name     string             `xml:"zoneName"`
	ID       string             `xml:"zoneId"`
	Group    string             `xml:"groupName"`
	Border   string             `xml:"networkBorderGroup"`
	Type     string             `xml:"zoneType"`
}

type ec2GroupPair struct {
	UserID  string `xml:"userId"`
	GroupID string `xml:"groupId"`
}

type ec2IPRange struct {
	CIDR string `xml:"cidrIp"`
}

// ec2Permission is a security group rule set; its lists are sent present
// when empty, as AWS sends them.
type ec2Permission struct {
	Protocol string         `xml:"ipProtocol"`
	Groups   []ec2GroupPair `xml:"groups>item"`
	IPRanges []ec2IPRange   `xml:"ipRanges>item"`
	IPv6     []struct{}     `xml:"ipv6Ranges>item"`
	Prefixes []struct{}     `xml:"prefixListIds>item"`
}

type ec2SecurityGroup struct {
	Owner       string          `xml:"ownerId"`
	ID          string          `xml:"groupId"`
	Name        string          `xml:"groupName"`
	Description string          `xml:"groupDescription"`
	In          []ec2Permission `xml:"ipPermissions>item"`
	Out         []ec2Permission `xml:"ipPermissionsEgress>item"`
	VPC         string          `xml:"vpcId"`
	ARN         string          `xml:"securityGroupArn"`
}

func suffix(id string) string {
	_, s, _ := strings.Cut(id, "-")
	return s
}

// vpcFields are a VPC's values for DescribeVpcs' filters (isDefault is
// the legacy name of is-default, which EC2 still accepts).
func vpcFields(v *VPC) filterFields {
	return filterFields{"vpc-id": {v.ID}, "cidr": {v.CIDR}, "cidr-block-association.cidr-block": {v.CIDR},
		"cidr-block-association.association-id": {"vpc-cidr-assoc-" + suffix(v.ID)}, "cidr-block-association.state": {"associated"},
		"dhcp-options-id": {"dopt-" + suffix(v.ID)}, "is-default": {"false"}, "isDefault": {"false"}, "owner-id": {Account},
		"state": {"available"}}
}

func describeVpcs(c *call) ([]byte, *apiError) {
	if err := unknownParameter(c, "VpcId"); err != nil {
		return nil, err
	}
	fs, err := parseFilters(c, vpcFields(&VPC{}))
	if err != nil {
		return nil, err
	}
	want, err := wantIDs(c, "VpcId", "vpc-", "InvalidVpcID.Malformed")
	if err != nil {
		return nil, err
	}
	if err := dryRun(c); err != nil {
		return nil, err
	}
	ids, err := selectIDs(c.model.VPCs, want, "InvalidVpcID.NotFound", "vpc", func(_ string, v *VPC) bool {
		return matches(fs, vpcFields(v), v.Tags)
	})
	if err != nil {
		return nil, err
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next, VPCs: &ec2Items[ec2VPC]{}}
	for _, id := range got {
		v := c.model.VPCs[id]
		r.VPCs.Items = append(r.VPCs.Items, ec2VPC{Owner: Account, Tenancy: "default",
			CIDRAssocs: []ec2CIDRAssoc{{ID: "vpc-cidr-assoc-" + suffix(id), CIDR: v.CIDR, State: "associated"}},
			Tags:       tagSet(v.Tags), IGWBlockMode: "off", ID: id, State: "available", CIDR: v.CIDR, DHCPOptions: "dopt-" + suffix(id)})
	}
	return marshalEC2(c, r), nil
}

// zones are the model's zones: those its subnets and instances are in
// (AWS lists every zone of the region; the model knows only these).
func zones(m *Model) []string {
	set := map[string]bool{}
	for _, s := range m.Subnets {
		set[s.Zone] = true
	}
	for _, in := range m.Instances {
		set[in.Zone] = true
	}
	delete(set, "")
	return sortedKeys(set)
}

func zoneFields(region, zone string) filterFields {
	return filterFields{"zone-name": {zone}, "zone-id": {zoneID(zone)}, "region-name": {region}, "state": {"available"},
		"zone-type": {"availability-zone"}, "group-name": {region}, "opt-in-status": {"opt-in-not-required"}}
}

func describeAvailabilityZones(c *call) ([]byte, *apiError) {
	// Not a paged action: MaxResults and NextToken are not its parameters.
	for _, p := range []string{"MaxResults", "NextToken"} {
		if _, ok := c.form[p]; ok {
			return nil, &apiError{status: 400, code: "UnknownParameter", msg: fmt.Sprintf("The parameter %s is not recognized", p)}
		}
	}
	if err := unknownParameter(c, "ZoneName", "ZoneId", "AllAvailabilityZones"); err != nil {
		return nil, err
	}
	fs, err := parseFilters(c, zoneFields("", ""))
	if err != nil {
		return nil, err
	}
	if err := dryRun(c); err != nil {
		return nil, err
	}
	all := zones(c.model)
	names, ids := listParam(c, "ZoneName"), listParam(c, "ZoneId")
	// EC2 names the first unknown zone (as Eucalyptus's emulation of this
	// call and recorded SDK errors show it).
	for _, n := range names {
		if !slices.Contains(all, n) {
			return nil, &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("Invalid availability zone: [%s]", n)}
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(z string) bool { return zoneID(z) == id }) {
			return nil, &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("Invalid availability zone-id: [%s]", id)}
		}
	}
	r := ec2Response{Zones: &ec2Items[ec2Zone]{}}
	for _, z := range all {
		if len(names) > 0 && !slices.Contains(names, z) || len(ids) > 0 && !slices.Contains(ids, zoneID(z)) {
			continue
		}
		if !matches(fs, zoneFields(c.region, z), nil) {
			continue
		}
		r.Zones.Items = append(r.Zones.Items, ec2Zone{State: "available", OptIn: "opt-in-not-required", Region: c.region,
			Name: z, ID: zoneID(z), Group: c.region, Border: c.region, Type: "availability-zone"})
	}
	return marshalEC2(c, r), nil
}

// defaultGroup is a VPC's default security group as EC2 creates it: all
// traffic in from its own members, all traffic out.
func defaultGroup(region, vpc string) ec2SecurityGroup {
	id := DefaultSecurityGroup(vpc)
	return ec2SecurityGroup{Owner: Account, ID: id, Name: "default", Description: "default VPC security group", VPC: vpc,
		ARN: fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", region, Account, id),
		In:  []ec2Permission{{Protocol: "-1", Groups: []ec2GroupPair{{UserID: Account, GroupID: id}}}},
		Out: []ec2Permission{{Protocol: "-1", IPRanges: []ec2IPRange{{CIDR: "0.0.0.0/0"}}}}}
}

func groupFields(g ec2SecurityGroup) filterFields {
	return filterFields{"group-id": {g.ID}, "group-name": {g.Name}, "description": {g.Description}, "vpc-id": {g.VPC},
		"owner-id": {Account}, "ip-permission.protocol": {"-1"}, "ip-permission.group-id": {g.ID},
		"ip-permission.group-name": {g.Name}, "ip-permission.user-id": {Account}, "egress.ip-permission.protocol": {"-1"},
		"egress.ip-permission.cidr": {"0.0.0.0/0"}}
}

func describeSecurityGroups(c *call) ([]byte, *apiError) {
	if err := unknownParameter(c, "GroupId", "GroupName"); err != nil {
		return nil, err
	}
	fs, err := parseFilters(c, groupFields(ec2SecurityGroup{}))
	if err != nil {
		return nil, err
	}
	want, err := wantIDs(c, "GroupId", "sg-", "InvalidGroupId.Malformed")
	if err != nil {
		return nil, err
	}
	if err := dryRun(c); err != nil {
		return nil, err
	}
	groups := map[string]ec2SecurityGroup{}
	for vpc := range c.model.VPCs {
		g := defaultGroup(c.region, vpc)
		groups[g.ID] = g
	}
	for _, id := range want {
		if _, ok := groups[id]; !ok {
			return nil, &apiError{status: 400, code: "InvalidGroup.NotFound", msg: fmt.Sprintf("The security group '%s' does not exist", id)}
		}
	}
	// A name finds groups of the default VPC only; the model has none.
	if names := listParam(c, "GroupName"); len(names) > 0 {
		return nil, &apiError{status: 400, code: "InvalidGroup.NotFound", msg: fmt.Sprintf("The security group '%s' does not exist in default VPC 'none'", names[0])}
	}
	var ids []string
	for _, id := range sortedKeys(groups) {
		if (len(want) == 0 || slices.Contains(want, id)) && matches(fs, groupFields(groups[id]), nil) {
			ids = append(ids, id)
		}
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 1000)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next, Groups: &ec2Items[ec2SecurityGroup]{}}
	for _, id := range got {
		r.Groups.Items = append(r.Groups.Items, groups[id])
	}
	return marshalEC2(c, r), nil
}

type ec2Route struct {
	Destination string `xml:"destinationCidrBlock"`
	Gateway     string `xml:"gatewayId"`
	State       string `xml:"state"`
	Origin      string `xml:"origin"`
}

type ec2RouteAssoc struct {
	Main       bool   `xml:"main"`
	ID         string `xml:"routeTableAssociationId"`
	RouteTable string `xml:"routeTableId"`
	State      string `xml:"associationState>state"`
}

// ec2RouteTable is a route table; its lists, tagSet included, are sent
// present when empty, as recorded describe-route-tables output shows.
type ec2RouteTable struct {
	Associations []ec2RouteAssoc `xml:"associationSet>item"`
	Propagating  []struct{}      `xml:"propagatingVgwSet>item"`
	ID           string          `xml:"routeTableId"`
	Routes       []ec2Route      `xml:"routeSet>item"`
	Tags         []ec2Tag        `xml:"tagSet>item"`
	VPC          string          `xml:"vpcId"`
	Owner        string          `xml:"ownerId"`
}

// mainRouteTable is the main route table EC2 creates with a VPC: the local
// route of its CIDR, the table implicitly associated with every subnet
// that has no table of its own (all of the model's).
func mainRouteTable(v *VPC) ec2RouteTable {
	id := "rtb-" + suffix(v.ID)
	return ec2RouteTable{ID: id, VPC: v.ID, Owner: Account,
		Associations: []ec2RouteAssoc{{Main: true, ID: "rtbassoc-" + suffix(v.ID), RouteTable: id, State: "associated"}},
		Routes:       []ec2Route{{Destination: v.CIDR, Gateway: "local", State: "active", Origin: "CreateRouteTable"}}}
}

func routeTableFields(t ec2RouteTable) filterFields {
	return filterFields{"route-table-id": {t.ID}, "vpc-id": {t.VPC}, "owner-id": {Account}, "association.main": {"true"},
		"association.route-table-id": {t.ID}, "association.route-table-association-id": {t.Associations[0].ID},
		"association.subnet-id": nil, "route.destination-cidr-block": {t.Routes[0].Destination}, "route.gateway-id": {"local"},
		"route.state": {"active"}, "route.origin": {"CreateRouteTable"}}
}

func describeRouteTables(c *call) ([]byte, *apiError) {
	if err := unknownParameter(c, "RouteTableId"); err != nil {
		return nil, err
	}
	fs, err := parseFilters(c, routeTableFields(mainRouteTable(&VPC{})))
	if err != nil {
		return nil, err
	}
	want, err := wantIDs(c, "RouteTableId", "rtb-", "InvalidRouteTableId.Malformed") // sic: EC2's casing
	if err != nil {
		return nil, err
	}
	if err := dryRun(c); err != nil {
		return nil, err
	}
	tables := map[string]ec2RouteTable{}
	for _, v := range c.model.VPCs {
		t := mainRouteTable(v)
		tables[t.ID] = t
	}
	ids, err := selectIDs(tables, want, "InvalidRouteTableID.NotFound", "routeTable", func(_ string, t ec2RouteTable) bool {
		return matches(fs, routeTableFields(t), nil)
	})
	if err != nil {
		return nil, err
	}
	got, next, err := page(c, ids, "NextToken", "MaxResults", 5, 100)
	if err != nil {
		return nil, err
	}
	r := ec2Response{NextToken: next, RouteTables: &ec2Items[ec2RouteTable]{}}
	for _, id := range got {
		r.RouteTables.Items = append(r.RouteTables.Items, tables[id])
	}
	return marshalEC2(c, r), nil
}
