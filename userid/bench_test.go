package userid

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// BenchmarkEncodeRegister1000 encodes one 1,000-entry register message
// (three tags per IP, one with a timeout), the aggregator's saturated batch.
func BenchmarkEncodeRegister1000(b *testing.B) {
	c, err := New(Config{URL: "https://fw.example", APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	reg := make([]Entry, 1000)
	a := netip.MustParseAddr("10.0.0.1")
	for i := range reg {
		reg[i] = Entry{IP: a, Tags: []Tag{
			{Name: "k8s.cl_prod.ns_payments"},
			{Name: fmt.Sprintf("k8s.cl_prod.ns_payments.rs_api-%d", i%7)},
			{Name: "k8s.cl_prod.ns_payments.svc_api", Timeout: time.Hour},
		}}
		a = a.Next()
	}
	u := Update{Register: reg}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		msgs, err := c.encodeUpdate(u)
		if err != nil || len(msgs) != 1 {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
		size = len(msgs[0])
	}
	b.SetBytes(int64(size))
	b.ReportMetric(float64(len(reg)), "entries/op")
	b.ReportMetric(float64(size), "msgbytes/op")
}

// BenchmarkRegisteredPage reads one 500-entry page of show object
// registered-ip (two tags an IP, as the emulator prints it): "fast" is the
// byte scanner RegisteredIPs uses, "generic" the encoding/xml path it
// falls back to (the only path before), the baseline.
func BenchmarkRegisteredPage(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<response status="success"><result>`)
	a := netip.MustParseAddr("10.0.0.1")
	for i := range RegisteredIPPage {
		fmt.Fprintf(&sb, `<entry ip="%s" from_agent="0" persistent="1"><tag><member>k8s.cl_prod.ns_payments</member><member>k8s.cl_prod.ns_payments.rs_api-%d</member></tag></entry>`, a, i%50)
		a = a.Next()
	}
	fmt.Fprintf(&sb, `<count>%d</count></result></response>`, RegisteredIPPage)
	body := []byte(sb.String())
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			p, ok := fastRegisteredPage(body, make(map[string]string))
			if !ok || len(p.entries) != RegisteredIPPage {
				b.Fatalf("ok %v, %d entries", ok, len(p.entries))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*RegisteredIPPage), "ns/entry")
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			r, err := parseResponse(body)
			if err != nil {
				b.Fatal(err)
			}
			entries, _, _, err := parseRegisteredIPs(r.Result)
			if err != nil || len(entries) != RegisteredIPPage {
				b.Fatalf("%d entries, %v", len(entries), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*RegisteredIPPage), "ns/entry")
	})
}
