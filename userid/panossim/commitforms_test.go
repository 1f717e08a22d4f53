package panossim

import (
	"encoding/xml"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Commit request forms as third-party clients build them, replayed on the
// wire: the bytes are built here the way each client builds them
// (pan-os-python's ElementTree, pango's xml.Marshal of its structs,
// PowerPAN's XmlDocument, pan-python's string concatenation).

// etElem is an xml.etree.ElementTree element; String is
// ET.tostring(e, encoding="utf-8") on Python 3 (no declaration for utf-8,
// an element without text or children as "<tag />").
type etElem struct {
	tag, text string
	attrs     [][2]string
	kids      []*etElem
}

func etElement(tag string, attrs ...[2]string) *etElem { return &etElem{tag: tag, attrs: attrs} }

// sub is ET.SubElement.
func (e *etElem) sub(tag string, attrs ...[2]string) *etElem {
	c := etElement(tag, attrs...)
	e.kids = append(e.kids, c)
	return c
}

func (e *etElem) String() string {
	var b strings.Builder
	b.WriteString("<" + e.tag)
	for _, a := range e.attrs {
		b.WriteString(" " + a[0] + `="` + escapeAttr(a[1]) + `"`)
	}
	if e.text == "" && len(e.kids) == 0 {
		b.WriteString(" />")
		return b.String()
	}
	b.WriteString(">" + escape(e.text))
	for _, k := range e.kids {
		b.WriteString(k.String())
	}
	b.WriteString("</" + e.tag + ">")
	return b.String()
}

// panosFirewallCommit is pan-os-python's FirewallCommit(...).element():
// description first, then a partial holding the admins and exclusions,
// nested in <force> when forced (is_partial counts force too, so a forced
// commit always carries a partial). commit_action is None: no action=.
func panosFirewallCommit(description string, admins []string, exDN, exShared, exPO, force bool) string {
	root := etElement("commit")
	if description != "" {
		root.sub("description").text = description
	}
	if len(admins) > 0 || exDN || exShared || exPO || force {
		partial := etElement("partial")
		if len(admins) > 0 {
			e := partial.sub("admin")
			for _, a := range admins {
				e.sub("member").text = a
			}
		}
		for _, ex := range []struct {
			on   bool
			name string
		}{{exDN, "device-and-network"}, {exShared, "shared-object"}, {exPO, "policy-and-objects"}} {
			if ex.on {
				partial.sub(ex.name).text = "excluded"
			}
		}
		if force {
			root.sub("force").kids = []*etElem{partial}
		} else {
			root.kids = append(root.kids, partial)
		}
	}
	return root.String()
}

// panosBaseCommit is pan-os-python's PanDevice._commit without a cmd:
// admins (commit(admins=...)) or one bare exclusion element
// (commit_device_and_network: "policy-and-objects", commit_policy_and_objects:
// "device-and-network"), an empty SubElement.
func panosBaseCommit(admins []string, exclude string) string {
	cmd := etElement("commit")
	if exclude != "" || admins != nil {
		partial := cmd.sub("partial")
		if admins != nil {
			pa := partial.sub("admin")
			for _, a := range admins {
				pa.sub("member").text = a
			}
		}
		if exclude != "" {
			partial.sub(exclude)
		}
	}
	return cmd.String()
}

// panosPanoramaCommit is pan-os-python's PanoramaCommit(...).element():
// the partial's location lists, then <force /> beside the partial.
func panosPanoramaCommit(description string, locs [][2]string, force bool) string {
	root := etElement("commit")
	if description != "" {
		root.sub("description").text = description
	}
	if len(locs) > 0 {
		partial := root.sub("partial")
		for _, l := range locs {
			partial.sub(l[0]).sub("member").text = l[1]
		}
	}
	if force {
		root.sub("force")
	}
	return root.String()
}

// panosCommitAllDG is pan-os-python's PanoramaCommitAll(style="device
// group", ...).element() (action=all).
func panosCommitAllDG(name, description string, admins, devices []string, includeTemplate, forceTemplateValues *bool) string {
	root := etElement("commit-all")
	body := root.sub("shared-policy")
	dge := body.sub("device-group").sub("entry", [2]string{"name", name})
	if len(devices) > 0 {
		de := dge.sub("devices")
		for _, d := range devices {
			de.sub("entry", [2]string{"name", d})
		}
	}
	if description != "" {
		body.sub("description").text = description
	}
	if len(admins) > 0 {
		adms := body.sub("admin")
		for _, a := range admins {
			adms.sub("member").text = a
		}
	}
	for _, o := range []struct {
		v    *bool
		name string
	}{{includeTemplate, "include-template"}, {forceTemplateValues, "force-template-values"}} {
		if o.v != nil {
			body.sub(o.name).text = map[bool]string{true: "yes", false: "no"}[*o.v]
		}
	}
	return root.String()
}

// pango's commit structs (commit/fw.go, commit/pano.go): the field order
// and tags decide the bytes xml.Marshal writes.
type (
	pangoMembers struct {
		Members []string `xml:"member"`
	}
	pangoEntry struct {
		Name string `xml:"name,attr"`
	}
	pangoEntries struct {
		Entries []pangoEntry `xml:"entry"`
	}
	pangoFwPartial struct {
		Admins                  *pangoMembers `xml:"admin"`
		ExcludeDeviceAndNetwork string        `xml:"device-and-network,omitempty"`
		ExcludeSharedObjects    string        `xml:"shared-object,omitempty"`
		ExcludePolicyAndObjects string        `xml:"policy-and-objects,omitempty"`
	}
	pangoFwCommit struct {
		XMLName     xml.Name `xml:"commit"`
		Description string   `xml:"description,omitempty"`
		Force       *struct {
			Partial *pangoFwPartial `xml:"partial"`
		} `xml:"force"`
		Partial *pangoFwPartial `xml:"partial"`
	}
	pangoPanoPartial struct {
		Admins                  *pangoMembers `xml:"admin"`
		DeviceGroups            *pangoMembers `xml:"device-group"`
		Templates               *pangoMembers `xml:"template"`
		TemplateStacks          *pangoMembers `xml:"template-stack"`
		WildfireAppliances      *pangoMembers `xml:"wildfire-appliance"`
		WildfireClusters        *pangoMembers `xml:"wildfire-appliance-cluster"`
		LogCollectors           *pangoMembers `xml:"log-collector"`
		LogCollectorGroups      *pangoMembers `xml:"log-collector-group"`
		ExcludeDeviceAndNetwork string        `xml:"device-and-network,omitempty"`
		ExcludeSharedObjects    string        `xml:"shared-object,omitempty"`
	}
	pangoPanoCommit struct {
		XMLName     xml.Name `xml:"commit"`
		Description string   `xml:"description,omitempty"`
		Force       *struct {
			Partial *pangoPanoPartial `xml:"partial"`
		} `xml:"force"`
		Partial *pangoPanoPartial `xml:"partial"`
	}
	pangoCommitAll struct {
		XMLName     xml.Name `xml:"commit-all"`
		DeviceGroup *struct {
			Entry struct {
				Name    string        `xml:"name,attr"`
				Devices *pangoEntries `xml:"devices"`
			} `xml:"device-group>entry"`
			Description         string `xml:"description,omitempty"`
			IncludeTemplate     string `xml:"include-template"`
			ForceTemplateValues string `xml:"force-template-values"`
		} `xml:"shared-policy"`
		Template *pangoCommitAllTemplate `xml:"template"`
	}
	pangoCommitAllTemplate struct {
		Name                string        `xml:"name"`
		Description         string        `xml:"description,omitempty"`
		Devices             *pangoMembers `xml:"device"`
		ForceTemplateValues string        `xml:"force-template-values"`
	}
)

// pangoMem is util.StrToMem: nil for no names.
func pangoMem(names ...string) *pangoMembers {
	if len(names) == 0 {
		return nil
	}
	return &pangoMembers{Members: names}
}

// pangoFw is pango's FirewallCommit.Element(): a partial when admins or
// exclusions are set, nested in <force> when forced. Action() is "".
func pangoFw(description string, admins []string, exDN, exShared, exPO, force bool) string {
	c := pangoFwCommit{Description: description}
	var p *pangoFwPartial
	if len(admins) > 0 || exDN || exShared || exPO {
		p = &pangoFwPartial{Admins: pangoMem(admins...)}
		if exDN {
			p.ExcludeDeviceAndNetwork = "excluded"
		}
		if exShared {
			p.ExcludeSharedObjects = "excluded"
		}
		if exPO {
			p.ExcludePolicyAndObjects = "excluded"
		}
	}
	if force {
		c.Force = &struct {
			Partial *pangoFwPartial `xml:"partial"`
		}{p}
	} else {
		c.Partial = p
	}
	return xmlMarshal(c)
}

// xmlMarshal is xml.Marshal as pango's Client.Commit sends it.
func xmlMarshal(v any) string {
	b, err := xml.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// powerPAN is PowerPAN's Invoke-PanCommit -Commit: its XmlDocument's
// OuterXml (force and partial get an explicit closing tag; description,
// admin, novsys and object-xpaths go in the innermost of commit, force,
// partial) and action=partial for -Partial.
func powerPAN(force, partial bool, description string, admins, xpaths []string, noVsys bool) (cmd, action string) {
	var open, close []string
	if force {
		open, close = append(open, "<force>"), append([]string{"</force>"}, close...)
	}
	if partial {
		open, close = append(open, "<partial>"), append([]string{"</partial>"}, close...)
		action = "partial"
	}
	body := ""
	if description != "" {
		body += "<description>" + escape(description) + "</description>"
	}
	if len(admins) > 0 {
		body += "<admin>"
		for _, a := range admins {
			body += "<member>" + escape(a) + "</member>"
		}
		body += "</admin>"
	}
	if noVsys {
		body += "<novsys></novsys>"
	}
	if len(xpaths) > 0 {
		body += "<object-xpaths>"
		for _, x := range xpaths {
			body += "<member>" + escape(x) + "</member>"
		}
		body += "</object-xpaths>"
	}
	return "<commit>" + strings.Join(open, "") + body + strings.Join(close, "") + "</commit>", action
}

// panPythonCommit is pan-python's PanCommit.cmd() (panxapi.py -C [--force]
// [--partial P]) for one partial part; panxapi.py sends no action.
func panPythonCommit(force bool, part string) string {
	s := "<commit>"
	if force {
		s += "<force>"
	}
	if part != "" {
		s += "<partial>" + map[string]string{
			"device-and-network-excluded": "<device-and-network>excluded</device-and-network>",
			"policy-and-objects-excluded": "<policy-and-objects>excluded</policy-and-objects>",
			"shared-object-excluded":      "<shared-object>excluded</shared-object>",
		}[part] + "</partial>"
	}
	if force {
		s += "</force>"
	}
	return s + "</commit>"
}

// commitJob is a commit's answer and its finished job as clients read
// them: pan-os-python's result/job (None when absent: "Commit not
// needed"), the job's result, details lines and description.
type commitJob struct {
	Status, Code, Msg string
	JobID             string
	Result            string
	Details           []string
	Description       string
}

// commitAs sends cmd with action (pan-python's transport) and follows the
// job to its end.
func (h *harness) commitAs(cmd, action string) commitJob {
	h.t.Helper()
	q := url.Values{"type": {"commit"}, "cmd": {cmd}}
	if action != "" {
		q.Set("action", action)
	}
	_, body := h.panPython(q)
	var r struct {
		Status string `xml:"status,attr"`
		Code   string `xml:"code,attr"`
		Msg    struct {
			Text string `xml:",chardata"`
			Line string `xml:"line"`
		} `xml:"msg"`
		Job string `xml:"result>job"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		h.t.Fatalf("%s: %v\n%s", cmd, err, body)
	}
	out := commitJob{Status: r.Status, Code: r.Code, Msg: strings.TrimSpace(r.Msg.Text + r.Msg.Line), JobID: r.Job}
	if r.Job == "" {
		return out
	}
	for i := 0; i < 10; i++ {
		_, body := h.op(`<show><jobs><id>` + r.Job + `</id></jobs></show>`)
		var j struct {
			Status      string   `xml:"result>job>status"`
			Result      string   `xml:"result>job>result"`
			Details     []string `xml:"result>job>details>line"`
			Description string   `xml:"result>job>description"`
		}
		if err := xml.Unmarshal([]byte(body), &j); err != nil {
			h.t.Fatalf("%v: %s", err, body)
		}
		if j.Status == "FIN" {
			out.Result, out.Details, out.Description = j.Result, j.Details, j.Description
			return out
		}
	}
	h.t.Fatalf("job %s never finished", r.Job)
	return out
}

const (
	noChangesBody = `<response status="success" code="19"><msg>There are no changes to commit.</msg></response>`
	bannerXPath   = "/config/devices/entry[@name='localhost.localdomain']/deviceconfig/system"
	sharedAddr    = "/config/shared/address"
)

// fwPending writes one change per scope: the admin's address in vsys1;
// kubedag's address in vsys1, shared address and login banner (device).
func fwPending(t *testing.T) (admin, kd *harness) {
	h := newHarness(t, Config{Users: map[string]string{"admin": "a", "kubedag": "k"}, JobPolls: 1})
	admin, kd = h.as("admin"), h.as("kubedag")
	admin.mustCfg("set", vsysPrefix+"/address", `<entry name="by-admin"><ip-netmask>10.0.0.1</ip-netmask></entry>`, writeOK)
	kd.mustCfg("set", vsysPrefix+"/address", `<entry name="by-kd"><ip-netmask>10.0.0.2</ip-netmask></entry>`, writeOK)
	kd.mustCfg("set", sharedAddr, `<entry name="kd-shared"><ip-netmask>10.0.0.3</ip-netmask></entry>`, writeOK)
	kd.mustCfg("set", bannerXPath, `<login-banner>kubedag</login-banner>`, writeOK)
	return admin, kd
}

// running lists which of fwPending's changes the running config holds.
func (h *harness) running() []string {
	h.t.Helper()
	var out []string
	for _, c := range []struct{ name, xpath string }{
		{"by-admin", vsysPrefix + "/address/entry[@name='by-admin']"},
		{"by-kd", vsysPrefix + "/address/entry[@name='by-kd']"},
		{"kd-shared", sharedAddr + "/entry[@name='kd-shared']"},
		{"banner", bannerXPath + "/login-banner"},
	} {
		if _, body := h.cfg("show", c.xpath, ""); parseResp(h.t, body).Status == "success" {
			out = append(out, c.name)
		}
	}
	return out
}

func TestCommitFormsOfClients(t *testing.T) {
	all := []string{"by-admin", "by-kd", "kd-shared", "banner"}
	kdAll := []string{"by-kd", "kd-shared", "banner"}
	ppForcedAdmin, ppAction := powerPAN(true, true, "Emergency Change", []string{"kubedag"}, nil, false)
	ppXPath, _ := powerPAN(false, true, "", nil, []string{vsysPrefix + "/address/entry[@name='by-kd']"}, false)
	ppFull, _ := powerPAN(true, false, "full", nil, nil, false)
	for _, tc := range []struct {
		name, cmd, action string
		wantRunning       []string
		wantDescription   string
	}{
		{"pan-os-python FirewallCommit(description, admins)", panosFirewallCommit("kubedag change 7", []string{"kubedag"}, false, false, false, false), "", kdAll, "kubedag change 7"},
		{"pan-os-python FirewallCommit(admins, exclude_device_and_network, force)", panosFirewallCommit("", []string{"kubedag"}, true, false, false, true), "", []string{"by-kd", "kd-shared"}, ""},
		{"pan-os-python FirewallCommit(force): an empty forced partial", panosFirewallCommit("", nil, false, false, false, true), "", all, ""},
		{"pan-os-python FirewallCommit(exclude_shared_objects, exclude_policy_and_objects)", panosFirewallCommit("", nil, false, true, true, false), "", []string{"banner"}, ""},
		{"pan-os-python commit(admins=)", panosBaseCommit([]string{"kubedag"}, ""), "", kdAll, ""},
		{"pan-os-python commit_device_and_network()", panosBaseCommit(nil, "policy-and-objects"), "", []string{"kd-shared", "banner"}, ""},
		{"pan-os-python commit_policy_and_objects()", panosBaseCommit(nil, "device-and-network"), "", []string{"by-admin", "by-kd", "kd-shared"}, ""},
		{"pango FirewallCommit{Description, Admins, Force}", pangoFw("d", []string{"kubedag"}, false, false, false, true), "", kdAll, "d"},
		{"pango FirewallCommit{ExcludeDeviceAndNetwork}", pangoFw("", nil, true, false, false, false), "", []string{"by-admin", "by-kd", "kd-shared"}, ""},
		{"pango FirewallCommit{Force}", pangoFw("", nil, false, false, false, true), "", all, ""},
		{"PowerPAN -Partial -Admin -Description -Force", ppForcedAdmin, ppAction, kdAll, "Emergency Change"},
		{"PowerPAN -Partial -XPath", ppXPath, "partial", []string{"by-kd"}, ""},
		{"PowerPAN -Full -Force -Description", ppFull, "", all, "full"},
		{"panxapi.py -C --force --partial device-and-network-excluded", panPythonCommit(true, "device-and-network-excluded"), "", []string{"by-admin", "by-kd", "kd-shared"}, ""},
		{"documented partial (action=partial)", `<commit><partial><device-and-network>excluded</device-and-network><shared-object>excluded</shared-object></partial></commit>`, "partial", []string{"by-admin", "by-kd"}, ""},
		{"documented force", `<commit><force></force></commit>`, "", all, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin, kd := fwPending(t)
			j := kd.commitAs(tc.cmd, tc.action)
			if j.Status != "success" || j.Code != "19" || j.Result != "OK" || strings.Join(j.Details, "") != "Configuration committed successfully" {
				t.Fatalf("%s: %+v", tc.cmd, j)
			}
			if j.Description != tc.wantDescription {
				t.Errorf("job description %q, want %q", j.Description, tc.wantDescription)
			}
			if got := admin.running(); !slices.Equal(got, tc.wantRunning) {
				t.Errorf("%s: running %v, want %v", tc.cmd, got, tc.wantRunning)
			}
			wantPending := map[bool]string{true: "no", false: "yes"}[len(tc.wantRunning) == len(all)]
			if got := admin.opText("<check><pending-changes></pending-changes></check>").Result; got != wantPending {
				t.Errorf("pending-changes %q, want %q", got, wantPending)
			}
			// What stayed pending is still in the candidate.
			if _, body := admin.cfg("get", vsysPrefix+"/address/entry[@name='by-admin']", ""); parseResp(t, body).Status != "success" {
				t.Errorf("the admin's change left the candidate: %s", body)
			}
		})
	}
}

// Nothing to commit answers "There are no changes to commit." (code 19,
// status success, no job: PowerPAN's Invoke-PanCommit quotes this device
// answer; pan-os-python reads the missing result/job as "Commit not
// needed"), for full and partial forms; force commits anyway.
func TestCommitNothingToCommit(t *testing.T) {
	for _, tc := range []struct {
		name, cmd, action string
		adminPending      bool // the other admin has a change pending
		wantJob           bool
	}{
		{"full, nothing pending", `<commit></commit>`, "", false, false},
		{"pan-os-python commit(admins=), only another admin's change", panosBaseCommit([]string{"kubedag"}, ""), "", true, false},
		{"PowerPAN -Partial -Admin, only another admin's change", "<commit><partial><admin><member>kubedag</member></admin></partial></commit>", "partial", true, false},
		{"documented force, nothing pending", `<commit><force></force></commit>`, "", false, true},
		{"pango forced partial, only another admin's change", pangoFw("", []string{"kubedag"}, false, false, false, true), "", true, true},
		{"pan-os-python forced FirewallCommit, nothing pending", panosFirewallCommit("", []string{"kubedag"}, false, false, false, true), "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Users: map[string]string{"admin": "a", "kubedag": "k"}, JobPolls: 1})
			admin, kd := h.as("admin"), h.as("kubedag")
			if tc.adminPending {
				admin.mustCfg("set", vsysPrefix+"/address", `<entry name="by-admin"><ip-netmask>10.0.0.1</ip-netmask></entry>`, writeOK)
			}
			if !tc.wantJob {
				q := url.Values{"type": {"commit"}, "cmd": {tc.cmd}}
				if tc.action != "" {
					q.Set("action", tc.action)
				}
				if _, body := kd.panPython(q); body != noChangesBody {
					t.Fatalf("%s: %s", tc.cmd, body)
				}
			} else if j := kd.commitAs(tc.cmd, tc.action); j.JobID == "" || j.Result != "OK" {
				t.Fatalf("forced %s: %+v", tc.cmd, j)
			}
			wantPending := map[bool]string{true: "yes", false: "no"}[tc.adminPending]
			if got := admin.opText("<check><pending-changes></pending-changes></check>").Result; got != wantPending {
				t.Errorf("pending-changes %q, want %q", got, wantPending)
			}
		})
	}
}

// Malformed or contradictory forms are refused (code 17, the path of the
// first unexpected element) and change nothing.
func TestCommitFormsRefused(t *testing.T) {
	for _, tc := range []struct{ name, cmd, action, want string }{
		{"force in force", `<commit><force><force/></force></commit>`, "", " commit -> force -> force  is unexpected"},
		{"two partials", `<commit><partial/><force><partial/></force></commit>`, "", " commit -> force -> partial  is unexpected"},
		{"included is no exclusion", `<commit><partial><shared-object>included</shared-object></partial></commit>`, "", " commit -> partial -> shared-object -> included  is unexpected"},
		{"admin without members", `<commit><force><partial><admin><name>x</name></admin></partial></force></commit>`, "", " commit -> force -> partial -> admin -> name  is unexpected"},
		{"bad object xpath", `<commit><partial><object-xpaths><member>address</member></object-xpaths></partial></commit>`, "partial", " commit -> partial -> object-xpaths -> member  is unexpected"},
		{"action=partial without partial", `<commit><force></force></commit>`, "partial", " commit -> partial  is missing (action=partial)"},
		{"unknown partial option", `<commit><partial><frob/></partial></commit>`, "", " commit -> partial -> frob  is unexpected"},
		{"a Panorama location on a firewall", `<commit><partial><device-group><member>eks</member></device-group></partial></commit>`, "", " commit -> partial -> device-group  is unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin, kd := fwPending(t)
			j := kd.commitAs(tc.cmd, tc.action)
			if j.Status != "error" || j.Code != "17" || j.Msg != strings.TrimSpace(tc.want) || j.JobID != "" {
				t.Fatalf("%s: %+v, want %q", tc.cmd, j, tc.want)
			}
			if got := admin.running(); len(got) != 0 {
				t.Errorf("a refused commit committed %v", got)
			}
		})
	}
}

// pushAs sends a commit-all (action=all) with pan-python's transport and
// follows the push job to its end.
func (h *harness) pushAs(cmd string) (job struct {
	Result      string   `xml:"result>job>result"`
	Status      string   `xml:"result>job>status"`
	PushType    string   `xml:"result>job>push_type"`
	DGName      string   `xml:"result>job>dgname"`
	Description string   `xml:"result>job>description"`
	Serials     []string `xml:"result>job>devices>entry>serial-no"`
}) {
	h.t.Helper()
	_, body := h.panPython(url.Values{"type": {"commit"}, "action": {"all"}, "cmd": {cmd}})
	m := jobIDRE.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "Push job enqueued") {
		h.t.Fatalf("%s: %s", cmd, body)
	}
	for i := 0; i < 10; i++ {
		_, body := h.op(`<show><jobs><id>` + m[1] + `</id></jobs></show>`)
		if err := xml.Unmarshal([]byte(body), &job); err != nil {
			h.t.Fatalf("%v: %s", err, body)
		}
		if job.Status == "FIN" {
			return job
		}
	}
	h.t.Fatalf("push %s never finished", m[1])
	return job
}

// Panorama: pango's and pan-os-python's partial commits (device groups,
// templates, log collectors; forced) and pushes (a device list, a
// description, include-template, force-template-values), and pan-python's
// commit-all (the group named as text, one device).
func TestPanoramaCommitFormsOfClients(t *testing.T) {
	devs := []Device{{Serial: "007951000000001", Name: "fw-a"}, {Serial: "007951000000002", Name: "fw-b"}}
	const (
		eksAddr   = dgXPath + "/address/entry[@name='eks-a']"
		otherAddr = pano + "/device-group/entry[@name='other']/address/entry[@name='x']"
		banner    = pano + "/template/entry[@name='eks-net']/config/devices/entry[@name='localhost.localdomain']/deviceconfig/system/login-banner"
	)
	setup := func(t *testing.T) (admin, kd *harness) {
		h := newHarness(t, Config{Panorama: true, Users: map[string]string{"admin": "a", "kubedag": "k"}, Devices: devs, JobPolls: 1})
		admin, kd = h.as("admin"), h.as("kubedag")
		kd.mustCfg("set", dgXPath+"/address", `<entry name="eks-a"><ip-netmask>10.1.0.1</ip-netmask></entry>`, writeOK)
		kd.mustCfg("set", strings.TrimSuffix(banner, "/login-banner"), `<login-banner>from template</login-banner>`, writeOK)
		admin.mustCfg("set", pano+"/device-group/entry[@name='other']/address", `<entry name="x"><fqdn>x.example</fqdn></entry>`, writeOK)
		return admin, kd
	}
	runningOn := func(h *harness) []string {
		var out []string
		for _, c := range []struct{ name, xpath string }{{"eks", eksAddr}, {"other", otherAddr}, {"template", banner}} {
			if _, body := h.cfg("show", c.xpath, ""); parseResp(t, body).Status == "success" {
				out = append(out, c.name)
			}
		}
		return out
	}
	pangoPano := func(description string, dgs, logCollectors []string, force bool) string {
		p := &pangoPanoPartial{DeviceGroups: pangoMem(dgs...), LogCollectors: pangoMem(logCollectors...)}
		c := pangoPanoCommit{Description: description}
		if force {
			c.Force = &struct {
				Partial *pangoPanoPartial `xml:"partial"`
			}{p}
		} else {
			c.Partial = p
		}
		return xmlMarshal(c)
	}
	for _, tc := range []struct {
		name, cmd, wantDescription string
		wantRunning                []string
	}{
		{"pango PanoramaCommit{Description, DeviceGroups, LogCollectors, Force}", pangoPano("dg only", []string{"eks"}, []string{"lc1"}, true), "dg only", []string{"eks"}},
		{"pango PanoramaCommit{DeviceGroups}", pangoPano("", []string{"other"}, nil, false), "", []string{"other"}},
		{"pan-os-python PanoramaCommit(description, templates, force): <force /> beside the partial", panosPanoramaCommit("tmpl", [][2]string{{"template", "eks-net"}}, true), "tmpl", []string{"template"}},
		{"pan-os-python PanoramaCommit(force): forced full", panosPanoramaCommit("", nil, true), "", []string{"eks", "other", "template"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin, kd := setup(t)
			j := kd.commitAs(tc.cmd, "")
			if j.Result != "OK" || j.Description != tc.wantDescription {
				t.Fatalf("%s: %+v", tc.cmd, j)
			}
			if got := runningOn(admin); !slices.Equal(got, tc.wantRunning) {
				t.Errorf("%s: running %v, want %v", tc.cmd, got, tc.wantRunning)
			}
		})
	}

	// Pushes, after a full commit on Panorama (which has no vsys to name).
	admin, kd := setup(t)
	if j := kd.commitAs(`<commit><partial><vsys><member>vsys1</member></vsys></partial></commit>`, ""); j.Code != "17" || j.Msg != "commit -> partial -> vsys  is unexpected" {
		t.Fatalf("a vsys partial on Panorama: %+v", j)
	}
	if j := admin.commitAs(`<commit></commit>`, ""); j.Result != "OK" {
		t.Fatalf("panorama commit: %+v", j)
	}
	has := func(serial, s string) bool {
		cfg, ok := kd.sim.DeviceConfig(serial)
		if !ok {
			t.Fatalf("no device %s", serial)
		}
		return strings.Contains(cfg, s)
	}
	no, yes := false, true
	j := kd.pushAs(panosCommitAllDG("eks", "to fw-a", nil, []string{devs[0].Serial}, &no, &yes))
	if j.Result != "OK" || j.PushType != "shared-policy" || j.DGName != "eks" || j.Description != "to fw-a" || !slices.Equal(j.Serials, []string{devs[0].Serial}) {
		t.Fatalf("pan-os-python PanoramaCommitAll(device group, devices=[fw-a]): %+v", j)
	}
	if !has(devs[0].Serial, `<entry name="eks-a">`) || has(devs[1].Serial, `<entry name="eks-a">`) || has(devs[0].Serial, "from template") {
		t.Fatal("the push reached other devices, or took the template without include_template")
	}

	ca := pangoCommitAll{}
	ca.DeviceGroup = &struct {
		Entry struct {
			Name    string        `xml:"name,attr"`
			Devices *pangoEntries `xml:"devices"`
		} `xml:"device-group>entry"`
		Description         string `xml:"description,omitempty"`
		IncludeTemplate     string `xml:"include-template"`
		ForceTemplateValues string `xml:"force-template-values"`
	}{Description: "to fw-b", IncludeTemplate: "yes", ForceTemplateValues: "no"}
	ca.DeviceGroup.Entry.Name = "eks"
	ca.DeviceGroup.Entry.Devices = &pangoEntries{Entries: []pangoEntry{{Name: devs[1].Serial}}}
	j = kd.pushAs(xmlMarshal(ca))
	if j.Result != "OK" || j.DGName != "eks" || j.Description != "to fw-b" || !slices.Equal(j.Serials, []string{devs[1].Serial}) {
		t.Fatalf("pango PanoramaCommitAll{TypeDeviceGroup, IncludeTemplate, Devices}: %+v", j)
	}
	if !has(devs[1].Serial, `<entry name="eks-a">`) || !has(devs[1].Serial, "from template") {
		t.Fatal("include-template yes did not push the template")
	}

	j = kd.pushAs(xmlMarshal(pangoCommitAll{Template: &pangoCommitAllTemplate{Name: "eks-net", Description: "banner", Devices: pangoMem(devs[0].Serial), ForceTemplateValues: "yes"}}))
	if j.Result != "OK" || j.PushType != "template" || j.Description != "banner" || !slices.Equal(j.Serials, []string{devs[0].Serial}) || !has(devs[0].Serial, "from template") {
		t.Fatalf("pango PanoramaCommitAll{TypeTemplate, Devices, ForceTemplateValues}: %+v", j)
	}

	// pan-python's PanCommit commit-all names the group as text and one
	// device; merge-with-candidate-cfg no.
	kd.mustCfg("set", eksAddr, `<description>v2</description>`, writeOK)
	if r := kd.commitAs(pangoPano("", []string{"eks"}, nil, false), ""); r.Result != "OK" {
		t.Fatalf("commit of v2: %+v", r)
	}
	j = kd.pushAs(`<commit-all><shared-policy><device>` + devs[1].Serial + `</device><device-group>eks</device-group>` +
		`<merge-with-candidate-cfg>no</merge-with-candidate-cfg></shared-policy></commit-all>`)
	if j.Result != "OK" || j.DGName != "eks" || !slices.Equal(j.Serials, []string{devs[1].Serial}) || !has(devs[1].Serial, "v2") || has(devs[0].Serial, "v2") {
		t.Fatalf("pan-python commit-all (device, device-group text): %+v", j)
	}

	// pan-os-ansible's panos_commit_push (style "device group", admins;
	// include_template and force_template_values default False): every
	// firewall of the group, whoever made the changes.
	j = kd.pushAs(panosCommitAllDG("eks", "", []string{"ansible-admin"}, nil, &no, &no))
	if j.Result != "OK" || !slices.Equal(j.Serials, []string{devs[0].Serial, devs[1].Serial}) || !has(devs[0].Serial, "v2") {
		t.Fatalf("panos_commit_push with admins: %+v", j)
	}
}
