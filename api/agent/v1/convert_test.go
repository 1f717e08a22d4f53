package agentv1

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/kubedag/kubedag/tags"
)

func TestClaimRoundTrip(t *testing.T) {
	ts, _ := trace.ParseTraceState("vendor=x")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5},
		TraceFlags: trace.FlagsSampled,
		TraceState: ts,
	})
	tests := []struct {
		name      string
		ip        netip.Addr
		id        tags.Identity
		firstSeen time.Time
		sc        trace.SpanContext
	}{
		{
			name: "full v4",
			ip:   netip.MustParseAddr("10.1.2.3"),
			id: tags.Identity{Kind: tags.KindPod, Namespace: "ns", Name: "p", UID: "u",
				Labels: map[string]string{"app": "x"}, OwnerKind: "ReplicaSet", OwnerName: "rs",
				Services: []string{"a", "b"}, NamespaceLabels: map[string]string{"team": "t"}},
			firstSeen: time.Unix(1700000000, 123456789).UTC(),
			sc:        sc,
		},
		{name: "bare v6", ip: netip.MustParseAddr("fd00::7"), id: tags.Identity{Kind: tags.KindPod, Name: "p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ClaimToProto(tt.ip, tt.id, tt.firstSeen, tt.sc)
			b, err := proto.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var q Claim
			if err := proto.Unmarshal(b, &q); err != nil {
				t.Fatal(err)
			}
			ip, id, fs, gotSC, err := ClaimFromProto(&q)
			if err != nil {
				t.Fatal(err)
			}
			if ip != tt.ip || !reflect.DeepEqual(id, tt.id) || !fs.Equal(tt.firstSeen) {
				t.Fatalf("round trip: %v %+v %v, want %v %+v %v", ip, id, fs, tt.ip, tt.id, tt.firstSeen)
			}
			if tt.sc.IsValid() {
				if gotSC.TraceID() != tt.sc.TraceID() || gotSC.SpanID() != tt.sc.SpanID() ||
					gotSC.TraceFlags() != tt.sc.TraceFlags() || gotSC.TraceState().String() != "vendor=x" || !gotSC.IsRemote() {
					t.Fatalf("span context = %+v", gotSC)
				}
			} else if gotSC.IsValid() {
				t.Fatalf("invalid span context came back valid: %+v", gotSC)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 5)} {
		if _, err := ParseAddr(b); err == nil {
			t.Errorf("ParseAddr(%v) accepted", b)
		}
	}
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	if got, _ := ParseAddr(mapped.AsSlice()); got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("mapped = %v", got)
	}
}
