package panossim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// User-ID requests exactly as pan-os-python (panos/userid.py, on top of
// pan-python's PanXapi) and pan-python (pan.xapi.user_id, panxapi.py -U)
// put them on the wire, and the answers read the way those clients read
// them.

// panPythonDetail is what pan-python makes of an answer: its status and
// status_detail (pan.xapi.__get_response_msg). For a uid-response it is one
// line per msg/line/uid-response/payload/*/entry, each "key: value" for
// every attribute in document order, joined by "\n"; otherwise the text of
// msg/line.
func panPythonDetail(t testing.TB, body string) (status, detail string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	var path []string
	var entries, lines []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("answer is not XML: %v\n%s", err, body)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			path = append(path, tk.Name.Local)
			if len(path) == 1 {
				for _, a := range tk.Attr {
					if a.Name.Local == "status" {
						status = a.Value
					}
				}
			}
			if len(path) == 7 && strings.Join(path[:5], "/") == "response/msg/line/uid-response/payload" && tk.Name.Local == "entry" {
				var msg []string
				for _, a := range tk.Attr {
					msg = append(msg, a.Name.Local+": "+a.Value)
				}
				entries = append(entries, strings.Join(msg, " "))
			}
		case xml.CharData:
			if strings.Join(path, "/") == "response/msg/line" && strings.TrimSpace(string(tk)) != "" {
				lines = append(lines, string(tk))
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
	if len(entries) > 0 {
		return status, strings.Join(entries, "\n")
	}
	return status, strings.Join(lines, "\n")
}

// panOS replays pan-os-python's UserId against the harness.
type panOS struct {
	h      *harness
	vsys   string // Firewall.vsys, sent with every call
	opVsys string // sent with op commands: Firewall.vsys, none on Panorama
}

var errIgnored = errors.New("ignored by pan-os-python")

// send is UserId.send: pan-python raises on any status but success, and
// pan-os-python swallows the error when its text ends in one of the two
// benign device messages (ignore_dup_errors, the default).
func (c panOS) send(payload string) (string, error) {
	c.h.t.Helper()
	msg := `<uid-message><version>1.0</version><type>update</type><payload>` + payload + `</payload></uid-message>`
	_, body := c.h.panPython(url.Values{"type": {"user-id"}, "cmd": {msg}, "vsys": {c.vsys}})
	status, detail := panPythonDetail(c.h.t, body)
	switch {
	case status == "success":
		return body, nil
	case strings.HasSuffix(detail, "already exists, ignore") || strings.HasSuffix(detail, "does not exist, ignore unreg"):
		return body, errIgnored
	}
	return body, errors.New(detail)
}

func (c panOS) op(cmd string) string {
	c.h.t.Helper()
	q := url.Values{"type": {"op"}, "cmd": {cmd}}
	if c.opVsys != "" {
		q.Set("vsys", c.opVsys)
	}
	_, body := c.h.panPython(q)
	if status, detail := panPythonDetail(c.h.t, body); status != "success" {
		c.h.t.Fatalf("op %s: %s %s", cmd, status, detail)
	}
	return body
}

// registerXML is UserId.register's section: one entry per IP, every member
// with timeout="0" when no timeout is given.
func registerXML(ips, tags []string) string {
	var b strings.Builder
	b.WriteString("<register>")
	for _, ip := range ips {
		b.WriteString(`<entry ip="` + ip + `"><tag>`)
		for _, t := range tags {
			b.WriteString(`<member timeout="0">` + t + `</member>`)
		}
		b.WriteString(`</tag></entry>`)
	}
	b.WriteString("</register>")
	return b.String()
}

func unregisterXML(ips, tags []string) string {
	var b strings.Builder
	b.WriteString("<unregister>")
	for _, ip := range ips {
		b.WriteString(`<entry ip="` + ip + `"><tag>`)
		for _, t := range tags {
			b.WriteString(`<member>` + t + `</member>`)
		}
		b.WriteString(`</tag></entry>`)
	}
	b.WriteString("</unregister>")
	return b.String()
}

// getRegisteredIP is UserId.get_registered_ip on PAN-OS 8.0+: pages of 500
// by start-point until a short page, one ip and one tag filtered on the
// device (more are filtered by the client).
func (c panOS) getRegisteredIP(ip, tag string) map[string][]string {
	c.h.t.Helper()
	out := map[string][]string{}
	for start := 1; ; {
		cmd := `<show><object><registered-ip><limit>500</limit><start-point>` + strconv.Itoa(start) + `</start-point>`
		if tag != "" {
			cmd += `<tag><entry name="` + tag + `" /></tag>`
		}
		if ip != "" {
			cmd += `<ip>` + ip + `</ip>`
		}
		cmd += `</registered-ip></object></show>`
		var r struct {
			Outfile string `xml:"result>msg>line>outfile"`
			Entries []struct {
				IP   string   `xml:"ip,attr"`
				Tags []string `xml:"tag>member"`
			} `xml:"result>entry"`
		}
		if err := xml.Unmarshal([]byte(c.op(cmd)), &r); err != nil || r.Outfile != "" {
			c.h.t.Fatalf("get_registered_ip: %v %q", err, r.Outfile)
		}
		for _, e := range r.Entries {
			if ip != "" && e.IP != ip {
				continue
			}
			var tags []string
			for _, t := range e.Tags {
				if tag == "" || t == tag {
					tags = append(tags, t)
				}
			}
			if len(tags) > 0 {
				out[e.IP] = tags
			}
		}
		if len(r.Entries) < 500 {
			return out
		}
		start += len(r.Entries)
	}
}

// getUserTags is UserId.get_user_tags.
func (c panOS) getUserTags(user string) map[string][]string {
	c.h.t.Helper()
	out := map[string][]string{}
	for start := 1; ; {
		cmd := `<show><object><registered-user><all><limit>500</limit><start-point>` + strconv.Itoa(start) + `</start-point></all></registered-user></object></show>`
		if user != "" {
			cmd = `<show><object><registered-user><user>` + user + `</user></registered-user></object></show>`
		}
		var r struct {
			Entries []struct {
				User string   `xml:"user,attr"`
				Tags []string `xml:"tag>member"`
			} `xml:"result>entry"`
		}
		if err := xml.Unmarshal([]byte(c.op(cmd)), &r); err != nil {
			c.h.t.Fatal(err)
		}
		for _, e := range r.Entries {
			out[e.User] = e.Tags
		}
		if user != "" || len(r.Entries) < 500 {
			return out
		}
		start += len(r.Entries)
	}
}

// resultText is the text of <result> (CDATA included).
func resultText(t testing.TB, body string) string {
	t.Helper()
	var r struct {
		Text string `xml:"result"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r.Text
}

// getGroups is UserId.get_groups: the lines before "Total: ", stripped.
func (c panOS) getGroups(style string) []string {
	cmd := "<show><user><group><list>"
	if style != "" {
		cmd += "<entry name='" + style + "'/>"
	}
	cmd += "</list></group></user></show>"
	var ans []string
	for _, line := range strings.Split(resultText(c.h.t, c.op(cmd)), "\n") {
		if strings.HasPrefix(line, "Total: ") {
			break
		}
		if v := strings.TrimSpace(line); v != "" {
			ans = append(ans, v)
		}
	}
	return ans
}

// getGroupMembers is UserId.get_group_members: what follows "]" on the
// lines with exactly one.
func (c panOS) getGroupMembers(group string) []string {
	var ans []string
	for _, line := range strings.Split(resultText(c.h.t, c.op("<show><user><group><name>"+group+"</name></group></user></show>")), "\n") {
		if parts := strings.Split(line, "]"); len(parts) == 2 {
			ans = append(ans, strings.TrimSpace(parts[1]))
		}
	}
	return ans
}

func TestPanOSPythonUserID(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{Now: clock.Now})
	c := panOS{h: h, vsys: "vsys1", opVsys: "vsys1"}
	ips := make([]string, 1203)
	for i := range ips {
		ips[i] = fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)
	}
	mustOK := func(what, payload string) {
		t.Helper()
		body, err := c.send(payload)
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, body)
		}
		want := `<response status="success"><result><uid-response><version>1.0</version><payload>`
		if !strings.HasPrefix(body, want) {
			t.Fatalf("%s: %s", what, body)
		}
	}
	mustIgnored := func(what, payload, wantDetail string) {
		t.Helper()
		body, err := c.send(payload)
		if !errors.Is(err, errIgnored) {
			t.Fatalf("%s: %v, want an error pan-os-python ignores\n%s", what, err, body)
		}
		if _, detail := panPythonDetail(t, body); detail != wantDetail {
			t.Fatalf("%s: status_detail %q, want %q", what, detail, wantDetail)
		}
	}

	// register(ips, ["web", "db"]) and one IP with three tags.
	mustOK("register", registerXML(ips, []string{"web"}))
	mustOK("register", registerXML([]string{"192.0.2.7"}, []string{"db", "web", "caf&#233;"}))
	clock.Advance(40 * 24 * time.Hour) // timeout="0": no timeout
	mustIgnored("register again", registerXML([]string{"192.0.2.7"}, []string{"db"}), "ip: 192.0.2.7 message: tag db already exists, ignore")
	mustIgnored("unregister unknown ip", unregisterXML([]string{"192.0.2.99"}, []string{"db"}), "ip: 192.0.2.99 message: ip 192.0.2.99 does not exist, ignore unreg")
	mustIgnored("unregister unknown tag", unregisterXML([]string{"192.0.2.7"}, []string{"nope"}), "ip: 192.0.2.7 message: tag nope does not exist, ignore unreg")

	tests := []struct {
		ip, tag string
		want    map[string][]string
	}{
		{"192.0.2.7", "", map[string][]string{"192.0.2.7": {"caf\u00e9", "db", "web"}}},
		{"", "db", map[string][]string{"192.0.2.7": {"db"}}},
		{"192.0.2.7", "db", map[string][]string{"192.0.2.7": {"db"}}},
		{"10.0.4.176", "db", map[string][]string{}},
		{"192.0.2.8", "", map[string][]string{}},
	}
	for _, tc := range tests {
		if got := c.getRegisteredIP(tc.ip, tc.tag); !equalTagMaps(got, tc.want) {
			t.Errorf("get_registered_ip(%q, %q) = %v, want %v", tc.ip, tc.tag, got, tc.want)
		}
	}
	// Unfiltered and by tag, over three pages.
	for _, tag := range []string{"", "web"} {
		got := c.getRegisteredIP("", tag)
		if len(got) != len(ips)+1 || !slices.Equal(got["10.0.4.178"], []string{"web"}) {
			t.Errorf("get_registered_ip(tags=%q): %d addresses, 10.0.4.178 = %v", tag, len(got), got["10.0.4.178"])
		}
	}

	// audit_registered_ip({192.0.2.7: (db,), 192.0.2.8: (x,)}) after
	// clear_registered_ip(tags="web"): one batch, unregister before register.
	var unreg strings.Builder
	for ip := range c.getRegisteredIP("", "web") {
		unreg.WriteString(unregisterXML([]string{ip}, []string{"web"}))
	}
	mustOK("clear web", "<unregister>"+strings.NewReplacer("<unregister>", "", "</unregister>", "").Replace(unreg.String())+"</unregister>")
	mustOK("audit", unregisterXML([]string{"192.0.2.7"}, []string{"caf&#233;"})+registerXML([]string{"192.0.2.8"}, []string{"x"}))
	if got, want := c.getRegisteredIP("", ""), map[string][]string{"192.0.2.7": {"db"}, "192.0.2.8": {"x"}}; !equalTagMaps(got, want) {
		t.Fatalf("after audit: %v, want %v", got, want)
	}

	// login / logout; a logout the device does not hold is a real error.
	mustOK("login", `<login><entry name="example.com\username" ip="10.1.1.1" timeout="10" /></login>`)
	mustOK("logout", `<logout><entry name="example.com\username" ip="10.1.1.1" /></logout>`)
	if body, err := c.send(`<logout><entry name="example.com\username" ip="10.1.1.1" /></logout>`); err == nil || err.Error() != `name: example.com\username ip: 10.1.1.1 message: Delete mapping failed` {
		t.Fatalf("second logout: %v\n%s", err, body)
	}

	// tag_user / get_user_tags / untag_user.
	mustOK("tag_user", `<register-user><entry user="user1"><tag><member timeout="60">tag1</member><member timeout="60">tag2</member></tag></entry></register-user>`)
	mustOK("tag_user", `<register-user><entry user="user2"><tag><member>tag1</member></tag></entry></register-user>`)
	if got, want := c.getUserTags(""), map[string][]string{"user1": {"tag1", "tag2"}, "user2": {"tag1"}}; !equalTagMaps(got, want) {
		t.Fatalf("get_user_tags() = %v, want %v", got, want)
	}
	mustOK("untag_user", `<unregister-user><entry user="user1"><tag><member>tag1</member></tag></entry></unregister-user>`)
	if got, want := c.getUserTags("user1"), map[string][]string{"user1": {"tag2"}}; !equalTagMaps(got, want) {
		t.Fatalf("get_user_tags(user1) = %v, want %v", got, want)
	}
	clock.Advance(time.Minute)
	mustOK("untag_user all", `<unregister-user><entry user="user2" /></unregister-user>`)
	if got := c.getUserTags(""); len(got) != 0 {
		t.Fatalf("get_user_tags() after expiry and untag: %v", got)
	}

	// set_group / get_groups / get_group_members.
	mustOK("set_group", `<groups><entry name="cn=contractors,cn=users,dc=nam,dc=local"><members><entry name="nam\jsmith" /><entry name="panw\garfield" /></members></entry></groups>`)
	if got := c.getGroups(""); !slices.Equal(got, []string{"cn=contractors,cn=users,dc=nam,dc=local"}) {
		t.Fatalf("get_groups() = %q", got)
	}
	if got := c.getGroups("xmlapi"); len(got) != 1 {
		t.Fatalf("get_groups(xmlapi) = %q", got)
	}
	if got := c.getGroupMembers("cn=contractors,cn=users,dc=nam,dc=local"); !slices.Equal(got, []string{`nam\jsmith`, `panw\garfield`}) {
		t.Fatalf("get_group_members() = %q", got)
	}
	if got := c.getGroupMembers("blah"); len(got) != 0 {
		t.Fatalf("get_group_members(blah) = %q", got)
	}

	// A batch (batch_start ... batch_end) of logins, register and
	// unregister in one message, and a batch whose register call had no
	// tags (an empty <register />).
	mustIgnored("batch", `<login><entry name="u1" ip="10.2.0.1" /><entry name="u2" ip="10.2.0.2" /></login>`+
		registerXML([]string{"10.2.0.1", "10.2.0.2"}, []string{"t1", "t2"})+unregisterXML([]string{"10.2.0.2"}, []string{"t2"}),
		"ip: 10.2.0.2 message: ip 10.2.0.2 does not exist, ignore unreg")
	mustOK("batch with an empty register", `<register /><login><entry name="u3" ip="10.2.0.3" /></login>`)
	if got, want := c.getRegisteredIP("", "t2"), map[string][]string{"10.2.0.1": {"t2"}, "10.2.0.2": {"t2"}}; !equalTagMaps(got, want) {
		t.Fatalf("after the batch: %v, want %v", got, want)
	}
	if body := c.op(mappingsAll); strings.Count(body, "<type>XMLAPI</type>") != 3 {
		t.Fatalf("mappings after the batches: %s", body)
	}
}

func equalTagMaps(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// pan-python's own live User-ID tests (tests/test_xapi_fw_tgt_pano_user_id.py)
// build documents with the payload inside <type>, serialized by
// ElementTree with an XML declaration, and read the mapping back with
// "show user ip-user-mapping-mp ip" and "show object registered-ip ip"
// (cmd_xml); a device applied them.
func TestPanPythonLiveUserIDForms(t *testing.T) {
	h := newHarness(t, Config{})
	const ip = "192.0.2.1"
	doc := func(section, entry string) string {
		return "<?xml version='1.0' encoding='UTF-8'?>\n<uid-message><type>update<payload><" + section + ">" + entry + "</" + section + "></payload></type></uid-message>"
	}
	userID := func(cmd string) {
		t.Helper()
		if _, body := h.panPython(url.Values{"type": {"user-id"}, "cmd": {cmd}}); parseResp(t, body).Status != "success" {
			t.Fatalf("user-id %s: %s", cmd, body)
		}
	}
	opFind := func(cmd string) (string, bool) {
		t.Helper()
		_, body := h.panPython(url.Values{"type": {"op"}, "cmd": {cmd}})
		var r struct {
			Status string `xml:"status,attr"`
			Entry  *struct {
				IP     string `xml:"ip"`
				IPAttr string `xml:"ip,attr"`
			} `xml:"result>entry"`
		}
		if err := xml.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
			t.Fatalf("op %s: %v %s", cmd, err, body)
		}
		if r.Entry == nil {
			return "", false
		}
		return r.Entry.IP + r.Entry.IPAttr, true
	}
	mapping := `<show><user><ip-user-mapping-mp><ip>` + ip + `</ip></ip-user-mapping-mp></user></show>`
	registered := `<show><object><registered-ip><ip>` + ip + `</ip></registered-ip></object></show>`

	userID(doc("login", `<entry name="user01xxxxxxxx" ip="`+ip+`" />`))
	if got, ok := opFind(mapping); !ok || got != ip {
		t.Fatalf("after login: %q %v", got, ok)
	}
	userID(doc("logout", `<entry name="user01xxxxxxxx" ip="`+ip+`" />`))
	if got, ok := opFind(mapping); ok {
		t.Fatalf("after logout: %q", got)
	}
	userID(doc("register", `<entry ip="`+ip+`"><tag><member>tag01xxxxxxxx</member><member>tag02xxxxxxxx</member></tag></entry>`))
	if got, ok := opFind(registered); !ok || got != ip {
		t.Fatalf("after register: %q %v", got, ok)
	}
	userID(doc("unregister", `<entry ip="`+ip+`"><tag><member>tag01xxxxxxxx</member><member>tag02xxxxxxxx</member></tag></entry>`))
	if got, ok := opFind(registered); ok {
		t.Fatalf("after unregister: %q", got)
	}
}

// panxapi.py -U FILE [--vsys 2] [-G]: the file's text as read (declaration,
// indentation, comments), vsys "2" sent as vsys2, GET with the key appended
// to the query unencoded.
func TestPanxapiDynamicUpdate(t *testing.T) {
	h := newHarness(t, Config{Now: newFakeClock().Now})
	file := "<?xml version=\"1.0\"?>\n<!-- dynamic update -->\n<uid-message>\n  <version>2.0</version>\n  <type>update</type>\n  <payload>\n    <register>\n" +
		"      <entry ip=\"10.7.0.1\" persistent=\"0\">\n        <tag>\n          <member timeout=\"3600\">web</member>\n        </tag>\n      </entry>\n" +
		"    </register>\n    <login>\n      <entry name=\"acme\\jparker\" ip=\"10.7.0.1\" timeout=\"20\"/>\n    </login>\n  </payload>\n</uid-message>\n"
	q := url.Values{"type": {"user-id"}, "cmd": {file}, "vsys": {"vsys2"}}
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?"+panPythonBody(q, h.key), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, body := h.do(req)
	want := `<response status="success"><result><uid-response><version>2.0</version><payload><login></login><logout></logout><unregister> </unregister><register> </register></payload></uid-response></result></response>`
	if body != want {
		t.Fatalf("got  %s\nwant %s", body, want)
	}
	if got := h.sim.RegisteredIn("vsys2", ""); !slices.Equal(got["10.7.0.1"], []string{"web"}) {
		t.Fatalf("registered in vsys2: %v", got)
	}
	if _, body := h.op(mappingsAll, "vsys", "vsys2"); body != mappings(mappingEntry("10.7.0.1", "vsys2", `acme\jparker`, 1200)) {
		t.Fatalf("mapping in vsys2: %s", body)
	}
}

// pan-python's userid-api.py (User-ID function, performance and capacity
// tests) sends chunks of 1,024 entries in indented templates: login/logout
// with names user-IP and an optional timeout in minutes, register/unregister
// of tags with an optional persistent attribute.
func TestPanPythonUseridAPIForms(t *testing.T) {
	h := newHarness(t, Config{Now: newFakeClock().Now})
	ips := make([]string, 1024)
	for i := range ips {
		ips[i] = fmt.Sprintf("10.0.%d.%d", (i+1)/256, (i+1)%256) // ip_network('10.0.0.0/8').hosts()
	}
	doc := func(action, entries string) string {
		return "<uid-message>\n  <type>update</type>\n  <payload>\n    <" + action + ">\n" + entries + "    </" + action + ">\n  </payload>\n</uid-message>\n"
	}
	loginLogout := func(action, attrs string) string {
		var b strings.Builder
		for _, ip := range ips {
			fmt.Fprintf(&b, "      <entry name=\"user-%s\" ip=\"%s\"%s/>\n", ip, ip, attrs)
		}
		return doc(action, b.String())
	}
	regUnreg := func(action, attrs string) string {
		var b strings.Builder
		for _, ip := range ips {
			fmt.Fprintf(&b, "      <entry ip=\"%s\"%s>\n        <tag>\n          <member>tag01</member>\n          <member>tag02</member>\n        </tag>\n      </entry>\n", ip, attrs)
		}
		return doc(action, b.String())
	}
	steps := []struct {
		cmd, want string
	}{
		{loginLogout("login", ` timeout="30"`), `<response status="success"><result><uid-response><version>2.0</version><payload><login></login><logout></logout></payload></uid-response></result></response>`},
		{regUnreg("register", ` persistent="0"`), `<response status="success"><result><uid-response><version>2.0</version><payload><unregister> </unregister><register> </register></payload></uid-response></result></response>`},
	}
	for _, st := range steps {
		if _, body := h.panPython(url.Values{"type": {"user-id"}, "cmd": {st.cmd}}); body != st.want {
			t.Fatalf("got  %s\nwant %s", body, st.want)
		}
	}
	_, body := h.op(mappingsAll)
	if n := strings.Count(body, "<type>XMLAPI</type>"); n != 1024 || !strings.Contains(body, mappingEntry("10.0.4.0", "vsys1", "user-10.0.4.0", 1800)) {
		t.Fatalf("%d mappings after login; 10.0.4.0 missing or wrong: %.300s", n, body)
	}
	if l := h.list(`<show><object><registered-ip><tag><entry name="tag02"/></tag><limit>500</limit><start-point>1001</start-point></registered-ip></object></show>`); l.Count != 24 || l.Entries[0].Persistent != "0" {
		t.Fatalf("third page of tag02: %+v", l)
	}
	for _, cmd := range []string{loginLogout("logout", ""), regUnreg("unregister", "")} {
		if _, body := h.panPython(url.Values{"type": {"user-id"}, "cmd": {cmd}}); parseResp(t, body).Status != "success" {
			t.Fatalf("%.60s: %s", cmd, body)
		}
	}
	if _, body := h.op(mappingsAll); body != noResult {
		t.Fatalf("after logout: %.300s", body)
	}
	if l := h.list(`<show><object><registered-ip><all/></registered-ip></object></show>`); l.Count != 0 {
		t.Fatalf("after unregister: %d registered", l.Count)
	}
}

// On Panorama pan-os-python sends vsys=shared (Panorama.DEFAULT_VSYS) with
// user-id calls and drops vsys from op commands (Panorama.op), and reads
// back what it registered: Panorama has no vsys. Through Panorama to a
// firewall (target=SERIAL) the vsys is the firewall's.
func TestPanOSPythonOnPanorama(t *testing.T) {
	h := newHarness(t, Config{Panorama: true, Now: newFakeClock().Now})
	c := panOS{h: h, vsys: "shared"}
	if body, err := c.send(registerXML([]string{"10.3.0.1"}, []string{"web"}) + `<login><entry name="u" ip="10.3.0.1" /></login>`); err != nil {
		t.Fatalf("register: %v\n%s", err, body)
	}
	if got, want := c.getRegisteredIP("", ""), map[string][]string{"10.3.0.1": {"web"}}; !equalTagMaps(got, want) {
		t.Fatalf("get_registered_ip on Panorama: %v, want %v", got, want)
	}
	if body := c.op(mappingsAll); body != mappings(mappingEntry("10.3.0.1", "vsys1", "u", 2700)) {
		t.Fatalf("mappings on Panorama: %s", body)
	}
	if got := h.sim.RegisteredIn("", ""); !slices.Equal(got["10.3.0.1"], []string{"web"}) {
		t.Fatalf("RegisteredIn: %v", got)
	}
	// A firewall behind Panorama keeps its vsys apart.
	q := url.Values{"type": {"user-id"}, "target": {DefaultSerial}, "vsys": {"vsys2"},
		"cmd": {`<uid-message><version>1.0</version><type>update</type><payload>` + registerXML([]string{"10.3.0.2"}, []string{"db"}) + `</payload></uid-message>`}}
	if _, body := h.panPython(q); parseResp(t, body).Status != "success" {
		t.Fatalf("targeted register: %s", body)
	}
	if got := h.sim.RegisteredIn("vsys2", DefaultSerial); !slices.Equal(got["10.3.0.2"], []string{"db"}) {
		t.Fatalf("firewall vsys2: %v", got)
	}
	if got := h.sim.RegisteredIn("", DefaultSerial); len(got) != 0 {
		t.Fatalf("firewall vsys1: %v", got)
	}
}

// The two forms of Palo Alto's User-ID API documentation:
//
//	curl -F key=<apikey> --form file=@<filename> "https://<firewall>/api/?type=user-id"
//	curl --data-urlencode key=<apikey> -d type=user-id --data-urlencode "cmd=xml-document" https://<firewall>/api/
func TestDocumentedUserIDCurlForms(t *testing.T) {
	h := newHarness(t, Config{Now: newFakeClock().Now})
	file := "<uid-message>\n<version>1.0</version>\n<type>update</type>\n<payload>\n<login>\n<entry name=\"acme\\jparker\" ip=\"10.1.1.23\" timeout=\"20\"/>\n</login>\n</payload>\n</uid-message>\n"
	var buf strings.Builder
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("key", h.key); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", "login.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(fw, file); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/api/?type=user-id", strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if _, body := h.do(req); body != okIPUser {
		t.Fatalf("file upload: %s", body)
	}
	if _, body := h.op(mappingsAll); body != mappings(mappingEntry("10.1.1.23", "vsys1", `acme\jparker`, 1200)) {
		t.Fatalf("after file upload: %s", body)
	}

	body := "key=" + url.QueryEscape(h.key) + "&type=user-id&cmd=" + url.QueryEscape(strings.Replace(file, "login", "logout", 2))
	req, err = http.NewRequest(http.MethodPost, h.srv.URL+"/api/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, body := h.do(req); body != okIPUser {
		t.Fatalf("cmd form: %s", body)
	}
	if _, body := h.op(mappingsAll); body != noResult {
		t.Fatalf("after logout: %s", body)
	}
}
