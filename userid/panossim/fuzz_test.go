package panossim

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzUIDMessage feeds arbitrary documents to the uid-message parser and the
// whole user-id path: no input may panic, every answer must be well-formed
// XML, and the registry must stay within the PAN-OS limits.
func FuzzUIDMessage(f *testing.F) {
	f.Add([]byte(regMsg(`<entry ip="10.0.0.1"><tag><member timeout="60">a</member></tag></entry>`)))
	f.Add([]byte(`<uid-message><payload><unregister><entry ip="10.0.0.1"/></unregister><register><entry ip="10.0.0.0/8" persistent="0"><tag><member>x</member></tag></entry></register></payload></uid-message>`))
	f.Add([]byte(`<uid-message><version>9</version></uid-message>`))
	f.Add([]byte(`<uid-message><payload><register><entry ip="1.2.3.4-1.2.3.1"><tag><member timeout="-1"></member></tag></entry></register></payload>`))
	f.Add([]byte(`<uid-message><version>1.0</version><type>update</type><payload><login><entry name="d\u" ip="10.1.1.1" timeout="10" /></login><logout><entry name="w" ip="10.1.1.1"/></logout><groups><entry name="g"><members><entry name="a"/></members></entry></groups><register-user><entry user="u"><tag><member timeout="5">t</member></tag></entry></register-user><unregister-user><entry user="u"/></unregister-user></payload></uid-message>`))
	f.Add([]byte(`<uid-message><type>update<payload><login><entry name="u" ip="192.0.2.1" /></login></payload></type></uid-message>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeUIDMessage(data)
		if err == nil && m == nil {
			t.Fatal("nil message without error")
		}
		// The fast path answers only where the general decoder agrees.
		if fm, ok := fastUIDMessage(data); ok {
			if err != nil {
				t.Fatalf("fast path read a message the decoder refuses (%v): %q", err, data)
			}
			if !reflect.DeepEqual(*fm, *m) {
				t.Fatalf("fast path and decoder disagree:\n fast %+v\n dec  %+v", *fm, *m)
			}
		}
		// Differential check against encoding/xml's reflective decoder on
		// namespace-free documents both accept.
		var ref uidMessage
		if err == nil && !bytes.ContainsRune(data, ':') && xml.Unmarshal(data, &ref) == nil {
			if !reflect.DeepEqual(*m, ref) {
				t.Fatalf("decoders disagree:\n raw %+v\n ref %+v", *m, ref)
			}
		}
		sim := New(Config{Capacity: 4})
		key, err := sim.APIKeyFor("admin")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // twice: the second pass meets the first one's state
			form := url.Values{"type": {"user-id"}, "cmd": {string(data)}}
			req := httptest.NewRequest(http.MethodPost, "/api/", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-PAN-KEY", key)
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("HTTP %d", rec.Code)
			}
			if err := wellFormed(rec.Body.Bytes()); err != nil {
				t.Fatalf("answer is not well-formed XML: %v\n%s", err, rec.Body.String())
			}
		}
		sim.mu.Lock()
		defer sim.mu.Unlock()
		total := 0
		for _, sc := range sim.reg.scopes {
			total += len(sc.entries)
			for k, e := range sc.entries {
				if k != e.addr.key || len(e.tags) == 0 || len(e.tags) > MaxTagsPerIP {
					t.Fatalf("entry %q: %d tags", k, len(e.tags))
				}
				for _, tg := range e.tags {
					if tg.name == "" || len(tg.name) > MaxTagNameLen {
						t.Fatalf("entry %q holds tag %q", k, tg.name)
					}
				}
			}
		}
		if total != sim.reg.total || total > 4 {
			t.Fatalf("registry counts %d, holds %d (capacity 4)", sim.reg.total, total)
		}
		// The other User-ID tables stay within the same bounds.
		if m, u, g := sim.userCountsLocked(); m > 4 || u > 4 || g > 4 {
			t.Fatalf("user tables hold %d mappings, %d tagged users, %d group members (capacity 4)", m, u, g)
		}
		for _, us := range sim.users {
			for ip, m := range us.mappings {
				if a, ok := parseUserIP(ip); !ok || a != ip || m.user == "" {
					t.Fatalf("mapping %q -> %q", ip, m.user)
				}
			}
			for u, tags := range us.tags {
				if u == "" || len(tags) == 0 || len(tags) > MaxTagsPerIP {
					t.Fatalf("user %q: %d tags", u, len(tags))
				}
				for _, tg := range tags {
					if tg.name == "" || len(tg.name) > MaxTagNameLen {
						t.Fatalf("user %q holds tag %q", u, tg.name)
					}
				}
			}
			for g := range us.groups {
				if g == "" {
					t.Fatal("group without a name")
				}
			}
		}
	})
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// FuzzConfig feeds arbitrary XPaths and elements to every config action and
// arbitrary op/commit commands: no panic, and every answer well-formed XML.
func FuzzConfig(f *testing.F) {
	f.Add(webXPath, `<fqdn>a.example</fqdn>`, `<show><object><registered-ip><all/></registered-ip></object></show>`)
	f.Add(webXPath, `<entry name="web"><fqdn>b</fqdn></entry>`, `<commit/>`)
	f.Add(`/config/devices/entry[@name="x"]/a[@b='c']`, `<a b="c"><member>m</member><member>m</member></a>`, `<show><jobs><id>1</id></jobs></show>`)
	f.Add(webXPath, `<e xmlns:x="u" xmlns:y="v" x:n="1" y:n="2"/>`, `<show xmlns="u"/>`)
	f.Add(`/config`, `]]><![CDATA[`, `<show><object><registered-ip><limit>0</limit></registered-ip></object></show>`)
	f.Add(webXPath+`|`+vsysPrefix+`/address/entry[@name='a' or @name='b']/tag/member[text()='x']`, `<member>x</member>`,
		`<commit><partial><admin><member>admin</member></admin><device-group><member>dg</member></device-group></partial></commit>`)
	f.Add(`/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='dg']/pre-rulebase/nat/rules/entry[@name='r']`,
		`<entry name="r"><from><member>z</member></from><service>s</service></entry>`, `<commit-all><shared-policy><validate-only/></shared-policy></commit-all>`)
	f.Add(`/config/devices/entry[@name='localhost.localdomain']/template-stack/entry[@name='ts']`, `<templates><member>t</member></templates>`,
		`<commit-all><template-stack><name>ts</name><device><member>007200000000001</member></device></template-stack></commit-all>`)
	f.Add(webXPath, `<entry name="web"><fqdn>c</fqdn></entry>`,
		`<commit><description>d</description><force><partial><description>e</description><object-xpaths><member>`+webXPath+`</member></object-xpaths></partial></force></commit>`)
	f.Fuzz(func(t *testing.T, xpath, element, cmd string) {
		sim := New(Config{Panorama: len(xpath)%2 == 0, JobPolls: -1})
		key, err := sim.APIKeyFor("admin")
		if err != nil {
			t.Fatal(err)
		}
		calls := []url.Values{
			{"type": {"config"}, "action": {"set"}, "xpath": {xpath}, "element": {element}},
			{"type": {"config"}, "action": {"edit"}, "xpath": {xpath}, "element": {element}},
			{"type": {"config"}, "action": {"get"}, "xpath": {xpath}},
			{"type": {"config"}, "action": {"move"}, "xpath": {xpath}, "where": {"before"}, "dst": {element}},
			{"type": {"config"}, "action": {"rename"}, "xpath": {xpath}, "newname": {element}},
			{"type": {"commit"}, "action": {"partial"}, "cmd": {cmd}},
			{"type": {"commit"}, "cmd": {"<commit/>"}},
			{"type": {"config"}, "action": {"show"}, "xpath": {xpath}},
			{"type": {"config"}, "action": {"delete"}, "xpath": {xpath}},
			{"type": {"op"}, "cmd": {cmd}},
			{"type": {"commit"}, "cmd": {cmd}},
			{"type": {"commit"}, "action": {"all"}, "cmd": {cmd}},
			{"type": {"op"}, "cmd": {"<show><jobs><id>1</id></jobs></show>"}},
			{"type": {"op"}, "cmd": {"<show><jobs><all/></jobs></show>"}},
			{"type": {"config"}, "action": {"show"}},
		}
		for _, v := range calls {
			req := httptest.NewRequest(http.MethodPost, "/api/", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-PAN-KEY", key)
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if err := wellFormed(rec.Body.Bytes()); err != nil {
				t.Fatalf("%v: answer is not well-formed XML: %v\n%s", v, err, rec.Body.String())
			}
		}
	})
}
