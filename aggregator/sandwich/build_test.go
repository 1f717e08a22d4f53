package sandwich

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testInventory() Inventory {
	return Inventory{
		Subnets: []Subnet{
			{ID: "subnet-b", CIDR: netip.MustParsePrefix("10.0.32.0/19"), Zone: "us-east-1b"},
			{ID: "subnet-a", CIDR: netip.MustParsePrefix("10.0.0.0/19"), Zone: "us-east-1a"},
		},
		Firewalls: []Firewall{
			{ID: "fw-b", Zone: "us-east-1b", TrustSubnet: netip.MustParsePrefix("10.0.129.0/24"), TrustGateway: netip.MustParseAddr("10.0.129.1")},
			{ID: "fw-a", Zone: "us-east-1a", TrustSubnet: netip.MustParsePrefix("10.0.128.0/24"), TrustGateway: netip.MustParseAddr("10.0.128.1")},
			{ID: "fw-a2", Zone: "us-east-1a", TrustSubnet: netip.MustParsePrefix("10.0.128.0/24"), TrustGateway: netip.MustParseAddr("10.0.128.1")},
		},
	}
}

func testServices() []Service {
	return []Service{
		{Namespace: "shop", Name: "frontend", Port: 82, TargetPort: 80, Hostname: "internal-a1b2-frontend.elb.us-east-1.amazonaws.com"},
		{Namespace: "shop", Name: "api", Port: 8443, TargetPort: 443, Hostname: "internal-c3d4-API.elb.us-east-1.amazonaws.com"},
	}
}

func mustTarget(t *testing.T, tg Target) Target {
	t.Helper()
	if tg.Admin == "" {
		tg.Admin = "kubedag"
	}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	return tg
}

// render lists each entry's XPath and its element, indented.
func render(t *testing.T, tg Target, d Desired) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, e := range d.Entries {
		b.WriteString("<!-- " + tg.XPath(e.Kind, e.Name) + " -->\n")
		b.WriteString(indent(t, e.Element) + "\n")
	}
	return b.Bytes()
}

func indent(t *testing.T, s string) string {
	t.Helper()
	var out bytes.Buffer
	dec := xml.NewDecoder(strings.NewReader(s))
	enc := xml.NewEncoder(&out)
	enc.Indent("", "  ")
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("element %s: %v", s, err)
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
			continue
		}
		if err := enc.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestBuildGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		target Target
	}{
		{"firewall.xml", Target{Name: "fw1"}},
		{"firewall-advanced-routing.xml", Target{Name: "fw1", Vsys: "vsys2", LogicalRouter: "lr1",
			Placement: Placement{Where: PlaceBefore, Rule: "deny-all"}}},
		{"panorama-template.xml", Target{Name: "pano", Panorama: true, DeviceGroup: "eks-dg", Template: "eks-tmpl",
			VirtualRouter: "VR-eks", UntrustZone: "outside", TrustZone: "inside"}},
		{"panorama-template-stack.xml", Target{Name: "pano", Panorama: true, DeviceGroup: "eks-dg", TemplateStack: "eks-stack",
			VirtualRouter: "VR-eks-stack", Placement: Placement{Where: PlaceTop}}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			tg := mustTarget(t, tc.target)
			d, problems := Build("prod", testInventory(), testServices(), tg)
			if len(problems) != 0 {
				t.Fatalf("problems: %v", problems)
			}
			got := render(t, tg, d)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestBuildGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("desired config differs from %s (go test -update to accept):\n%s", path, got)
			}
		})
	}
}

func TestBuildCounts(t *testing.T) {
	tg := mustTarget(t, Target{Name: "fw"})
	d, _ := Build("prod", testInventory(), testServices(), tg)
	// 1 tag; 2 Services x (address, service, inbound rule); 2 subnets x
	// (outbound rule + 2 zones' routes).
	want := map[Kind]int{KindTag: 1, KindAddress: 2, KindService: 2, KindNATRule: 4, KindRoute: 4}
	for _, k := range Kinds() {
		if got := len(d.Names(k)); got != want[k] {
			t.Errorf("%s: %d entries, want %d", k, got, want[k])
		}
	}
	for _, e := range d.Entries {
		if len(e.Name) > MaxNameLen {
			t.Errorf("name %q longer than %d", e.Name, MaxNameLen)
		}
	}
}

func TestBuildInventoryChecksLoadBalancers(t *testing.T) {
	tg := mustTarget(t, Target{Name: "fw"})
	inv := testInventory()
	inv.VPC = "vpc-1"
	inv.LoadBalancers = map[string]LoadBalancer{
		"internal-a1b2-frontend.elb.us-east-1.amazonaws.com": {Type: "network", Scheme: "internal", VPC: "vpc-1"},
		"internal-c3d4-api.elb.us-east-1.amazonaws.com":      {Type: "application", Scheme: "internal", VPC: "vpc-1"},
		"other-vpc.elb.amazonaws.com":                        {Type: "network", Scheme: "internal", VPC: "vpc-2"},
	}
	svcs := append(testServices(), Service{Namespace: "x", Name: "new", Port: 90, TargetPort: 90, Hostname: "not-yet.elb.amazonaws.com"},
		Service{Namespace: "x", Name: "elsewhere", Port: 91, TargetPort: 91, Hostname: "other-vpc.elb.amazonaws.com"})
	d, problems := Build("prod", inv, svcs, tg)
	reasons := map[string]string{}
	for _, p := range problems {
		reasons[p.Service] = p.Reason
	}
	if reasons["shop/api"] != ReasonNotInternalNLB || reasons["x/new"] != ReasonILBNotFound ||
		reasons["x/elsewhere"] != ReasonNotInternalNLB || len(reasons) != 3 {
		t.Errorf("problems %v", problems)
	}
	if got := d.Names(KindAddress); len(got) != 1 || !strings.Contains(got[0], "frontend") {
		t.Errorf("addresses %v, want only frontend's", got)
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("c", 48)
	for _, tc := range []struct {
		cluster, got, want string
	}{
		{"prod", Names{"prod"}.Inbound("shop", "frontend", 82), "kd.prod.shop.frontend-82-inbound"},
		{"prod", Names{"prod"}.Route(netip.MustParsePrefix("10.0.0.0/19"), "us-east-1a"), "kd.prod.10.0.0.0_19-us-east-1a"},
		{"prod", Names{"prod"}.Service(82), "kd.prod.tcp82"},
		{"prod", Names{"prod"}.Tag(), "kubedag.prod"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	n := Names{long}
	a, b := n.Address("namespace-one", "service"), n.Address("namespace-two", "service")
	if len(a) != MaxNameLen || a == b || !n.Owns(a) || !n.Owns(b) {
		t.Errorf("long names %q %q: want %d characters, distinct, owned", a, b, MaxNameLen)
	}
	if a != n.Address("namespace-one", "service") {
		t.Error("names are not deterministic")
	}
	if (Names{"prod"}).Owns(Names{"prod-eu"}.Service(82)) {
		t.Error("cluster prod owns prod-eu's names")
	}
}

func TestTargetValidate(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{Name: "p", Panorama: true, Admin: "a", Template: "t"}, "deviceGroup"},
		{Target{Name: "p", Panorama: true, Admin: "a", DeviceGroup: "d"}, "template, templateStack"},
		{Target{Name: "f", Admin: "a", DeviceGroup: "d"}, "deviceGroup, template"},
		{Target{Name: "f", Admin: "a", VirtualRouter: "v", LogicalRouter: "l"}, "virtualRouter, logicalRouter"},
		{Target{Name: "f", Admin: "a", Placement: Placement{Where: PlaceAfter}}, "ruleLocation.rule"},
		{Target{Name: "f", Admin: "a", Placement: Placement{Where: "middle"}}, "ruleLocation.where"},
		{Target{Name: "f"}, "admin"},
		{Target{Name: "f", Admin: "a", TrustZone: "it's"}, "trustZone"},
	} {
		err := tc.t.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one about %s", tc.t, err, tc.want)
		}
	}
}

// TestBuildSubnetsNotRouted: an IPv6 subnet is reported as unsupported (not
// as a bad subnet), an invalid one as bad; neither gets entries, and the
// inventory status lists both.
func TestBuildSubnetsNotRouted(t *testing.T) {
	tg := mustTarget(t, Target{Name: "fw"})
	inv := testInventory()
	want := len(inv.Subnets)
	inv.Subnets = append(inv.Subnets,
		Subnet{ID: "subnet-v6", CIDR: netip.MustParsePrefix("2600:1f18:abc:de00::/64")},
		Subnet{ID: "subnet-4in6", CIDR: netip.MustParsePrefix("::ffff:10.9.0.0/120")},
		Subnet{ID: "subnet-none"})
	d, problems := Build("prod", inv, nil, tg)
	var got []string
	for _, p := range problems {
		got = append(got, p.Reason)
	}
	if strings.Join(got, ",") != "IPv6SubnetUnsupported,BadSubnet,BadSubnet" {
		t.Errorf("problems %v", problems)
	}
	if n := len(d.Names(KindNATRule)); n != want {
		t.Errorf("%d outbound rules, want %d (IPv4 subnets only)", n, want)
	}
	for _, e := range d.Entries {
		if strings.Contains(e.Element, "2600:") || strings.Contains(e.Element, "ffff") {
			t.Errorf("entry for a subnet not routed: %s", e.Element)
		}
	}
	st := NewInventoryStatus("static", inv, nil)
	if len(st.Problems) != 3 || !strings.HasPrefix(st.Problems[0], "IPv6SubnetUnsupported: subnet subnet-v6 2600:1f18:abc:de00::/64: ") {
		t.Errorf("status problems %q", st.Problems)
	}
}
