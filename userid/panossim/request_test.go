package panossim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		form     url.Values
		body     string // raw body instead of form
		wantHTTP int
		wantBody string // exact, or prefix when wantPrefix
		prefix   bool
	}{
		{"unknown type", "POST", "/api/", url.Values{"type": {"bogus"}}, "", 400,
			`<response status = 'error' code = '400'><result><msg>Illegal value for parameter "type" [bogus].</msg></result></response>`, false},
		{"missing type", "POST", "/api/", url.Values{"cmd": {"<x/>"}}, "", 400,
			`<response status = 'error' code = '400'><result><msg>Missing type parameter</msg></result></response>`, false},
		{"unknown op", "POST", "/api/", url.Values{"type": {"op"}, "cmd": {"<show><bogus/></show>"}}, "", 200,
			`<response status="error" code="17"><msg><line><![CDATA[ show -> bogus  is unexpected]]></line></msg></response>`, false},
		{"unknown op root", "POST", "/api/", url.Values{"type": {"op"}, "cmd": {"<frobnicate/>"}}, "", 200,
			`<response status="error" code="17"><msg><line><![CDATA[ frobnicate  is unexpected]]></line></msg></response>`, false},
		{"unknown registered-ip option", "POST", "/api/", url.Values{"type": {"op"}, "cmd": {"<show><object><registered-ip><color/></registered-ip></object></show>"}}, "", 200,
			`<response status="error" code="17"><msg><line><![CDATA[ show -> object -> registered-ip -> color  is unexpected]]></line></msg></response>`, false},
		{"malformed op xml", "POST", "/api/", url.Values{"type": {"op"}, "cmd": {"<show><system>"}}, "", 200,
			`<response status="error" code="18"><msg><line>Malformed Request</line></msg></response>`, false},
		{"malformed uid xml", "POST", "/api/", url.Values{"type": {"user-id"}, "cmd": {"<uid-message"}}, "", 200,
			`<response status="error" code="18"><msg><line>Malformed Request</line></msg></response>`, false},
		{"bad xpath", "POST", "/api/", url.Values{"type": {"config"}, "action": {"get"}, "xpath": {"config/devices"}}, "", 200,
			`<response status="error" code="6"><msg><line>Bad Xpath</line></msg></response>`, false},
		{"unknown config action", "POST", "/api/", url.Values{"type": {"config"}, "action": {"frob"}, "xpath": {"/config"}}, "", 400,
			`<response status = 'error' code = '400'><result><msg>Illegal value for parameter "action" [frob].</msg></result></response>`, false},
		{"wrong path", "GET", "/other", nil, "", 404, "404 page not found", true},
		{"wrong method", "PUT", "/api/", nil, "", 405, "405", true},
		{"malformed form body", "POST", "/api/", nil, "type=op&cmd=%zz", 400,
			`<response status = 'error' code = '400'><result><msg>Malformed Request</msg></result></response>`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			body := tc.body
			if tc.form != nil {
				body = tc.form.Encode()
			}
			req, err := http.NewRequest(tc.method, h.srv.URL+tc.path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-PAN-KEY", h.key)
			code, got := h.do(req)
			if code != tc.wantHTTP {
				t.Errorf("HTTP %d, want %d (%s)", code, tc.wantHTTP, got)
			}
			if tc.prefix && !strings.HasPrefix(got, tc.wantBody) || !tc.prefix && got != tc.wantBody {
				t.Errorf("body:\n got %s\nwant %s", got, tc.wantBody)
			}
		})
	}
}

func TestOversizeBody(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 1 << 16})
	var b strings.Builder
	for i := 0; b.Len() < 1<<16; i++ {
		fmt.Fprintf(&b, `<entry ip="10.%d.%d.%d"><tag><member>t</member></tag></entry>`, i>>16&255, i>>8&255, i&255)
	}
	code, body := h.uid(regMsg(b.String()))
	if code != http.StatusRequestEntityTooLarge || body != `<response status = 'error' code = '400'><result><msg>Request body too large</msg></result></response>` {
		t.Fatalf("got %d %s", code, body)
	}
	// The same as multipart/form-data.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("type", "user-id")
	_ = mw.WriteField("cmd", regMsg(b.String()))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-PAN-KEY", h.key)
	if code, body := h.do(req); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("multipart: got %d %s", code, body)
	}
	if n := len(h.sim.Registered()); n != 0 {
		t.Fatalf("oversize request registered %d IPs", n)
	}
	if got := New(Config{}).Config().MaxBodyBytes; got != 5<<20 {
		t.Fatalf("default MaxBodyBytes = %d, want 5 MiB", got)
	}
}

func TestMultipartForm(t *testing.T) {
	h := newHarness(t, Config{})
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("type", "user-id")
	_ = mw.WriteField("key", h.key)
	_ = mw.WriteField("cmd", regMsg(`<entry ip="10.0.0.1"><tag><member>a</member></tag></entry>`))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if code, body := h.do(req); code != 200 || parseResp(t, body).Status != "success" {
		t.Fatalf("multipart register: %d %s", code, body)
	}
	if len(h.sim.Registered()) != 1 {
		t.Fatal("multipart register not applied")
	}
}

func TestInjectError(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.InjectError(22, 2)
	h.sim.InjectError(403, 1)
	info := `<show><system><info/></system></show>`
	for i, want := range []struct {
		http int
		body string
	}{
		{200, `<response status="error" code="22"><msg><line>Session timed out</line></msg></response>`},
		{200, `<response status="error" code="22"><msg><line>Session timed out</line></msg></response>`},
		{403, invalidCredential},
	} {
		code, body := h.op(info)
		if code != want.http || body != want.body {
			t.Fatalf("call %d: %d %s, want %d %s", i, code, body, want.http, want.body)
		}
	}
	// keygen is not affected and the injections are used up.
	if code, _ := h.op(info); code != 200 {
		t.Fatalf("injection outlived its count: %d", code)
	}
	h.sim.InjectError(13, 1)
	if code, body := h.uid(regMsg(`<entry ip="10.0.0.1"><tag><member>a</member></tag></entry>`)); code != 200 || parseResp(t, body).Code != "13" {
		t.Fatalf("user-id injection: %d %s", code, body)
	}
	if len(h.sim.Registered()) != 0 {
		t.Fatal("an injected failure must not apply the request")
	}
	st := h.sim.Stats()
	if st.Errors[22] != 2 || st.Errors[403] != 1 || st.Errors[13] != 1 {
		t.Fatalf("Errors = %v", st.Errors)
	}
}

func TestOutage(t *testing.T) {
	clk := newFakeClock()
	h := newHarness(t, Config{Now: clk.Now})
	info := `<show><system><info/></system></show>`
	h.sim.SetOutage(true)
	if code, _ := h.op(info); code != http.StatusServiceUnavailable {
		t.Fatalf("outage: HTTP %d, want 503", code)
	}
	if code, _ := h.keygen(http.MethodPost, "admin", "admin"); code != http.StatusServiceUnavailable {
		t.Fatalf("outage keygen: HTTP %d, want 503", code)
	}
	h.sim.SetOutage(false)
	h.key, _ = h.sim.APIKeyFor("admin")
	if code, _ := h.op(info); code != 200 {
		t.Fatalf("after outage: HTTP %d", code)
	}
	// A window by the injected clock.
	h.sim.ScheduleOutage(clk.Now().Add(time.Minute), clk.Now().Add(2*time.Minute))
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 200}, {time.Minute, 503}, {59 * time.Second, 503}, {time.Second, 200}} {
		clk.Advance(step.advance)
		if code, _ := h.op(info); code != step.want {
			t.Fatalf("at +%s: HTTP %d, want %d", step.advance, code, step.want)
		}
	}
}

func TestDrop(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.SetDrop(true)
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?type=op&cmd=%3Cshow%3E%3Csystem%3E%3Cinfo%2F%3E%3C%2Fsystem%3E%3C%2Fshow%3E", nil)
	req.Header.Set("X-PAN-KEY", h.key)
	resp, err := h.srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped call answered HTTP %d", resp.StatusCode)
	}
	h.sim.SetDrop(false)
	if code, _ := h.op(`<show><system><info/></system></show>`); code != 200 {
		t.Fatalf("after drop: HTTP %d", code)
	}
	if st := h.sim.Stats(); st.Dropped < 1 || st.Calls < 2 || len(st.Errors) != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLatency(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.SetLatency(100 * time.Millisecond)
	start := time.Now()
	if code, _ := h.op(`<show><system><info/></system></show>`); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("call took %s, want at least the 100ms latency", el)
	}
	// A caller that gives up is not held for the whole latency.
	h.sim.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/api/?type=op&cmd=%3Cshow%3E%3Csystem%3E%3Cinfo%2F%3E%3C%2Fsystem%3E%3C%2Fshow%3E", nil)
	req.Header.Set("X-PAN-KEY", h.key)
	if _, err := h.srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}
