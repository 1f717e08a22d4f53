package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func mustCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parseLeaf(t *testing.T, p KeyPair) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(p.CertPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CertPEM holds no CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestServerVerifies(t *testing.T) {
	ca := mustCA(t, "test CA")
	other := mustCA(t, "other CA")
	kp, err := ca.Server("srv", []string{"srv.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	leaf := parseLeaf(t, kp)
	tests := []struct {
		name   string
		pool   *x509.CertPool
		host   string
		usage  x509.ExtKeyUsage
		wantOK bool
	}{
		{"dns name", ca.Pool(), "srv.test", x509.ExtKeyUsageServerAuth, true},
		{"ip", ca.Pool(), "127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"name not in certificate", ca.Pool(), "other.test", x509.ExtKeyUsageServerAuth, false},
		{"ip not in certificate", ca.Pool(), "127.0.0.2", x509.ExtKeyUsageServerAuth, false},
		{"other CA", other.Pool(), "srv.test", x509.ExtKeyUsageServerAuth, false},
		{"used as client", ca.Pool(), "", x509.ExtKeyUsageClientAuth, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := leaf.Verify(x509.VerifyOptions{Roots: tt.pool, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if (err == nil) != tt.wantOK {
				t.Errorf("Verify(%q) err = %v, want ok = %v", tt.host, err, tt.wantOK)
			}
		})
	}
	if leaf.Subject.CommonName != "srv" {
		t.Errorf("CN = %q, want srv", leaf.Subject.CommonName)
	}
}

func TestClientSubject(t *testing.T) {
	ca := mustCA(t, "test CA")
	tests := []struct {
		user   string
		groups []string
	}{
		{"kubedag-admin", []string{"system:masters"}},
		{"system:kube-scheduler", nil},
		{"node", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			kp, err := ca.Client(tt.user, tt.groups...)
			if err != nil {
				t.Fatal(err)
			}
			leaf := parseLeaf(t, kp)
			if leaf.Subject.CommonName != tt.user || !slices.Equal(leaf.Subject.Organization, tt.groups) {
				t.Errorf("subject = %q %q, want %q %q", leaf.Subject.CommonName, leaf.Subject.Organization, tt.user, tt.groups)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client certificate does not verify as client: %v", err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
				t.Error("client certificate verifies as a server certificate")
			}
		})
	}
}

// TestHandshake runs a TLS handshake between ServerTLS and ClientTLS, and
// checks that a client trusting another CA is refused.
func TestHandshake(t *testing.T) {
	ca := mustCA(t, "test CA")
	kp, err := ca.Server("srv", []string{"srv.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := kp.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *tls.Config
		wantOK bool
	}{
		{"same CA", ca.ClientTLS("srv.test"), true},
		{"wrong name", ca.ClientTLS("other.test"), false},
		{"other CA", mustCA(t, "other").ClientTLS("srv.test"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Loopback TCP, not net.Pipe: a failing side writes an alert
			// while the other writes its flight, and an unbuffered pipe
			// would deadlock them.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			srvErr := make(chan error, 1)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					srvErr <- err
					return
				}
				defer s.Close()
				srvErr <- tls.Server(s, server).Handshake()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			cliErr := tls.Client(c, tt.client).Handshake()
			c.Close() // the server's handshake then ends, whatever its state
			<-srvErr
			if (cliErr == nil) != tt.wantOK {
				t.Errorf("client handshake err = %v, want ok = %v", cliErr, tt.wantOK)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	ca := mustCA(t, "test CA")
	kp, err := ca.Server("srv", nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath, caPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	if err := kp.WriteFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteCert(caPath); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{certPath, 0o644}, {keyPath, 0o600}, {caPath, 0o644}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^f.mode != 0 {
			t.Errorf("%s mode = %v, want at most %v", filepath.Base(f.path), got, f.mode)
		}
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Errorf("written pair does not load: %v", err)
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("written CA holds no certificate")
	}
	if _, err := parseLeaf(t, kp).Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("certificate does not verify against the written CA: %v", err)
	}
	if err := (KeyPair{}).WriteFiles(certPath, keyPath); err == nil {
		t.Error("WriteFiles of an empty pair succeeded")
	}
}
