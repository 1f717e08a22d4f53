package panossim

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness drives a Sim through raw HTTP.
type harness struct {
	t   testing.TB
	sim *Sim
	srv *httptest.Server
	key string
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	sim := New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	key, err := sim.APIKeyFor("admin")
	if err != nil {
		t.Fatalf("APIKeyFor: %v", err)
	}
	return &harness{t: t, sim: sim, srv: srv, key: key}
}

// post sends form values (key added as X-PAN-KEY unless noKey) and returns
// the HTTP status and body.
func (h *harness) post(v url.Values, noKey bool) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/api/", strings.NewReader(v.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !noKey {
		req.Header.Set("X-PAN-KEY", h.key)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, string) {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b)
}

func (h *harness) uid(msg string, extra ...string) (int, string) {
	h.t.Helper()
	v := url.Values{"type": {"user-id"}, "cmd": {msg}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return h.post(v, false)
}

func (h *harness) op(cmd string, extra ...string) (int, string) {
	h.t.Helper()
	v := url.Values{"type": {"op"}, "cmd": {cmd}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return h.post(v, false)
}

// resp is the generic shape of a PAN-OS answer.
type resp struct {
	Status string `xml:"status,attr"`
	Code   string `xml:"code,attr"`
	Msg    struct {
		Inner string `xml:",innerxml"`
	} `xml:"msg"`
	Result struct {
		Inner string `xml:",innerxml"`
	} `xml:"result"`
}

func parseResp(t testing.TB, body string) resp {
	t.Helper()
	var r resp
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response is not XML: %v\n%s", err, body)
	}
	return r
}

// listing is the parsed show object registered-ip answer.
type listing struct {
	Status  string `xml:"status,attr"`
	Entries []struct {
		IP         string   `xml:"ip,attr"`
		Persistent string   `xml:"persistent,attr"`
		Tags       []string `xml:"tag>member"`
	} `xml:"result>entry"`
	Count int `xml:"result>count"`
}

func (h *harness) list(cmd string, extra ...string) listing {
	h.t.Helper()
	code, body := h.op(cmd, extra...)
	if code != 200 {
		h.t.Fatalf("list: HTTP %d: %s", code, body)
	}
	var l listing
	if err := xml.Unmarshal([]byte(body), &l); err != nil {
		h.t.Fatalf("list: %v\n%s", err, body)
	}
	if l.Status != "success" {
		h.t.Fatalf("list failed: %s", body)
	}
	return l
}

func regMsg(entries string) string {
	return `<uid-message><version>2.0</version><type>update</type><payload><register>` + entries + `</register></payload></uid-message>`
}

func unregMsg(entries string) string {
	return `<uid-message><version>2.0</version><type>update</type><payload><unregister>` + entries + `</unregister></payload></uid-message>`
}
