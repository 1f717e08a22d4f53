package panossim

import (
	"encoding/xml"
	"reflect"
	"testing"
)

// TestDecodeUIDMessageMatchesUnmarshal checks the raw-token decoder against
// encoding/xml's reflective decoding of the same structure.
func TestDecodeUIDMessageMatchesUnmarshal(t *testing.T) {
	docs := []string{
		regMsg(`<entry ip="10.0.0.1" persistent="0"><tag><member timeout="5">a</member><member> b </member></tag></entry>`),
		`<?xml version="1.0"?><!-- c --><uid-message><version> 2.0 </version><type>update</type><payload><register><entry ip="1.1.1.1"><tag><member><![CDATA[x&y]]></member></tag></entry></register><register><entry ip="1.1.1.2"><tag><member>z</member></tag><tag><member>w</member></tag></entry></register></payload></uid-message>`,
		`<uid-message><payload><unregister><entry ip="1.1.1.1"/><entry/></unregister><login><entry name="u" ip="2.2.2.2"/></login></payload><extra><payload/></extra></uid-message>trailing`,
		`<uid-message><payload><register><entry ip="1.1.1.1"><tag><member>a<b>nested</b>c</member></tag><bogus><tag><member>no</member></tag></bogus></entry></register></payload></uid-message>`,
		`<uid-message><payload><register><tag><member>stray</member></tag></register></payload></uid-message>`,
		`<uid-message><version>1.0</version><version>2.0</version><payload/></uid-message>`,
		`<uid-message><payload><register><entry ip="a" ip2="b" persistent="1">x<tag>y<member>m</member>z</tag></entry></register></payload></uid-message>`,
		// Every other section, repeated sections and entries that mix kinds.
		`<uid-message><version>1.0</version><type>update</type><payload><login><entry name="d\u" ip="10.1.1.1" timeout="10" /><entry name="v" ip="10.1.1.2"><tag><member>no</member></tag></entry></login>` +
			`<logout><entry name="w" ip="10.1.1.3"/></logout><login><entry name="x" ip="10.1.1.4"/></login>` +
			`<groups><entry name="g1"><members><entry name="a"/><entry name="b"/></members><members><entry name="c"/></members></entry><entry name="g2"><members/></entry><entry name="g3"/></groups>` +
			`<register-user><entry user="u1"><tag><member timeout="60">t1</member><member>t2</member></tag></entry></register-user>` +
			`<unregister-user><entry user="u2"/><entry user="u3"><tag><member>t3</member></tag><tag><member>t4</member></tag></entry></unregister-user></payload></uid-message>`,
		// pan-python's live tests nest the payload in <type>.
		`<?xml version='1.0' encoding='UTF-8'?>` + "\n" + `<uid-message><type>update<payload><login><entry name="user01" ip="192.0.2.1" /></login></payload></type></uid-message>`,
		`<uid-message><type>up<payload><register><entry ip="1.1.1.1"><tag><member>a</member></tag></entry></register></payload>date</type><type><payload><register><entry ip="1.1.1.2"/></register></payload></type><payload><groups><entry name="g"><entry name="stray"/></entry></groups></payload></uid-message>`,
	}
	for _, doc := range docs {
		got, err := decodeUIDMessage([]byte(doc))
		var want uidMessage
		werr := xml.Unmarshal([]byte(doc), &want)
		if (err == nil) != (werr == nil) {
			t.Errorf("%s:\n raw err %v, ref err %v", doc, err, werr)
			continue
		}
		if err == nil && !reflect.DeepEqual(*got, want) {
			t.Errorf("%s:\n raw %+v\n ref %+v", doc, *got, want)
		}
	}
	for _, bad := range []string{"", "<uid-message>", "<uid-message></payload>", "<a/>", "</x>", "<uid-message><payload></uid-message>"} {
		if _, err := decodeUIDMessage([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
		var ref uidMessage
		if xml.Unmarshal([]byte(bad), &ref) == nil {
			t.Errorf("reference accepts %q: the case tests nothing", bad)
		}
	}
}

// TestFastUIDMessage: the fast path reads what clients send, exactly as
// decodeUIDMessage does, and leaves everything else to it.
func TestFastUIDMessage(t *testing.T) {
	cases := []struct {
		doc  string
		fast bool
	}{
		{regMsg(`<entry ip="10.0.0.1" persistent="0"><tag><member timeout="5">a</member><member> b </member></tag></entry>`), true},
		{`<uid-message><version>2.0</version><type>update</type><payload><unregister><entry ip="10.0.0.1"><tag><member>a</member></tag></entry></unregister><register><entry ip="10.0.0.2"><tag><member>a</member></tag></entry></register></payload></uid-message>`, true},
		{"<uid-message>\n <payload>\n  <register>\n   <entry ip=\"1.1.1.1\"><tag/></entry><entry ip=\"1.1.1.2\"/>\n  </register><register></register><register><entry ip=\"1.1.1.3\"><tag><member/><member></member></tag><tag><member>w</member></tag></entry></register>\n </payload>\n</uid-message>\n", true},
		{`<uid-message><payload><register><entry ip="a" ip="b" persistent="1" other="x"><tag><member>m</member></tag></entry></register></payload></uid-message>`, true},
		{`<?xml version="1.0"?><uid-message><payload/></uid-message>`, false},
		{`<uid-message><payload><register><entry ip="1.1.1.1"><tag><member>a&amp;b</member></tag></entry></register></payload></uid-message>`, false},
		{`<uid-message><payload><register><entry ip="1.1.1.1"><tag><member><![CDATA[x]]></member></tag></entry></register></payload></uid-message>`, false},
		{`<uid-message><payload><register><entry ip="1.1.1.1">x<tag><member>m</member></tag></entry></register></payload></uid-message>`, false},
		{`<uid-message><payload><login><entry name="u" ip="2.2.2.2"/></login></payload></uid-message>`, false},
		{`<uid-message><payload></payload></uid-message>trailing`, false},
		{`<uid-message><payload><register><entry x:ip="1.1.1.1"/></register></payload></uid-message>`, false},
		{`<uid-message><payload><register><entry ip="1.1.1.1"><tag><member>é</member></tag></entry></register></payload></uid-message>`, false},
		{`<uid-message><payload><register><entry ip="1.1.1.1"><tag><member>a</member>`, false},
	}
	for _, c := range cases {
		got, ok := fastUIDMessage([]byte(c.doc))
		if ok != c.fast {
			t.Errorf("%s: fast path read it: %v, want %v", c.doc, ok, c.fast)
			continue
		}
		if !ok {
			continue
		}
		want, err := decodeUIDMessage([]byte(c.doc))
		if err != nil {
			t.Fatalf("%s: decoder refuses it: %v", c.doc, err)
		}
		if !reflect.DeepEqual(*got, *want) {
			t.Errorf("%s:\n fast %+v\n dec  %+v", c.doc, *got, *want)
		}
	}
}
