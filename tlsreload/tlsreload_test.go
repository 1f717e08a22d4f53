package tlsreload

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubedag/kubedag/e2e/pki"
)

// handshake serves one TLS connection with srv and dials it with cli.
func handshake(t *testing.T, srv, cli *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.(*tls.Conn).Handshake()
		c.Close()
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err != nil {
		return err
	}
	return c.Close()
}

// TestRotation: the server's pair and the client's CA bundle are files
// replaced while both run (as the kubelet updates a mounted Secret); the
// next handshake uses the new material, and verification stays strict.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	issue := func(name string) (*pki.CA, pki.KeyPair) {
		ca, err := pki.NewCA(name)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := ca.Server("aggregator", []string{"kubedag-aggregator.kubedag.svc"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ca, kp
	}
	// install writes files the way the kubelet does: new files, renamed in.
	install := func(ca *pki.CA, kp pki.KeyPair) {
		t.Helper()
		for path, b := range map[string][]byte{certFile: kp.CertPEM, keyFile: kp.KeyPEM, caFile: ca.CertPEM()} {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}
	}
	caA, kpA := issue("CA A")
	caB, kpB := issue("CA B")
	install(caA, kpA)

	cert, err := NewCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := cert.ServerConfig()
	cli, err := ClientConfig(caFile, "kubedag-aggregator.kubedag.svc")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, srv, cli); err != nil {
		t.Fatalf("first handshake: %v", err)
	}
	wrongName, err := ClientConfig(caFile, "evil.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, srv, wrongName); err == nil {
		t.Fatal("verified a certificate for another name")
	}

	install(caB, kpB)
	if err := handshake(t, srv, cli); err != nil {
		t.Fatalf("after rotating pair and CA: %v", err)
	}
	// Only the server rotated to A again, the client still trusts B only.
	for path, b := range map[string][]byte{certFile: kpA.CertPEM, keyFile: kpA.KeyPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := handshake(t, srv, cli); err == nil {
		t.Fatal("verified a certificate of a CA no longer in the bundle")
	}
	// A broken file keeps the last good material.
	if err := os.WriteFile(caFile, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, caB.CertPEM(), 0o600); err != nil { // a cert that does not match the key
		t.Fatal(err)
	}
	if _, err := cert.GetCertificate(nil); err != nil {
		t.Fatalf("GetCertificate with a mismatched pair: %v, want the last good one", err)
	}
}
