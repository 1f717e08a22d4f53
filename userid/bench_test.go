package userid

import (
	"fmt"
	"net/netip"
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
