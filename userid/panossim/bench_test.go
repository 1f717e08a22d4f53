package panossim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
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
// registered-ip out of 100,000 registered IPs.
func BenchmarkRegisteredIPPage(b *testing.B) {
	sim := New(Config{})
	sim.mu.Lock()
	sc := sim.reg.scope(scopeKey("", ""), true)
	for i := range 100000 {
		a, _ := parseRegAddr(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		e := sim.reg.addEntry(sc, a)
		e.tags = append(e.tags, regTag{name: "k8s.cl_demo.ns_default", persistent: true})
	}
	sim.mu.Unlock()
	key, _ := sim.APIKeyFor("admin")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		cmd := fmt.Sprintf(`<show><object><registered-ip><all/><limit>500</limit><start-point>%d</start-point></registered-ip></object></show>`, (i%200)*500+1)
		req := httptest.NewRequest(http.MethodGet, "/api/?"+url.Values{"type": {"op"}, "cmd": {cmd}}.Encode(), nil)
		req.Header.Set("X-PAN-KEY", key)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), "<count>500</count>") {
			b.Fatalf("page %d: %s", i, rec.Body.String()[:200])
		}
	}
}
