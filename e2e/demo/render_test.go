package demo

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rowOfIP returns the mark and the rest of the table line for ip.
func rowOfIP(t *testing.T, out, ip string) (mark, rest string, ok bool) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "also registered:") {
			continue
		}
		if i := strings.Index(line, " "+ip+" "); i >= 0 {
			return strings.TrimSpace(line[:i]), line[i:], true
		}
	}
	return "", "", false
}

func TestTableMarksChanges(t *testing.T) {
	const ns = "k8s.cl_demo.ns_shop"
	ip := netip.MustParseAddr
	pod := func(name, addr string) object {
		return object{Kind: "pod", Name: name, Node: "n1", IP: ip(addr)}
	}
	svc := object{Kind: "svc", Name: "web", IP: ip("10.96.0.10")}
	type want struct{ ip, mark, contains string }
	steps := []struct {
		name string
		w    world
		want []want
	}{
		{
			name: "first sight",
			w: world{Objects: []object{pod("a", "10.0.0.1"), svc}, Firewall: map[netip.Addr][]string{
				ip("10.0.0.1"):    {ns, ns + ".app.web"},
				ip("10.96.0.10"):  {ns, ns + ".svc_web"},
				ip("192.0.2.254"): {"k8s.cl_demo.kubedag-canary"},
			}},
			want: []want{{"10.0.0.1", markNew, "pod/a"}, {"10.96.0.10", markNew, "svc/web"}},
		},
		{
			name: "relabel and a new pod",
			w: world{Objects: []object{pod("a", "10.0.0.1"), pod("b", "10.0.0.2"), svc}, Firewall: map[netip.Addr][]string{
				ip("10.0.0.1"):   {ns, ns + ".app.api"},
				ip("10.0.0.2"):   {ns},
				ip("10.96.0.10"): {ns, ns + ".svc_web"},
			}},
			want: []want{
				{"10.0.0.1", markChanged, "+.app.api -.app.web"},
				{"10.0.0.2", markNew, "registered"},
				{"10.96.0.10", "", "svc/web"},
			},
		},
		{
			name: "pod gone",
			w: world{Objects: []object{pod("b", "10.0.0.2")}, Firewall: map[netip.Addr][]string{
				ip("10.0.0.2"): {ns},
			}},
			want: []want{{"10.0.0.1", markGone, "unregistered"}, {"10.96.0.10", markGone, "(none)"}, {"10.0.0.2", "", "ns_shop"}},
		},
		{
			name: "freed IP reused after a gap, and at once",
			w: world{Objects: []object{pod("c", "10.0.0.1"), pod("d", "10.0.0.2")}, Firewall: map[netip.Addr][]string{
				ip("10.0.0.1"): {ns, ns + ".app.batch"},
				ip("10.0.0.2"): {ns, ns + ".app.db"},
			}},
			want: []want{
				{"10.0.0.1", markReused, "IP reused, was pod/a"},
				{"10.0.0.2", markReused, "IP reused, was pod/b; +.app.db"},
			},
		},
	}
	tab := newTable(testPreset, "shop")
	for _, st := range steps {
		out := tab.render(st.w)
		for _, w := range st.want {
			mark, rest, ok := rowOfIP(t, out, w.ip)
			if !ok {
				t.Errorf("%s: no row for %s in\n%s", st.name, w.ip, out)
				continue
			}
			if mark != w.mark || !strings.Contains(rest, w.contains) {
				t.Errorf("%s: row %s = %q%s, want mark %q containing %q", st.name, w.ip, mark, rest, w.mark, w.contains)
			}
		}
		if _, _, ok := rowOfIP(t, out, "192.0.2.254"); ok {
			t.Errorf("%s: the canary is in the namespace table:\n%s", st.name, out)
		}
		if st.name == "first sight" && !strings.Contains(out, "also registered: 192.0.2.254 [kubedag-canary]") {
			t.Errorf("%s: the canary is not listed as registered elsewhere:\n%s", st.name, out)
		}
	}
}

func TestLatencyString(t *testing.T) {
	tests := []struct {
		name string
		l    []latency
		want string
	}{
		{"none", nil, "no new tags (unregisters only)"},
		{"one", []latency{{Count: 1, Sum: 12 * time.Millisecond, Min: 12 * time.Millisecond, Max: 12 * time.Millisecond}}, "1 change, mean 12ms, min 12ms, max 12ms"},
		{"merged", []latency{
			{Count: 2, Sum: 40 * time.Millisecond, Min: 10 * time.Millisecond, Max: 30 * time.Millisecond},
			{},
			{Count: 2, Sum: 60 * time.Millisecond, Min: 5 * time.Millisecond, Max: 50 * time.Millisecond},
		}, "4 changes, mean 25ms, min 5ms, max 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sum latency
			for _, l := range tt.l {
				sum.add(l)
			}
			if got := sum.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
