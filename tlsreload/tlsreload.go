// Package tlsreload serves TLS material from files that change while the
// process runs: a Secret mounted as a volume, which the kubelet updates in
// place when it is rotated (cert-manager renewals, a new CA). Files are
// checked on each TLS handshake (a stat; read again only when they
// changed), so a rotation takes effect at the next connection without a
// restart. A changed file that does not load leaves the last good material
// in use.
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// file remembers which version of a file was last loaded.
type file struct {
	path string
	info os.FileInfo
}

// changed reports whether path differs from the version last loaded.
func (f *file) changed() bool {
	st, err := os.Stat(f.path)
	if err != nil {
		return false // keep what we have; the next handshake looks again
	}
	return f.info == nil || !os.SameFile(f.info, st) || !st.ModTime().Equal(f.info.ModTime()) || st.Size() != f.info.Size()
}

func (f *file) read() ([]byte, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	f.info = st
	return b, nil
}

// Certificate is a serving certificate and key, reloaded when either file
// changes.
type Certificate struct {
	mu        sync.Mutex
	cert, key file
	current   *tls.Certificate
}

// NewCertificate loads the PEM certificate (chain) and key.
func NewCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{cert: file{path: certFile}, key: file{path: keyFile}}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Certificate) load() error {
	certPEM, err := c.cert.read()
	if err != nil {
		return fmt.Errorf("read certificate: %w", err)
	}
	keyPEM, err := c.key.read()
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("certificate %s and key %s: %w", c.cert.path, c.key.path, err)
	}
	c.current = &cert
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert.changed() || c.key.changed() {
		// A half-written pair (certificate updated, key not yet) does not
		// load: keep serving the old pair until both match.
		_ = c.load()
	}
	return c.current, nil
}

// ServerConfig returns a TLS server configuration serving c.
func (c *Certificate) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// roots is a CA bundle reloaded when its file changes.
type roots struct {
	mu   sync.Mutex
	f    file
	pool *x509.CertPool
}

func (r *roots) get() (*x509.CertPool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pool == nil || r.f.changed() {
		b, err := r.f.read()
		if err != nil {
			if r.pool != nil {
				return r.pool, nil
			}
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			if r.pool != nil {
				return r.pool, nil
			}
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", r.f.path)
		}
		r.pool = pool
	}
	return r.pool, nil
}

// ClientConfig returns a TLS client configuration that verifies the server
// as serverName against the CA bundle in caFile, read again whenever the
// file changes. Verification is as strict as the standard one (chain to a
// root of the bundle, server-auth usage, name, validity); it is done in
// VerifyConnection only so that the roots can change.
func ClientConfig(caFile, serverName string) (*tls.Config, error) {
	if caFile == "" || serverName == "" {
		return nil, errors.New("tlsreload: caFile and serverName are required")
	}
	r := &roots{f: file{path: caFile}}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		// Replaced by VerifyConnection below, which always runs.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tlsreload: server sent no certificate")
			}
			pool, err := r.get()
			if err != nil {
				return err
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				DNSName:       serverName,
				Roots:         pool,
				Intermediates: inter,
				CurrentTime:   time.Now(),
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
	}, nil
}
