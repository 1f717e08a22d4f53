package panossim

import (
	"encoding/xml"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// pangoLock is pango's util.Lock: the entries ConfigLocks and CommitLocks
// unmarshal from result>config-locks>entry and result>commit-locks>entry.
type pangoLock struct {
	Owner    string `xml:"name,attr"`
	Name     string `xml:"name"`
	Type     string `xml:"type"`
	LoggedIn string `xml:"loggedin"`
	Comment  string `xml:"comment"`
}

type pangoLocks struct {
	Config []pangoLock `xml:"result>config-locks>entry"`
	Commit []pangoLock `xml:"result>commit-locks>entry"`
}

// opLine sends cmd as pango's Client.Op does (form post, vsys= given) and
// returns status and the text pango's error parsing or the result carry.
func (h *harness) opLine(cmd, vsys string) (status, code, text string) {
	h.t.Helper()
	q := url.Values{"type": {"op"}, "cmd": {cmd}}
	if vsys != "" {
		q.Set("vsys", vsys)
	}
	_, body := h.post(q, false)
	var r struct {
		Status string `xml:"status,attr"`
		Code   string `xml:"code,attr"`
		Line   string `xml:"msg>line"`
		Result string `xml:"result"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		h.t.Fatalf("%s: %v\n%s", cmd, err, body)
	}
	if r.Status == "success" {
		return r.Status, r.Code, r.Result
	}
	return r.Status, r.Code, r.Line
}

func (h *harness) locks(cmd string) pangoLocks {
	h.t.Helper()
	_, body := h.post(url.Values{"type": {"op"}, "cmd": {cmd}, "vsys": {"shared"}}, false)
	var l pangoLocks
	if err := xml.Unmarshal([]byte(body), &l); err != nil || !strings.Contains(body, `status="success"`) {
		h.t.Fatalf("%s: %v\n%s", cmd, err, body)
	}
	return l
}

// pango's LockConfig / ConfigLocks / UnlockConfig, LockCommits / CommitLocks
// / UnlockCommits, with the recorded answers, and what another admin's lock
// does to a write or a commit.
func TestLocksAsPangoDrivesThem(t *testing.T) {
	admin := newHarness(t, Config{Users: map[string]string{"admin": "a", "ops": "o"}})
	ops := admin.as("ops")
	const addr = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address"
	entry := func(name string) string {
		return `<entry name="` + name + `"><ip-netmask>10.1.1.1</ip-netmask></entry>`
	}
	// pango's UnlockConfig and UnlockCommits marshal structs.
	type unlockConfig struct {
		XMLName xml.Name `xml:"request"`
		Cmd     string   `xml:"config-lock>remove"`
	}
	type unlockCommits struct {
		XMLName xml.Name `xml:"request"`
		Admin   string   `xml:"commit-lock>remove>admin,omitempty"`
	}
	marshal := func(v any) string {
		b, err := xml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const showConfig = "<show><config-locks><vsys>all</vsys></config-locks></show>" // pango on PAN-OS >= 9.1
	const showCommit = "<show><commit-locks /></show>"

	steps := []struct {
		who        *harness
		cmd        string
		wantStatus string
		wantCode   string
		wantText   string
	}{
		{admin, "<request><config-lock><add /></config-lock></request>", "success", "",
			"Successfully acquired lock. Other administrators will not be able to modify configuration until lock is released by admin."},
		{ops, "<request><config-lock><add><comment>mine</comment></add></config-lock></request>", "error", "", "Config lock is already held by admin"},
		{admin, "<request><config-lock><add /></config-lock></request>", "error", "", "You already own a config lock for scope shared"},
		{ops, "<request><commit-lock><add><comment>change 42</comment></add></commit-lock></request>", "success", "",
			"Successfully acquired lock. Other administrators will not be able to commit configuration until lock is released by ops."},
		{admin, "<request><commit-lock><add /></commit-lock></request>", "error", "", "Commit lock is already held by ops"},
	}
	for i, st := range steps {
		status, code, text := st.who.opLine(st.cmd, "shared")
		if status != st.wantStatus || code != st.wantCode || text != st.wantText {
			t.Fatalf("step %d %s: %s %q %q, want %s %q %q", i, st.cmd, status, code, text, st.wantStatus, st.wantCode, st.wantText)
		}
	}
	l := admin.locks(showConfig)
	if len(l.Config) != 1 || l.Config[0] != (pangoLock{Owner: "admin", Name: "shared", Type: "shared", LoggedIn: "yes", Comment: "(null)"}) {
		t.Fatalf("config locks: %+v", l.Config)
	}
	if l := admin.locks(showCommit); len(l.Commit) != 1 || l.Commit[0] != (pangoLock{Owner: "ops", Name: "shared", Type: "shared", LoggedIn: "yes", Comment: "change 42"}) {
		t.Fatalf("commit locks: %+v", l.Commit)
	}

	// The config lock stops ops' writes, not admin's; pan-os-python
	// classifies "Configuration is locked by ..." as PanLockError.
	if _, body := ops.cfg("set", addr, entry("blocked")); parseResp(t, body).Code != "15" || !strings.Contains(body, "<line>Configuration is locked by admin</line>") {
		t.Fatalf("write under another admin's config lock: %s", body)
	}
	admin.mustCfg("set", addr, entry("a1"), writeOK)
	// ops' commit lock stops admin's commit (as recorded, code 14).
	if _, body := admin.commit(false, "<commit></commit>"); body != `<response status="error" code="14"><msg><line>Other administrators are holding device wide commit locks.</line></msg></response>` {
		t.Fatalf("commit under another admin's commit lock: %s", body)
	}
	if status, _, text := admin.opLine(marshal(unlockCommits{Admin: "ops"}), "shared"); status != "success" || text != "Commit lock released for ops" {
		t.Fatalf("UnlockCommits(ops): %s %q", status, text)
	}
	if status, _, text := admin.opLine(marshal(unlockCommits{Admin: "ops"}), "shared"); status != "error" || text != "Commit is not currently locked for scope shared" {
		t.Fatalf("UnlockCommits again: %s %q", status, text)
	}
	// admin's commit goes through and ends admin's config lock.
	admin.pollJob(admin.mustJob("<commit></commit>", false))
	if l := admin.locks(showConfig); len(l.Config) != 0 {
		t.Fatalf("config lock after its holder's commit: %+v", l.Config)
	}
	ops.mustCfg("set", addr, entry("o1"), writeOK)

	// UnlockConfig on an unlocked scope: the sentence pan-os-python
	// matches with "Config is not currently locked for scope (shared|vsys\d)".
	status, _, text := admin.opLine(marshal(unlockConfig{}), "shared")
	if status != "error" || !regexp.MustCompile(`^Config is not currently locked for scope (shared|vsys\d)`).MatchString(text) {
		t.Fatalf("UnlockConfig unlocked: %s %q", status, text)
	}
	if status, _, text := admin.opLine("<request><config-lock><add /></config-lock></request>", "shared"); status != "success" {
		t.Fatalf("relock: %s %q", status, text)
	}
	if status, _, text := admin.opLine(marshal(unlockConfig{}), "shared"); status != "success" || text != "Config lock released for admin" {
		t.Fatalf("UnlockConfig: %s %q", status, text)
	}
}

// pan-os-python sends ElementTree's bytes (with an XML declaration) and
// vsys=scope; a vsys lock covers that vsys's config only.
func TestLocksAsPanOSPythonDrivesThem(t *testing.T) {
	admin := newHarness(t, Config{Users: map[string]string{"admin": "a", "ops": "o"}})
	ops := admin.as("ops")
	const decl = "<?xml version='1.0' encoding='utf-8'?>\n"
	send := func(h *harness, cmd, vsys string) string {
		q := url.Values{"type": {"op"}, "cmd": {cmd}}
		if vsys != "" {
			q.Set("vsys", vsys)
		}
		_, body := h.panPython(q)
		return body
	}
	if body := send(admin, decl+"<request><config-lock><add><comment>maintenance</comment></add></config-lock></request>", "vsys1"); !strings.Contains(body, "Successfully acquired lock.") {
		t.Fatalf("add_config_lock: %s", body)
	}
	// check_config_locks: op("show config-locks"), then .//entry.
	body := send(admin, "<show><config-locks></config-locks></show>", "")
	var l pangoLocks
	if err := xml.Unmarshal([]byte(body), &l); err != nil || len(l.Config) != 1 || l.Config[0].Type != "vsys" || l.Config[0].Name != "vsys1" || l.Config[0].Comment != "maintenance" {
		t.Fatalf("check_config_locks: %v %s", err, body)
	}
	// Another admin may still write shared objects, not vsys1's.
	ops.mustCfg("set", "/config/shared/address", `<entry name="s1"><ip-netmask>10.2.2.2</ip-netmask></entry>`, writeOK)
	if _, body := ops.cfg("set", "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address",
		`<entry name="v1"><ip-netmask>10.2.2.3</ip-netmask></entry>`); !strings.Contains(body, "Configuration is locked by admin") {
		t.Fatalf("write into a locked vsys: %s", body)
	}
	// add_commit_lock: "Commit lock is already held" makes a PanLockError.
	if body := send(ops, decl+"<request><commit-lock><add></add></commit-lock></request>", "shared"); !strings.Contains(body, "Successfully acquired lock.") {
		t.Fatalf("add_commit_lock: %s", body)
	}
	if body := send(admin, decl+"<request><commit-lock><add></add></commit-lock></request>", "shared"); !regexp.MustCompile(`<line>Commit lock is already held`).MatchString(body) {
		t.Fatalf("add_commit_lock held: %s", body)
	}
	// check_commit_locks: op("show commit-locks"), then .//entry.
	if body := send(admin, "<show><commit-locks></commit-locks></show>", ""); !strings.Contains(body, `<entry name="ops">`) {
		t.Fatalf("check_commit_locks: %s", body)
	}
	// remove_config_lock(scope="vsys1").
	if body := send(admin, decl+"<request><config-lock><remove></remove></config-lock></request>", "vsys1"); !strings.Contains(body, "<result>Config lock released for admin</result>") {
		t.Fatalf("remove_config_lock: %s", body)
	}
	// ops' commit releases ops' commit lock; then the listing is empty.
	ops.pollJob(ops.mustJob("<commit></commit>", false))
	if body := send(admin, "<show><commit-locks></commit-locks></show>", ""); body != `<response status="success"><result><commit-locks></commit-locks></result></response>` {
		t.Fatalf("no commit locks: %s", body)
	}
}

// Lock commands outside the grammar are unexpected; Panorama answers a
// managed firewall's listing (no locks) and refuses to lock it.
func TestLockGrammar(t *testing.T) {
	h := newHarness(t, Config{})
	for cmd, want := range map[string]string{
		"<request><config-lock/></request>":                                               " request -> config-lock  is unexpected",
		"<request><config-lock><grab/></config-lock></request>":                           " request -> config-lock -> grab  is unexpected",
		"<request><config-lock><remove><admin>x</admin></remove></config-lock></request>": " request -> config-lock -> remove -> admin  is unexpected",
		"<request><commit-lock><add><who/></add></commit-lock></request>":                 " request -> commit-lock -> add -> who  is unexpected",
		"<show><commit-locks><user>x</user></commit-locks></show>":                        " show -> commit-locks -> user  is unexpected",
	} {
		_, body := h.op(cmd)
		if wantBody := `<response status="error" code="17"><msg><line><![CDATA[` + want + `]]></line></msg></response>`; body != wantBody {
			t.Errorf("%s:\n got %s\nwant %s", cmd, body, wantBody)
		}
	}
	pano := newHarness(t, Config{Panorama: true})
	if _, body := pano.op("<show><config-locks><vsys>all</vsys></config-locks></show>", "target", DefaultSerial); body != `<response status="success"><result><config-locks></config-locks></result></response>` {
		t.Fatalf("targeted listing: %s", body)
	}
	if _, body := pano.op("<request><config-lock><add/></config-lock></request>", "target", DefaultSerial); !strings.Contains(body, " request -> config-lock  is unexpected") {
		t.Fatalf("targeted lock: %s", body)
	}
	if _, body := h.op("<show><config-locks/></show>", "target", DefaultSerial); parseResp(t, body).Code != "13" {
		t.Fatalf("target on a firewall: %s", body)
	}
}
