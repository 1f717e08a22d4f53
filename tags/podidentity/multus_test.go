package podidentity

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// A network-status annotation as Multus writes it: the default network
// first, then the attachments.
const multusStatus = `[{
    "name": "kindnet",
    "interface": "eth0",
    "ips": ["10.244.1.5", "fd00:10:244:1::5"],
    "mac": "0a:58:0a:f4:01:05",
    "default": true,
    "dns": {}
},{
    "name": "shop/macvlan-conf",
    "interface": "net1",
    "ips": ["192.168.1.200", "2001:db8::c8", "fe80::1"],
    "mac": "86:1d:96:ff:55:0d",
    "dns": {}
},{
    "name": "storage",
    "interface": "net2",
    "ips": ["172.16.0.9"]
}]`

func TestParseNetworkStatus(t *testing.T) {
	n := func(ip, net string) NetworkIP { return NetworkIP{IP: netip.MustParseAddr(ip), Network: net} }
	tests := []struct {
		name  string
		value string
		want  []NetworkIP
		bad   bool
	}{
		{"multus", multusStatus, []NetworkIP{n("172.16.0.9", "storage"), n("192.168.1.200", "shop/macvlan-conf"), n("2001:db8::c8", "shop/macvlan-conf")}, false},
		{"empty", "", nil, false},
		{"only default", `[{"name":"k","ips":["10.0.0.1"],"default":true}]`, nil, false},
		{"same IP twice in one network", `[{"name":"a","ips":["10.0.0.1","10.0.0.1"]}]`, []NetworkIP{n("10.0.0.1", "a")}, false},
		{"mapped IPv4", `[{"name":"a","ips":["::ffff:10.0.0.1"]}]`, []NetworkIP{n("10.0.0.1", "a")}, false},
		{"not JSON", `{`, nil, true},
		{"object, not list", `{"name":"a"}`, nil, true},
		{"ips not strings", `[{"name":"a","ips":[1]}]`, nil, true},
		{"bad IP", `[{"name":"a","ips":["10.0.0.300"]}]`, nil, true},
		{"IP with zone", `[{"name":"a","ips":["fe80::1%net1"]}]`, nil, true},
		{"no name", `[{"ips":["10.0.0.1"]}]`, nil, true},
		{"bad name", `[{"name":"a b","ips":["10.0.0.1"]}]`, nil, true},
		{"too many parts", `[{"name":"a/b/c","ips":["10.0.0.1"]}]`, nil, true},
		{"IP in two networks", `[{"name":"a","ips":["10.0.0.1"]},{"name":"b","ips":["10.0.0.1"]}]`, nil, true},
		{"too many networks", "[" + strings.Repeat(`{"name":"a","ips":[]},`, 32) + `{"name":"a","ips":[]}]`, nil, true},
		{"too many IPs", `[{"name":"a","ips":[` + strings.Repeat(`"10.0.0.1",`, 16) + `"10.0.0.2"]}]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNetworkStatus(tt.value)
			if tt.bad {
				if !errors.Is(err, ErrNetworkStatus) || got != nil {
					t.Fatalf("ParseNetworkStatus = %v, %v; want nil and ErrNetworkStatus", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseNetworkStatus = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestSecondaryIPs(t *testing.T) {
	ann := map[string]string{NetworkStatusAnnotation: `[{"name":"a","ips":["10.0.0.1","10.0.0.2"]}]`}
	got, err := SecondaryIPs(ann, []netip.Addr{netip.MustParseAddr("10.0.0.1")})
	if err != nil || len(got) != 1 || got[0].IP != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("SecondaryIPs = %v, %v; want only 10.0.0.2 (10.0.0.1 is the pod's own)", got, err)
	}
	if got, err := SecondaryIPs(map[string]string{"other": "x"}, nil); got != nil || err != nil {
		t.Fatalf("no annotation: %v, %v", got, err)
	}
}

// FuzzParseNetworkStatus: any annotation value parses or is refused with
// ErrNetworkStatus, never panics, and what parses is bounded, sorted,
// distinct, global unicast, unmapped and named.
func FuzzParseNetworkStatus(f *testing.F) {
	for _, s := range []string{multusStatus, "", "[]", `[{"name":"a","ips":["10.0.0.1"]}]`, `[{"name":"a/b","ips":["fd00::1"],"default":false}]`, "{", "null", `[null]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseNetworkStatus(s)
		if err != nil {
			if !errors.Is(err, ErrNetworkStatus) || got != nil {
				t.Fatalf("error %v with %v", err, got)
			}
			return
		}
		if len(got) > maxNetworks*maxIPsPerNetwork {
			t.Fatalf("%d IPs", len(got))
		}
		for i, n := range got {
			if !n.IP.IsValid() || n.IP.Is4In6() || n.IP.Zone() != "" || !n.IP.IsGlobalUnicast() || checkNetworkName(n.Network) != nil {
				t.Fatalf("bad entry %+v", n)
			}
			if i > 0 && !got[i-1].IP.Less(n.IP) {
				t.Fatalf("not sorted and distinct: %v", got)
			}
		}
	})
}
