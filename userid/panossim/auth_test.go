package panossim

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const invalidCredential = `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`

var keyRE = regexp.MustCompile(`^<response status = 'success'><result><key>([^<]+)</key></result></response>$`)

func (h *harness) keygen(method, user, pass string) (int, string) {
	h.t.Helper()
	v := url.Values{"type": {"keygen"}, "user": {user}, "password": {pass}}
	var req *http.Request
	var err error
	if method == http.MethodGet {
		req, err = http.NewRequest(method, h.srv.URL+"/api/?"+v.Encode(), nil)
	} else {
		req, err = http.NewRequest(method, h.srv.URL+"/api/", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func TestKeygen(t *testing.T) {
	tests := []struct {
		name, method, user, pass string
		wantKey                  bool
	}{
		{"post default admin", http.MethodPost, "admin", "admin", true},
		{"get query", http.MethodGet, "admin", "admin", true},
		{"configured user", http.MethodPost, "ops", "s3cret", true},
		{"wrong password", http.MethodPost, "admin", "nope", false},
		{"unknown user", http.MethodPost, "root", "admin", false},
		{"empty", http.MethodPost, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users := map[string]string{"admin": "admin", "ops": "s3cret"}
			h := newHarness(t, Config{Users: users})
			code, body := h.keygen(tc.method, tc.user, tc.pass)
			if !tc.wantKey {
				if code != http.StatusForbidden || body != invalidCredential {
					t.Fatalf("got %d %q, want 403 %q", code, body, invalidCredential)
				}
				return
			}
			m := keyRE.FindStringSubmatch(body)
			if code != 200 || m == nil {
				t.Fatalf("got %d %q", code, body)
			}
			h.key = m[1]
			if code, body := h.op(`<show><system><info/></system></show>`); code != 200 || parseResp(t, body).Status != "success" {
				t.Fatalf("new key refused: %d %s", code, body)
			}
		})
	}
}

func TestKeygenEndsEarlierKeys(t *testing.T) {
	h := newHarness(t, Config{Users: map[string]string{"admin": "admin", "other": "pw"}})
	first := h.key
	otherKey, err := h.sim.APIKeyFor("other")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := h.sim.APIKeyFor("admin"); again != first {
		t.Fatalf("APIKeyFor must return the current key, not mint a new one")
	}
	_, body := h.keygen(http.MethodPost, "admin", "admin")
	m := keyRE.FindStringSubmatch(body)
	if m == nil || m[1] == first {
		t.Fatalf("keygen must issue a new key: %s", body)
	}
	if code, body := h.op(`<show><system><info/></system></show>`); code != 403 || body != invalidCredential {
		t.Fatalf("old key still valid: %d %s", code, body)
	}
	h.key = m[1]
	if code, _ := h.op(`<show><system><info/></system></show>`); code != 200 {
		t.Fatalf("new key refused: %d", code)
	}
	if cur, _ := h.sim.APIKeyFor("admin"); cur != m[1] {
		t.Fatalf("APIKeyFor = %q, want the keygen key", cur)
	}
	h.key = otherKey
	if code, _ := h.op(`<show><system><info/></system></show>`); code != 200 {
		t.Fatalf("another user's key was ended too: %d", code)
	}
	if _, err := h.sim.APIKeyFor("nobody"); err == nil {
		t.Fatal("APIKeyFor(unknown user) must fail")
	}
}

func TestKeyTransports(t *testing.T) {
	h := newHarness(t, Config{})
	cmd := `<show><system><info/></system></show>`
	build := map[string]func() *http.Request{
		"header X-PAN-KEY": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?type=op&cmd="+url.QueryEscape(cmd), nil)
			r.Header.Set("X-PAN-KEY", h.key)
			return r
		},
		"query key": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?"+url.Values{"type": {"op"}, "cmd": {cmd}, "key": {h.key}}.Encode(), nil)
			return r
		},
		"form key": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/", strings.NewReader(url.Values{"type": {"op"}, "cmd": {cmd}, "key": {h.key}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
		"basic auth": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?type=op&cmd="+url.QueryEscape(cmd), nil)
			r.SetBasicAuth("admin", "admin")
			return r
		},
		"path without slash": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api?type=op&cmd="+url.QueryEscape(cmd), nil)
			r.Header.Set("X-PAN-KEY", h.key)
			return r
		},
	}
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			code, body := h.do(mk())
			if code != 200 || !strings.Contains(body, "<serial>"+DefaultSerial+"</serial>") {
				t.Fatalf("got %d %s", code, body)
			}
		})
	}
	bad := map[string]func() *http.Request{
		"no key": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?type=op&cmd="+url.QueryEscape(cmd), nil)
			return r
		},
		"wrong header key": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?type=op&cmd="+url.QueryEscape(cmd), nil)
			r.Header.Set("X-PAN-KEY", h.key+"x")
			return r
		},
		"wrong query key": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?"+url.Values{"type": {"op"}, "cmd": {cmd}, "key": {"LUFRPT0="}}.Encode(), nil)
			return r
		},
		"wrong basic password": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/?type=op&cmd="+url.QueryEscape(cmd), nil)
			r.SetBasicAuth("admin", "wrong")
			return r
		},
		"user-id without key": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/", strings.NewReader(url.Values{"type": {"user-id"}, "cmd": {regMsg("")}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
	}
	for name, mk := range bad {
		t.Run(name, func(t *testing.T) {
			if code, body := h.do(mk()); code != 403 || body != invalidCredential {
				t.Fatalf("got %d %q, want 403 %q", code, body, invalidCredential)
			}
		})
	}
}
