package panossim

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUserIDMessages(t *testing.T) {
	long := strings.Repeat("x", MaxTagNameLen+1)
	ok127 := strings.Repeat("y", MaxTagNameLen)
	var many strings.Builder
	for i := range MaxTagsPerIP + 1 {
		fmt.Fprintf(&many, "<member>t%02d</member>", i)
	}
	tests := []struct {
		name    string
		setup   []string // uid-messages sent first, must succeed
		msg     string
		extra   []string // more form fields
		wantOK  bool     // overall status success
		wantMsg []string // substrings of the answer (entry messages)
		want    map[string][]string
	}{
		{
			name:   "register two IPs",
			msg:    regMsg(`<entry ip="10.0.0.1"><tag><member>a</member><member timeout="60">b</member></tag></entry><entry ip="10.0.0.2" persistent="0"><tag><member>a</member></tag></entry>`),
			wantOK: true,
			want:   map[string][]string{"10.0.0.1": {"a", "b"}, "10.0.0.2": {"a"}},
		},
		{
			name:   "version 1.0 accepted",
			msg:    `<uid-message><version>1.0</version><type>update</type><payload><register><entry ip="10.0.0.1"><tag><member>a</member></tag></entry></register></payload></uid-message>`,
			wantOK: true,
			want:   map[string][]string{"10.0.0.1": {"a"}},
		},
		{
			name:   "no version or type accepted",
			msg:    `<uid-message><payload><register><entry ip="10.0.0.1"><tag><member>a</member></tag></entry></register></payload></uid-message>`,
			wantOK: true,
			want:   map[string][]string{"10.0.0.1": {"a"}},
		},
		{
			name:    "register existing tag is benign",
			setup:   []string{regMsg(`<entry ip="1.1.2.2"><tag><member>foo</member></tag></entry>`)},
			msg:     regMsg(`<entry ip="1.1.2.2"><tag><member>foo</member><member>bar</member></tag></entry>`),
			wantMsg: []string{`<register><entry ip="1.1.2.2" message="tag foo already exists, ignore"/></register>`},
			want:    map[string][]string{"1.1.2.2": {"bar", "foo"}},
		},
		{
			name:    "unregister unknown IP is benign",
			msg:     unregMsg(`<entry ip="1.2.3.4"><tag><member>a</member></tag></entry>`),
			wantMsg: []string{`<unregister><entry ip="1.2.3.4" message="ip 1.2.3.4 does not exist, ignore unreg"/></unregister>`},
			want:    map[string][]string{},
		},
		{
			name:    "unregister unknown tag is benign",
			setup:   []string{regMsg(`<entry ip="10.0.0.1"><tag><member>a</member><member>b</member></tag></entry>`)},
			msg:     unregMsg(`<entry ip="10.0.0.1"><tag><member>a</member><member>zz</member></tag></entry>`),
			wantMsg: []string{`message="tag zz does not exist, ignore unreg"`},
			want:    map[string][]string{"10.0.0.1": {"b"}},
		},
		{
			name:   "unregister without tags removes the IP",
			setup:  []string{regMsg(`<entry ip="10.0.0.1"><tag><member>a</member><member>b</member></tag></entry>`)},
			msg:    unregMsg(`<entry ip="10.0.0.1"/>`),
			wantOK: true,
			want:   map[string][]string{},
		},
		{
			name:  "unregister runs before register in one message",
			setup: []string{regMsg(`<entry ip="10.0.0.1"><tag><member>old</member></tag></entry>`)},
			// register is written first, but unregister must apply first:
			// otherwise the unregister would remove the new tag.
			msg: `<uid-message><version>2.0</version><type>update</type><payload>` +
				`<register><entry ip="10.0.0.1"><tag><member>new</member></tag></entry></register>` +
				`<unregister><entry ip="10.0.0.1"><tag><member>old</member><member>new</member></tag></entry></unregister>` +
				`</payload></uid-message>`,
			wantMsg: []string{`message="tag new does not exist, ignore unreg"`},
			want:    map[string][]string{"10.0.0.1": {"new"}},
		},
		{
			name:    "invalid IP fails only that entry",
			msg:     regMsg(`<entry ip="10.0.0.300"><tag><member>a</member></tag></entry><entry ip="10.0.0.3"><tag><member>a</member></tag></entry>`),
			wantMsg: []string{`<entry ip="10.0.0.300" message="Failed to register ip 10.0.0.300: invalid ip address"/>`},
			want:    map[string][]string{"10.0.0.3": {"a"}},
		},
		{
			name:    "tag name too long",
			msg:     regMsg(`<entry ip="10.0.0.1"><tag><member>` + long + `</member></tag></entry><entry ip="10.0.0.2"><tag><member>` + ok127 + `</member></tag></entry>`),
			wantMsg: []string{`message="Failed to register ip 10.0.0.1: tag name too long (max 127)"`},
			want:    map[string][]string{"10.0.0.2": {ok127}},
		},
		{
			name:    "too many tags on one IP",
			msg:     regMsg(`<entry ip="10.0.0.1"><tag>` + many.String() + `</tag></entry>`),
			wantMsg: []string{`message="Failed to register ip 10.0.0.1: too many tags (max 32)"`},
			want:    map[string][]string{},
		},
		{
			name:    "tag limit counts tags already registered",
			setup:   []string{regMsg(`<entry ip="10.0.0.1"><tag>` + strings.Replace(many.String(), "<member>t32</member>", "", 1) + `</tag></entry>`)},
			msg:     regMsg(`<entry ip="10.0.0.1"><tag><member>extra</member></tag></entry>`),
			wantMsg: []string{`too many tags (max 32)`},
		},
		{
			name:    "timeout above 30 days refused",
			msg:     regMsg(`<entry ip="10.0.0.1"><tag><member timeout="2592001">a</member></tag></entry><entry ip="10.0.0.2"><tag><member timeout="2592000">a</member></tag></entry>`),
			wantMsg: []string{`Failed to register ip 10.0.0.1: invalid timeout`},
			want:    map[string][]string{"10.0.0.2": {"a"}},
		},
		{
			name:    "non-numeric timeout refused",
			msg:     regMsg(`<entry ip="10.0.0.1"><tag><member timeout="soon">a</member></tag></entry>`),
			wantMsg: []string{`Failed to register ip 10.0.0.1: invalid timeout`},
			want:    map[string][]string{},
		},
		{
			name:    "entry without tags refused",
			msg:     regMsg(`<entry ip="10.0.0.1"/>`),
			wantMsg: []string{`Failed to register ip 10.0.0.1: no tag specified`},
			want:    map[string][]string{},
		},
		{
			name:   "CIDR and range are one registered IP each",
			msg:    regMsg(`<entry ip="10.1.0.7/24"><tag><member>net</member></tag></entry><entry ip="10.2.0.1-10.2.0.9"><tag><member>rng</member></tag></entry><entry ip="10.3.0.1/32"><tag><member>host</member></tag></entry>`),
			wantOK: true,
			want:   map[string][]string{"10.1.0.0/24": {"net"}, "10.2.0.1-10.2.0.9": {"rng"}, "10.3.0.1": {"host"}},
		},
		{
			name:    "reversed range refused",
			msg:     regMsg(`<entry ip="10.2.0.9-10.2.0.1"><tag><member>rng</member></tag></entry>`),
			wantMsg: []string{`invalid ip address`},
			want:    map[string][]string{},
		},
		{
			name:   "IPv6",
			msg:    regMsg(`<entry ip="2001:db8::1"><tag><member>v6</member></tag></entry>`),
			wantOK: true,
			want:   map[string][]string{"2001:db8::1": {"v6"}},
		},
		{
			name:    "IP echoed escaped",
			msg:     regMsg(`<entry ip="&quot;&lt;x"><tag><member>a</member></tag></entry>`),
			wantMsg: []string{`ip="&quot;&lt;x" message="Failed to register ip &quot;&lt;x: invalid ip address"`},
			want:    map[string][]string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			for _, m := range tc.setup {
				if code, body := h.uid(m); code != 200 || parseResp(t, body).Status != "success" {
					t.Fatalf("setup: %d %s", code, body)
				}
			}
			code, body := h.uid(tc.msg, tc.extra...)
			if code != 200 {
				t.Fatalf("HTTP %d: %s", code, body)
			}
			r := parseResp(t, body)
			if got := r.Status == "success"; got != tc.wantOK {
				t.Fatalf("status %q, want success=%v: %s", r.Status, tc.wantOK, body)
			}
			if tc.wantOK && !strings.Contains(body, "<uid-response>") {
				t.Fatalf("success answer lacks uid-response: %s", body)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(body, m) {
					t.Errorf("answer lacks %q:\n%s", m, body)
				}
			}
			if !tc.wantOK && !strings.HasPrefix(body, `<response status="error"><msg><line><uid-response><version>2.0</version><payload>`) {
				t.Errorf("partial failure shape differs:\n%s", body)
			}
			if tc.want != nil {
				if got := h.sim.RegisteredIn("", ""); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("registered = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestUserIDMalformed(t *testing.T) {
	tests := []struct{ name, cmd string }{
		{"not xml", "hello"},
		{"unclosed", "<uid-message><payload>"},
		{"wrong root", "<foo/>"},
		{"empty", ""},
		{"bad version", `<uid-message><version>3.0</version><payload/></uid-message>`},
		{"bad type", `<uid-message><type>delete</type><payload/></uid-message>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			code, body := h.uid(tc.cmd)
			r := parseResp(t, body)
			if code != 200 || r.Status != "error" || r.Code != "18" {
				t.Fatalf("got HTTP %d %s, want code 18 error", code, body)
			}
			if got := h.sim.Stats().Errors[18]; got != 1 {
				t.Errorf("Errors[18] = %d, want 1", got)
			}
		})
	}
}

func TestUserIDScopes(t *testing.T) {
	t.Run("vsys", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>v2</member></tag></entry>`), "vsys", "vsys2")
		h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>v1</member></tag></entry>`))
		if got := h.sim.RegisteredIn("vsys2", ""); !reflect.DeepEqual(got, map[string][]string{"10.0.0.1": {"v2"}}) {
			t.Errorf("vsys2 = %v", got)
		}
		if got := h.sim.RegisteredIn("vsys1", ""); !reflect.DeepEqual(got, map[string][]string{"10.0.0.1": {"v1"}}) {
			t.Errorf("vsys1 = %v", got)
		}
		l := h.list(`<show><object><registered-ip><all/></registered-ip></object></show>`, "vsys", "vsys2")
		if l.Count != 1 || l.Entries[0].Tags[0] != "v2" {
			t.Errorf("listing vsys2 = %+v", l)
		}
		// Registered merges scopes.
		if got := h.sim.Registered()[netip.MustParseAddr("10.0.0.1")]; !reflect.DeepEqual(got, []string{"v1", "v2"}) {
			t.Errorf("Registered merged = %v", got)
		}
	})
	t.Run("panorama target", func(t *testing.T) {
		h := newHarness(t, Config{Panorama: true})
		h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>fw</member></tag></entry>`), "target", "007200000000001")
		h.uid(regMsg(`<entry ip="10.0.0.2"><tag><member>pano</member></tag></entry>`))
		if got := h.sim.RegisteredIn("", "007200000000001"); !reflect.DeepEqual(got, map[string][]string{"10.0.0.1": {"fw"}}) {
			t.Errorf("target scope = %v", got)
		}
		if got := h.sim.RegisteredIn("", ""); !reflect.DeepEqual(got, map[string][]string{"10.0.0.2": {"pano"}}) {
			t.Errorf("panorama scope = %v", got)
		}
		l := h.list(`<show><object><registered-ip><all/></registered-ip></object></show>`, "target", "007200000000001")
		if l.Count != 1 || l.Entries[0].IP != "10.0.0.1" {
			t.Errorf("target listing = %+v", l)
		}
		// A serial Panorama does not manage is refused, for user-id and op.
		want := `<response status="error" code="13"><msg><line>target 999 is not a device managed by this Panorama</line></msg></response>`
		if _, body := h.uid(regMsg(`<entry ip="10.0.0.3"><tag><member>x</member></tag></entry>`), "target", "999"); body != want {
			t.Errorf("unknown target register: %s", body)
		}
		if _, body := h.op(`<show><object><registered-ip><all/></registered-ip></object></show>`, "target", "999"); body != want {
			t.Errorf("unknown target listing: %s", body)
		}
		if got := h.sim.Registered(); len(got) != 2 {
			t.Errorf("registered = %v", got)
		}
	})
	t.Run("firewall ignores target", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>a</member></tag></entry>`), "target", "123")
		if got := h.sim.RegisteredIn("", ""); len(got) != 1 {
			t.Errorf("default scope = %v", got)
		}
	})
}

func TestCapacity(t *testing.T) {
	h := newHarness(t, Config{Capacity: 3})
	code, body := h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>a</member></tag></entry>` +
		`<entry ip="10.0.0.2"><tag><member>a</member></tag></entry>` +
		`<entry ip="10.0.0.3/31"><tag><member>a</member></tag></entry>` +
		`<entry ip="10.0.0.4"><tag><member>a</member></tag></entry>` +
		`<entry ip="10.0.0.1"><tag><member>b</member></tag></entry>`)) // existing IP: no new capacity needed
	if code != 200 || parseResp(t, body).Status != "error" {
		t.Fatalf("want partial failure, got %d %s", code, body)
	}
	want := `<entry ip="10.0.0.4" message="Failed to register ip 10.0.0.4: registered-ip capacity 3 reached"/>`
	if !strings.Contains(body, want) {
		t.Fatalf("answer lacks %s:\n%s", want, body)
	}
	if strings.Count(body, "<entry ") != 1 {
		t.Fatalf("only the overflowing entry may fail:\n%s", body)
	}
	got := h.sim.RegisteredIn("", "")
	if len(got) != 3 || !reflect.DeepEqual(got["10.0.0.1"], []string{"a", "b"}) {
		t.Fatalf("registered = %v", got)
	}
	// Freeing one slot makes room again; capacity spans scopes (per device).
	h.uid(unregMsg(`<entry ip="10.0.0.2"/>`))
	if code, body := h.uid(regMsg(`<entry ip="10.0.0.9"><tag><member>a</member></tag></entry>`), "vsys", "vsys2"); parseResp(t, body).Status != "success" {
		t.Fatalf("register after unregister: %d %s", code, body)
	}
	if _, body := h.uid(regMsg(`<entry ip="10.0.0.10"><tag><member>a</member></tag></entry>`)); !strings.Contains(body, "capacity 3 reached") {
		t.Fatalf("capacity must count every vsys: %s", body)
	}
}

func TestExpiry(t *testing.T) {
	clk := newFakeClock()
	h := newHarness(t, Config{Now: clk.Now, Capacity: 2})
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member timeout="60">short</member><member timeout="600">long</member><member>forever</member></tag></entry>` +
		`<entry ip="10.0.0.2"><tag><member timeout="60">short</member></tag></entry>`))
	tags := func(ip string) []string { return h.sim.Registered()[netip.MustParseAddr(ip)] }

	clk.Advance(59 * time.Second)
	if got := tags("10.0.0.1"); !reflect.DeepEqual(got, []string{"forever", "long", "short"}) {
		t.Fatalf("at 59s: %v", got)
	}
	clk.Advance(time.Second)
	if got := tags("10.0.0.1"); !reflect.DeepEqual(got, []string{"forever", "long"}) {
		t.Fatalf("at 60s: %v", got)
	}
	if got := tags("10.0.0.2"); got != nil {
		t.Fatalf("10.0.0.2 at 60s: %v, want expired", got)
	}
	l := h.list(`<show><object><registered-ip><all/></registered-ip></object></show>`)
	if l.Count != 1 || l.Entries[0].IP != "10.0.0.1" || !reflect.DeepEqual(l.Entries[0].Tags, []string{"forever", "long"}) {
		t.Fatalf("listing at 60s: %+v", l)
	}
	// The expired IP frees its capacity slot.
	if _, body := h.uid(regMsg(`<entry ip="10.0.0.3"><tag><member>a</member></tag></entry>`)); parseResp(t, body).Status != "success" {
		t.Fatalf("expired IP still counts against capacity: %s", body)
	}
	// Re-registering refreshes the timeout.
	clk.Advance(500 * time.Second) // long expires at 600s
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member timeout="600">long</member></tag></entry>`))
	clk.Advance(200 * time.Second) // 760s: past the first deadline
	if got := tags("10.0.0.1"); !reflect.DeepEqual(got, []string{"forever", "long"}) {
		t.Fatalf("refreshed tag expired early: %v", got)
	}
	clk.Advance(400 * time.Second) // 1160s: past the refreshed deadline (1160)
	if got := tags("10.0.0.1"); !reflect.DeepEqual(got, []string{"forever"}) {
		t.Fatalf("refreshed tag did not expire: %v", got)
	}
}

func TestReboot(t *testing.T) {
	h := newHarness(t, Config{})
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>keep</member></tag></entry>` +
		`<entry ip="10.0.0.2" persistent="0"><tag><member>canary</member></tag></entry>` +
		`<entry ip="10.0.0.3" persistent="1"><tag><member>keep</member></tag></entry>`))
	h.uid(regMsg(`<entry ip="10.0.0.1" persistent="0"><tag><member>volatile</member></tag></entry>`))
	l := h.list(`<show><object><registered-ip><all/></registered-ip></object></show>`)
	persist := map[string]string{}
	for _, e := range l.Entries {
		persist[e.IP] = e.Persistent
	}
	if !reflect.DeepEqual(persist, map[string]string{"10.0.0.1": "1", "10.0.0.2": "0", "10.0.0.3": "1"}) {
		t.Fatalf("persistent attributes = %v", persist)
	}
	h.sim.Reboot()
	want := map[string][]string{"10.0.0.1": {"keep"}, "10.0.0.3": {"keep"}}
	if got := h.sim.RegisteredIn("", ""); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reboot = %v, want %v", got, want)
	}
	// API keys survive a reboot.
	if l := h.list(`<show><object><registered-ip><all/></registered-ip></object></show>`); l.Count != 2 {
		t.Fatalf("listing after reboot: %+v", l)
	}
}
