package panossim

import (
	"encoding/xml"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDAGFilterMatch(t *testing.T) {
	tests := []struct {
		filter string
		tags   []string
		want   bool
	}{
		{`'a'`, []string{"a"}, true},
		{`'a'`, nil, false},
		{`'a'`, []string{"A"}, false}, // tags are case-sensitive
		{`'a' and 'b'`, []string{"a"}, false},
		{`'a' and 'b'`, []string{"b", "a"}, true},
		{`'a' or 'b'`, []string{"b"}, true},
		{`'a' or 'b'`, []string{"c"}, false},
		{`'a' and ('b' or 'c')`, []string{"a", "c"}, true},
		{`'a' and ('b' or 'c')`, []string{"b", "c"}, false},
		{`('a' or 'b') and 'c'`, []string{"a"}, false},
		{`('a' or 'b') and 'c'`, []string{"b", "c"}, true},
		// and binds tighter than or.
		{`'a' or 'b' and 'c'`, []string{"a"}, true},
		{`'a' or 'b' and 'c'`, []string{"b"}, false},
		{`'a' or 'b' and 'c'`, []string{"b", "c"}, true},
		{`'a' and 'b' or 'c'`, []string{"c"}, true},
		{`((('a')))`, []string{"a"}, true},
		// Operators in any case; bare tags end at space, quote or parenthesis.
		{`a AND b`, []string{"a", "b"}, true},
		{`a Or b`, []string{"b"}, true},
		{`k8s.ns_shop and(app.web)`, []string{"k8s.ns_shop", "app.web"}, true},
		{`'a'and'b'`, []string{"a", "b"}, true},
		// Quotes delimit a tag: spaces, parentheses and operator words inside.
		{`'x and (y)'`, []string{"x and (y)"}, true},
		{`'x and (y)'`, []string{"x", "y"}, false},
		{`'and' or 'or'`, []string{"or"}, true},
		{`"it's"`, []string{"it's"}, true},
		{`'k8s.cl_prod.ns_shop' and ('k8s.cl_prod.ns_shop.app.web' or 'k8s.cl_prod.ns_shop.app.api')`,
			[]string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.api"}, true},
	}
	for _, tt := range tests {
		e, err := parseDAGFilter(tt.filter)
		if err != nil {
			t.Errorf("%s: %v", tt.filter, err)
			continue
		}
		has := func(tag string) bool { return containsString(tt.tags, tag) }
		if got := e.match(has); got != tt.want {
			t.Errorf("%s with tags %q = %v, want %v", tt.filter, tt.tags, got, tt.want)
		}
	}
}

func TestDAGFilterErrors(t *testing.T) {
	for _, f := range []string{
		"", "   ", "''", "'a", `"a`, "'a' 'b'", "a b", "'a' and", "and 'a'", "'a' or or 'b'",
		"('a'", "'a')", "()", "('a' or)", "not 'a'", "'a' and NOT 'b'",
		"'" + strings.Repeat("a", dagFilterMaxLen) + "'",
	} {
		if _, err := parseDAGFilter(f); err == nil {
			t.Errorf("%q parsed, want an error", f)
		}
	}
	if _, err := parseDAGFilter("'" + strings.Repeat("a", dagFilterMaxLen-2) + "'"); err != nil {
		t.Errorf("a filter of exactly %d characters: %v", dagFilterMaxLen, err)
	}
}

// dagListing is the firewall's show object dynamic-address-group answer,
// read along the paths PowerPAN and pan-os-php read.
type dagListing struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Groups  []struct {
		Vsys    *string `xml:"vsys"`
		Name    string  `xml:"group-name"`
		Filter  string  `xml:"filter"`
		Members []struct {
			Name string `xml:"name,attr"`
			Type string `xml:"type,attr"`
		} `xml:"member-list>entry"`
	} `xml:"result>dyn-addr-grp>entry"`
}

// members returns location/group -> "name type" members.
func (l dagListing) members() map[string][]string {
	out := map[string][]string{}
	for _, g := range l.Groups {
		loc := "shared"
		if g.Vsys != nil {
			loc = *g.Vsys
		}
		ms := []string{}
		for _, m := range g.Members {
			ms = append(ms, m.Name+" "+m.Type)
		}
		out[loc+"/"+g.Name] = ms
	}
	return out
}

func (h *harness) dags(cmd string, extra ...string) dagListing {
	h.t.Helper()
	code, body := h.op(cmd, extra...)
	var l dagListing
	if err := xml.Unmarshal([]byte(body), &l); code != 200 || err != nil || l.Status != "success" {
		h.t.Fatalf("%s: %d %v\n%s", cmd, code, err, body)
	}
	return l
}

const (
	showAllDAGs  = `<show><object><dynamic-address-group><all></all></dynamic-address-group></object></show>`
	sharedPrefix = "/config/shared"
)

func showDAG(name string) string {
	return `<show><object><dynamic-address-group><name>` + name + `</name></dynamic-address-group></object></show>`
}

// dagConfig is a firewall config with tagged address objects and dynamic
// groups in vsys1 and shared, and a static group (never listed).
func dagConfig(h *harness) {
	h.t.Helper()
	h.mustCfg("set", sharedPrefix, `<tag><entry name="app.web"/></tag>`+
		`<address><entry name="shared-web"><ip-netmask>10.9.1.1</ip-netmask><tag><member>app.web</member></tag></entry></address>`+
		`<address-group><entry name="sh-web"><dynamic><filter>'app.web'</filter></dynamic></entry></address-group>`, writeOK)
	h.mustCfg("set", vsysPrefix, `<tag><entry name="app.web"/><entry name="app.db"/></tag>`+
		`<address><entry name="web1"><ip-netmask>10.9.0.1</ip-netmask><tag><member>app.web</member></tag></entry>`+
		`<entry name="db1"><ip-netmask>10.9.0.2</ip-netmask><tag><member>app.db</member></tag></entry>`+
		`<entry name="plain"><ip-netmask>10.9.0.3</ip-netmask></entry></address>`+
		`<address-group><entry name="web"><dynamic><filter>'app.web'</filter></dynamic></entry>`+
		`<entry name="web-or-db"><dynamic><filter>'app.web' or 'app.db'</filter></dynamic></entry>`+
		`<entry name="prod-app"><dynamic><filter>'env.prod' and ('app.web' or 'app.api')</filter></dynamic></entry>`+
		`<entry name="static-g"><static><member>web1</member></static></entry></address-group>`, writeOK)
	if j := h.commitAndWait(false, "<commit></commit>"); j.Job.Result != "OK" {
		h.t.Fatalf("commit: %+v", j.Job)
	}
}

func TestShowDAGMembership(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{Now: clock.Now})
	dagConfig(h)
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>app.web</member><member>env.prod</member></tag></entry>` +
		`<entry ip="10.0.0.2"><tag><member>app.db</member></tag></entry>` +
		`<entry ip="10.0.0.3"><tag><member>app.api</member><member timeout="60">env.prod</member></tag></entry>` +
		`<entry ip="10.0.0.0/24"><tag><member>app.db</member></tag></entry>`))

	steps := []struct {
		name string
		do   func()
		want map[string][]string
	}{
		{"registered", func() {}, map[string][]string{
			"vsys1/web":       {"web1 address-object", "shared-web address-object", "10.0.0.1 registered-ip"},
			"vsys1/web-or-db": {"web1 address-object", "db1 address-object", "shared-web address-object", "10.0.0.0/24 registered-ip", "10.0.0.1 registered-ip", "10.0.0.2 registered-ip"},
			"vsys1/prod-app":  {"10.0.0.1 registered-ip", "10.0.0.3 registered-ip"},
			"shared/sh-web":   {"shared-web address-object", "10.0.0.1 registered-ip"},
		}},
		{"unregister app.web of 10.0.0.1", func() {
			h.uid(unregMsg(`<entry ip="10.0.0.1"><tag><member>app.web</member></tag></entry>`))
		}, map[string][]string{
			"vsys1/web":       {"web1 address-object", "shared-web address-object"},
			"vsys1/web-or-db": {"web1 address-object", "db1 address-object", "shared-web address-object", "10.0.0.0/24 registered-ip", "10.0.0.2 registered-ip"},
			"vsys1/prod-app":  {"10.0.0.3 registered-ip"},
			"shared/sh-web":   {"shared-web address-object"},
		}},
		{"register app.web on 10.0.0.2", func() {
			h.uid(regMsg(`<entry ip="10.0.0.2"><tag><member>app.web</member></tag></entry>`))
		}, map[string][]string{
			"vsys1/web":       {"web1 address-object", "shared-web address-object", "10.0.0.2 registered-ip"},
			"vsys1/web-or-db": {"web1 address-object", "db1 address-object", "shared-web address-object", "10.0.0.0/24 registered-ip", "10.0.0.2 registered-ip"},
			"vsys1/prod-app":  {"10.0.0.3 registered-ip"},
			"shared/sh-web":   {"shared-web address-object", "10.0.0.2 registered-ip"},
		}},
		{"env.prod of 10.0.0.3 times out", func() { clock.Advance(61 * time.Second) }, map[string][]string{
			"vsys1/web":       {"web1 address-object", "shared-web address-object", "10.0.0.2 registered-ip"},
			"vsys1/web-or-db": {"web1 address-object", "db1 address-object", "shared-web address-object", "10.0.0.0/24 registered-ip", "10.0.0.2 registered-ip"},
			"vsys1/prod-app":  {},
			"shared/sh-web":   {"shared-web address-object", "10.0.0.2 registered-ip"},
		}},
	}
	for _, st := range steps {
		st.do()
		l := h.dags(showAllDAGs)
		if got := l.members(); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s:\n got %v\nwant %v", st.name, got, st.want)
		}
		// vsys groups first, in config order, then shared.
		var order []string
		for _, g := range l.Groups {
			order = append(order, g.Name)
		}
		if want := []string{"web", "web-or-db", "prod-app", "sh-web"}; !reflect.DeepEqual(order, want) {
			t.Errorf("%s: group order %v, want %v", st.name, order, want)
		}
		for name, want := range st.want {
			_, group, _ := strings.Cut(name, "/")
			got := h.dags(showDAG(group)).members()
			if len(got) != 1 || !reflect.DeepEqual(got[name], want) {
				t.Errorf("%s: name %s = %v, want %s: %v", st.name, group, got, name, want)
			}
		}
	}
}

func TestShowDAGShape(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCfg("set", sharedPrefix, `<tag><entry name="t&amp;1"/></tag>`+
		`<address><entry name="H-1.2.3.4"><ip-netmask>1.2.3.4</ip-netmask><tag><member>t&amp;1</member></tag></entry></address>`+
		`<address-group><entry name="shared-dag"><dynamic><filter>'t&amp;1' or 'risky'</filter></dynamic></entry></address-group>`, writeOK)
	h.mustCfg("set", vsysPrefix+"/address-group", `<entry name="DAG-Infected"><dynamic><filter>'infected'</filter></dynamic></entry>`, writeOK)
	h.commitAndWait(false, "<commit></commit>")
	h.uid(regMsg(`<entry ip="1.2.2.2"><tag><member>infected</member><member>risky</member></tag></entry>`))
	tests := []struct{ cmd, want string }{
		{showAllDAGs, `<response cmd="status" status="success"><result><dyn-addr-grp>` +
			`<entry><vsys>vsys1</vsys><group-name>DAG-Infected</group-name><filter>'infected'</filter>` +
			`<member-list><entry name="1.2.2.2" type="registered-ip"/></member-list></entry>` +
			`<entry><group-name>shared-dag</group-name><filter>'t&amp;1' or 'risky'</filter>` +
			`<member-list><entry name="H-1.2.3.4" type="address-object"/><entry name="1.2.2.2" type="registered-ip"/></member-list></entry>` +
			`</dyn-addr-grp></result></response>`},
		{showDAG("DAG-Infected"), `<response cmd="status" status="success"><result><dyn-addr-grp>` +
			`<entry><vsys>vsys1</vsys><group-name>DAG-Infected</group-name><filter>'infected'</filter>` +
			`<member-list><entry name="1.2.2.2" type="registered-ip"/></member-list></entry>` +
			`</dyn-addr-grp></result></response>`},
		// A name no group has: one entry with an empty member list (XSOAR's recorded answer).
		{showDAG("nope"), `<response cmd="status" status="success"><result><dyn-addr-grp><entry><member-list/></entry></dyn-addr-grp></result></response>`},
		// Names match exactly.
		{showDAG("dag-infected"), `<response cmd="status" status="success"><result><dyn-addr-grp><entry><member-list/></entry></dyn-addr-grp></result></response>`},
	}
	for _, tt := range tests {
		if code, body := h.op(tt.cmd); code != 200 || body != tt.want {
			t.Errorf("%s:\n got %d %s\nwant %s", tt.cmd, code, body, tt.want)
		}
	}
	// Without any dynamic group; static groups are not listed.
	h2 := newHarness(t, Config{})
	h2.mustCfg("set", vsysPrefix, `<address><entry name="a"><ip-netmask>10.0.0.1</ip-netmask></entry></address>`+
		`<address-group><entry name="s"><static><member>a</member></static></entry></address-group>`, writeOK)
	h2.commitAndWait(false, "<commit></commit>")
	if _, body := h2.op(showAllDAGs); body != `<response cmd="status" status="success"><result><dyn-addr-grp/></result></response>` {
		t.Errorf("no dynamic group: %s", body)
	}
	// Malformed requests are refused as unknown commands are.
	for _, bad := range []string{
		`<show><object><dynamic-address-group/></object></show>`,
		`<show><object><dynamic-address-group><name></name></dynamic-address-group></object></show>`,
		`<show><object><dynamic-address-group><bogus/></dynamic-address-group></object></show>`,
		`<show><object><dynamic-address-group><all/><name>x</name></dynamic-address-group></object></show>`,
	} {
		if _, body := h.op(bad); parseResp(t, body).Code != "17" {
			t.Errorf("%s: %s, want code 17", bad, body)
		}
	}
}

// Only the running config counts: a group added or changed in the
// candidate shows once committed.
func TestShowDAGRunningConfigOnly(t *testing.T) {
	h := newHarness(t, Config{})
	dagConfig(h)
	h.uid(regMsg(`<entry ip="10.0.0.2"><tag><member>app.db</member></tag></entry>`))
	h.mustCfg("edit", vsysPrefix+"/address-group/entry[@name='web']/dynamic/filter", `<filter>'app.db'</filter>`, writeOK)
	h.mustCfg("set", vsysPrefix+"/address-group", `<entry name="cand"><dynamic><filter>'app.db'</filter></dynamic></entry>`, writeOK)
	h.mustCfg("delete", sharedPrefix+"/address-group/entry[@name='sh-web']", "", writeOK)

	before := map[string][]string{
		"vsys1/web":       {"web1 address-object", "shared-web address-object"},
		"vsys1/web-or-db": {"web1 address-object", "db1 address-object", "shared-web address-object", "10.0.0.2 registered-ip"},
		"vsys1/prod-app":  {},
		"shared/sh-web":   {"shared-web address-object"},
	}
	if got := h.dags(showAllDAGs).members(); !reflect.DeepEqual(got, before) {
		t.Fatalf("uncommitted changes visible:\n got %v\nwant %v", got, before)
	}
	if _, body := h.op(showDAG("cand")); !strings.Contains(body, `<entry><member-list/></entry>`) {
		t.Fatalf("uncommitted group listed: %s", body)
	}
	h.commitAndWait(false, "<commit></commit>")
	after := map[string][]string{
		"vsys1/web":       {"db1 address-object", "10.0.0.2 registered-ip"},
		"vsys1/web-or-db": {"web1 address-object", "db1 address-object", "shared-web address-object", "10.0.0.2 registered-ip"},
		"vsys1/prod-app":  {},
		"vsys1/cand":      {"db1 address-object", "10.0.0.2 registered-ip"},
	}
	if got := h.dags(showAllDAGs).members(); !reflect.DeepEqual(got, after) {
		t.Fatalf("after commit:\n got %v\nwant %v", got, after)
	}
}

// vsys= picks the vsys whose groups and registrations are evaluated;
// shared groups are listed in every vsys with that vsys's registrations.
func TestShowDAGVsysScope(t *testing.T) {
	h := newHarness(t, Config{})
	dagConfig(h)
	vsys2 := "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys2']"
	h.mustCfg("set", vsys2, `<tag><entry name="app.db"/></tag>`+
		`<address><entry name="db2"><ip-netmask>10.9.2.2</ip-netmask><tag><member>app.db</member></tag></entry>`+
		// Hides the shared object of the same name from vsys2's groups.
		`<entry name="shared-web"><ip-netmask>10.9.2.9</ip-netmask><tag><member>app.db</member></tag></entry></address>`+
		`<address-group><entry name="v2"><dynamic><filter>'app.web' or 'app.db'</filter></dynamic></entry>`+
		`<entry name="web2"><dynamic><filter>'app.web'</filter></dynamic></entry></address-group>`, writeOK)
	h.commitAndWait(false, "<commit></commit>")
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>app.web</member></tag></entry>`))
	h.uid(regMsg(`<entry ip="10.0.2.1"><tag><member>app.web</member></tag></entry>`), "vsys", "vsys2")

	tests := []struct {
		vsys string
		want map[string][]string
	}{
		{"", map[string][]string{
			"vsys1/web":       {"web1 address-object", "shared-web address-object", "10.0.0.1 registered-ip"},
			"vsys1/web-or-db": {"web1 address-object", "db1 address-object", "shared-web address-object", "10.0.0.1 registered-ip"},
			"vsys1/prod-app":  {},
			"shared/sh-web":   {"shared-web address-object", "10.0.0.1 registered-ip"},
		}},
		{"vsys2", map[string][]string{
			"vsys2/v2":      {"db2 address-object", "shared-web address-object", "10.0.2.1 registered-ip"},
			"vsys2/web2":    {"10.0.2.1 registered-ip"},
			"shared/sh-web": {"shared-web address-object", "10.0.2.1 registered-ip"},
		}},
		{"vsys3", map[string][]string{
			"shared/sh-web": {"shared-web address-object"},
		}},
	}
	for _, tt := range tests {
		var extra []string
		if tt.vsys != "" {
			extra = []string{"vsys", tt.vsys}
		}
		if got := h.dags(showAllDAGs, extra...).members(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("vsys %q:\n got %v\nwant %v", tt.vsys, got, tt.want)
		}
	}
}

// Panorama lists its own dynamic groups by location without members, and
// with target= answers for the managed firewall: the groups pushed to it
// (its device group's and Panorama's shared ones) with the registrations
// made through Panorama for that target.
func TestShowDAGPanorama(t *testing.T) {
	h := newHarness(t, Config{Panorama: true})
	pano := "/config/devices/entry[@name='localhost.localdomain']"
	if _, body := h.op(showAllDAGs); body != `<response status="success"><result><device-groups/></result></response>` {
		t.Fatalf("no groups: %s", body)
	}
	h.mustCfg("set", sharedPrefix+"/address-group", `<entry name="sh"><dynamic><filter>'black'</filter></dynamic></entry>`, writeOK)
	h.mustCfg("set", pano+"/device-group", `<entry name="empty"/><entry name="eks"><address-group>`+
		`<entry name="web"><dynamic><filter>'app.web'</filter></dynamic></entry></address-group></entry>`, writeOK)
	h.commitAndWait(false, "<commit></commit>")
	h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>app.web</member><member>black</member></tag></entry>`))

	want := `<response status="success"><result><device-groups>` +
		`<entry name="shared"><address-group name="sh"><filter>'black'</filter><member-list/></address-group></entry>` +
		`<entry name="eks"><address-group name="web"><filter>'app.web'</filter><member-list/></address-group></entry>` +
		`</device-groups></result></response>`
	if _, body := h.op(showAllDAGs); body != want {
		t.Errorf("all:\n got %s\nwant %s", body, want)
	}
	want = `<response status="success"><result><device-groups>` +
		`<entry name="eks"><address-group name="web"><filter>'app.web'</filter><member-list/></address-group></entry>` +
		`</device-groups></result></response>`
	if _, body := h.op(showDAG("web")); body != want {
		t.Errorf("name web:\n got %s\nwant %s", body, want)
	}

	// The managed firewall has the group once it is pushed.
	if l := h.dags(showAllDAGs, "target", DefaultSerial); len(l.Groups) != 0 {
		t.Fatalf("groups on the firewall before a push: %+v", l)
	}
	h.push(`<commit-all><shared-policy><device-group><entry name="eks"/></device-group></shared-policy></commit-all>`)
	h.uid(regMsg(`<entry ip="10.0.0.2"><tag><member>app.web</member></tag></entry><entry ip="10.0.0.3"><tag><member>black</member></tag></entry>`), "target", DefaultSerial)
	got := h.dags(showAllDAGs, "target", DefaultSerial).members()
	// Panorama's shared groups are pushed too, to the firewall's shared.
	if want := map[string][]string{"vsys1/web": {"10.0.0.2 registered-ip"}, "shared/sh": {"10.0.0.3 registered-ip"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("target %s:\n got %v\nwant %v", DefaultSerial, got, want)
	}
	if _, body := h.post(url.Values{"type": {"op"}, "cmd": {showAllDAGs}, "target": {"999"}}, false); parseResp(t, body).Code != "13" {
		t.Errorf("unknown target: %s", body)
	}
}

// Filters have only and/or, so every parsable filter matches an address
// carrying every tag and none carrying no tag; parsing never panics.
func FuzzDAGFilter(f *testing.F) {
	for _, s := range []string{`'a'`, `'a' and ('b' or "c")`, `a or b and c`, `((x))`, `'a' 'b'`, `not a`, `('a'`, `'x and (y)' OR z`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseDAGFilter(s)
		if err != nil {
			return
		}
		if !e.match(func(string) bool { return true }) {
			t.Errorf("%q does not match an address with every tag", s)
		}
		if e.match(func(string) bool { return false }) {
			t.Errorf("%q matches an address without tags", s)
		}
	})
}
