package panossim

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Device-group hierarchy as third-party clients drive it: pango's
// Panorama.AssignDeviceGroupParent (Terraform's panos_device_group_parent)
// and pan-os-python's DeviceGroupHierarchy.update send <request><move-dg>
// and wait for the job; both read the hierarchy with show dg-hierarchy.

const dgsXPath = "/config/devices/entry[@name='localhost.localdomain']/device-group"

// pangoMoveDG is the command pango marshals: the parent omitted when empty.
type pangoMoveDG struct {
	XMLName xml.Name `xml:"request"`
	Entry   struct {
		Name   string `xml:"name,attr"`
		Parent string `xml:"new-parent-dg,omitempty"`
	} `xml:"move-dg>entry"`
}

// pangoJob is what pango's WaitForJob reads of each show jobs answer.
type pangoJob struct {
	Result   string   `xml:"result>job>result"`
	Progress uint     `xml:"result>job>progress"`
	Details  []string `xml:"result>job>details>line"`
	Devices  []struct {
		Result string `xml:"result"`
	} `xml:"result>job>devices>entry"`
}

// pangoAssignParent replays AssignDeviceGroupParent: the op command, the
// job id from result/job, then WaitForJob: poll until progress is 100 and
// no device is PEND, fail on result FAIL with the details lines joined
// " | ". It returns the number of polls.
func (h *harness) pangoAssignParent(child, parent string) (int, error) {
	h.t.Helper()
	var req pangoMoveDG
	req.Entry.Name, req.Entry.Parent = child, parent
	cmd, err := xml.Marshal(req)
	if err != nil {
		h.t.Fatal(err)
	}
	_, body := h.op(string(cmd))
	r := parseResp(h.t, body)
	if r.Status != "success" {
		return 0, fmt.Errorf("op: %s", body)
	}
	var ans struct {
		ID uint `xml:"result>job"`
	}
	if err := xml.Unmarshal([]byte(body), &ans); err != nil || ans.ID == 0 {
		h.t.Fatalf("no job id: %v %s", err, body)
	}
	poll, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"show"`
		ID      uint     `xml:"jobs>id"`
	}{ID: ans.ID})
	for polls := 1; polls <= 20; polls++ {
		_, body := h.op(string(poll))
		var j pangoJob
		if err := xml.Unmarshal([]byte(body), &j); err != nil {
			h.t.Fatalf("show jobs: %v %s", err, body)
		}
		pending := false
		for _, d := range j.Devices {
			pending = pending || d.Result == "PEND"
		}
		if j.Progress != 100 || pending {
			continue
		}
		if j.Result == "FAIL" {
			if len(j.Details) == 0 {
				h.t.Fatalf("failed job without details: %s", body)
			}
			return polls, fmt.Errorf("%s", strings.Join(j.Details, " | "))
		}
		return polls, nil
	}
	h.t.Fatalf("job %d never reached progress 100", ans.ID)
	return 0, nil
}

// pangoHierarchy reads show dg-hierarchy as pango's DeviceGroupHierarchy
// does: each group's parent, "" at the top level.
func (h *harness) pangoHierarchy() map[string]string {
	h.t.Helper()
	type dg struct {
		Name     string `xml:"name,attr"`
		Children []dg   `xml:"dg"`
	}
	var ans struct {
		Top []dg `xml:"result>dg-hierarchy>dg"`
	}
	_, body := h.op(`<show><dg-hierarchy></dg-hierarchy></show>`)
	if err := xml.Unmarshal([]byte(body), &ans); err != nil {
		h.t.Fatalf("dg-hierarchy: %v %s", err, body)
	}
	out := map[string]string{}
	var walk func(parent string, dgs []dg)
	walk = func(parent string, dgs []dg) {
		for _, d := range dgs {
			out[d.Name] = parent
			walk(d.Name, d.Children)
		}
	}
	walk("", ans.Top)
	return out
}

// elem is a generic XML element, for reading answers the way ElementTree
// clients do (find by path, attributes, text).
type elem struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []elem     `xml:",any"`
}

func (e elem) attr(name string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// findAll is ElementTree's findall for a relative path of element names.
func (e elem) findAll(path string) []elem {
	cur := []elem{e}
	for _, name := range strings.Split(path, "/") {
		var next []elem
		for _, c := range cur {
			for _, k := range c.Children {
				if k.XMLName.Local == name {
					next = append(next, k)
				}
			}
		}
		cur = next
	}
	return cur
}

func parseElem(t testing.TB, body string) elem {
	t.Helper()
	var e elem
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not XML: %v\n%s", err, body)
	}
	return e
}

// panOSPythonHierarchy reads show dg-hierarchy as pan-os-python's
// PanoramaDeviceGroupHierarchy.fetch does: breadth first from
// ./result/dg-hierarchy/dg, the name attribute required, None (here "")
// as the parent of top-level groups.
func (h *harness) panOSPythonHierarchy() map[string]string {
	h.t.Helper()
	// pan-python turns "show dg-hierarchy" into this element form.
	_, body := h.panPython(url.Values{"type": {"op"}, "cmd": {"<show><dg-hierarchy></dg-hierarchy></show>"}})
	resp := parseElem(h.t, body)
	data := resp.findAll("result/dg-hierarchy")
	if len(data) != 1 {
		h.t.Fatalf("no result/dg-hierarchy: %s", body)
	}
	type item struct {
		parent string
		e      elem
	}
	var nodes []item
	for _, d := range data[0].findAll("dg") {
		nodes = append(nodes, item{"", d})
	}
	out := map[string]string{}
	for i := 0; i < len(nodes); i++ {
		name, ok := nodes[i].e.attr("name")
		if !ok {
			h.t.Fatalf("dg without name: %s", body)
		}
		out[name] = nodes[i].parent
		for _, c := range nodes[i].e.findAll("dg") {
			nodes = append(nodes, item{name, c})
		}
	}
	return out
}

// panOSPythonMove replays DeviceGroupHierarchy.update: the command built
// with ElementTree.tostring(encoding="utf-8") (an XML declaration first,
// empty elements self-closed), then PanDevice.syncjob: show jobs id "N"
// until status FIN, then _parse_job_results, which indexes
// job/details/line and job/id, user, tenq, tfin. It returns the result.
func (h *harness) panOSPythonMove(child string, parent *string) (string, []string) {
	h.t.Helper()
	cmd := `<?xml version='1.0' encoding='utf-8'?>` + "\n" + `<request><move-dg><entry name="` + child + `" />`
	if parent != nil {
		cmd = `<?xml version='1.0' encoding='utf-8'?>` + "\n" + `<request><move-dg><entry name="` + child + `"><new-parent-dg>` +
			*parent + `</new-parent-dg></entry>`
	}
	cmd += `</move-dg></request>`
	_, body := h.panPython(url.Values{"type": {"op"}, "cmd": {cmd}})
	job := parseElem(h.t, body).findAll("result/job")
	if len(job) != 1 {
		h.t.Fatalf("no result/job: %s", body)
	}
	id := job[0].Text
	for i := 0; i < 20; i++ {
		// pan-python's form of: show jobs id "N"
		_, body := h.panPython(url.Values{"type": {"op"}, "cmd": {"<show><jobs><id>" + id + "</id></jobs></show>"}})
		e := parseElem(h.t, body)
		status := e.findAll("result/job/status")
		if len(status) != 1 {
			h.t.Fatalf("No status element in response: %s", body)
		}
		if status[0].Text != "FIN" {
			continue
		}
		j := e.findAll("result/job")[0]
		for _, f := range []string{"id", "user", "tenq", "tfin", "result", "details"} {
			if len(j.findAll(f)) != 1 {
				h.t.Fatalf("finished job lacks %s: %s", f, body)
			}
		}
		var lines []string
		for _, l := range j.findAll("details/line") {
			lines = append(lines, l.Text)
		}
		if len(lines) == 0 {
			// job["details"]["line"] on an empty <details/> is a TypeError
			// pan-os-python does not catch.
			h.t.Fatalf("finished job without details lines: %s", body)
		}
		return j.findAll("result")[0].Text, lines
	}
	h.t.Fatalf("job %s never finished", id)
	return "", nil
}

func TestMoveDGAsPango(t *testing.T) {
	h := newHarness(t, Config{Panorama: true})
	// Terraform (and pan-os-ansible's panos_device_group) creates the groups
	// and sets parents before any commit.
	h.mustCfg("set", dgsXPath, `<entry name="a"/><entry name="b"/><entry name="c"/><entry name="d"/><entry name="e"/>`, writeOK)
	steps := []struct {
		child, parent string
		wantErr       string // "" for success
	}{
		{"b", "a", ""},
		{"c", "b", ""},
		{"d", "c", ""},
		{"e", "d", "Device group e cannot move under d: the hierarchy allows at most 4 levels"},
		{"a", "c", "Device group a cannot move under its descendant c"},
		{"a", "a", "Device group a cannot be its own parent"},
		{"e", "", ""},
		{"b", "b", "Device group b cannot be its own parent"},
	}
	for _, st := range steps {
		polls, err := h.pangoAssignParent(st.child, st.parent)
		switch {
		case st.wantErr == "" && err != nil:
			t.Fatalf("move %s under %q: %v", st.child, st.parent, err)
		case st.wantErr != "" && (err == nil || err.Error() != st.wantErr):
			t.Fatalf("move %s under %q: error %v, want %q", st.child, st.parent, err, st.wantErr)
		}
		// The job is ACT on the first poll (Config.JobPolls 1): a client
		// that does not poll to progress 100 misses the result.
		if polls != 2 {
			t.Fatalf("move %s: %d polls, want 2", st.child, polls)
		}
	}
	if got := h.pangoHierarchy(); len(got) != 0 {
		t.Fatalf("hierarchy lists uncommitted groups: %v", got)
	}
	h.commitAndWait(false, "<commit></commit>")
	want := map[string]string{"a": "", "b": "a", "c": "b", "d": "c", "e": ""}
	if got := h.pangoHierarchy(); !reflect.DeepEqual(got, want) {
		t.Fatalf("pango hierarchy %v, want %v", got, want)
	}
	if got := h.panOSPythonHierarchy(); !reflect.DeepEqual(got, want) {
		t.Fatalf("pan-os-python hierarchy %v, want %v", got, want)
	}
	// Moving a group moves its descendants with it.
	if _, err := h.pangoAssignParent("c", ""); err != nil {
		t.Fatal(err)
	}
	want["c"] = ""
	if got := h.pangoHierarchy(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after moving c to the top: %v, want %v", got, want)
	}
	// Now d is two levels below the top: e fits under it.
	if _, err := h.pangoAssignParent("e", "d"); err != nil {
		t.Fatal(err)
	}
}

func TestMoveDGAsPanOSPython(t *testing.T) {
	h := newHarness(t, Config{Panorama: true, JobPolls: -1}) // FIN at once, as its author observed
	h.mustCfg("set", dgsXPath, `<entry name="parent dg"/><entry name="child"/>`, writeOK)
	h.commitAndWait(false, "<commit></commit>")
	p := "parent dg"
	if res, lines := h.panOSPythonMove("child", &p); res != "OK" || strings.Join(lines, "|") != "Device group child moved under parent dg" {
		t.Fatalf("move: %s %q", res, lines)
	}
	if got, want := h.panOSPythonHierarchy(), map[string]string{"parent dg": "", "child": "parent dg"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hierarchy %v, want %v", got, want)
	}
	if res, lines := h.panOSPythonMove("parent dg", &[]string{"child"}[0]); res != "FAIL" || len(lines) != 1 {
		t.Fatalf("move under a descendant: %s %q", res, lines)
	}
	if res, _ := h.panOSPythonMove("child", nil); res != "OK" {
		t.Fatalf("move to the top: %s", res)
	}
	if got, want := h.panOSPythonHierarchy(), map[string]string{"parent dg": "", "child": ""}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hierarchy %v, want %v", got, want)
	}
	// The job as show jobs all lists it.
	_, body := h.op(`<show><jobs><all/></jobs></show>`)
	if !strings.Contains(body, "<type>MoveDG</type>") || !strings.Contains(body, "<user>admin</user>") {
		t.Fatalf("show jobs all: %s", body)
	}
}

func TestMoveDGRefused(t *testing.T) {
	h := newHarness(t, Config{Panorama: true})
	h.mustCfg("set", dgsXPath, `<entry name="a"/><entry name="b"/>`, writeOK)
	fw := newHarness(t, Config{})
	tests := []struct {
		name string
		h    *harness
		cmd  string
		want string
	}{
		{"unknown group", h, `<request><move-dg><entry name="x"><new-parent-dg>a</new-parent-dg></entry></move-dg></request>`,
			`<response status="error" code="17"><msg><line><![CDATA[ request -> move-dg -> entry 'x' is not a valid reference]]></line></msg></response>`},
		{"unknown parent", h, `<request><move-dg><entry name="a"><new-parent-dg>shared</new-parent-dg></entry></move-dg></request>`,
			`<response status="error" code="17"><msg><line><![CDATA[ request -> move-dg -> entry -> new-parent-dg 'shared' is not a valid reference]]></line></msg></response>`},
		{"no entry", h, `<request><move-dg/></request>`,
			`<response status="error" code="17"><msg><line><![CDATA[ request -> move-dg  is incomplete]]></line></msg></response>`},
		{"entry without name", h, `<request><move-dg><entry/></move-dg></request>`,
			`<response status="error" code="17"><msg><line><![CDATA[ request -> move-dg -> entry  is incomplete]]></line></msg></response>`},
		{"unknown element", h, `<request><move-dg><entry name="a"><parent>b</parent></entry></move-dg></request>`,
			`<response status="error" code="17"><msg><line><![CDATA[ request -> move-dg -> entry -> parent  is unexpected]]></line></msg></response>`},
		{"two entries", h, `<request><move-dg><entry name="a"/><entry name="b"/></move-dg></request>`,
			`<response status="error" code="17"><msg><line><![CDATA[ request -> move-dg -> entry  is unexpected]]></line></msg></response>`},
		{"firewall", fw, `<request><move-dg><entry name="a"/></move-dg></request>`,
			`<response status="error" code="17"><msg><line><![CDATA[ request -> move-dg  is unexpected]]></line></msg></response>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := tc.h.op(tc.cmd); code != 200 || body != tc.want {
				t.Fatalf("got %d %s\nwant %s", code, body, tc.want)
			}
		})
	}
	// Nothing moved, no job made.
	if _, body := h.op(`<show><jobs><all/></jobs></show>`); strings.Contains(body, "<job>") {
		t.Fatalf("refused moves made jobs: %s", body)
	}
	if err := h.sim.SetDeviceGroupParent("a", "a"); err == nil {
		t.Fatal("knob accepted a group as its own parent")
	}
	if err := New(Config{}).SetDeviceGroupParent("a", ""); err == nil {
		t.Fatal("knob worked on a firewall")
	}
}

// The knob and move-dg share their checks: the knob's moves show in the
// readonly config as a device keeps them.
func TestSetDeviceGroupParentKnob(t *testing.T) {
	h := newHarness(t, Config{Panorama: true})
	var entries strings.Builder
	for i := range 5 {
		entries.WriteString(`<entry name="g` + strconv.Itoa(i) + `"/>`)
	}
	h.mustCfg("set", dgsXPath, entries.String(), writeOK)
	for i := 1; i < 4; i++ {
		if err := h.sim.SetDeviceGroupParent("g"+strconv.Itoa(i), "g"+strconv.Itoa(i-1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sim.SetDeviceGroupParent("g4", "g3"); err == nil || !strings.Contains(err.Error(), "at most 4 levels") {
		t.Fatalf("fifth level: %v", err)
	}
	h.mustCfg("get", "/config/readonly/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='g3']/parent-dg", "", got19(`<parent-dg>g2</parent-dg>`))
}

// natRule is a NAT rule a firewall accepts (zones of its default config),
// translating to addr when it is not "".
func natRule(name, addr string) string {
	r := `<entry name="` + name + `"><from><member>untrust</member></from><to><member>untrust</member></to>` +
		`<source><member>any</member></source><destination><member>any</member></destination><service>any</service>`
	if addr != "" {
		r += `<dynamic-destination-translation><translated-address>` + addr + `</translated-address><translated-port>80</translated-port></dynamic-destination-translation>`
	}
	return r + `</entry>`
}

func secRule(name string) string {
	return `<entry name="` + name + `"><from><member>any</member></from><to><member>any</member></to><source><member>any</member></source>` +
		`<destination><member>any</member></destination><application><member>any</member></application><service><member>any</member></service><action>allow</action></entry>`
}

// setRules writes one NAT and one security rule named prefix+"-"+rb into
// location loc's pre- and post-rulebase.
func (h *harness) setRules(loc, prefix string) {
	h.t.Helper()
	for _, rb := range []string{"pre", "post"} {
		h.mustCfg("set", loc+"/"+rb+"-rulebase/nat/rules", natRule(prefix+"-"+rb, ""), writeOK)
		h.mustCfg("set", loc+"/"+rb+"-rulebase/security/rules", secRule(prefix+"-"+rb), writeOK)
	}
}

// addLocalRules gives managed firewall serial its own NAT and security
// rule "local", as its administrator would.
func (h *harness) addLocalRules(serial string) {
	h.t.Helper()
	h.sim.mu.Lock()
	defer h.sim.mu.Unlock()
	ds := h.sim.devices[serial]
	for typ, rule := range map[string]string{"nat": natRule("local", ""), "security": secRule("local")} {
		rules, err := ensure(ds.base, withSteps(deviceSteps, step("vsys", ""), step("entry", "vsys1"), step("rulebase", ""), step(typ, ""), step("rules", "")))
		if err != nil {
			h.t.Fatal(err)
		}
		n, err := parseNodes(rule)
		if err != nil {
			h.t.Fatal(err)
		}
		rules.children = append(rules.children, n[0])
	}
	ds.running = ds.effective(ds.tmpl, ds.policy)
}

// fwView is what a test reads of a managed firewall's running config.
type fwView struct {
	nat, security []string          // rule names in order
	vsysAddrs     map[string]string // vsys1 address name -> its value
	sharedAddrs   []string
}

func (h *harness) fwView(serial string) fwView {
	h.t.Helper()
	cfg, ok := h.sim.DeviceConfig(serial)
	if !ok {
		h.t.Fatalf("no firewall %s", serial)
	}
	root := parseElem(h.t, cfg)
	names := func(path string) []string {
		var out []string
		for _, e := range root.findAll(path) {
			n, _ := e.attr("name")
			out = append(out, n)
		}
		return out
	}
	v := fwView{
		nat:         names("devices/entry/vsys/entry/rulebase/nat/rules/entry"),
		security:    names("devices/entry/vsys/entry/rulebase/security/rules/entry"),
		vsysAddrs:   map[string]string{},
		sharedAddrs: names("shared/address/entry"),
	}
	for _, e := range root.findAll("devices/entry/vsys/entry/address/entry") {
		n, _ := e.attr("name")
		var vals []string
		for _, c := range e.Children {
			vals = append(vals, c.XMLName.Local+"="+c.Text)
		}
		v.vsysAddrs[n] = strings.Join(vals, ",")
	}
	return v
}

// A firewall in device group C, child of P, gets the objects of shared, P
// and C (C's replacing P's of the same name) and its rules in Panorama's
// evaluation order. A push of P reaches P's own firewalls only.
func TestPushMergesAncestors(t *testing.T) {
	const fwC, fwP, fwX = "007951000000011", "007951000000012", "007951000000013"
	devs := []Device{{Serial: fwC, Name: "fw-c"}, {Serial: fwP, Name: "fw-p"}, {Serial: fwX, Name: "fw-x"}}
	h := newHarness(t, Config{Panorama: true, Devices: devs, JobPolls: -1})
	for _, d := range devs {
		h.addLocalRules(d.Serial)
	}
	dg := func(name string) string { return pano + "/device-group/entry[@name='" + name + "']" }
	h.mustCfg("set", sharedPrefix+"/address", `<entry name="sh-addr"><ip-netmask>10.9.9.9</ip-netmask></entry>`, writeOK)
	h.setRules(sharedPrefix, "shared")
	h.mustCfg("set", pano+"/device-group", `<entry name="P"><devices><entry name="`+fwP+`"/></devices></entry>`+
		`<entry name="C"><devices><entry name="`+fwC+`"/></devices></entry><entry name="X"><devices><entry name="`+fwX+`"/></devices></entry>`, writeOK)
	h.mustCfg("set", dg("P")+"/address", `<entry name="p-web"><fqdn>web.example</fqdn></entry><entry name="dup"><ip-netmask>10.0.0.1</ip-netmask></entry>`, writeOK)
	h.mustCfg("set", dg("C")+"/address", `<entry name="dup"><ip-netmask>10.0.0.2</ip-netmask></entry><entry name="c-only"><fqdn>c.example</fqdn></entry>`, writeOK)
	h.setRules(dg("P"), "P")
	h.setRules(dg("C"), "C")
	h.setRules(dg("X"), "X")
	if _, err := h.pangoAssignParent("C", "P"); err != nil {
		t.Fatal(err)
	}
	if j := h.commitAndWait(false, "<commit></commit>"); j.Job.Result != "OK" {
		t.Fatalf("panorama commit: %+v", j.Job)
	}

	order := func(prefixes ...string) []string {
		var out []string
		for _, p := range prefixes {
			out = append(out, p+"-pre")
		}
		out = append(out, "local")
		for i := len(prefixes) - 1; i >= 0; i-- {
			out = append(out, prefixes[i]+"-post")
		}
		return out
	}
	factory := []string{"local"}
	underC := order("shared", "P", "C")
	underP := order("shared", "P")
	underX := order("shared", "X")
	pushDG := func(name string) string {
		return `<commit-all><shared-policy><device-group><entry name="` + name + `"/></device-group></shared-policy></commit-all>`
	}
	steps := []struct {
		name    string
		cmd     string
		devices []string            // serials the push reaches
		rules   map[string][]string // serial -> NAT (and security) rule order after it
	}{
		{"push C", pushDG("C"), []string{fwC}, map[string][]string{fwC: underC, fwP: factory, fwX: factory}},
		// A push of the parent does not reach its descendants' firewalls.
		{"push P", pushDG("P"), []string{fwP}, map[string][]string{fwC: underC, fwP: underP, fwX: factory}},
		{"push all", `<commit-all><shared-policy/></commit-all>`, []string{fwC, fwP, fwX}, map[string][]string{fwC: underC, fwP: underP, fwX: underX}},
	}
	for _, st := range steps {
		j := h.push(st.cmd)
		var got []string
		for _, d := range j.Job.Devices {
			got = append(got, d.Serial)
			if d.Result != "OK" {
				t.Fatalf("%s: device %s: %+v", st.name, d.Serial, d)
			}
		}
		if !reflect.DeepEqual(got, st.devices) {
			t.Fatalf("%s reached %v, want %v", st.name, got, st.devices)
		}
		for serial, want := range st.rules {
			v := h.fwView(serial)
			if !reflect.DeepEqual(v.nat, want) || !reflect.DeepEqual(v.security, want) {
				t.Errorf("%s: firewall %s rules\n nat %v\n sec %v\nwant %v", st.name, serial, v.nat, v.security, want)
			}
		}
	}
	v := h.fwView(fwC)
	wantAddrs := map[string]string{"p-web": "fqdn=web.example", "dup": "ip-netmask=10.0.0.2", "c-only": "fqdn=c.example"}
	if !reflect.DeepEqual(v.vsysAddrs, wantAddrs) || !reflect.DeepEqual(v.sharedAddrs, []string{"sh-addr"}) {
		t.Errorf("firewall in C: vsys1 addresses %v, shared %v", v.vsysAddrs, v.sharedAddrs)
	}
	if v := h.fwView(fwP); v.vsysAddrs["dup"] != "ip-netmask=10.0.0.1" || v.vsysAddrs["c-only"] != "" {
		t.Errorf("firewall in P: vsys1 addresses %v", v.vsysAddrs)
	}
}

// A rule may reference objects of its device group, its ancestors and
// shared, not of its descendants: Panorama's commit checks that, and the
// firewall's commit of the merged push resolves the references.
func TestDGParentObjectReference(t *testing.T) {
	tests := []struct {
		name      string
		nest      bool   // C under P
		ruleIn    string // location of the NAT rule
		objIn     string // location of the address it translates to
		wantLines []string
	}{
		{"child rule, parent object", true, "C", "P", nil},
		{"child rule, shared object", true, "C", "shared", nil},
		{"grandchild rule, grandparent object", true, "G", "P", nil},
		{"child rule, parent object, not nested", false, "C", "P", []string{
			"Validation Error:",
			" device-group -> C -> pre-rulebase -> nat -> rules -> r1 -> dynamic-destination-translation -> translated-address 'obj' is not a valid reference",
			" device-group -> C -> pre-rulebase -> nat -> rules -> r1 -> dynamic-destination-translation -> translated-address is invalid",
			"Commit failed",
		}},
		{"parent rule, child object", true, "P", "C", []string{
			"Validation Error:",
			" device-group -> P -> pre-rulebase -> nat -> rules -> r1 -> dynamic-destination-translation -> translated-address 'obj' is not a valid reference",
			" device-group -> P -> pre-rulebase -> nat -> rules -> r1 -> dynamic-destination-translation -> translated-address is invalid",
			"Commit failed",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Panorama: true, JobPolls: -1})
			loc := func(name string) string {
				if name == "shared" {
					return sharedPrefix
				}
				return pano + "/device-group/entry[@name='" + name + "']"
			}
			// The firewall is assigned to G, the deepest group.
			h.mustCfg("set", pano+"/device-group", `<entry name="P"/><entry name="C"/><entry name="G"><devices><entry name="`+DefaultSerial+`"/></devices></entry>`, writeOK)
			h.mustCfg("set", loc(tc.objIn)+"/address", `<entry name="obj"><fqdn>web.example</fqdn></entry>`, writeOK)
			h.mustCfg("set", loc(tc.ruleIn)+"/pre-rulebase/nat/rules", natRule("r1", "obj"), writeOK)
			if tc.nest {
				for _, m := range [][2]string{{"C", "P"}, {"G", "C"}} {
					if _, err := h.pangoAssignParent(m[0], m[1]); err != nil {
						t.Fatal(err)
					}
				}
			}
			j := h.commitAndWait(false, "<commit></commit>")
			if !reflect.DeepEqual(j.Job.Details, tc.wantLines) && (tc.wantLines != nil || j.Job.Result != "OK") {
				t.Fatalf("panorama commit: %s %q\nwant %q", j.Job.Result, j.Job.Details, tc.wantLines)
			}
			if tc.wantLines != nil {
				return
			}
			// The firewall of G commits the merged config: the reference
			// resolves against the pushed ancestor object.
			p := h.push(`<commit-all><shared-policy><device-group><entry name="G"/></device-group></shared-policy></commit-all>`)
			if p.Job.Result != "OK" || len(p.Job.Devices) != 1 || p.Job.Devices[0].Result != "OK" {
				t.Fatalf("push: %+v", p.Job)
			}
			if v := h.fwView(DefaultSerial); !slices.Contains(v.nat, "r1") {
				t.Fatalf("rule not pushed: %v", v.nat)
			}
		})
	}
}
