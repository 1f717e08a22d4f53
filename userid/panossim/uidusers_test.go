package panossim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// uidStep is one request of a scenario and the exact answer it must get;
// advance moves the clock first.
type uidStep struct {
	advance time.Duration
	typ     string // "uid" or "op"
	cmd     string
	extra   []string
	want    string
}

func uidMsg(version, payload string) string {
	v := ""
	if version != "" {
		v = "<version>" + version + "</version>"
	}
	return `<uid-message>` + v + `<type>update</type><payload>` + payload + `</payload></uid-message>`
}

const (
	mappingsAll = `<show><user><ip-user-mapping><all></all></ip-user-mapping></user></show>`
	usersAll    = `<show><object><registered-user><all><limit>500</limit><start-point>1</start-point></all></registered-user></object></show>`
	groupList   = `<show><user><group><list></list></group></user></show>`
	// uid-response bodies (version 1.0, as pan-os-python and pango send it).
	okIPUser  = `<response status="success"><result><uid-response><version>1.0</version><payload><login></login><logout></logout></payload></uid-response></result></response>`
	okGroups  = `<response status="success"><result><uid-response><version>1.0</version><payload><groups></groups></payload></uid-response></result></response>`
	okUserTag = `<response status="success"><result><uid-response><version>1.0</version><payload><unregister-user></unregister-user><register-user></register-user></payload></uid-response></result></response>`
	noResult  = `<response status="success"><result></result></response>`
)

func uidError(version, payload string) string {
	return `<response status="error"><msg><line><uid-response><version>` + version + `</version><payload>` + payload + `</payload></uid-response></line></msg></response>`
}

func mappingEntry(ip, vsys, user string, secs int) string {
	return fmt.Sprintf("<entry><ip>%s</ip><vsys>%s</vsys><type>XMLAPI</type><user>%s</user><idle_timeout>%d</idle_timeout><timeout>%d</timeout></entry>\n", ip, vsys, user, secs, secs)
}

func mappings(entries ...string) string {
	return `<response status="success"><result>` + strings.Join(entries, "") + fmt.Sprintf("<count>%d</count>\n</result></response>", len(entries))
}

func userEntry(user string, tags ...string) string {
	var b strings.Builder
	b.WriteString(`<entry user="` + user + "\">\n<tag>\n")
	for _, t := range tags {
		b.WriteString("<member>" + t + "</member>\n")
	}
	b.WriteString("</tag>\n</entry>\n")
	return b.String()
}

func registeredUsers(entries ...string) string {
	return `<response status="success"><result>` + strings.Join(entries, "") + fmt.Sprintf("<count>%d</count>\n</result></response>", len(entries))
}

func cdata(text string) string {
	return `<response status="success"><result><![CDATA[` + text + `]]></result></response>`
}

// TestUserIDBeyondIPTags: the uid-message sections other than register and
// unregister are stored as a device stores them and read back through the
// op commands that list them.
func TestUserIDBeyondIPTags(t *testing.T) {
	tests := []struct {
		name  string
		steps []uidStep
	}{
		{"login maps users, default timeout 45 minutes, timeout in minutes", []uidStep{
			{typ: "uid", cmd: uidMsg("1.0", `<login><entry name="example.com\username" ip="10.1.1.1" timeout="10" /><entry name="u2" ip="10.1.1.2"/></login>`), want: okIPUser},
			{typ: "op", cmd: mappingsAll, want: mappings(mappingEntry("10.1.1.1", "vsys1", `example.com\username`, 600), mappingEntry("10.1.1.2", "vsys1", "u2", 2700))},
			{advance: 100 * time.Second, typ: "op", cmd: mappingsAll, want: mappings(mappingEntry("10.1.1.1", "vsys1", `example.com\username`, 500), mappingEntry("10.1.1.2", "vsys1", "u2", 2600))},
			{advance: 500 * time.Second, typ: "op", cmd: mappingsAll, want: mappings(mappingEntry("10.1.1.2", "vsys1", "u2", 2100))},
			{typ: "op", cmd: `<show><user><ip-user-mapping><ip>10.1.1.2</ip></ip-user-mapping></user></show>`, want: mappings(mappingEntry("10.1.1.2", "vsys1", "u2", 2100))},
			{typ: "op", cmd: `<show><user><ip-user-mapping-mp><ip>10.1.1.1</ip></ip-user-mapping-mp></user></show>`, want: noResult},
		}},
		{"a login replaces the address's user; logout needs the mapped user", []uidStep{
			{typ: "uid", cmd: uidMsg("1.0", `<login><entry name="old" ip="10.1.1.1"/></login>`), want: okIPUser},
			{typ: "uid", cmd: uidMsg("1.0", `<login><entry name="new" ip="10.1.1.1" timeout="1"/></login>`), want: okIPUser},
			{typ: "uid", cmd: uidMsg("1.0", `<logout><entry name="old" ip="10.1.1.1"/><entry name="x" ip="10.9.9.9"/></logout>`),
				want: uidError("1.0", `<login></login><logout><entry name="old" ip="10.1.1.1" message="Delete mapping failed"/><entry name="x" ip="10.9.9.9" message="Delete mapping failed"/></logout>`)},
			{typ: "op", cmd: mappingsAll, want: mappings(mappingEntry("10.1.1.1", "vsys1", "new", 60))},
			{typ: "uid", cmd: uidMsg("1.0", `<logout><entry name="new" ip="10.1.1.1"/></logout>`), want: okIPUser},
			{typ: "op", cmd: mappingsAll, want: noResult},
		}},
		{"login failures are per entry", []uidStep{
			{typ: "uid", cmd: uidMsg("", `<login><entry name="a" ip="10.0.0.0/24"/><entry name="b" ip="10.1.1.2" timeout="x"/><entry name="" ip="10.1.1.3"/><entry name="c" ip="10.1.1.4"/></login>`),
				want: uidError("2.0", `<login><entry name="a" ip="10.0.0.0/24" message="Failed to login user a: invalid ip address"/>`+
					`<entry name="b" ip="10.1.1.2" message="Failed to login user b: invalid timeout &quot;x&quot; (minutes, max 43200)"/>`+
					`<entry name="" ip="10.1.1.3" message="Failed to login user : empty user name"/></login><logout></logout>`)},
			{typ: "op", cmd: mappingsAll, want: mappings(mappingEntry("10.1.1.4", "vsys1", "c", 2700))},
		}},
		{"mapping filters: prefix and login type (pango's GetLogins)", []uidStep{
			{typ: "uid", cmd: uidMsg("1.0", `<login><entry name="a" ip="10.1.1.1"/><entry name="b" ip="10.1.2.1"/><entry name="c" ip="2001:db8::1"/></login>`), want: okIPUser},
			{typ: "op", cmd: `<show><user><ip-user-mapping><ip>10.1.1.0/24</ip></ip-user-mapping></user></show>`, want: mappings(mappingEntry("10.1.1.1", "vsys1", "a", 2700))},
			{typ: "op", cmd: `<show><user><ip-user-mapping><ip>10.1.0.0/16</ip></ip-user-mapping></user></show>`,
				want: mappings(mappingEntry("10.1.1.1", "vsys1", "a", 2700), mappingEntry("10.1.2.1", "vsys1", "b", 2700))},
			{typ: "op", cmd: `<show><user><ip-user-mapping><ip>2001:db8::/64</ip></ip-user-mapping></user></show>`, want: mappings(mappingEntry("2001:db8::1", "vsys1", "c", 2700))},
			{typ: "op", cmd: `<show><user><ip-user-mapping><all><type>XMLAPI</type></all></ip-user-mapping></user></show>`,
				want: mappings(mappingEntry("10.1.1.1", "vsys1", "a", 2700), mappingEntry("10.1.2.1", "vsys1", "b", 2700), mappingEntry("2001:db8::1", "vsys1", "c", 2700))},
			{typ: "op", cmd: `<show><user><ip-user-mapping><all><type>AD</type></all></ip-user-mapping></user></show>`, want: noResult},
			{typ: "op", cmd: `<show><user><ip-user-mapping><all><bogus/></all></ip-user-mapping></user></show>`,
				want: `<response status="error" code="17"><msg><line><![CDATA[ show -> user -> ip-user-mapping -> all -> bogus  is unexpected]]></line></msg></response>`},
		}},
		{"mappings are per vsys", []uidStep{
			{typ: "uid", cmd: uidMsg("1.0", `<login><entry name="a" ip="10.1.1.1"/></login>`), extra: []string{"vsys", "vsys2"}, want: okIPUser},
			{typ: "uid", cmd: uidMsg("1.0", `<login><entry name="b" ip="10.1.1.1"/></login>`), want: okIPUser},
			{typ: "op", cmd: mappingsAll, want: mappings(mappingEntry("10.1.1.1", "vsys1", "b", 2700), mappingEntry("10.1.1.1", "vsys2", "a", 2700))},
			{typ: "op", cmd: mappingsAll, extra: []string{"vsys", "vsys2"}, want: mappings(mappingEntry("10.1.1.1", "vsys2", "a", 2700))},
		}},
		{"groups: each entry is the whole membership", []uidStep{
			{typ: "op", cmd: groupList, want: cdata("\n\nTotal: 0\n* : Custom Group\n\n")},
			{typ: "uid", cmd: uidMsg("1.0", `<groups><entry name="cn=ops"><members><entry name="a"/><entry name="b"/><entry name="a"/></members></entry><entry name="empty"><members/></entry></groups>`), want: okGroups},
			{typ: "op", cmd: groupList, want: cdata("\ncn=ops \nempty \n\nTotal: 2\n* : Custom Group\n\n")},
			{typ: "op", cmd: `<show><user><group><list><entry name='xmlapi'/></list></group></user></show>`, want: cdata("\ncn=ops \nempty \n\nTotal: 2\n* : Custom Group\n\n")},
			{typ: "op", cmd: `<show><user><group><list><entry name='custom-group'/></list></group></user></show>`, want: cdata("\n\nTotal: 0\n* : Custom Group\n\n")},
			{typ: "op", cmd: `<show><user><group><name>cn=ops</name></group></user></show>`, want: cdata("\n\nsource type: xmlapi\nGroup type: Dynamic\n\n[1     ] a\n[2     ] b\n\n")},
			{typ: "op", cmd: `<show><user><group><name>empty</name></group></user></show>`, want: cdata("\n\nsource type: xmlapi\nGroup type: Dynamic\n\n\n")},
			{typ: "uid", cmd: uidMsg("1.0", `<groups><entry name="cn=ops"><members><entry name="c"/></members></entry></groups>`), want: okGroups},
			{typ: "op", cmd: `<show><user><group><name>cn=ops</name></group></user></show>`, want: cdata("\n\nsource type: xmlapi\nGroup type: Dynamic\n\n[1     ] c\n\n")},
			{typ: "op", cmd: `<show><user><group><name>nope</name></group></user></show>`, want: cdata("\nUser group 'nope' does not exist or does not have members\n")},
		}},
		{"user tags: timeouts, benign duplicates and removals", []uidStep{
			{typ: "op", cmd: usersAll, want: registeredUsers()},
			{typ: "uid", cmd: uidMsg("1.0", `<register-user><entry user="d\u1"><tag><member timeout="60">t2</member><member>t1</member></tag></entry><entry user="u2"><tag><member>t3</member></tag></entry></register-user>`), want: okUserTag},
			{typ: "op", cmd: usersAll, want: registeredUsers(userEntry(`d\u1`, "t1", "t2"), userEntry("u2", "t3"))},
			{typ: "op", cmd: `<show><object><registered-user><user>u2</user></registered-user></object></show>`, want: registeredUsers(userEntry("u2", "t3"))},
			{typ: "uid", cmd: uidMsg("1.0", `<register-user><entry user="u2"><tag><member>t3</member></tag></entry></register-user>`),
				want: uidError("1.0", `<unregister-user></unregister-user><register-user><entry user="u2" message="tag t3 already exists, ignore"/></register-user>`)},
			{advance: time.Minute, typ: "op", cmd: usersAll, want: registeredUsers(userEntry(`d\u1`, "t1"), userEntry("u2", "t3"))},
			{typ: "uid", cmd: uidMsg("1.0", `<unregister-user><entry user="d\u1"><tag><member>t1</member><member>t9</member></tag></entry><entry user="nobody"/></unregister-user>`),
				want: uidError("1.0", `<unregister-user><entry user="d\u1" message="tag t9 does not exist, ignore unreg"/><entry user="nobody" message="user nobody does not exist, ignore unreg"/></unregister-user><register-user></register-user>`)},
			{typ: "uid", cmd: uidMsg("1.0", `<unregister-user><entry user="u2"/></unregister-user>`), want: okUserTag},
			{typ: "op", cmd: usersAll, want: registeredUsers()},
		}},
		{"registered-user paging", []uidStep{
			{typ: "uid", cmd: uidMsg("1.0", `<register-user><entry user="c"><tag><member>t</member></tag></entry><entry user="a"><tag><member>t</member></tag></entry><entry user="b"><tag><member>t</member></tag></entry></register-user>`), want: okUserTag},
			{typ: "op", cmd: `<show><object><registered-user><all><limit>2</limit><start-point>1</start-point></all></registered-user></object></show>`, want: registeredUsers(userEntry("a", "t"), userEntry("b", "t"))},
			{typ: "op", cmd: `<show><object><registered-user><all><limit>2</limit><start-point>3</start-point></all></registered-user></object></show>`, want: registeredUsers(userEntry("c", "t"))},
		}},
		{"one message with every kind of section", []uidStep{
			{typ: "uid", cmd: uidMsg("1.0", `<login><entry name="u1" ip="10.0.0.1"/></login><register><entry ip="10.0.0.1"><tag><member timeout="0">web</member></tag></entry></register>`+
				`<unregister><entry ip="10.0.0.9"><tag><member>x</member></tag></entry></unregister><groups><entry name="g"><members><entry name="u1"/></members></entry></groups>`+
				`<register-user><entry user="u1"><tag><member>vip</member></tag></entry></register-user><register />`),
				want: uidError("1.0", `<login></login><logout></logout><unregister><entry ip="10.0.0.9" message="ip 10.0.0.9 does not exist, ignore unreg"/></unregister><register> </register>`+
					`<groups></groups><unregister-user></unregister-user><register-user></register-user>`)},
			{typ: "op", cmd: mappingsAll, want: mappings(mappingEntry("10.0.0.1", "vsys1", "u1", 2700))},
			{typ: "op", cmd: `<show><object><registered-ip><ip>10.0.0.1</ip></registered-ip></object></show>`,
				want: `<response status="success"><result><entry ip="10.0.0.1" from_agent="0" persistent="1"><tag><member>web</member></tag></entry><count>1</count></result></response>`},
			{typ: "op", cmd: usersAll, want: registeredUsers(userEntry("u1", "vip"))},
		}},
		{"payload nested in type (pan-python's live tests)", []uidStep{
			{typ: "uid", cmd: "<?xml version='1.0' encoding='UTF-8'?>\n" + `<uid-message><type>update<payload><login><entry name="user01" ip="192.0.2.1" /></login></payload></type></uid-message>`,
				want: `<response status="success"><result><uid-response><version>2.0</version><payload><login></login><logout></logout></payload></uid-response></result></response>`},
			{typ: "op", cmd: `<show><user><ip-user-mapping-mp><ip>192.0.2.1</ip></ip-user-mapping-mp></user></show>`, want: mappings(mappingEntry("192.0.2.1", "vsys1", "user01", 2700))},
		}},
		{"bad op forms", []uidStep{
			{typ: "op", cmd: `<show><user><ip-user-mapping><ip>nope</ip></ip-user-mapping></user></show>`,
				want: `<response status="error" code="17"><msg><line><![CDATA[ show -> user -> ip-user-mapping -> ip 'nope' is not a valid IP address]]></line></msg></response>`},
			{typ: "op", cmd: `<show><user><ip-user-mapping></ip-user-mapping></user></show>`,
				want: `<response status="error" code="17"><msg><line><![CDATA[ show -> user -> ip-user-mapping  is unexpected]]></line></msg></response>`},
			{typ: "op", cmd: `<show><object><registered-user><all><limit>0</limit></all></registered-user></object></show>`,
				want: `<response status="error" code="17"><msg><line><![CDATA[ show -> object -> registered-user -> all -> limit '0' is not a valid number]]></line></msg></response>`},
			{typ: "op", cmd: `<show><user><group><bogus/></group></user></show>`,
				want: `<response status="error" code="17"><msg><line><![CDATA[ show -> user -> group -> bogus  is unexpected]]></line></msg></response>`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			h := newHarness(t, Config{Now: clock.Now})
			for i, st := range tc.steps {
				clock.Advance(st.advance)
				var body string
				if st.typ == "uid" {
					_, body = h.uid(st.cmd, st.extra...)
				} else {
					_, body = h.op(st.cmd, st.extra...)
				}
				if body != st.want {
					t.Fatalf("step %d %s %s:\n got %s\nwant %s", i, st.typ, st.cmd, body, st.want)
				}
			}
		})
	}
}

// The user tables are bounded by Config.Capacity like registered IPs.
func TestUserIDCapacity(t *testing.T) {
	h := newHarness(t, Config{Capacity: 2})
	msg := uidMsg("1.0", `<login><entry name="a" ip="10.0.0.1"/><entry name="b" ip="10.0.0.2"/><entry name="c" ip="10.0.0.3"/><entry name="a2" ip="10.0.0.1"/></login>`+
		`<groups><entry name="g"><members><entry name="a"/><entry name="b"/><entry name="c"/></members></entry></groups>`+
		`<register-user><entry user="a"><tag><member>t</member></tag></entry><entry user="b"><tag><member>t</member></tag></entry><entry user="c"><tag><member>t</member></tag></entry></register-user>`)
	want := uidError("1.0", `<login><entry name="c" ip="10.0.0.3" message="Failed to login user c: ip-user mapping capacity 2 reached"/></login><logout></logout>`+
		`<groups><entry name="g" message="Failed to set group g: group member capacity 2 reached"/></groups>`+
		`<unregister-user></unregister-user><register-user><entry user="c" message="Failed to register user c: registered-user capacity 2 reached"/></register-user>`)
	if _, body := h.uid(msg); body != want {
		t.Fatalf("got  %s\nwant %s", body, want)
	}
	// The replacing login (a2 on 10.0.0.1) needed no room.
	if _, body := h.op(mappingsAll); !strings.Contains(body, "<user>a2</user>") || !strings.Contains(body, "<count>2</count>") {
		t.Fatalf("mappings: %s", body)
	}
}
