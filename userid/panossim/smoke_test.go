package panossim

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestRegisterAndList(t *testing.T) {
	h := newHarness(t, Config{})
	code, body := h.uid(regMsg(`<entry ip="10.0.0.2"><tag><member>b</member><member timeout="60">a</member></tag></entry>`))
	if code != 200 || parseResp(t, body).Status != "success" {
		t.Fatalf("register: %d %s", code, body)
	}
	l := h.list(`<show><object><registered-ip><all/></registered-ip></object></show>`)
	if l.Count != 1 || len(l.Entries) != 1 || l.Entries[0].IP != "10.0.0.2" || !reflect.DeepEqual(l.Entries[0].Tags, []string{"a", "b"}) {
		t.Fatalf("listing = %+v", l)
	}
	want := map[netip.Addr][]string{netip.MustParseAddr("10.0.0.2"): {"a", "b"}}
	if got := h.sim.Registered(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Registered = %v, want %v", got, want)
	}
}
