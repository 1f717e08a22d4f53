package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/internal/syncbuf"
)

func TestPanosSimServesKeygenAndStops(t *testing.T) {
	api, out, errOut, stop := startPanosSim(t, "--tls=false", "--users", "alice:wonder", "--capacity", "10")
	defer stop() // a no-op after the explicit stop below
	if !strings.HasPrefix(api, "http://") {
		t.Fatalf("--tls=false serves %s, want plain http", api)
	}
	if strings.Contains(out.String(), "wonder") {
		t.Errorf("usage output leaks the configured password:\n%s", out.String())
	}
	for _, want := range []string{"type=keygen", "type=user-id", "registered-ip", "dynamic-address-group"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage output lacks %q:\n%s", want, out.String())
		}
	}

	keygen := func(user, pass string) (int, string) {
		t.Helper()
		resp, err := http.PostForm(api, url.Values{"type": {"keygen"}, "user": {user}, "password": {pass}})
		if err != nil {
			t.Fatalf("keygen: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := keygen("alice", "wonder"); code != 200 || !regexp.MustCompile(`<key>[^<]+</key>`).MatchString(body) {
		t.Fatalf("keygen alice: %d %s", code, body)
	}
	if code, body := keygen("admin", "admin"); code != 403 {
		t.Fatalf("keygen with the default user (not configured) = %d %s, want 403", code, body)
	}

	stop()
	if strings.Contains(errOut.String(), "wonder") {
		t.Errorf("logs leak the password:\n%s", errOut.String())
	}
}

// startPanosSim runs the command until stop; it returns the printed API
// URL and the stdout and stderr so far. stop checks that the command
// returned nil within 30s of its context's cancel; calling it again does
// nothing.
func startPanosSim(t *testing.T, args ...string) (api string, out, errOut *syncbuf.Buffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCmd()
	out, errOut = &syncbuf.Buffer{}, &syncbuf.Buffer{}
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SetArgs(append([]string{"panos-sim", "--listen", "127.0.0.1:0"}, args...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("panos-sim returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("panos-sim did not stop after context cancel")
			}
		})
	}
	urlRE := regexp.MustCompile(`listening on (https?://127\.0\.0\.1:\d+/api/)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			return m[1], out, errOut, stop
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("panos-sim exited early: %v\nstdout: %s\nstderr: %s", err, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no URL printed: %s", out.String())
		}
	}
}

func TestPanosSimTLSAndKnobs(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	api, out, _, stop := startPanosSim(t, "--ca-out", caFile, "--inject-error", "22:1", "--control")
	defer stop()
	if !strings.HasPrefix(api, "https://") || !strings.Contains(out.String(), "--cacert "+caFile) {
		t.Fatalf("api %s, usage:\n%s", api, out.String())
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("--ca-out is not a PEM certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	post := func(v url.Values) string {
		t.Helper()
		resp, err := c.PostForm(api, v)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := post(url.Values{"type": {"keygen"}, "user": {"admin"}, "password": {"admin"}})
	m := regexp.MustCompile(`<key>([^<]+)</key>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("keygen over TLS with the written CA: %s", body)
	}
	info := url.Values{"type": {"op"}, "key": {m[1]}, "cmd": {"<show><system><info/></system></show>"}}
	if body := post(info); !strings.Contains(body, `code="22"`) {
		t.Fatalf("--inject-error 22:1 not applied: %s", body)
	}
	if body := post(info); !strings.Contains(body, "<serial>") {
		t.Fatalf("after the injected error: %s", body)
	}
	resp, err := c.Get(strings.TrimSuffix(api, "/api/") + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("--control: /_sim/stats answered %d", resp.StatusCode)
	}
}

func TestPanosSimValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad listen", []string{"--listen", "nope"}, "--listen"},
		{"zero capacity", []string{"--capacity", "0"}, "--capacity"},
		{"user without password", []string{"--users", "admin"}, "--users"},
		{"bad inject", []string{"--inject-error", "22"}, "--inject-error"},
		{"negative outage", []string{"--outage-for", "-1s"}, "--outage"},
		{"negative latency", []string{"--latency", "-1s"}, "--latency"},
		{"devices without panorama", []string{"--devices", "0001"}, "--panorama"},
		{"bad device", []string{"--panorama", "--devices", ":name"}, "--devices"},
		{"bad fail-push", []string{"--panorama", "--fail-push", "0001"}, "--fail-push"},
		{"bad api-permissions", []string{"--api-permissions", "kubedag"}, "--api-permissions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SetArgs(append([]string{"panos-sim"}, tc.args...))
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %s", err, tc.want)
			}
		})
	}
}

func TestPanosSimOutageFlags(t *testing.T) {
	api, _, _, stop := startPanosSim(t, "--tls=false", "--outage-for", "1h")
	defer stop()
	resp, err := http.PostForm(api, url.Values{"type": {"keygen"}, "user": {"admin"}, "password": {"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("inside the outage window: HTTP %d, want 503", resp.StatusCode)
	}
}
