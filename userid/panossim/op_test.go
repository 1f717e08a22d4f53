package panossim

import (
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// registerN registers n IPs 10.0.x.y; every third also gets tag "three".
func registerN(t *testing.T, h *harness, n int) []string {
	t.Helper()
	var b strings.Builder
	var ips []string
	for i := range n {
		ip := fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
		ips = append(ips, ip)
		extra := ""
		if i%3 == 0 {
			extra = "<member>three</member>"
		}
		fmt.Fprintf(&b, `<entry ip="%s"><tag><member>all</member>%s</tag></entry>`, ip, extra)
		if (i+1)%1000 == 0 || i == n-1 {
			if _, body := h.uid(regMsg(b.String())); parseResp(t, body).Status != "success" {
				t.Fatalf("register: %s", body)
			}
			b.Reset()
		}
	}
	sort.Slice(ips, func(i, j int) bool {
		return netip.MustParseAddr(ips[i]).Less(netip.MustParseAddr(ips[j]))
	})
	return ips
}

func TestRegisteredIPPaging(t *testing.T) {
	h := newHarness(t, Config{})
	want := registerN(t, h, 1201)

	page := func(filter string, limit, start int) listing {
		cmd := "<show><object><registered-ip>" + filter
		if limit > 0 {
			cmd += fmt.Sprintf("<limit>%d</limit>", limit)
		}
		if start > 0 {
			cmd += fmt.Sprintf("<start-point>%d</start-point>", start)
		}
		return h.list(cmd + "</registered-ip></object></show>")
	}
	// Walk the pages as the client does: 500 a page, stop at a short page.
	walk := func(filter string) []string {
		var got []string
		for start := 1; ; start += 500 {
			l := page(filter, 500, start)
			if l.Count != len(l.Entries) {
				t.Fatalf("count %d != %d entries", l.Count, len(l.Entries))
			}
			for _, e := range l.Entries {
				got = append(got, e.IP)
			}
			if l.Count < 500 {
				return got
			}
		}
	}
	if got := walk("<all/>"); !reflect.DeepEqual(got, want) {
		t.Fatalf("paged walk returned %d IPs, want %d in order", len(got), len(want))
	}
	var three []string
	for _, ip := range want {
		a := netip.MustParseAddr(ip).As4()
		if i := int(a[2])*250 + int(a[3]) - 1; i%3 == 0 {
			three = append(three, ip)
		}
	}
	if got := walk(`<tag><entry name="three"/></tag>`); !reflect.DeepEqual(got, three) {
		t.Fatalf("tag walk returned %d IPs, want %d", len(got), len(three))
	}
	if l := page("<all/>", 0, 0); l.Count != DefaultPageLimit {
		t.Fatalf("default page = %d entries, want %d", l.Count, DefaultPageLimit)
	}
	if l := page("<all/>", 5000, 0); l.Count != DefaultPageLimit {
		t.Fatalf("limit above 500 gave %d entries, want capped at %d", l.Count, DefaultPageLimit)
	}
	if l := page("<all/>", 10, 1200); l.Count != 2 || l.Entries[1].IP != want[1200] {
		t.Fatalf("last page = %+v", l)
	}
	if l := page("<all/>", 10, 5000); l.Count != 0 || len(l.Entries) != 0 {
		t.Fatalf("past the end = %+v", l)
	}
	if l := page(`<tag><entry name="nope"/></tag>`, 0, 0); l.Count != 0 {
		t.Fatalf("unknown tag = %+v", l)
	}
	if l := h.list(`<show><object><registered-ip><ip>` + want[7] + `</ip></registered-ip></object></show>`); l.Count != 1 || l.Entries[0].IP != want[7] {
		t.Fatalf("ip filter = %+v", l)
	}
	for _, bad := range []string{"<limit>0</limit>", "<limit>x</limit>", "<start-point>-1</start-point>", "<ip>nope</ip>", "<tag/>"} {
		code, body := h.op("<show><object><registered-ip>" + bad + "</registered-ip></object></show>")
		if r := parseResp(t, body); code != 200 || r.Status != "error" || r.Code != "17" {
			t.Errorf("%s: %d %s, want code 17", bad, code, body)
		}
	}
}

func TestRegisteredIPListingShape(t *testing.T) {
	h := newHarness(t, Config{})
	h.uid(regMsg(`<entry ip="10.1.129.5"><tag><member>b</member><member>a&amp;z</member></tag></entry>`))
	_, body := h.op(`<show><object><registered-ip><all/></registered-ip></object></show>`)
	want := `<response status="success"><result><entry ip="10.1.129.5" from_agent="0" persistent="1"><tag><member>a&amp;z</member><member>b</member></tag></entry><count>1</count></result></response>`
	if body != want {
		t.Fatalf("got  %s\nwant %s", body, want)
	}
	_, body = h.op(`<show><object><registered-ip><all/></registered-ip></object></show>`, "vsys", "vsys9")
	if body != `<response status="success"><result><count>0</count></result></response>` {
		t.Fatalf("empty scope: %s", body)
	}
}

func TestShowSystemInfo(t *testing.T) {
	for _, pano := range []bool{false, true} {
		h := newHarness(t, Config{Panorama: pano, Serial: "0011"})
		_, body := h.op(`<show><system><info/></system></show>`)
		model := "<model>PA-VM</model>"
		if pano {
			model = "<model>Panorama</model>"
		}
		if !strings.Contains(body, "<serial>0011</serial>") || !strings.Contains(body, model) {
			t.Errorf("panorama=%v: %s", pano, body)
		}
	}
}

func TestShowDGHierarchy(t *testing.T) {
	h := newHarness(t, Config{Panorama: true})
	dgs := "/config/devices/entry[@name='localhost.localdomain']/device-group"
	h.mustCfg("set", dgs, `<entry name="a"><description>x</description></entry><entry name="b"><description>x</description></entry><entry name="c"><description>x</description></entry>`, writeOK)
	if err := h.sim.SetDeviceGroupParent("b", "nope"); err == nil {
		t.Fatal("parent set to a device group the config lacks")
	}
	v := url.Values{"type": {"commit"}, "cmd": {"<commit></commit>"}}
	if code, body := h.post(v, false); code != 200 || !strings.Contains(body, "success") {
		t.Fatalf("commit: %d %s", code, body)
	}
	for _, p := range [][2]string{{"b", "a"}, {"c", "b"}} {
		if err := h.sim.SetDeviceGroupParent(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sim.SetDeviceGroupParent("a", "c"); err == nil {
		t.Fatal("cycle accepted")
	}
	code, body := h.post(url.Values{"type": {"op"}, "cmd": {"<show><dg-hierarchy></dg-hierarchy></show>"}}, false)
	want := `<response status="success"><result><dg-hierarchy><dg name="a" dg_id="11"><dg name="b" dg_id="12"><dg name="c" dg_id="13"/></dg></dg></dg-hierarchy></result></response>`
	if code != 200 || body != want {
		t.Fatalf("show dg-hierarchy:\n got %d %s\nwant %s", code, body, want)
	}
	h.mustCfg("get", "/config/readonly/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='c']/parent-dg", "", got19(`<parent-dg>b</parent-dg>`))
	if err := h.sim.SetDeviceGroupParent("c", ""); err != nil {
		t.Fatal(err)
	}
	_, body = h.post(url.Values{"type": {"op"}, "cmd": {"<show><dg-hierarchy></dg-hierarchy></show>"}}, false)
	if !strings.Contains(body, `<dg name="b" dg_id="12"/></dg><dg name="c" dg_id="13"/>`) {
		t.Fatalf("c moved to top level: %s", body)
	}
}
