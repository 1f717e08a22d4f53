package panossim

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"reflect"
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
	// Terraform creates the groups and sets parents before any commit.
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
