package userid

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubedag/kubedag/internal/syncbuf"
)

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		sub  string
	}{
		{"no url", Config{APIKey: "k"}, "URL is required"},
		{"bad scheme", Config{URL: "ftp://fw", APIKey: "k"}, "scheme"},
		{"no host", Config{URL: "https://", APIKey: "k"}, "no host"},
		{"userinfo", Config{URL: "https://admin:" + testPassword + "@fw", APIKey: "k"}, "credentials"},
		{"key in query", Config{URL: "https://fw/?key=" + testKey, APIKey: "k"}, "query"},
		{"no credentials", Config{URL: "https://fw"}, "APIKey or Username"},
		{"user without password", Config{URL: "https://fw", Username: "admin"}, "APIKey or Username"},
		{"body over 5MiB", Config{URL: "https://fw", APIKey: "k", MaxBytes: 6 << 20}, "MaxBytes"},
		{"negative timeout", Config{URL: "https://fw", APIKey: "k", Timeout: -1}, "negative"},
		{"vsys with markup", Config{URL: "https://fw", APIKey: "k", Vsys: "<x>"}, "plain names"},
		{"missing CA file", Config{URL: "https://fw", APIKey: "k", CAFile: "/nonexistent/ca.pem"}, "CA bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.sub) {
				t.Fatalf("New() = %v, want error containing %q", err, tc.sub)
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), testPassword) {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
	c, err := New(Config{URL: "https://fw.example/", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if c.endpoint != "https://fw.example/api/" || c.cfg.MaxEntries != DefaultMaxEntries ||
		c.cfg.MaxBytes != DefaultMaxBytes || c.cfg.Timeout != DefaultTimeout || c.cfg.Retries != DefaultRetries {
		t.Errorf("defaults not applied: %s %+v", c.endpoint, c.cfg)
	}
}

func TestEscapedLenMatchesQueryEscape(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		if s := string(b); escapedLen(s) != len(url.QueryEscape(s)) {
			t.Fatalf("escapedLen(%q) = %d, want %d", s, escapedLen(s), len(url.QueryEscape(s)))
		}
	}
}

var entryIPRe = regexp.MustCompile(`<entry ip="([^"]+)"`)

// sentEntries splits a recorded uid-message into its unregister and
// register IPs, in order.
func sentEntries(t *testing.T, r recorded) (unreg, reg []string) {
	t.Helper()
	msg := r.Form["cmd"][0]
	u, g := msg, ""
	if i := strings.Index(msg, "<register>"); i >= 0 {
		u, g = msg[:i], msg[i:]
		if strings.Contains(g, "<unregister>") {
			t.Errorf("unregister after register in %s", msg)
		}
	}
	for _, m := range entryIPRe.FindAllStringSubmatch(u, -1) {
		unreg = append(unreg, m[1])
	}
	for _, m := range entryIPRe.FindAllStringSubmatch(g, -1) {
		reg = append(reg, m[1])
	}
	return unreg, reg
}

func manyEntries(n int, base netip.Addr, tags ...string) []Entry {
	out := make([]Entry, n)
	a := base
	for i := range out {
		out[i] = Entry{IP: a}
		for _, tg := range tags {
			out[i].Tags = append(out[i].Tags, Tag{Name: tg, Timeout: time.Hour})
		}
		a = a.Next()
	}
	return out
}

func TestUpdateSplitting(t *testing.T) {
	longTag := strings.Repeat("x", 120)
	cases := []struct {
		name               string
		maxEntries         int
		maxBytes           int
		unreg, reg         int
		tags               []string
		wantMinMsgs        int
		wantMaxEntriesSeen int
	}{
		{"by entries", 3, 0, 5, 5, []string{"a"}, 4, 3},
		{"single message", 0, 0, 10, 10, []string{"a"}, 1, 20},
		{"by bytes", 0, 4096, 40, 40, []string{longTag, longTag + "2"}, 5, 0},
		{"default entries 1000", 0, 0, 0, 2500, []string{"a"}, 3, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, respond(200, readResponse(t, "uid_ok.xml")))
			c, _ := newClient(t, ts.URL, func(c *Config) { c.MaxEntries, c.MaxBytes = tc.maxEntries, tc.maxBytes })
			u := Update{
				Unregister: manyEntries(tc.unreg, ip("10.0.0.1"), tc.tags...),
				Register:   manyEntries(tc.reg, ip("10.0.0.3"), tc.tags...), // overlaps the unregisters
			}
			res, err := c.Update(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			reqs := ts.requests()
			if res.Messages != len(reqs) || len(reqs) < tc.wantMinMsgs {
				t.Fatalf("Messages = %d, requests = %d, want >= %d", res.Messages, len(reqs), tc.wantMinMsgs)
			}
			var allU, allR []string
			regSeen := false
			maxSeen := 0
			for _, r := range reqs {
				if len(r.Body) > c.cfg.MaxBytes {
					t.Errorf("body of %d bytes exceeds MaxBytes %d", len(r.Body), c.cfg.MaxBytes)
				}
				un, rg := sentEntries(t, r)
				if len(un) > 0 && regSeen {
					t.Errorf("an unregister was sent in a message after a register")
				}
				regSeen = regSeen || len(rg) > 0
				maxSeen = max(maxSeen, len(un)+len(rg))
				if len(un)+len(rg) > c.cfg.MaxEntries {
					t.Errorf("message with %d entries exceeds MaxEntries %d", len(un)+len(rg), c.cfg.MaxEntries)
				}
				allU, allR = append(allU, un...), append(allR, rg...)
			}
			if tc.wantMaxEntriesSeen > 0 && maxSeen != tc.wantMaxEntriesSeen {
				t.Errorf("largest message had %d entries, want %d (messages should be filled)", maxSeen, tc.wantMaxEntriesSeen)
			}
			check := func(name string, got []string, want []Entry) {
				if len(got) != len(want) {
					t.Fatalf("%s: sent %d entries, want %d", name, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i].IP.String() {
						t.Fatalf("%s[%d] = %s, want %s (order lost)", name, i, got[i], want[i].IP)
					}
				}
			}
			check("unregister", allU, u.Unregister)
			check("register", allR, u.Register)
		})
	}
}

func TestUpdateRejectsBadEntries(t *testing.T) {
	ts := newTestServer(t, respond(200, readResponse(t, "uid_ok.xml")))
	c, _ := newClient(t, ts.URL, func(c *Config) { c.MaxBytes = 1024 })
	for name, e := range map[string]Entry{
		"invalid ip":      {Tags: []Tag{{Name: "a"}}},
		"no tags":         {IP: ip("10.0.0.1")},
		"empty tag":       {IP: ip("10.0.0.1"), Tags: []Tag{{Name: ""}}},
		"timeout too big": {IP: ip("10.0.0.1"), Tags: []Tag{{Name: "a", Timeout: MaxTagTimeout + time.Second}}},
		"bigger than MaxBytes": {IP: ip("10.0.0.1"), Tags: []Tag{
			{Name: strings.Repeat("a", 127)}, {Name: strings.Repeat("b", 127)}, {Name: strings.Repeat("c", 127)},
			{Name: strings.Repeat("d", 127)}, {Name: strings.Repeat("e", 127)}, {Name: strings.Repeat("f", 127)}}},
	} {
		if _, err := c.Update(t.Context(), Update{Register: []Entry{e}}); err == nil {
			t.Errorf("%s: Update accepted %+v", name, e)
		}
	}
	if n := len(ts.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid updates", n)
	}
}

func TestUpdateEntryResults(t *testing.T) {
	cases := []struct {
		file       string
		wantFailed int
		capacity   int
	}{
		{"uid_ok.xml", 0, 0},
		{"uid_partial_benign.xml", 0, 0},
		{"uid_partial_failure.xml", 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			ts := newTestServer(t, respond(200, readResponse(t, tc.file)))
			c, _ := newClient(t, ts.URL, nil)
			res, err := c.Update(t.Context(), Update{Register: manyEntries(3, ip("10.0.0.7"), "a")})
			if err != nil {
				t.Fatal(err)
			}
			capFull := 0
			for _, f := range res.Failed {
				if f.CapacityFull {
					capFull++
				}
			}
			if len(res.Failed) != tc.wantFailed || capFull != tc.capacity || res.Messages != 1 {
				t.Errorf("result %+v, want %d failed, %d capacity", res, tc.wantFailed, tc.capacity)
			}
			if n := len(ts.requests()); n != 1 {
				t.Errorf("partial failures must not be retried: %d requests", n)
			}
		})
	}
}

func TestUpdateStopsAtFailedMessage(t *testing.T) {
	ts := newTestServer(t, func(n int, _ recorded, w http.ResponseWriter) {
		if n == 0 {
			_, _ = w.Write(readResponse(t, "uid_ok.xml"))
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(readResponse(t, "error_bad_key.xml"))
	})
	c, _ := newClient(t, ts.URL, func(c *Config) { c.MaxEntries = 2 })
	res, err := c.Update(t.Context(), Update{Register: manyEntries(6, ip("10.0.0.1"), "a")})
	if !IsAuth(err) || res.Messages != 1 {
		t.Fatalf("res %+v err %v: want 1 message and an auth error", res, err)
	}
	if n := len(ts.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (auth errors are not retried, later messages not sent)", n)
	}
}

func TestRetries(t *testing.T) {
	internal := readResponse(t, "internal_error.xml")
	cases := []struct {
		name      string
		failFirst int // answers that fail before success
		status    int
		body      []byte
		call      func(context.Context, *Client) error
		wantReqs  int
		wantErr   bool
	}{
		{"get retried", 2, 200, internal, func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, "/x"); return err }, 3, false},
		{"get 503 retried", 1, 503, []byte("busy"), func(ctx context.Context, c *Client) error { _, err := c.Show(ctx, "/x"); return err }, 2, false},
		{"op gives up", 10, 200, internal, func(ctx context.Context, c *Client) error { _, err := c.Op(ctx, "<show/>"); return err }, 4, true},
		{"user-id retried", 1, 502, nil, func(ctx context.Context, c *Client) error {
			_, err := c.Update(ctx, Update{Register: manyEntries(1, ip("10.0.0.1"), "a")})
			return err
		}, 2, false},
		{"set not retried", 1, 200, internal, func(ctx context.Context, c *Client) error { return c.Set(ctx, "/x", "<a/>") }, 1, true},
		{"edit not retried", 1, 503, nil, func(ctx context.Context, c *Client) error { return c.Edit(ctx, "/x", "<a/>") }, 1, true},
		{"delete not retried", 1, 200, internal, func(ctx context.Context, c *Client) error { return c.Delete(ctx, "/x") }, 1, true},
		{"commit not retried", 1, 200, internal, func(ctx context.Context, c *Client) error { _, err := c.Commit(ctx); return err }, 1, true},
		{"bad request not retried", 1, 200, readResponse(t, "error_invalid_object.xml"),
			func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, "/x"); return err }, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(n int, r recorded, w http.ResponseWriter) {
				if n < tc.failFirst {
					w.WriteHeader(tc.status)
					_, _ = w.Write(tc.body)
					return
				}
				_, _ = w.Write(cannedFor(t, r))
			})
			c, _ := newClient(t, ts.URL, nil)
			err := tc.call(t.Context(), c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if n := len(ts.requests()); n != tc.wantReqs {
				t.Errorf("%d requests, want %d", n, tc.wantReqs)
			}
		})
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	c, _ := newClient(t, "https://fw", func(c *Config) { c.RetryBackoff, c.MaxRetryBackoff = 100*time.Millisecond, time.Second })
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for i := 0; i < 50; i++ {
			if d := c.backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

// hangUp answers by closing the connection after reading the request, so
// the request reached the device but no answer came back.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func TestTransportErrors(t *testing.T) {
	ts := newTestServer(t, func(_ int, _ recorded, w http.ResponseWriter) { hangUp(w) })
	c, _ := newClient(t, ts.URL, nil)
	_, err := c.Get(t.Context(), "/x")
	var te *TransportError
	if !errors.As(err, &te) || !IsRetryable(err) || te.NotSent {
		t.Fatalf("Get: err = %#v, want retryable TransportError that was sent", err)
	}
	if n := len(ts.requests()); n != 1+DefaultRetries {
		t.Errorf("Get: %d requests, want %d", n, 1+DefaultRetries)
	}
	before := len(ts.requests())
	if err := c.Set(t.Context(), "/x", "<a/>"); !errors.As(err, &te) {
		t.Fatalf("Set: err = %v, want TransportError", err)
	}
	if n := len(ts.requests()) - before; n != 1 {
		t.Errorf("Set after a hang-up was repeated: %d requests", n)
	}

	// Connection refused: the request never left, so even a commit may be
	// repeated; every attempt fails the same way.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c2, logs := newClient(t, "http://"+addr, nil)
	_, err = c2.Commit(t.Context())
	if !errors.As(err, &te) || !te.NotSent {
		t.Fatalf("Commit to a closed port: err = %v, want TransportError NotSent", err)
	}
	if got := strings.Count(logs.String(), "retrying"); got != DefaultRetries {
		t.Errorf("%d retries logged, want %d:\n%s", got, DefaultRetries, logs)
	}
}

func TestContextAndTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ts := newTestServer(t, func(int, recorded, http.ResponseWriter) { <-release })

	ctx, cancel := context.WithCancel(t.Context())
	c, _ := newClient(t, ts.URL, nil)
	done := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "/x"); done <- err }()
	// Wait until the request is in flight, then cancel.
	deadline := time.Now().Add(10 * time.Second)
	for len(ts.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || IsRetryable(err) {
			t.Errorf("err = %v, want non-retryable context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return after cancel")
	}
	if n := len(ts.requests()); n != 1 {
		t.Errorf("cancelled request was retried: %d requests", n)
	}

	c2, _ := newClient(t, ts.URL, func(c *Config) { c.Timeout, c.Retries = 50*time.Millisecond, -1 })
	_, err := c2.Get(t.Context(), "/x")
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a TransportError wrapping DeadlineExceeded", err)
	}
}

func TestKeygen(t *testing.T) {
	t.Run("lazy keygen then header", func(t *testing.T) {
		ts := newTestServer(t, func(_ int, r recorded, w http.ResponseWriter) { _, _ = w.Write(cannedFor(t, r)) })
		c, _ := newClient(t, ts.URL, func(c *Config) { c.APIKey, c.Username, c.Password = "", "admin", testPassword })
		if _, err := c.Get(t.Context(), "/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(t.Context(), "/y"); err != nil {
			t.Fatal(err)
		}
		reqs := ts.requests()
		if len(reqs) != 3 || reqs[0].Form["type"][0] != "keygen" {
			t.Fatalf("requests: %+v, want keygen then two gets", reqs)
		}
		if reqs[1].Header.Get("X-PAN-KEY") != testKey || reqs[2].Header.Get("X-PAN-KEY") != testKey {
			t.Errorf("generated key not sent in X-PAN-KEY")
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		ts := newTestServer(t, respond(403, readResponse(t, "keygen_403.xml")))
		c, _ := newClient(t, ts.URL, func(c *Config) { c.APIKey, c.Username, c.Password = "", "admin", testPassword })
		err := c.Keygen(t.Context())
		if !IsAuth(err) || IsRetryable(err) {
			t.Fatalf("err = %v, want auth error", err)
		}
		if n := len(ts.requests()); n != 1 {
			t.Errorf("bad credentials retried: %d requests", n)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		c, _ := newClient(t, "https://fw", nil)
		if err := c.Keygen(t.Context()); err == nil {
			t.Fatal("Keygen without Username/Password succeeded")
		}
	})
	t.Run("session timeout rekeys once, even for set", func(t *testing.T) {
		keys := 0
		ts := newTestServer(t, func(n int, r recorded, w http.ResponseWriter) {
			if r.Form["type"][0] == "keygen" {
				keys++
				fmt.Fprintf(w, `<response status="success"><result><key>%s-%d</key></result></response>`, testKey, keys)
				return
			}
			if r.Header.Get("X-PAN-KEY") == testKey+"-1" {
				_, _ = w.Write(readResponse(t, "session_timeout.xml"))
				return
			}
			_, _ = w.Write(cannedFor(t, r))
		})
		c, _ := newClient(t, ts.URL, func(c *Config) { c.APIKey, c.Username, c.Password = "", "admin", testPassword })
		if err := c.Set(t.Context(), "/x", "<a/>"); err != nil {
			t.Fatal(err)
		}
		if keys != 2 || len(ts.requests()) != 4 {
			t.Errorf("keygens %d, requests %d; want 2 and 4", keys, len(ts.requests()))
		}
	})
	t.Run("session timeout without credentials", func(t *testing.T) {
		ts := newTestServer(t, respond(200, readResponse(t, "session_timeout.xml")))
		c, _ := newClient(t, ts.URL, nil)
		if _, err := c.Get(t.Context(), "/x"); !IsAuth(err) {
			t.Fatalf("err = %v, want auth error", err)
		}
		if n := len(ts.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

// TestSecretsNeverLeak drives every failure path with a device that echoes
// the key and password back, and checks neither appears in any error or
// log line, nor in the request URL.
func TestSecretsNeverLeak(t *testing.T) {
	echo := func(_ int, r recorded, w http.ResponseWriter) {
		secrets := r.Header.Get("X-PAN-KEY") + " " + strings.Join(r.Form["password"], "")
		switch {
		case r.Form["type"][0] == "keygen":
			w.WriteHeader(403)
			fmt.Fprintf(w, `<response status = 'error' code = '403'><result><msg>Invalid Credential %s</msg></result></response>`, secrets)
		case strings.Contains(r.Body, "type=config"):
			w.WriteHeader(500)
			fmt.Fprintf(w, "internal server error for %s", secrets)
		case strings.Contains(r.Body, "jobs"):
			fmt.Fprintf(w, `<response status="success"><result><job><id>1</id><status>FIN</status><result>FAIL</result><details><line>%s</line></details></job></result></response>`, secrets)
		default:
			fmt.Fprintf(w, `<response status="error" code="22"><msg><line>session %s timed out</line></msg></response>`, secrets)
		}
	}
	ts := newTestServer(t, echo)
	dead := "http://" + func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	var errs []string
	var logs []*syncbuf.Buffer
	for _, u := range []string{ts.URL, dead} {
		for _, mod := range []func(*Config){
			nil,
			func(c *Config) { c.APIKey, c.Username, c.Password = "", "admin", testPassword },
			func(c *Config) { c.Username, c.Password = "admin", testPassword },
		} {
			c, lg := newClient(t, u, mod)
			logs = append(logs, lg)
			ctx := t.Context()
			record := func(err error) {
				if err != nil {
					errs = append(errs, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err))
				}
			}
			record(c.Keygen(ctx))
			_, err := c.Get(ctx, "/x")
			record(err)
			record(c.Set(ctx, "/x", "<a/>"))
			_, err = c.Update(ctx, Update{Register: manyEntries(2, ip("10.0.0.1"), "a")})
			record(err)
			_, err = c.RegisteredIPs(ctx, "")
			record(err)
			_, err = c.WaitJob(ctx, 1, time.Millisecond)
			record(err)
		}
	}
	if len(errs) < 20 {
		t.Fatalf("only %d errors collected; the test no longer exercises failures", len(errs))
	}
	all := strings.Join(errs, "\n")
	for _, lg := range logs {
		all += "\n" + lg.String()
	}
	for _, secret := range []string{testKey, testPassword, url.QueryEscape(testKey), url.QueryEscape(testPassword)} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q leaked:\n%s", secret, all)
		}
	}
	if !strings.Contains(all, "[REDACTED]") {
		t.Errorf("echoed secrets were not redacted (test lost its teeth?)")
	}
	for _, r := range ts.requests() {
		if strings.Contains(r.Query, testKey) || strings.Contains(r.Query, testPassword) {
			t.Errorf("secret in URL query %q", r.Query)
		}
		if r.Form["type"][0] != "keygen" && strings.Contains(r.Body, url.QueryEscape(testKey)) {
			t.Errorf("key in request body")
		}
	}
}

func TestRegisteredIPsPaging(t *testing.T) {
	limitRe := regexp.MustCompile(`<limit>(\d+)</limit><start-point>(\d+)</start-point>`)
	const total = 1234
	page := func(start, limit int, tag string) string {
		var b strings.Builder
		b.WriteString(`<response status="success"><result>`)
		a := ip("10.0.0.0")
		for i := 0; i < start-1; i++ {
			a = a.Next()
		}
		n := 0
		for i := start; i <= total && n < limit; i++ {
			fmt.Fprintf(&b, `<entry ip="%s" from_agent="0" persistent="1"><tag><member>%s</member><member timeout="%d">t%d</member></tag></entry>`, a, tag, i, i)
			a = a.Next()
			n++
		}
		fmt.Fprintf(&b, "<count>%d</count></result></response>", n)
		return b.String()
	}
	ts := newTestServer(t, func(_ int, r recorded, w http.ResponseWriter) {
		m := limitRe.FindStringSubmatch(r.Form["cmd"][0])
		start, _ := strconv.Atoi(m[2])
		limit, _ := strconv.Atoi(m[1])
		tag := "all"
		if strings.Contains(r.Form["cmd"][0], `<entry name="web"/>`) {
			tag = "web"
		}
		_, _ = w.Write([]byte(page(start, limit, tag)))
	})
	c, _ := newClient(t, ts.URL, func(c *Config) { c.ListConcurrency = 1 })
	got, err := c.RegisteredIPs(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("got %d IPs, want %d", len(got), total)
	}
	var starts []string
	for _, r := range ts.requests() {
		starts = append(starts, limitRe.FindStringSubmatch(r.Form["cmd"][0])[2])
	}
	if strings.Join(starts, ",") != "1,501,1001" {
		t.Errorf("start-points %v, want 1,501,1001", starts)
	}
	last := got[total-1]
	if last.IP != ip("10.0.4.209") || len(last.Tags) != 2 || last.Tags[0].Name != "web" || last.Tags[1].Timeout != total*time.Second {
		t.Errorf("last entry %+v", last)
	}

	// A device without paging answers everything at once.
	ts3 := newTestServer(t, func(_ int, _ recorded, w http.ResponseWriter) { _, _ = w.Write([]byte(page(1, total, "x"))) })
	c3, _ := newClient(t, ts3.URL, func(c *Config) { c.ListConcurrency = 1 })
	if got, err := c3.RegisteredIPs(t.Context(), ""); err != nil || len(got) != total || len(ts3.requests()) != 1 {
		t.Errorf("unpaged device: %d IPs in %d requests, %v", len(got), len(ts3.requests()), err)
	}

	// A device that ignores start-point must not loop forever.
	ts2 := newTestServer(t, func(_ int, _ recorded, w http.ResponseWriter) { _, _ = w.Write([]byte(page(1, 500, "x"))) })
	c2, _ := newClient(t, ts2.URL, nil) // concurrent paging detects it too
	if _, err := c2.RegisteredIPs(t.Context(), ""); err == nil || !strings.Contains(err.Error(), "start-point") {
		t.Errorf("err = %v, want a paging error", err)
	}
}

// TestRegisteredIPsConcurrentPaging: with ListConcurrency 4, four pages are
// in flight together, merged in order, and the listing stops at the first
// short page.
func TestRegisteredIPsConcurrentPaging(t *testing.T) {
	limitRe := regexp.MustCompile(`<limit>(\d+)</limit><start-point>(\d+)</start-point>`)
	for _, total := range []int{1234, 2500, 499} {
		t.Run(fmt.Sprint(total), func(t *testing.T) {
			var inFlight, maxInFlight atomic.Int32
			release := make(chan struct{})
			var once sync.Once
			ts := newTestServer(t, func(_ int, r recorded, w http.ResponseWriter) {
				if n := inFlight.Add(1); n > maxInFlight.Load() {
					maxInFlight.Store(n)
				}
				// Hold the first window until all four are in flight.
				if maxInFlight.Load() >= 4 {
					once.Do(func() { close(release) })
				}
				select {
				case <-release:
				case <-time.After(2 * time.Second):
				}
				defer inFlight.Add(-1)
				m := limitRe.FindStringSubmatch(r.Form["cmd"][0])
				start, _ := strconv.Atoi(m[2])
				limit, _ := strconv.Atoi(m[1])
				var b strings.Builder
				b.WriteString(`<response status="success"><result>`)
				n := 0
				for i := start; i <= total && n < limit; i++ {
					fmt.Fprintf(&b, `<entry ip="10.%d.%d.%d" persistent="1"><tag><member>t</member></tag></entry>`, i>>16, (i>>8)&255, i&255)
					n++
				}
				fmt.Fprintf(&b, "<count>%d</count></result></response>", n)
				_, _ = w.Write([]byte(b.String()))
			})
			c, _ := newClient(t, ts.URL, func(c *Config) { c.ListConcurrency = 4 })
			got, err := c.RegisteredIPs(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != total {
				t.Fatalf("got %d IPs, want %d", len(got), total)
			}
			for i := 1; i < len(got); i++ {
				if got[i-1].IP.Compare(got[i].IP) >= 0 {
					t.Fatalf("not sorted at %d: %s, %s", i, got[i-1].IP, got[i].IP)
				}
			}
			if m := maxInFlight.Load(); m != 4 {
				t.Errorf("at most %d pages in flight, want 4", m)
			}
			// Every page up to the first short one, and at most the 3
			// after it that were in flight when it answered.
			pages := total/RegisteredIPPage + 1
			if n := len(ts.requests()); n < pages || n > pages+3 {
				t.Errorf("%d requests, want %d to %d", n, pages, pages+3)
			}
		})
	}
	if _, err := New(Config{URL: "https://fw.example", APIKey: "k", ListConcurrency: MaxListConcurrency + 1}); err == nil {
		t.Errorf("ListConcurrency %d accepted", MaxListConcurrency+1)
	}
}

func TestWaitJob(t *testing.T) {
	cases := []struct {
		name    string
		answers []string
		wantErr string
	}{
		{"ok after polling", []string{"job_active.xml", "job_active.xml", "job_ok.xml"}, ""},
		{"failed", []string{"job_active.xml", "job_fail.xml"}, "address -> web is invalid"},
		{"device failed", []string{"job_commitall_device_fail.xml"}, "rule r1 references unknown zone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(n int, _ recorded, w http.ResponseWriter) {
				_, _ = w.Write(readResponse(t, tc.answers[min(n, len(tc.answers)-1)]))
			})
			c, _ := newClient(t, ts.URL, nil)
			j, err := c.WaitJob(t.Context(), 4, time.Millisecond)
			if tc.wantErr == "" {
				if err != nil || !j.Done() || j.Failed() {
					t.Fatalf("job %+v err %v", j, err)
				}
			} else {
				var je *JobError
				if !errors.As(err, &je) || !strings.Contains(err.Error(), tc.wantErr) || j == nil {
					t.Fatalf("err = %v, want JobError with %q", err, tc.wantErr)
				}
			}
			if n := len(ts.requests()); n != len(tc.answers) {
				t.Errorf("%d polls, want %d", n, len(tc.answers))
			}
		})
	}
	ts := newTestServer(t, respond(200, readResponse(t, "job_active.xml")))
	c, _ := newClient(t, ts.URL, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.WaitJob(ctx, 4, 5*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
}

func TestCommitNoChanges(t *testing.T) {
	ts := newTestServer(t, respond(200, readResponse(t, "commit_no_changes.xml")))
	c, _ := newClient(t, ts.URL, nil)
	if id, err := c.Commit(t.Context()); id != 0 || err != nil {
		t.Errorf("Commit = %d, %v; want 0, nil", id, err)
	}
	if id, err := c.CommitAll(t.Context(), "dg", true); id != 0 || err != nil {
		t.Errorf("CommitAll = %d, %v; want 0, nil", id, err)
	}
}

func TestGetMissingIsNotFound(t *testing.T) {
	ts := newTestServer(t, respond(200, readResponse(t, "get_missing.xml")))
	c, _ := newClient(t, ts.URL, nil)
	if _, err := c.Get(t.Context(), "/config/x"); !IsNotFound(err) {
		t.Errorf("err = %v, want not found", err)
	}
	if n := len(ts.requests()); n != 1 {
		t.Errorf("not-found retried: %d requests", n)
	}
}

func TestTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(readResponse(t, "get_ok.xml"))
	}))
	defer ts.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"system roots reject", nil, false},
		{"CA file", func(c *Config) { c.CAFile = caFile }, true},
		{"RootCAs", func(c *Config) { c.RootCAs = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs }, true},
		{"insecure opt-in", func(c *Config) { c.InsecureSkipVerify = true }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, ts.URL, tc.mod)
			_, err := c.Get(t.Context(), "/x")
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && IsRetryable(err) {
				t.Errorf("certificate failure %v must not be retryable", err)
			}
		})
	}
	if (&tls.Config{}).InsecureSkipVerify {
		t.Fatal("unreachable")
	}
}
