package panossim

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestStartTLS(t *testing.T) {
	srv, err := Start(Config{}, true, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") || srv.CAPool == nil || len(srv.CACertPEM) == 0 {
		t.Fatalf("server = %+v", srv)
	}
	keygen := func(c *http.Client) (string, error) {
		resp, err := c.PostForm(srv.URL+"/api/", url.Values{"type": {"keygen"}, "user": {"admin"}, "password": {"admin"}})
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	trusted := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CAPool}}}
	defer trusted.CloseIdleConnections()
	body, err := keygen(trusted)
	if err != nil || !keyRE.MatchString(body) {
		t.Fatalf("keygen over TLS: %v %s", err, body)
	}
	// Without the CA the certificate is not trusted.
	untrusted := &http.Client{Transport: &http.Transport{}}
	defer untrusted.CloseIdleConnections()
	if _, err := keygen(untrusted); err == nil {
		t.Fatal("self-signed certificate accepted without its CA")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := keygen(trusted); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestStartPlain(t *testing.T) {
	srv, err := Start(Config{}, false, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://") || srv.CAPool != nil {
		t.Fatalf("server = %+v", srv)
	}
	resp, err := http.PostForm(srv.URL+"/api/", url.Values{"type": {"keygen"}, "user": {"admin"}, "password": {"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("keygen: %d", resp.StatusCode)
	}
	if _, err := Start(Config{}, false, srv.URL[len("http://"):]); err == nil {
		t.Fatal("Start on a busy address must fail")
	}
}

// TestCloseDoesNotWaitForSilentConnections: a client that dialed and never
// sent a request (a transport that gave up, a port scan) must not hold
// Close for http.Server's 5 s grace on new connections.
func TestCloseDoesNotWaitForSilentConnections(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		srv, err := Start(Config{}, tlsOn, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := srv.URL[len("https://"):]
		if !tlsOn {
			addr = srv.URL[len("http://"):]
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Let the server accept it, so it is a connection in state new.
		time.Sleep(50 * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- srv.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("tls=%v: Close: %v", tlsOn, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("tls=%v: Close still waiting after 3 s on a connection that sent nothing", tlsOn)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := conn.Read(make([]byte, 1)); err == nil {
			t.Errorf("tls=%v: connection still open after Close (read %d bytes)", tlsOn, n)
		}
	}
}
