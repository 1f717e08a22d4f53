package pki

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
)

// TestTLS is a throwaway CA and a server certificate it signed, for a test
// server on loopback.
type TestTLS struct {
	Server *tls.Config // serves the certificate
	Client *tls.Config // trusts the CA, verifies the server name
	CAFile string      // PEM of the CA, in t.TempDir()
}

// NewTestTLS makes a CA and a server certificate for serverName and
// 127.0.0.1; failures fail t.
func NewTestTLS(t testing.TB, serverName string) TestTLS {
	t.Helper()
	ca, err := NewCA("kubedag test CA")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Server(serverName, []string{serverName}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	server, err := kp.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteCert(caFile); err != nil {
		t.Fatal(err)
	}
	return TestTLS{Server: server, Client: ca.ClientTLS(serverName), CAFile: caFile}
}
