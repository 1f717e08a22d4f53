package userid

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// genericPage parses a page the way every other answer is parsed.
func genericPage(body []byte) (registeredPage, error) {
	r, err := parseResponse(body)
	if err != nil {
		return registeredPage{}, err
	}
	if r.failed() {
		return registeredPage{}, r.err()
	}
	entries, n, skipped, err := parseRegisteredIPs(r.Result)
	return registeredPage{entries: entries, n: n, skipped: skipped}, err
}

// FuzzRegisteredPageFast: whenever the fast page reader answers, the
// generic parsers accept the body and answer the same. Seeds:
// testdata/fuzz/FuzzRegisteredPageFast and the cases of
// TestFastRegisteredPage.
func FuzzRegisteredPageFast(f *testing.F) {
	for _, c := range fastPageCases {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastRegisteredPage(body, map[string]string{})
		if !ok {
			return
		}
		gen, err := genericPage(body)
		if err != nil {
			t.Fatalf("fast path read a body the generic parsers refuse (%v): %q", err, body)
		}
		if !samePage(fast, gen) {
			t.Fatalf("fast %+v, generic %+v for %q", fast, gen, body)
		}
	})
}

func samePage(a, b registeredPage) bool {
	if a.n != b.n || a.skipped != b.skipped || len(a.entries) != len(b.entries) {
		return false
	}
	for i := range a.entries {
		x, y := a.entries[i], b.entries[i]
		if x.IP != y.IP || x.Persistent != y.Persistent || len(x.Tags) != len(y.Tags) {
			return false
		}
		if len(x.Tags) > 0 && !reflect.DeepEqual(x.Tags, y.Tags) {
			return false
		}
	}
	return true
}

var fastPageCases = []struct {
	name string
	body string
	fast bool // the fast path reads it (else the generic path does)
}{
	{"device", `<response status="success"><result>
 <entry ip="10.1.129.5" from_agent="0" persistent="1"><tag><member>a</member><member>b</member></tag></entry>
 <entry ip="10.1.129.6" from_agent="0" persistent="0"><tag><member timeout="3600">c</member></tag></entry>
 <entry ip="10.1.0.0/24" from_agent="0" persistent="1"><tag><member>subnet</member></tag></entry>
 <count>3</count></result></response>`, true},
	{"emulator", `<response status="success"><result><entry ip="2001:db8::1" from_agent="0" persistent="1"><tag><member>k8s.cl_a.ns_b</member></tag></entry><count>1</count></result></response>`, true},
	{"empty", `<response status="success"><result><count>0</count></result></response>` + "\n", true},
	{"no count, empty tag, blank member", `<response status="success"><result><entry ip="10.0.0.1"><tag/></entry><entry ip="10.0.0.2"><tag><member> </member><member/></tag></entry><entry ip="10.0.0.3"/></result></response>`, true},
	{"timeout out of range", `<response status="success"><result><entry ip="10.0.0.1"><tag><member timeout="99999999">a</member><member timeout="x">b</member></tag></entry></result></response>`, true},
	{"bad ip skipped", `<response status="success"><result><entry ip="nope"><tag><member>a</member></tag></entry></result></response>`, true},
	{"attribute twice", `<response status="success"><result><entry ip="10.0.0.1" ip="10.0.0.2" persistent="0" persistent="1"/></result></response>`, true},
	{"entity", `<response status="success"><result><entry ip="10.0.0.1"><tag><member>a&amp;b</member></tag></entry></result></response>`, false},
	{"cdata", `<response status="success"><result><entry ip="10.0.0.1"><tag><member><![CDATA[a]]></member></tag></entry></result></response>`, false},
	{"prolog", `<?xml version="1.0"?><response status="success"><result></result></response>`, false},
	{"error", `<response status="error" code="17"><msg><line>bad</line></msg></response>`, false},
	{"other element", `<response status="success"><result><entry ip="10.0.0.1"><x/></entry></result></response>`, false},
	{"single quotes", `<response status="success"><result><entry ip='10.0.0.1'/></result></response>`, false},
	{"attributes run together", `<response status="success"><result><entry ip="10.0.0.1"persistent="0"/></result></response>`, false},
	{"truncated", `<response status="success"><result><entry ip="10.0.0.1"><tag><member>a</member>`, false},
	{"trailing bytes", `<response status="success"><result></result></response>x`, false},
	{"carriage return", "<response status=\"success\"><result><entry ip=\"10.0.0.1\"><tag><member>a\r</member></tag></entry></result></response>", false},
	{"non-ASCII", `<response status="success"><result><entry ip="10.0.0.1"><tag><member>é</member></tag></entry></result></response>`, false},
	{"element prefix", `<response status="success"><result><entryx ip="10.0.0.1"/></result></response>`, false},
}

func TestFastRegisteredPage(t *testing.T) {
	for _, c := range fastPageCases {
		t.Run(c.name, func(t *testing.T) {
			fast, ok := fastRegisteredPage([]byte(c.body), map[string]string{})
			if ok != c.fast {
				t.Fatalf("fast path read it: %v, want %v", ok, c.fast)
			}
			if !ok {
				return
			}
			gen, err := genericPage([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !samePage(fast, gen) {
				t.Fatalf("fast %+v\ngeneric %+v", fast, gen)
			}
		})
	}
	// The device answer in full.
	p, _ := fastRegisteredPage([]byte(fastPageCases[0].body), map[string]string{})
	if p.n != 3 || p.skipped != 1 || len(p.entries) != 2 || p.entries[1].Persistent || p.entries[1].Tags[0].Timeout.Seconds() != 3600 {
		t.Errorf("device page read as %+v", p)
	}
	// Tags of neighbouring entries share an array; an append must not
	// write into the next entry's tags.
	p, _ = fastRegisteredPage([]byte(fastPageCases[0].body), map[string]string{})
	_ = append(p.entries[0].Tags, Tag{Name: "x"})
	if p.entries[1].Tags[0].Name != "c" {
		t.Errorf("append to one entry's tags changed the next: %+v", p.entries[1].Tags)
	}
}

func TestFastRegisteredPageInterns(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<response status="success"><result>`)
	for i := range 100 {
		fmt.Fprintf(&b, `<entry ip="10.0.0.%d"><tag><member>shared</member></tag></entry>`, i+1)
	}
	b.WriteString(`</result></response>`)
	names := map[string]string{}
	p, ok := fastRegisteredPage([]byte(b.String()), names)
	if !ok || len(p.entries) != 100 || len(names) != 1 {
		t.Fatalf("ok %v, %d entries, %d names", ok, len(p.entries), len(names))
	}
	if a, c := p.entries[0].Tags[0].Name, p.entries[99].Tags[0].Name; a != "shared" || c != "shared" {
		t.Fatalf("names %q %q", a, c)
	}
	// Known names cost nothing; what remains is one per entry (its IP's
	// text for netip.ParseAddr) and a few per page.
	body := []byte(b.String())
	if allocs := testing.AllocsPerRun(10, func() { fastRegisteredPage(body, names) }); allocs > 100+5 {
		t.Errorf("%v allocations for a 100-entry page with known names", allocs)
	}
}

// TestRegisteredMerge: pages in address order are appended; a page out of
// order or repeating IPs switches to set-and-sort, the last answer per IP
// winning.
func TestRegisteredMerge(t *testing.T) {
	r := func(ip string, tag string) RegisteredIP {
		return RegisteredIP{IP: netip.MustParseAddr(ip), Tags: []Tag{{Name: tag}}}
	}
	var m registeredMerge
	if n := m.add([]RegisteredIP{r("10.0.0.1", "a"), r("10.0.0.2", "a")}); n != 2 {
		t.Fatalf("added %d", n)
	}
	if n := m.add([]RegisteredIP{r("10.0.0.3", "a")}); n != 1 || m.seen != nil {
		t.Fatalf("in-order page: added %d, set %v", n, m.seen != nil)
	}
	if n := m.add([]RegisteredIP{r("10.0.0.2", "b"), r("10.0.0.0", "c")}); n != 1 {
		t.Fatalf("out-of-order page: added %d, want 1", n)
	}
	if n := m.add([]RegisteredIP{r("10.0.0.3", "d")}); n != 0 {
		t.Fatalf("repeat: added %d", n)
	}
	got := m.result()
	var s []string
	for _, e := range got {
		s = append(s, e.IP.String()+"="+e.Tags[0].Name)
	}
	if want := "10.0.0.0=c 10.0.0.1=a 10.0.0.2=b 10.0.0.3=d"; strings.Join(s, " ") != want {
		t.Errorf("merged %v, want %s", s, want)
	}
}
