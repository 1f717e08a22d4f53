package panossim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// BenchmarkUserIDThroughput measures the emulator alone (handler, no
// network): 1,000-entry uid-messages, alternately registering and
// unregistering the same 1,000 IPs with two tags each, so every iteration
// changes 1,000 mappings.
func BenchmarkUserIDThroughput(b *testing.B) {
	const entries = 1000
	sim := New(Config{})
	key, err := sim.APIKeyFor("admin")
	if err != nil {
		b.Fatal(err)
	}
	var reg, unreg strings.Builder
	for i := range entries {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		fmt.Fprintf(&reg, `<entry ip="%s"><tag><member timeout="3600">k8s.cl_demo.ns_default</member><member>k8s.cl_demo.ns_default.rs_web-6d4cf56db6</member></tag></entry>`, ip)
		fmt.Fprintf(&unreg, `<entry ip="%s"><tag><member>k8s.cl_demo.ns_default</member><member>k8s.cl_demo.ns_default.rs_web-6d4cf56db6</member></tag></entry>`, ip)
	}
	bodies := []string{
		url.Values{"type": {"user-id"}, "cmd": {regMsg(reg.String())}}.Encode(),
		url.Values{"type": {"user-id"}, "cmd": {unregMsg(unreg.String())}}.Encode(),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodPost, "/api/", strings.NewReader(bodies[i%2]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-PAN-KEY", key)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), `<response status="success">`) {
			b.Fatalf("call %d: %d %s", i, rec.Code, rec.Body.String())
		}
	}
	b.ReportMetric(float64(b.N*entries)/b.Elapsed().Seconds(), "mappings/s")
}

// BenchmarkRegisteredIPPage measures one 500-entry page of show object
// registered-ip at growing table sizes, walking the whole listing page by
// page: unfiltered and by a tag every other IP carries. The baselines are
// the emulator's old costs: "resort" sorts the whole table for the page, as
// it did on the first page after any registration (so on every page while
// writes arrived between pages), and "rescan" counts the tag's matches from
// the beginning of the table, as every tag-filtered page did.
func BenchmarkRegisteredIPPage(b *testing.B) {
	for _, n := range []int{10000, 100000, 500000} {
		sim := New(Config{Capacity: n})
		sim.mu.Lock()
		sc := sim.reg.scope(scopeKey("", ""), true)
		for i := range n {
			a, _ := parseRegAddr(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
			e := sim.reg.addEntry(sc, a)
			e.tags = append(e.tags, regTag{name: "k8s.cl_demo.ns_default", persistent: true})
			if i%2 == 0 {
				e.tags = append(e.tags, regTag{name: "even", persistent: true})
			}
		}
		sim.mu.Unlock()
		key, _ := sim.APIKeyFor("admin")
		for _, c := range []struct {
			name, filter string
			pages        int
			before       func()
		}{
			{"all", "<all/>", n / 500, nil},
			{"all/resort", "<all/>", n / 500, func() { resortBaseline(sc) }},
			{"tag", `<tag><entry name="even"/></tag>`, n / 1000, nil},
			{"tag/rescan", `<tag><entry name="even"/></tag>`, n / 1000, func() { sc.gen++ }},
		} {
			b.Run(fmt.Sprintf("ips=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if c.before != nil {
						sim.mu.Lock()
						c.before()
						sim.mu.Unlock()
					}
					cmd := fmt.Sprintf(`<show><object><registered-ip>%s<limit>500</limit><start-point>%d</start-point></registered-ip></object></show>`, c.filter, (i%c.pages)*500+1)
					req := httptest.NewRequest(http.MethodGet, "/api/?"+url.Values{"type": {"op"}, "cmd": {cmd}}.Encode(), nil)
					req.Header.Set("X-PAN-KEY", key)
					rec := httptest.NewRecorder()
					sim.ServeHTTP(rec, req)
					if !strings.Contains(rec.Body.String(), "<count>500</count>") {
						b.Fatalf("page %d: %s", i, rec.Body.String()[:200])
					}
				}
			})
		}
	}
}

// resortBaseline is what the emulator did for a page after any change:
// gather and sort the whole table.
func resortBaseline(sc *scope) {
	all := make([]*ipEntry, 0, len(sc.entries))
	for _, e := range sc.entries {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return entryCmp(all[i], all[j]) < 0 })
}
