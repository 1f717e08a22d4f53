package demo

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var testPreset = preset{Cluster: "demo", Deny: deniedLabels}

func TestExpected(t *testing.T) {
	ip := netip.MustParseAddr
	const ns = "k8s.cl_demo.ns_shop"
	svc := object{Kind: "svc", Name: "web", IP: ip("10.96.0.10"), Labels: map[string]string{"app": "web"}, Selector: map[string]string{"app": "web"}}
	tests := []struct {
		name string
		objs []object
		want map[netip.Addr][]string
	}{
		{
			name: "Deployment pod behind a Service, hash label denied",
			objs: []object{
				{Kind: "pod", Name: "web-1", IP: ip("10.244.1.2"), OwnerKind: "ReplicaSet", OwnerName: "web-abc",
					Labels: map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": "abc"}},
				svc,
			},
			want: map[netip.Addr][]string{
				ip("10.244.1.2"): {ns, ns + ".app.web", ns + ".rs_web-abc", ns + ".svc_web", ns + ".tier.frontend"},
				ip("10.96.0.10"): {ns, ns + ".app.web", ns + ".svc_web"},
			},
		},
		{
			name: "bare pod outside the selector, empty label value",
			objs: []object{
				{Kind: "pod", Name: "batch-1", IP: ip("10.244.1.3"), Labels: map[string]string{"app": "batch", "adhoc": ""}},
				svc,
			},
			want: map[netip.Addr][]string{
				ip("10.244.1.3"): {ns, ns + ".adhoc", ns + ".app.batch"},
				ip("10.96.0.10"): {ns, ns + ".app.web", ns + ".svc_web"},
			},
		},
		{
			name: "owner without a tag format",
			objs: []object{{Kind: "pod", Name: "job-1", IP: ip("10.244.1.4"), OwnerKind: "Job", OwnerName: "job", Labels: map[string]string{}}},
			want: map[netip.Addr][]string{ip("10.244.1.4"): {ns}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testPreset.expected("shop", tt.objs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expected() = %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestMismatchAndInNamespace(t *testing.T) {
	ip := netip.MustParseAddr
	const ns = "k8s.cl_demo.ns_shop"
	fw := map[netip.Addr][]string{
		ip("10.244.1.2"):  {"corp.other", ns, ns + ".app.web"},
		ip("10.96.0.1"):   {"k8s.cl_demo.ns_default"},
		ip("192.0.2.254"): {"k8s.cl_demo.kubedag-canary"},
		ip("10.244.1.9"):  {"k8s.cl_demo.ns_shopping"}, // another namespace with a common prefix
	}
	mine := testPreset.inNamespace("shop", fw)
	if want := map[netip.Addr][]string{ip("10.244.1.2"): {ns, ns + ".app.web"}}; !reflect.DeepEqual(mine, want) {
		t.Fatalf("inNamespace = %v, want %v", mine, want)
	}
	tests := []struct {
		name string
		want map[netip.Addr][]string
		diff string // substring of mismatch's answer; "" means equal
	}{
		{"equal", map[netip.Addr][]string{ip("10.244.1.2"): {ns, ns + ".app.web"}}, ""},
		{"missing IP", map[netip.Addr][]string{ip("10.244.1.2"): {ns, ns + ".app.web"}, ip("10.244.1.3"): {ns}}, "10.244.1.3 not registered"},
		{"wrong tags", map[netip.Addr][]string{ip("10.244.1.2"): {ns}}, "10.244.1.2 has"},
		{"extra IP", map[netip.Addr][]string{}, "10.244.1.2 still has"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mismatch(tt.want, mine)
			if tt.diff == "" && got != "" || tt.diff != "" && !strings.Contains(got, tt.diff) {
				t.Errorf("mismatch = %q, want %q", got, tt.diff)
			}
		})
	}
}
