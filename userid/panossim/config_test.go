package panossim

import (
	"encoding/xml"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const (
	vsysPrefix = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
	webXPath   = vsysPrefix + "/address/entry[@name='web']"
)

func (h *harness) cfg(action, xpath, element string) (int, string) {
	h.t.Helper()
	v := url.Values{"type": {"config"}, "action": {action}, "xpath": {xpath}}
	if element != "" {
		v.Set("element", element)
	}
	return h.post(v, false)
}

func (h *harness) mustCfg(action, xpath, element, wantBody string) {
	h.t.Helper()
	code, body := h.cfg(action, xpath, element)
	if code != 200 || body != wantBody {
		h.t.Fatalf("%s %s:\n got %d %s\nwant %s", action, xpath, code, body, wantBody)
	}
}

func got19(inner string) string {
	return `<response status="success" code="19"><result total-count="1" count="1">` + inner + `</result></response>`
}

func TestConfigActions(t *testing.T) {
	h := newHarness(t, Config{})
	missing := `<response status="success" code="7"><result/></response>`

	h.mustCfg("get", webXPath, "", missing)
	// set at the node: the element holds its children; missing parents are created.
	h.mustCfg("set", webXPath, `<fqdn>a.example</fqdn><description>d</description>`, writeOK)
	h.mustCfg("get", webXPath, "", got19(`<entry name="web"><fqdn>a.example</fqdn><description>d</description></entry>`))
	// set at the parent with whole entries merges: leaves replaced, members added.
	h.mustCfg("set", vsysPrefix+"/address", `<entry name="web"><fqdn>b.example</fqdn><tag><member>t1</member></tag></entry><entry name="db"><ip-netmask>10.0.0.1/32</ip-netmask></entry>`, writeOK)
	h.mustCfg("set", webXPath+"/tag", `<member>t2</member><member>t1</member>`, writeOK)
	h.mustCfg("get", webXPath, "", got19(`<entry name="web"><fqdn>b.example</fqdn><description>d</description><tag><member>t1</member><member>t2</member></tag></entry>`))
	// show is the running config: nothing committed yet.
	code, body := h.cfg("show", webXPath, "")
	if code != 200 || body != `<response status="error"><msg><line>No such node</line></msg></response>` {
		t.Fatalf("show before commit: %d %s", code, body)
	}
	// edit replaces the node.
	h.mustCfg("edit", webXPath, `<entry name="web"><fqdn>c.example</fqdn></entry>`, writeOK)
	h.mustCfg("get", webXPath, "", got19(`<entry name="web"><fqdn>c.example</fqdn></entry>`))
	// edit with an element that is not the node at xpath is refused.
	code, body = h.cfg("edit", webXPath, `<entry name="other"><fqdn>x</fqdn></entry>`)
	if r := parseResp(t, body); code != 200 || r.Status != "error" || r.Code != "12" {
		t.Fatalf("mismatched edit: %d %s", code, body)
	}
	code, body = h.cfg("edit", webXPath, `<fqdn>x</fqdn>`)
	if r := parseResp(t, body); r.Code != "12" {
		t.Fatalf("child-element edit: %d %s", code, body)
	}
	// edit of a new node creates it.
	h.mustCfg("edit", vsysPrefix+"/service/entry[@name='tcp-8080']", `<entry name="tcp-8080"><protocol><tcp><port>8080</port></tcp></protocol></entry>`, writeOK)
	h.mustCfg("get", vsysPrefix+"/service/entry[@name='tcp-8080']/protocol/tcp/port", "", got19(`<port>8080</port>`))
	// delete removes; deleting again answers code 7.
	h.mustCfg("delete", vsysPrefix+"/address/entry[@name='db']", "", writeOK)
	h.mustCfg("get", vsysPrefix+"/address/entry[@name='db']", "", missing)
	h.mustCfg("delete", vsysPrefix+"/address/entry[@name='db']", "", `<response status="success" code="7"><msg>Object doesn't exist</msg></response>`)

	// Malformed element and bad xpaths.
	for _, tc := range []struct{ action, xpath, element, code string }{
		{"set", webXPath, "<fqdn>", "18"},
		{"set", webXPath, "", "18"},
		{"set", webXPath, "text", "18"},
		{"get", "/config/devices/entry[@name='x'", "", "6"},
		{"get", "/config/devices/entry[name='x']", "", "6"},
		{"get", "/config//devices", "", "6"},
		{"set", "/other/root", "<a/>", "6"},
		{"delete", "/config", "", "14"},
	} {
		code, body := h.cfg(tc.action, tc.xpath, tc.element)
		if r := parseResp(t, body); code != 200 || r.Status != "error" || r.Code != tc.code {
			t.Errorf("%s %s %q: %d %s, want code %s", tc.action, tc.xpath, tc.element, code, body, tc.code)
		}
	}
	// Double-quoted predicates work as single-quoted ones.
	h.mustCfg("get", `/config/devices/entry[@name="localhost.localdomain"]/vsys/entry[@name="vsys1"]/address/entry[@name="web"]/fqdn`, "", got19(`<fqdn>c.example</fqdn>`))
}

var jobIDRE = regexp.MustCompile(`^<response status="success" code="19"><result><msg><line>(?:Commit job|Push job) enqueued with jobid (\d+)</line></msg><job>(\d+)</job></result></response>$`)

type jobResp struct {
	Status string `xml:"status,attr"`
	Job    struct {
		ID      int      `xml:"id"`
		Type    string   `xml:"type"`
		Status  string   `xml:"status"`
		Result  string   `xml:"result"`
		Details []string `xml:"details>line"`
		Devices []struct {
			Serial string `xml:"serial-no"`
			Status string `xml:"status"`
			Result string `xml:"result"`
		} `xml:"devices>entry"`
	} `xml:"result>job"`
}

func (h *harness) commit(all bool, cmd string) (int, string) {
	h.t.Helper()
	v := url.Values{"type": {"commit"}, "cmd": {cmd}}
	switch {
	case all:
		v.Set("action", "all")
	case strings.Contains(cmd, "<partial>"):
		v.Set("action", "partial") // as documented
	}
	return h.post(v, false)
}

func (h *harness) mustJob(cmd string, all bool) string {
	h.t.Helper()
	_, body := h.commit(all, cmd)
	m := jobIDRE.FindStringSubmatch(body)
	if m == nil || m[1] != m[2] {
		h.t.Fatalf("commit answer: %s", body)
	}
	return m[1]
}

func (h *harness) pollJob(id string) jobResp {
	h.t.Helper()
	_, body := h.op(`<show><jobs><id>` + id + `</id></jobs></show>`)
	var j jobResp
	if err := xml.Unmarshal([]byte(body), &j); err != nil || j.Status != "success" {
		h.t.Fatalf("show job %s: %v %s", id, err, body)
	}
	return j
}

func TestCommitJobs(t *testing.T) {
	h := newHarness(t, Config{})
	noChanges := `<response status="success" code="19"><msg>There are no changes to commit.</msg></response>`
	if _, body := h.commit(false, "<commit></commit>"); body != noChanges {
		t.Fatalf("commit without changes: %s", body)
	}
	h.mustCfg("set", webXPath, `<fqdn>a.example</fqdn>`, writeOK)
	id := h.mustJob("<commit></commit>", false)
	j := h.pollJob(id)
	if j.Job.Status != "ACT" || j.Job.Result != "PEND" || j.Job.Type != "Commit" {
		t.Fatalf("first poll: %+v", j.Job)
	}
	j = h.pollJob(id)
	if j.Job.Status != "FIN" || j.Job.Result != "OK" || len(j.Job.Details) == 0 {
		t.Fatalf("second poll: %+v", j.Job)
	}
	h.mustCfg("show", webXPath, "", got19(`<entry name="web"><fqdn>a.example</fqdn></entry>`))
	if _, body := h.commit(false, "<commit></commit>"); body != noChanges {
		t.Fatalf("commit after commit: %s", body)
	}

	// A failing commit: running config unchanged, details surfaced.
	h.sim.FailCommits(1, "Validation Error: address -> web is invalid")
	h.mustCfg("set", webXPath, `<fqdn>b.example</fqdn>`, writeOK)
	id = h.mustJob("<commit/>", false)
	h.pollJob(id)
	j = h.pollJob(id)
	if j.Job.Status != "FIN" || j.Job.Result != "FAIL" || len(j.Job.Details) != 1 || j.Job.Details[0] != "Validation Error: address -> web is invalid" {
		t.Fatalf("failed job: %+v", j.Job)
	}
	h.mustCfg("show", webXPath+"/fqdn", "", got19(`<fqdn>a.example</fqdn>`))
	// The next commit succeeds again.
	id = h.mustJob("<commit/>", false)
	h.pollJob(id)
	if j = h.pollJob(id); j.Job.Result != "OK" {
		t.Fatalf("commit after failure: %+v", j.Job)
	}

	// Errors: unknown job, commit-all on a firewall, wrong command.
	_, body := h.op(`<show><jobs><id>999</id></jobs></show>`)
	if body != `<response status="error"><msg><line>job 999 not found</line></msg></response>` {
		t.Fatalf("unknown job: %s", body)
	}
	if _, body := h.commit(true, `<commit-all/>`); parseResp(t, body).Code != "17" {
		t.Fatalf("commit-all on a firewall: %s", body)
	}
	if _, body := h.commit(false, `<reboot/>`); parseResp(t, body).Code != "17" {
		t.Fatalf("wrong commit command: %s", body)
	}
	if _, body := h.commit(false, `<commit`); parseResp(t, body).Code != "18" {
		t.Fatalf("malformed commit: %s", body)
	}
}

func TestPanoramaCommitAll(t *testing.T) {
	h := newHarness(t, Config{Panorama: true, JobPolls: 2})
	dg := "/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='DG']"
	h.mustCfg("set", dg+"/address/entry[@name='web']", `<fqdn>a.example</fqdn>`, writeOK)
	tmpl := "/config/devices/entry[@name='localhost.localdomain']/template/entry[@name='T']/config/devices/entry[@name='localhost.localdomain']/network/virtual-router/entry[@name='default']/routing-table/ip/static-route/entry[@name='r1']"
	h.mustCfg("set", tmpl, `<destination>10.9.0.0/16</destination><nexthop><ip-address>10.0.1.1</ip-address></nexthop>`, writeOK)
	push := `<commit-all><shared-policy><device-group><entry name="DG"/></device-group><include-template>yes</include-template></shared-policy></commit-all>`
	// The device group exists only in the candidate config: no push.
	if _, body := h.commit(true, push); !strings.Contains(body, "device-group DG does not exist") {
		t.Fatalf("push of an uncommitted device group: %s", body)
	}
	if _, body := h.commit(true, `<commit-all><shared-policy/></commit-all>`); parseResp(t, body).Code != "17" {
		t.Fatalf("push without device group: %s", body)
	}
	h.mustJob("<commit></commit>", false)
	push = `<commit-all><shared-policy><device-group><entry name="DG"/></device-group><include-template>yes</include-template></shared-policy></commit-all>`
	id := h.mustJob(push, true)
	for i := 0; i < 2; i++ {
		if j := h.pollJob(id); j.Job.Status != "ACT" || j.Job.Type != "CommitAll" {
			t.Fatalf("poll %d: %+v", i, j.Job)
		}
	}
	j := h.pollJob(id)
	if j.Job.Status != "FIN" || j.Job.Result != "OK" || len(j.Job.Devices) != 1 || j.Job.Devices[0].Serial != DefaultSerial || j.Job.Devices[0].Result != "OK" {
		t.Fatalf("push job: %+v", j.Job)
	}
	h.sim.FailCommits(1, "")
	id = h.mustJob(push, true)
	h.sim.Reboot() // finishes pending jobs
	if j := h.pollJob(id); j.Job.Result != "FAIL" || j.Job.Devices[0].Result != "FAIL" || j.Job.Devices[0].Status != "commit failed" {
		t.Fatalf("failed push: %+v", j.Job)
	}
}

func TestConfigNamespacedAttributes(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCfg("set", vsysPrefix+"/address", `<entry xmlns:x="u" xmlns:y="v" x:name="a" y:name="b"><fqdn>f</fqdn></entry>`, writeOK)
	// One name attribute survives (the first), so the answer stays valid XML.
	h.mustCfg("get", vsysPrefix+"/address/entry[@name='a']", "", got19(`<entry name="a"><fqdn>f</fqdn></entry>`))
}

func TestConfigNamesOnly(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCfg("set", vsysPrefix+"/address", `<entry name="web"><fqdn>a.example</fqdn></entry><entry name="db"><fqdn>b.example</fqdn></entry>`, writeOK)
	h.mustCfg("get", vsysPrefix+"/address/entry/@name", "",
		`<response status="success" code="19"><result total-count="2" count="2"><entry name="web"/><entry name="db"/></result></response>`)
	h.mustCfg("get", vsysPrefix+"/tag/entry/@name", "", `<response status="success" code="7"><result/></response>`)
	// Only reads take it; a write to an attribute path is a bad xpath.
	if code, body := h.cfg("delete", vsysPrefix+"/address/entry/@name", ""); code != 200 || parseResp(t, body).Code != "6" {
		t.Fatalf("delete of /@name: %d %s, want code 6", code, body)
	}
}
