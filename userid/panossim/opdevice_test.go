package panossim

import (
	"encoding/xml"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Device-state op commands, sent as the clients put them on the wire and
// read back as those clients read them.

// opResult is what pan-os-python's PanConfig(element_result).python()
// ["result"], panos_facts' find("./result").text and PowerPAN's
// $Response.result read: the text of response/result.
type opResult struct {
	Status string `xml:"status,attr"`
	Result string `xml:"result"`
}

func (h *harness) opText(cmd string, extra ...string) opResult {
	h.t.Helper()
	q := url.Values{"type": {"op"}, "cmd": {cmd}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	_, body := h.panPython(q)
	var r opResult
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		h.t.Fatalf("%s: %v\n%s", cmd, err, body)
	}
	if r.Status != "success" {
		h.t.Fatalf("%s: %s", cmd, body)
	}
	return r
}

// pan-os-python's PanDevice.pending_changes and panos_facts send
// "check pending-changes" (pan.xapi's cmd_xml form, the one PowerPAN
// sends too); panos_facts then asks check full-commit-required when the
// answer is yes.
func TestCheckPendingChanges(t *testing.T) {
	const check = "<check><pending-changes></pending-changes></check>"
	const addr = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address"
	h := newHarness(t, Config{})
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"fresh device", func() {}, "no"},
		{"after a set", func() { h.mustCfg("set", addr, `<entry name="a"><ip-netmask>10.0.0.1</ip-netmask></entry>`, writeOK) }, "yes"},
		{"after the commit", func() { h.pollJob(h.mustJob("<commit></commit>", false)) }, "no"},
		{"after a delete", func() { h.mustCfg("delete", addr+"/entry[@name='a']", "", writeOK) }, "yes"},
		{"after setting it back", func() { h.mustCfg("set", addr, `<entry name="a"><ip-netmask>10.0.0.1</ip-netmask></entry>`, writeOK) }, "no"},
	}
	for _, st := range steps {
		st.do()
		if got := h.opText(check).Result; got != st.want {
			t.Fatalf("%s: pending-changes %q, want %q", st.name, got, st.want)
		}
	}
	h.mustCfg("set", addr, `<entry name="b"><fqdn>b.example</fqdn></entry>`, writeOK)
	if got := h.opText(check).Result; got != "yes" {
		t.Fatalf("pending-changes %q, want yes", got)
	}
	if got := h.opText("<check><full-commit-required></full-commit-required></check>").Result; got != "no" {
		t.Fatalf("full-commit-required %q, want no", got)
	}

	pano := newHarness(t, Config{Panorama: true})
	pano.mustCfg("set", "/config/devices/entry[@name='localhost.localdomain']/device-group", `<entry name="dg1"/>`, writeOK)
	if got := pano.opText(check).Result; got != "yes" {
		t.Fatalf("Panorama pending-changes %q, want yes", got)
	}
	// Asked of a managed firewall through Panorama.
	if got := pano.opText(check, "target", DefaultSerial).Result; got != "no" {
		t.Fatalf("targeted pending-changes %q, want no", got)
	}
	if _, body := pano.op(check, "target", "123"); parseResp(t, body).Code != "13" {
		t.Fatalf("unknown target: %s", body)
	}
	if _, body := h.op(check, "target", DefaultSerial); parseResp(t, body).Code != "13" {
		t.Fatalf("target on a firewall: %s", body)
	}
}

// pan-os-python's show_highavailability_state (show high-availability
// state) and panos_facts' ha subsets (show high-availability all) read
// result/enabled; "no" means standalone, on a firewall as on Panorama.
func TestHighAvailabilityStandalone(t *testing.T) {
	for _, cfg := range []Config{{}, {Panorama: true}} {
		h := newHarness(t, cfg)
		for _, sub := range []string{"state", "all"} {
			_, body := h.panPython(url.Values{"type": {"op"}, "cmd": {"<show><high-availability><" + sub + "></" + sub + "></high-availability></show>"}})
			var r struct {
				Status  string    `xml:"status,attr"`
				Enabled string    `xml:"result>enabled"`
				Group   *struct{} `xml:"result>group"`
			}
			if err := xml.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" || r.Enabled != "no" || r.Group != nil {
				t.Fatalf("panorama=%v show high-availability %s: %v %s", cfg.Panorama, sub, err, body)
			}
		}
	}
}

// pango's Client.Clock marshals its request struct and parses the result
// with time.UnixDate+"\n".
func TestShowClockAsPangoParsesIt(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{Now: clock.Now})
	type tReq struct {
		XMLName xml.Name `xml:"show"`
		Cmd     string   `xml:"clock"`
	}
	cmd, err := xml.Marshal(tReq{})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{clock.Now(), clock.Now().Add(40 * 24 * time.Hour)} {
		clock.Advance(at.Sub(clock.Now()))
		got, err := time.Parse(time.UnixDate+"\n", h.opText(string(cmd)).Result)
		if err != nil || !got.Equal(at) {
			t.Fatalf("clock at %v: parsed %v, %v", at, got, err)
		}
	}
	// A clock set in another zone still reads back as the same instant.
	h2 := newHarness(t, Config{Now: func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 7200)) }})
	if r := h2.opText("<show><clock/></show>").Result; r != "Mon Jun  1 10:00:00 UTC 2026\n" {
		t.Fatalf("clock %q", r)
	}
}

// Malformed device-state commands are refused as unknown op commands are,
// naming the first unexpected element.
func TestDeviceOpStrictGrammar(t *testing.T) {
	h := newHarness(t, Config{})
	for cmd, want := range map[string]string{
		"<check><bogus/></check>": " check -> bogus  is unexpected",
		"<check/>":                " check  is unexpected",
		"<check><pending-changes><x/></pending-changes></check>":              " check -> pending-changes -> x  is unexpected",
		"<check><pending-changes>yes</pending-changes></check>":               " check -> pending-changes  is unexpected",
		"<show><high-availability/></show>":                                   " show -> high-availability  is unexpected",
		"<show><high-availability><bogus/></high-availability></show>":        " show -> high-availability -> bogus  is unexpected",
		"<show><high-availability><all><x/></all></high-availability></show>": " show -> high-availability -> all -> x  is unexpected",
		"<show><clock><more/></clock></show>":                                 " show -> clock -> more  is unexpected",
		"<show><session><all/></session></show>":                              " show -> session -> all  is unexpected",
		"<show><routing><route><type>static</type></route></routing></show>":  " show -> routing -> route -> type  is unexpected",
	} {
		_, body := h.op(cmd)
		wantBody := `<response status="error" code="17"><msg><line><![CDATA[` + want + `]]></line></msg></response>`
		if body != wantBody {
			t.Errorf("%s:\n got %s\nwant %s", cmd, body, wantBody)
		}
	}
}

// panos_facts' default gather_subset (all but config) on a firewall sends,
// besides show system info and the checks: show session info, show routing
// route, show high-availability all and show session meter; it reads them as
// below (Session, Routing, Ha and VsysFacts populate_facts).
func TestPanosFactsDefaultSubsets(t *testing.T) {
	h := newHarness(t, Config{})
	const vr = "/config/devices/entry[@name='localhost.localdomain']/network/virtual-router/entry[@name='default']/routing-table/ip/static-route"
	h.mustCfg("set", vr, `<entry name="to-spoke"><destination>10.9.0.0/16</destination><nexthop><ip-address>10.0.2.1</ip-address></nexthop>`+
		`<interface>ethernet1/2</interface><metric>20</metric></entry><entry name="blackhole"><destination>192.0.2.0/24</destination></entry>`, writeOK)
	h.pollJob(h.mustJob("<commit></commit>", false))

	_, body := h.panPython(url.Values{"type": {"op"}, "cmd": {"<show><session><info></info></session></show>"}})
	var sess struct {
		Active string `xml:"result>num-active"`
		Max    string `xml:"result>num-max"`
		PPS    string `xml:"result>pps"`
		Kbps   string `xml:"result>kbps"`
	}
	if err := xml.Unmarshal([]byte(body), &sess); err != nil || sess.Active != "0" || sess.Max != "2000000" || sess.PPS != "0" || sess.Kbps != "0" {
		t.Fatalf("show session info: %+v %v\n%s", sess, err, body)
	}

	_, body = h.panPython(url.Values{"type": {"op"}, "cmd": {"<show><routing><route></route></routing></show>"}})
	var routes struct {
		Flags   string `xml:"result>flags"`
		Entries []struct {
			Inner []struct {
				XMLName xml.Name
				Text    string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"result>entry"`
	}
	if err := xml.Unmarshal([]byte(body), &routes); err != nil || !strings.HasPrefix(routes.Flags, "flags: A:active") {
		t.Fatalf("show routing route: %v\n%s", err, body)
	}
	// panos_facts: {route.tag.replace("-", "_"): route.text for route in entry}.
	var table []map[string]string
	for _, e := range routes.Entries {
		m := map[string]string{}
		for _, f := range e.Inner {
			m[strings.ReplaceAll(f.XMLName.Local, "-", "_")] = f.Text
		}
		table = append(table, m)
	}
	want := []map[string]string{
		{"virtual_router": "default", "destination": "10.9.0.0/16", "nexthop": "10.0.2.1", "metric": "20", "flags": "A S   ", "age": "", "interface": "ethernet1/2", "route_table": "unicast"},
		{"virtual_router": "default", "destination": "192.0.2.0/24", "nexthop": "", "metric": "10", "flags": "A S   ", "age": "", "interface": "", "route_table": "unicast"},
	}
	if !reflect.DeepEqual(table, want) {
		t.Fatalf("routing table:\n got %v\nwant %v", table, want)
	}

	// VsysFacts: session_root.find(".//entry/[vsys='1']"), then .//current
	// and .//maximum.
	_, body = h.panPython(url.Values{"type": {"op"}, "cmd": {"<show><session><meter></meter></session></show>"}})
	var meter struct {
		Entries []struct {
			Vsys    string `xml:"vsys"`
			Current string `xml:"current"`
			Maximum string `xml:"maximum"`
		} `xml:"result>entry"`
	}
	if err := xml.Unmarshal([]byte(body), &meter); err != nil || len(meter.Entries) != 1 ||
		meter.Entries[0].Vsys != "1" || meter.Entries[0].Current != "0" || meter.Entries[0].Maximum != "0" {
		t.Fatalf("show session meter: %+v %v\n%s", meter, err, body)
	}

	// Panorama has no sessions or routing table of its own (panos_facts
	// runs only system, ha and config there); through it, a managed
	// firewall answers.
	pano := newHarness(t, Config{Panorama: true})
	for cmd, head := range map[string]string{
		"<show><session><info></info></session></show>":   "show -> session",
		"<show><session><meter></meter></session></show>": "show -> session",
		"<show><routing><route></route></routing></show>": "show -> routing",
	} {
		if _, body := pano.op(cmd); !strings.Contains(body, "<![CDATA[ "+head+"  is unexpected]]>") {
			t.Errorf("Panorama %s: %s", cmd, body)
		}
		if r := pano.opText(cmd, "target", DefaultSerial); r.Status != "success" {
			t.Errorf("Panorama %s for its firewall: %+v", cmd, r)
		}
	}
	// Advanced routing has logical routers, not this command.
	ar := newHarness(t, Config{AdvancedRouting: true})
	if _, body := ar.op("<show><routing><route/></routing></show>"); !strings.Contains(body, "<![CDATA[ show -> routing  is unexpected]]>") {
		t.Fatalf("show routing route with advanced routing: %s", body)
	}
}

// pan-os-python's revert_to_running_configuration and pango's
// RevertToRunningConfig send load config from running-config.xml; revert
// config is the command recorded with its answer. Both drop every admin's
// uncommitted changes; another admin's config lock forbids that.
func TestRevertCandidate(t *testing.T) {
	const addr = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address"
	const check = "<check><pending-changes></pending-changes></check>"
	h := newHarness(t, Config{Users: map[string]string{"admin": "a", "ops": "o"}})
	ops := h.as("ops")
	for cmd, want := range map[string]string{
		"<load><config><from>running-config.xml</from></config></load>": "Config loaded from running-config.xml",
		"<revert><config></config></revert>":                            "All changes were reverted from configuration",
	} {
		h.mustCfg("set", addr, `<entry name="a"><ip-netmask>10.0.0.1</ip-netmask></entry>`, writeOK)
		ops.mustCfg("set", addr, `<entry name="o"><ip-netmask>10.0.0.2</ip-netmask></entry>`, writeOK)
		_, body := h.panPython(url.Values{"type": {"op"}, "cmd": {cmd}})
		if body != `<response status="success"><result><msg><line>`+want+`</line></msg></result></response>` {
			t.Fatalf("%s: %s", cmd, body)
		}
		if got := h.opText(check).Result; got != "no" {
			t.Fatalf("%s: pending-changes %q after the revert", cmd, got)
		}
		if _, body := h.cfg("get", addr+"/entry", ""); parseResp(t, body).Code != "7" {
			t.Fatalf("%s: candidate still holds the reverted entries: %s", cmd, body)
		}
		// Nothing is left for a commit.
		if _, body := h.commit(false, "<commit></commit>"); !strings.Contains(body, "There are no changes to commit.") {
			t.Fatalf("%s: commit after revert: %s", cmd, body)
		}
	}
	ops.mustCfg("set", addr, `<entry name="o"><ip-netmask>10.0.0.2</ip-netmask></entry>`, writeOK)
	if status, _, _ := ops.opLine("<request><config-lock><add /></config-lock></request>", "vsys1"); status != "success" {
		t.Fatal("config lock refused")
	}
	if _, body := h.op("<revert><config/></revert>"); !strings.Contains(body, "Configuration is locked by ops") {
		t.Fatalf("revert under another admin's config lock: %s", body)
	}
	if got := h.opText(check).Result; got != "yes" {
		t.Fatalf("refused revert dropped changes: pending-changes %q", got)
	}
	for cmd, want := range map[string]string{
		"<load><config><from>saved.xml</from></config></load>":                                   " load -> config -> from -> saved.xml  is unexpected",
		"<load><config/></load>":                                                                 " load -> config  is unexpected",
		"<revert><config><partial><admin><member>x</member></admin></partial></config></revert>": " revert -> config -> partial  is unexpected",
	} {
		if _, body := h.op(cmd); body != `<response status="error" code="17"><msg><line><![CDATA[`+want+`]]></line></msg></response>` {
			t.Errorf("%s: %s", cmd, body)
		}
	}
}
