package panossim

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Tests of what the EKS load-balancer sandwich needs (issue 13): commit
// validation, partial commits by admin, rule moves, Panorama device groups,
// templates and commit-all pushes with per-device results. Element shapes
// are those of ../../shared/reference/eks-sandwich.md.

const (
	fwDevice = "/config/devices/entry[@name='localhost.localdomain']"
	natRules = vsysPrefix + "/rulebase/nat/rules"
	vrRoutes = fwDevice + "/network/virtual-router/entry[@name='default']/routing-table/ip/static-route"
	// An inbound NAT rule as the sandwich writes it.
	inboundRule = `<entry name="web-82-inbound"><nat-type>ipv4</nat-type><from><member>untrust</member></from><to><member>untrust</member></to>` +
		`<to-interface>ethernet1/1</to-interface><service>tcp82</service><source><member>any</member></source><destination><member>any</member></destination>` +
		`<source-translation><dynamic-ip-and-port><interface-address><interface>ethernet1/2</interface></interface-address></dynamic-ip-and-port></source-translation>` +
		`<dynamic-destination-translation><translated-address>ilb-on82</translated-address><translated-port>80</translated-port></dynamic-destination-translation>` +
		`<tag><member>kubedag.c1</member></tag></entry>`
	objects = `<tag><entry name="kubedag.c1"><comments>managed by kubedag</comments></entry></tag>` +
		`<address><entry name="ilb-on82"><fqdn>internal-ilb-123.elb.us-east-1.amazonaws.com</fqdn><tag><member>kubedag.c1</member></tag></entry></address>` +
		`<service><entry name="tcp82"><protocol><tcp><port>82</port></tcp></protocol><tag><member>kubedag.c1</member></tag></entry></service>`
)

// commitAndWait commits (cmd) and polls the job to its end.
func (h *harness) commitAndWait(all bool, cmd string) jobResp {
	h.t.Helper()
	id := h.mustJob(cmd, all)
	for i := 0; i < 10; i++ {
		if j := h.pollJob(id); j.Job.Status == "FIN" {
			return j
		}
	}
	h.t.Fatalf("job %s never finished", id)
	return jobResp{}
}

func TestCommitValidation(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		xpath     string
		element   string
		wantLines []string
	}{
		{"nat rule with missing objects and tag", Config{}, natRules, inboundRule, []string{
			"Validation Error:",
			" vsys -> vsys1 -> rulebase -> nat -> rules -> web-82-inbound -> service 'tcp82' is not a valid reference",
			" vsys -> vsys1 -> rulebase -> nat -> rules -> web-82-inbound -> service is invalid",
			" vsys -> vsys1 -> rulebase -> nat -> rules -> web-82-inbound -> dynamic-destination-translation -> translated-address 'ilb-on82' is not a valid reference",
			" vsys -> vsys1 -> rulebase -> nat -> rules -> web-82-inbound -> dynamic-destination-translation -> translated-address is invalid",
			" vsys -> vsys1 -> rulebase -> nat -> rules -> web-82-inbound -> tag 'kubedag.c1' is not a valid reference",
			" vsys -> vsys1 -> rulebase -> nat -> rules -> web-82-inbound -> tag is invalid",
			"Commit failed"}},
		{"nat rule with missing zone and interface", Config{}, natRules,
			`<entry name="out"><from><member>dmz</member></from><to><member>untrust</member></to><source><member>10.1.0.0/16</member></source>` +
				`<destination><member>any</member></destination><service>any</service>` +
				`<source-translation><dynamic-ip-and-port><interface-address><interface>ethernet1/9</interface></interface-address></dynamic-ip-and-port></source-translation></entry>`,
			[]string{"Validation Error:",
				" vsys -> vsys1 -> rulebase -> nat -> rules -> out -> from 'dmz' is not a valid reference",
				" vsys -> vsys1 -> rulebase -> nat -> rules -> out -> from is invalid",
				" vsys -> vsys1 -> rulebase -> nat -> rules -> out -> source-translation -> dynamic-ip-and-port -> interface-address -> interface 'ethernet1/9' is not a valid reference",
				" vsys -> vsys1 -> rulebase -> nat -> rules -> out -> source-translation -> dynamic-ip-and-port -> interface-address -> interface is invalid",
				"Commit failed"}},
		{"static route on an unknown interface", Config{}, vrRoutes,
			`<entry name="eks-a"><destination>10.9.0.0/16</destination><interface>ethernet1/7</interface><nexthop><ip-address>10.0.1.1</ip-address></nexthop><metric>10</metric></entry>`,
			[]string{"Validation Error:",
				" network -> virtual-router -> default -> routing-table -> ip -> static-route -> eks-a -> interface 'ethernet1/7' is not a valid reference",
				" network -> virtual-router -> default -> routing-table -> ip -> static-route -> eks-a -> interface is invalid",
				"Commit failed"}},
		{"static route through an interface not in its router", Config{},
			fwDevice + "/network/virtual-router/entry[@name='VR-eks-stack']/routing-table/ip/static-route",
			`<entry name="eks-a"><destination>10.9.0.0/16</destination><interface>ethernet1/2</interface><nexthop><ip-address>10.0.1.1</ip-address></nexthop></entry>`,
			[]string{"Validation Error:",
				" network -> virtual-router -> VR-eks-stack -> routing-table -> ip -> static-route -> eks-a -> interface 'ethernet1/2' is not in network -> virtual-router -> VR-eks-stack",
				"Commit failed"}},
		{"advanced routing: bad destination in a vrf", Config{AdvancedRouting: true},
			fwDevice + "/network/logical-router/entry[@name='default']/vrf/entry[@name='default']/routing-table/ip/static-route",
			`<entry name="eks-a"><destination>10.9.0.0</destination><interface>ethernet1/2</interface><nexthop><ip-address>10.0.1.1</ip-address></nexthop></entry>`,
			[]string{"Validation Error:",
				" network -> logical-router -> default -> vrf -> default -> routing-table -> ip -> static-route -> eks-a -> destination '10.9.0.0' is not a valid value: not an IPv4 network",
				" network -> logical-router -> default -> vrf -> default -> routing-table -> ip -> static-route -> eks-a -> destination is invalid",
				"Commit failed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			before := h.sim.runningXML()
			h.mustCfg("set", tc.xpath, tc.element, writeOK)
			j := h.commitAndWait(false, "<commit></commit>")
			if j.Job.Result != "FAIL" || strings.Join(j.Job.Details, "\n") != strings.Join(tc.wantLines, "\n") {
				t.Fatalf("job %+v\nwant lines:\n%s", j.Job, strings.Join(tc.wantLines, "\n"))
			}
			if h.sim.runningXML() != before {
				t.Fatal("a failed commit changed the running config")
			}
		})
	}

	// Objects created, the same rule commits; its route too.
	h := newHarness(t, Config{})
	h.mustCfg("set", vsysPrefix, objects, writeOK)
	h.mustCfg("set", natRules, inboundRule, writeOK)
	h.mustCfg("set", vrRoutes, `<entry name="eks-a"><destination>10.9.0.0/16</destination><interface>ethernet1/2</interface><nexthop><ip-address>10.0.1.1</ip-address></nexthop><metric>10</metric></entry>`, writeOK)
	if j := h.commitAndWait(false, "<commit></commit>"); j.Job.Result != "OK" || strings.Join(j.Job.Details, "") != "Configuration committed successfully" {
		t.Fatalf("valid commit: %+v", j.Job)
	}
	// A route's destination may name an address object.
	h.mustCfg("set", vsysPrefix+"/address", `<entry name="eks-subnet"><ip-netmask>10.10.0.0/16</ip-netmask></entry>`, writeOK)
	h.mustCfg("set", vrRoutes, `<entry name="eks-b"><destination>eks-subnet</destination><interface>ethernet1/2</interface><nexthop><ip-address>10.0.1.1</ip-address></nexthop></entry>`, writeOK)
	if j := h.commitAndWait(false, "<commit></commit>"); j.Job.Result != "OK" {
		t.Fatalf("route to an address object: %+v", j.Job)
	}
	// Deleting an object still referenced fails the next commit.
	h.mustCfg("delete", vsysPrefix+"/service/entry[@name='tcp82']", "", writeOK)
	if j := h.commitAndWait(false, "<commit></commit>"); j.Job.Result != "FAIL" {
		t.Fatalf("commit with a dangling reference: %+v", j.Job)
	}
}

func (s *Sim) runningXML() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfgTree.running.String()
}

// userHarness returns a harness acting as user (a key of its own).
func (h *harness) as(user string) *harness {
	h.t.Helper()
	k, err := h.sim.APIKeyFor(user)
	if err != nil {
		h.t.Fatal(err)
	}
	c := *h
	c.key = k
	return &c
}

func TestPartialCommitByAdmin(t *testing.T) {
	h := newHarness(t, Config{Users: map[string]string{"admin": "a", "kubedag": "k"}})
	admin, kd := h.as("admin"), h.as("kubedag")
	admin.mustCfg("set", vsysPrefix+"/address", `<entry name="by-admin"><ip-netmask>10.0.0.1</ip-netmask></entry>`, writeOK)
	kd.mustCfg("set", vsysPrefix+"/address", `<entry name="by-kubedag"><ip-netmask>10.0.0.2</ip-netmask></entry>`, writeOK)
	kd.mustCfg("set", vsysPrefix+"/address/entry[@name='by-kubedag']", `<description>mine</description>`, writeOK)

	partial := `<commit><partial><admin><member>kubedag</member></admin></partial></commit>`
	if j := kd.commitAndWait(false, partial); j.Job.Result != "OK" {
		t.Fatalf("partial commit: %+v", j.Job)
	}
	kd.mustCfg("show", vsysPrefix+"/address/entry[@name='by-kubedag']", "", got19(`<entry name="by-kubedag"><ip-netmask>10.0.0.2</ip-netmask><description>mine</description></entry>`))
	if _, body := kd.cfg("show", vsysPrefix+"/address/entry[@name='by-admin']", ""); parseResp(t, body).Status != "error" {
		t.Fatalf("the other admin's change was committed: %s", body)
	}
	// Still pending in the candidate; nothing left for kubedag.
	kd.mustCfg("get", vsysPrefix+"/address/entry[@name='by-admin']/ip-netmask", "", got19(`<ip-netmask>10.0.0.1</ip-netmask>`))
	noChanges := `<response status="success" code="19"><msg>There are no changes to commit.</msg></response>`
	if _, body := kd.commit(false, partial); body != noChanges {
		t.Fatalf("second partial commit: %s", body)
	}
	// A failing partial commit (the admin's pending work is not in it) keeps
	// kubedag's change pending.
	kd.mustCfg("set", natRules, `<entry name="r"><from><member>nope</member></from><to><member>untrust</member></to><service>any</service></entry>`, writeOK)
	if j := kd.commitAndWait(false, partial); j.Job.Result != "FAIL" || len(j.Job.Details) < 2 || !strings.Contains(j.Job.Details[1], "from 'nope'") {
		t.Fatalf("invalid partial commit: %+v", j.Job)
	}
	kd.mustCfg("delete", natRules+"/entry[@name='r']", "", writeOK)
	// The admin's full commit takes everything that is left.
	if j := admin.commitAndWait(false, "<commit></commit>"); j.Job.Result != "OK" {
		t.Fatalf("full commit: %+v", j.Job)
	}
	admin.mustCfg("show", vsysPrefix+"/address/entry[@name='by-admin']/ip-netmask", "", got19(`<ip-netmask>10.0.0.1</ip-netmask>`))
	if _, body := admin.commit(false, "<commit></commit>"); body != noChanges {
		t.Fatalf("after full commit: %s", body)
	}
	// Writes that cancel out leave nothing to commit.
	kd.mustCfg("set", vsysPrefix+"/address", `<entry name="tmp"><fqdn>t.example</fqdn></entry>`, writeOK)
	kd.mustCfg("delete", vsysPrefix+"/address/entry[@name='tmp']", "", writeOK)
	if _, body := kd.commit(false, partial); body != noChanges {
		t.Fatalf("partial commit of writes that cancel out: %s", body)
	}
	// action=partial without <partial> is refused; so is an unknown action
	// (a partial without action=partial, as pan-os-python and pango send
	// it, is taken: commitforms_test.go).
	for _, tc := range []struct{ action, cmd, want string }{
		{"partial", "<commit></commit>", "commit -> partial  is missing"},
		{"frob", "<commit></commit>", `Illegal value for parameter "action" [frob].`},
	} {
		v := url.Values{"type": {"commit"}, "cmd": {tc.cmd}}
		if tc.action != "" {
			v.Set("action", tc.action)
		}
		if _, body := kd.post(v, false); !strings.Contains(body, tc.want) {
			t.Errorf("commit action=%q %s: %s, want %q", tc.action, tc.cmd, body, tc.want)
		}
	}
	// Unknown partial options are refused as devices do.
	if _, body := kd.commit(false, `<commit><partial><frob/></partial></commit>`); !strings.Contains(body, "commit -> partial -> frob  is unexpected") {
		t.Fatalf("bad partial: %s", body)
	}
}

var uuidRE = regexp.MustCompile(`uuid="([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12})"`)

func ruleOrder(t *testing.T, h *harness) []string {
	t.Helper()
	_, body := h.cfg("get", natRules, "")
	var r struct {
		Entries []struct {
			Name string `xml:"name,attr"`
		} `xml:"result>rules>entry"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range r.Entries {
		out = append(out, e.Name)
	}
	return out
}

func TestMoveAndRuleUUIDs(t *testing.T) {
	h := newHarness(t, Config{})
	for _, n := range []string{"r1", "r2", "r3", "r4"} {
		h.mustCfg("set", natRules, `<entry name="`+n+`"><from><member>untrust</member></from><to><member>untrust</member></to><service>any</service></entry>`, writeOK)
	}
	move := func(rule, where, dst string) string {
		v := url.Values{"type": {"config"}, "action": {"move"}, "xpath": {natRules + "/entry[@name='" + rule + "']"}, "where": {where}}
		if dst != "" {
			v.Set("dst", dst)
		}
		_, body := h.panPython(v)
		return body
	}
	steps := []struct {
		rule, where, dst string
		want             string
	}{
		{"r4", "top", "", "r4 r1 r2 r3"},
		{"r4", "bottom", "", "r1 r2 r3 r4"},
		{"r3", "before", "r1", "r3 r1 r2 r4"},
		{"r3", "after", "r4", "r1 r2 r4 r3"},
		{"r1", "after", "r2", "r2 r1 r4 r3"},
	}
	for _, st := range steps {
		if body := move(st.rule, st.where, st.dst); body != writeOK {
			t.Fatalf("move %s %s %s: %s", st.rule, st.where, st.dst, body)
		}
		if got := strings.Join(ruleOrder(t, h), " "); got != st.want {
			t.Fatalf("after move %s %s %s: %s, want %s", st.rule, st.where, st.dst, got, st.want)
		}
	}
	for _, bad := range []struct{ rule, where, dst, code string }{
		{"r1", "before", "", "18"}, {"r1", "sideways", "", "18"}, {"nope", "top", "", "7"}, {"r1", "after", "nope", "12"},
	} {
		if body := move(bad.rule, bad.where, bad.dst); parseResp(t, body).Code != bad.code {
			t.Errorf("move %+v: %s, want code %s", bad, body, bad.code)
		}
	}

	// Rules get a uuid on creation that edits, moves and commits keep.
	_, body := h.cfg("get", natRules+"/entry[@name='r1']", "")
	m := uuidRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("rule without uuid: %s", body)
	}
	h.mustCfg("edit", natRules+"/entry[@name='r1']", `<entry name="r1"><from><member>any</member></from><to><member>trust</member></to><service>any</service><description>x</description></entry>`, writeOK)
	if j := h.commitAndWait(false, "<commit/>"); j.Job.Result != "OK" {
		t.Fatalf("commit: %+v", j.Job)
	}
	if _, body := h.cfg("show", natRules+"/entry[@name='r1']", ""); !strings.Contains(body, `uuid="`+m[1]+`"`) {
		t.Fatalf("uuid changed by edit or commit (want %s): %s", m[1], body)
	}
	// Objects carry no uuid.
	h.mustCfg("set", vsysPrefix+"/address", `<entry name="a"><fqdn>a.example</fqdn></entry>`, writeOK)
	h.mustCfg("get", vsysPrefix+"/address/entry[@name='a']", "", got19(`<entry name="a"><fqdn>a.example</fqdn></entry>`))
	// rename.
	v := url.Values{"type": {"config"}, "action": {"rename"}, "xpath": {natRules + "/entry[@name='r2']"}, "newname": {"r2b"}}
	if _, body := h.panPython(v); body != writeOK {
		t.Fatalf("rename: %s", body)
	}
	if got := strings.Join(ruleOrder(t, h), " "); got != "r2b r1 r4 r3" {
		t.Fatalf("after rename: %s", got)
	}
	// clone copies an entry under a new name, with a uuid of its own.
	v = url.Values{"type": {"config"}, "action": {"clone"}, "xpath": {natRules}, "from": {natRules + "/entry[@name='r1']"}, "newname": {"r1-copy"}}
	if _, body := h.panPython(v); body != writeOK {
		t.Fatalf("clone: %s", body)
	}
	_, body = h.cfg("get", natRules+"/entry[@name='r1-copy']/description", "")
	if body != got19(`<description>x</description>`) {
		t.Fatalf("clone content: %s", body)
	}
	_, body = h.cfg("get", natRules+"/entry[@name='r1-copy']", "")
	if c := uuidRE.FindStringSubmatch(body); c == nil || c[1] == m[1] {
		t.Fatalf("clone uuid: %s (original %s)", body, m[1])
	}
	if _, body := h.panPython(v); parseResp(t, body).Code != "12" {
		t.Fatalf("clone onto an existing name: %s", body)
	}
	// Names longer than 63 characters are refused.
	long := strings.Repeat("n", 64)
	if _, body := h.cfg("set", natRules, `<entry name="`+long+`"><service>any</service></entry>`); parseResp(t, body).Code != "12" {
		t.Fatalf("64-character rule name: %s", body)
	}
	if _, body := h.cfg("set", vsysPrefix+"/address/entry[@name='"+long+"']", `<fqdn>x.example</fqdn>`); parseResp(t, body).Code != "12" {
		t.Fatalf("64-character object name: %s", body)
	}
}

const (
	pano    = "/config/devices/entry[@name='localhost.localdomain']"
	dgXPath = pano + "/device-group/entry[@name='eks']"
	tmplFW  = pano + "/template/entry[@name='eks-net']/config/devices/entry[@name='localhost.localdomain']"
	tsXPath = pano + "/template-stack/entry[@name='eks-stack']"
)

// pushJob is the parsed answer of show jobs id for a push.
type pushJob struct {
	Status string `xml:"status,attr"`
	Job    struct {
		ID       int    `xml:"id"`
		Type     string `xml:"type"`
		Status   string `xml:"status"`
		Result   string `xml:"result"`
		Tfin     string `xml:"tfin"`
		Progress int    `xml:"progress"`
		PushType string `xml:"push_type"`
		DGName   string `xml:"dgname"`
		Devices  []struct {
			Serial    string `xml:"serial-no"`
			Name      string `xml:"devicename"`
			MultiVsys string `xml:"multi-vsys"`
			Status    string `xml:"status"`
			Result    string `xml:"result"`
			Tstart    string `xml:"tstart"`
			Tfin      string `xml:"tfin"`
			Msg       struct {
				Cmd    string   `xml:"cmd,attr"`
				DName  string   `xml:"dname,attr"`
				DGName string   `xml:"dgname,attr"`
				JobID  string   `xml:"jobid,attr"`
				Result string   `xml:"result,attr"`
				Errors []string `xml:"errors>line"`
			} `xml:"details>msg"`
		} `xml:"devices>entry"`
	} `xml:"result>job"`
}

func (h *harness) push(cmd string) pushJob {
	h.t.Helper()
	_, body := h.commit(true, cmd)
	m := jobIDRE.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "Push job enqueued") {
		h.t.Fatalf("push answer: %s", body)
	}
	for i := 0; i < 10; i++ {
		_, body := h.op(`<show><jobs><id>` + m[1] + `</id></jobs></show>`)
		var j pushJob
		if err := xml.Unmarshal([]byte(body), &j); err != nil {
			h.t.Fatalf("%v: %s", err, body)
		}
		if j.Job.Status == "ACT" && (j.Job.Tfin != "Still Active" || len(j.Job.Devices) != 0) {
			h.t.Fatalf("active push job: %s", body)
		}
		if j.Job.Status == "FIN" {
			return j
		}
	}
	h.t.Fatal("push never finished")
	return pushJob{}
}

func TestPanoramaSandwichPush(t *testing.T) {
	devs := []Device{{Serial: "007951000000001", Name: "fw-az1"}, {Serial: "007951000000002", Name: "fw-az2"}}
	h := newHarness(t, Config{Panorama: true, Users: map[string]string{"admin": "a", "kubedag": "k"}, Devices: devs, JobPolls: 1})
	kd, admin := h.as("kubedag"), h.as("admin")

	// Objects and the NAT pre-rule in the device group; the route in a
	// template of the stack the firewalls use.
	kd.mustCfg("set", dgXPath, objects, writeOK)
	kd.mustCfg("set", dgXPath+"/pre-rulebase/nat/rules", strings.Replace(inboundRule, "ethernet1/1", "any", 1), writeOK)
	kd.mustCfg("set", tmplFW+"/network/virtual-router/entry[@name='default']/routing-table/ip/static-route",
		`<entry name="eks-a"><destination>10.9.0.0/16</destination><interface>ethernet1/2</interface><nexthop><ip-address>10.0.1.1</ip-address></nexthop><metric>10</metric></entry>`, writeOK)
	kd.mustCfg("set", tsXPath, `<templates><member>eks-net</member></templates>`, writeOK)
	// Another admin's pending work in another device group stays out.
	admin.mustCfg("set", pano+"/device-group/entry[@name='other']/address", `<entry name="x"><fqdn>x.example</fqdn></entry>`, writeOK)

	partial := `<commit><partial><admin><member>kubedag</member></admin><device-group><member>eks</member></device-group>` +
		`<template><member>eks-net</member></template><template-stack><member>eks-stack</member></template-stack></partial></commit>`
	if j := kd.commitAndWait(false, partial); j.Job.Result != "OK" {
		t.Fatalf("panorama partial commit: %+v", j.Job)
	}
	if _, body := kd.cfg("show", pano+"/device-group/entry[@name='other']", ""); parseResp(t, body).Status != "error" {
		t.Fatalf("other admin's device group was committed: %s", body)
	}

	// Push the device group with its templates: both firewalls succeed.
	j := kd.push(`<commit-all><shared-policy><device-group><entry name="eks"/></device-group><include-template>yes</include-template>` +
		`<merge-with-candidate-cfg>yes</merge-with-candidate-cfg></shared-policy></commit-all>`)
	if j.Job.Type != "CommitAll" || j.Job.Result != "OK" || j.Job.PushType != "shared-policy" || j.Job.DGName != "eks" || len(j.Job.Devices) != 2 {
		t.Fatalf("push: %+v", j.Job)
	}
	for i, d := range j.Job.Devices {
		if d.Serial != devs[i].Serial || d.Name != devs[i].Name || d.Status != "commit succeeded" || d.Result != "OK" ||
			d.Tstart == "" || d.Tfin == "" || d.MultiVsys != "no" || d.Msg.Cmd != "push-data" || d.Msg.DName != d.Serial ||
			d.Msg.DGName != "eks" || d.Msg.Result != "success" || strings.Join(d.Msg.Errors, "") != "Configuration committed successfully" {
			t.Errorf("device %d: %+v", i, d)
		}
	}
	// Each firewall now runs the rule, the objects and the route; Panorama
	// answers a targeted read from the firewall's config.
	for _, d := range devs {
		cfg, ok := h.sim.DeviceConfig(d.Serial)
		if !ok || !strings.Contains(cfg, `<entry name="web-82-inbound"`) || !strings.Contains(cfg, `<entry name="ilb-on82"><fqdn>`) ||
			!strings.Contains(cfg, `<entry name="eks-a"><destination>10.9.0.0/16</destination>`) {
			t.Fatalf("%s runs %s", d.Serial, cfg)
		}
		_, body := kd.post(url.Values{"type": {"config"}, "action": {"show"}, "target": {d.Serial},
			"xpath": {natRules + "/entry[@name='web-82-inbound']/service"}}, false)
		if body != got19(`<service>tcp82</service>`) {
			t.Fatalf("targeted show on %s: %s", d.Serial, body)
		}
	}

	// One firewall's push fails (test knob): reported per device.
	h.sim.FailPush(devs[1].Serial, 1, "Validation Error: injected")
	kd.mustCfg("set", dgXPath+"/address/entry[@name='ilb-on82']", `<description>v2</description>`, writeOK)
	kd.commitAndWait(false, partial)
	j = kd.push(`<commit-all><shared-policy><device-group><entry name="eks"/></device-group></shared-policy></commit-all>`)
	if j.Job.Result != "FAIL" || j.Job.Devices[0].Result != "OK" || j.Job.Devices[1].Result != "FAIL" ||
		j.Job.Devices[1].Status != "commit failed" || j.Job.Devices[1].Msg.Result != "failure" ||
		strings.Join(j.Job.Devices[1].Msg.Errors, "") != "Validation Error: injected" {
		t.Fatalf("push with one failing device: %+v", j.Job)
	}
	if cfg, _ := h.sim.DeviceConfig(devs[1].Serial); strings.Contains(cfg, "v2") {
		t.Fatal("a failed push changed the firewall's config")
	}
	if cfg, _ := h.sim.DeviceConfig(devs[0].Serial); !strings.Contains(cfg, "<description>v2</description>") {
		t.Fatal("the successful device did not get the push")
	}

	// A rule naming a zone no firewall has fails on every device, with
	// the firewall's validation message.
	kd.mustCfg("set", dgXPath+"/pre-rulebase/nat/rules/entry[@name='web-82-inbound']/from", `<member>dmz</member>`, writeOK)
	kd.commitAndWait(false, partial)
	j = kd.push(`<commit-all><shared-policy><device-group><entry name="eks"/></device-group></shared-policy></commit-all>`)
	if j.Job.Result != "FAIL" || len(j.Job.Devices) != 2 || j.Job.Devices[0].Result != "FAIL" ||
		!strings.Contains(strings.Join(j.Job.Devices[0].Msg.Errors, "\n"), "vsys -> vsys1 -> rulebase -> nat -> rules -> web-82-inbound -> from 'dmz' is not a valid reference") {
		t.Fatalf("push of an invalid rule: %+v", j.Job)
	}

	// A template-stack push: only the template config, to the stack's
	// devices (the stack names one).
	kd.mustCfg("set", tsXPath+"/devices", `<entry name="`+devs[0].Serial+`"/>`, writeOK)
	kd.mustCfg("set", tmplFW+"/network/virtual-router/entry[@name='default']/routing-table/ip/static-route/entry[@name='eks-a']", `<metric>11</metric>`, writeOK)
	kd.commitAndWait(false, partial)
	j = kd.push(`<commit-all><template-stack><name>eks-stack</name></template-stack></commit-all>`)
	if j.Job.Result != "OK" || j.Job.PushType != "template-stack" || len(j.Job.Devices) != 1 || j.Job.Devices[0].Serial != devs[0].Serial {
		t.Fatalf("template-stack push: %+v", j.Job)
	}
	if cfg, _ := h.sim.DeviceConfig(devs[0].Serial); !strings.Contains(cfg, "<metric>11</metric>") {
		t.Fatalf("route not updated by the template-stack push: %s", cfg)
	}

	// Pushes of what Panorama does not run, or malformed, are refused.
	for cmd, want := range map[string]string{
		`<commit-all><shared-policy><device-group><entry name="other"/></device-group></shared-policy></commit-all>`: "device-group other does not exist in the running configuration",
		`<commit-all><template-stack><name>nope</name></template-stack></commit-all>`:                                "template-stack nope does not exist",
		`<commit-all><template-stack/></commit-all>`:                                                                 "commit-all -> template-stack -> name  is missing",
		`<commit-all><frob/></commit-all>`:                                                                           "commit-all -> frob  is unexpected",
	} {
		if _, body := kd.commit(true, cmd); parseResp(t, body).Code != "17" || !strings.Contains(body, want) {
			t.Errorf("%s: %s, want code 17 %q", cmd, body, want)
		}
	}
	// A targeted read for an unmanaged serial, and a targeted write.
	if _, body := kd.post(url.Values{"type": {"config"}, "action": {"show"}, "target": {"999"}, "xpath": {"/config"}}, false); parseResp(t, body).Code != "13" {
		t.Errorf("unknown target: %s", body)
	}
	if _, body := kd.post(url.Values{"type": {"config"}, "action": {"set"}, "target": {devs[0].Serial}, "xpath": {vsysPrefix}, "element": {"<address/>"}}, false); parseResp(t, body).Code != "15" {
		t.Errorf("targeted write: %s", body)
	}
}

func TestShowJobsAll(t *testing.T) {
	h := newHarness(t, Config{JobPolls: -1})
	h.mustCfg("set", vsysPrefix+"/address", `<entry name="a"><fqdn>a.example</fqdn></entry>`, writeOK)
	h.mustJob("<commit/>", false)
	h.mustCfg("set", vsysPrefix+"/address", `<entry name="b"><fqdn>b.example</fqdn></entry>`, writeOK)
	h.mustJob("<commit/>", false)
	_, body := h.op(`<show><jobs><all></all></jobs></show>`)
	var r struct {
		Jobs []struct {
			ID      int      `xml:"id"`
			Status  string   `xml:"status"`
			Result  string   `xml:"result"`
			Details []string `xml:"details>line"`
		} `xml:"result>job"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil || len(r.Jobs) != 2 || r.Jobs[0].ID != 2 || r.Jobs[1].ID != 1 ||
		r.Jobs[0].Status != "FIN" || r.Jobs[0].Result != "OK" || len(r.Jobs[0].Details) != 1 {
		t.Fatalf("show jobs all: %v %s", err, body)
	}
	// The field order of a finished commit job, as devices print it.
	_, body = h.op(`<show><jobs><id>1</id></jobs></show>`)
	re := regexp.MustCompile(`^<response status="success"><result><job><tenq>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d</tenq><tdeq>\d\d:\d\d:\d\d</tdeq><id>1</id><user>admin</user>` +
		`<type>Commit</type><status>FIN</status><queued>NO</queued><stoppable>no</stoppable><result>OK</result><tfin>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d</tfin>` +
		`<description/><positionInQ>0</positionInQ><progress>100</progress><details><line>Configuration committed successfully</line></details><warnings/></job></result></response>$`)
	if !re.MatchString(body) {
		t.Fatalf("job shape: %s", body)
	}
}

func TestPushControlEndpoints(t *testing.T) {
	h := newHarness(t, Config{Panorama: true, Control: true})
	post := func(path string) int {
		resp, err := h.srv.Client().Post(h.srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("/_sim/fail-push?serial=" + DefaultSerial + "&n=1&details=boom"); c != http.StatusNoContent {
		t.Fatalf("fail-push: %d", c)
	}
	if c := post("/_sim/fail-push?n=1"); c != http.StatusBadRequest {
		t.Fatalf("fail-push without serial: %d", c)
	}
	h.mustCfg("set", dgXPath+"/address", `<entry name="a"><fqdn>a.example</fqdn></entry>`, writeOK)
	h.commitAndWait(false, "<commit/>")
	j := h.push(`<commit-all><shared-policy><device-group><entry name="eks"/></device-group></shared-policy></commit-all>`)
	if j.Job.Result != "FAIL" || strings.Join(j.Job.Devices[0].Msg.Errors, "") != "boom" {
		t.Fatalf("push after fail-push: %+v", j.Job)
	}
	resp, err := h.srv.Client().Get(h.srv.URL + "/_sim/device-config?serial=" + DefaultSerial)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("device-config: %d", resp.StatusCode)
	}
	resp, err = h.srv.Client().Get(h.srv.URL + "/_sim/device-config?serial=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("device-config of an unknown serial: %d", resp.StatusCode)
	}
}

// The documented whole-shared-policy forms: <shared-policy> without a
// device group pushes every device group; validate-only changes nothing.
func TestPushAllDeviceGroupsAndValidateOnly(t *testing.T) {
	devs := []Device{{Serial: "007951000000001", Name: "fw-a"}, {Serial: "007951000000002", Name: "fw-b"}}
	h := newHarness(t, Config{Panorama: true, Devices: devs})
	h.mustCfg("set", pano+"/device-group/entry[@name='dg-a']", `<devices><entry name="`+devs[0].Serial+`"/></devices>`+
		`<address><entry name="only-a"><fqdn>a.example</fqdn></entry></address>`, writeOK)
	h.mustCfg("set", pano+"/device-group/entry[@name='dg-b']", `<devices><entry name="`+devs[1].Serial+`"/></devices>`+
		`<address><entry name="only-b"><fqdn>b.example</fqdn></entry></address>`, writeOK)
	h.commitAndWait(false, "<commit/>")

	j := h.push(`<commit-all><shared-policy><validate-only></validate-only></shared-policy></commit-all>`)
	if j.Job.Result != "OK" || len(j.Job.Devices) != 2 || strings.Join(j.Job.Devices[0].Msg.Errors, "") != "Configuration is valid" {
		t.Fatalf("validate-only: %+v", j.Job)
	}
	if cfg, _ := h.sim.DeviceConfig(devs[0].Serial); strings.Contains(cfg, "only-a") {
		t.Fatal("validate-only changed a firewall")
	}
	j = h.push(`<commit-all><shared-policy></shared-policy></commit-all>`)
	if j.Job.Result != "OK" || len(j.Job.Devices) != 2 || j.Job.DGName != "" {
		t.Fatalf("push of every device group: %+v", j.Job)
	}
	a, _ := h.sim.DeviceConfig(devs[0].Serial)
	b, _ := h.sim.DeviceConfig(devs[1].Serial)
	if !strings.Contains(a, "only-a") || strings.Contains(a, "only-b") || !strings.Contains(b, "only-b") || strings.Contains(b, "only-a") {
		t.Fatalf("each firewall must run its own device group:\n%s\n%s", a, b)
	}
}

// elementNames returns the names of the child elements of the element at
// path (a sequence of names from the root) in body, in order.
func elementNames(t *testing.T, body string, path ...string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	var stack, out []string
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if len(stack) == len(path) && strings.Join(stack, "/") == strings.Join(path, "/") {
				out = append(out, e.Name.Local)
			}
			stack = append(stack, e.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			if len(out) > 0 && len(stack) < len(path) {
				return out
			}
		}
	}
}

// The field order of a finished push job and of its device entries is that
// of a Panorama answer recorded by a public client's tests (Cortex XSOAR's
// PAN-OS integration, push_to_device_success.xml).
func TestPushJobShapeMatchesRecordedAnswer(t *testing.T) {
	h := newHarness(t, Config{Panorama: true, JobPolls: -1})
	h.mustCfg("set", dgXPath+"/address", `<entry name="a"><fqdn>a.example</fqdn></entry>`, writeOK)
	h.commitAndWait(false, "<commit/>")
	id := h.mustJob(`<commit-all><shared-policy><device-group><entry name="eks"/></device-group></shared-policy></commit-all>`, true)
	_, body := h.op(`<show><jobs><id>` + id + `</id></jobs></show>`)
	recordedJob := "tenq tdeq id user type status queued stoppable result tfin description positionInQ progress push_type dgname warnings devices"
	if got := strings.Join(elementNames(t, body, "response", "result", "job"), " "); got != recordedJob {
		t.Errorf("job fields:\n got %s\nwant %s", got, recordedJob)
	}
	recordedDevice := "serial-no devicename multi-vsys vsys status result tstart tfin details"
	if got := strings.Join(elementNames(t, body, "response", "result", "job", "devices", "entry"), " "); got != recordedDevice {
		t.Errorf("device fields:\n got %s\nwant %s", got, recordedDevice)
	}
	if got := strings.Join(elementNames(t, body, "response", "result", "job", "devices", "entry", "details", "msg"), " "); got != "errors warnings" {
		t.Errorf("device details msg: %s", got)
	}
}
