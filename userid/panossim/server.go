package panossim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a Sim served over HTTP or HTTPS on a real listener, for tests and
// the panos-sim command.
type Server struct {
	URL       string         // base URL, e.g. https://127.0.0.1:8443 (the API is at URL + "/api/")
	CAPool    *x509.CertPool // trusts the server certificate; nil without TLS
	CACertPEM []byte         // PEM of the CA that signed the server certificate; nil without TLS
	Sim       *Sim

	srv  *http.Server
	done chan struct{}
	err  error
	once sync.Once

	connMu   sync.Mutex
	newConns map[net.Conn]struct{} // accepted, no request read yet
}

// Start listens on addr ("127.0.0.1:0" for a free port) and serves a new Sim
// for cfg in one goroutine until Close. With tlsOn it generates a throwaway
// CA and a server certificate for 127.0.0.1, ::1 and localhost.
func Start(cfg Config, tlsOn bool, addr string) (*Server, error) {
	sim := New(cfg)
	s := &Server{Sim: sim, done: make(chan struct{}), newConns: map[net.Conn]struct{}{}}
	s.srv = &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnState:         s.trackConn,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("panossim: listen %s: %w", addr, err)
	}
	scheme := "http"
	if tlsOn {
		caPEM, cert, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("panossim: certificates: %w", err)
		}
		s.CACertPEM = caPEM
		s.CAPool = x509.NewCertPool()
		s.CAPool.AppendCertsFromPEM(caPEM)
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.URL = scheme + "://" + ln.Addr().String()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// trackConn remembers connections that have not sent a request yet:
// http.Server.Shutdown counts them as active for their first 5 s, so a
// client that dialed and then gave up would hold Close for that long.
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if state == http.StateNew {
		s.newConns[c] = struct{}{}
	} else {
		delete(s.newConns, c)
	}
}

// Close stops the server (waiting up to 5 s for calls in flight) and its
// goroutine. Connections that never sent a request are closed at once, as
// idle ones are. Calling it twice is safe.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut := make(chan error, 1)
		go func() { shut <- s.srv.Shutdown(ctx) }()
		// Repeated: one may be accepted just before Shutdown closes the listener.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var e error
	wait:
		for {
			s.closeNewConns()
			select {
			case e = <-shut:
				break wait
			case <-tick.C:
			}
		}
		if e != nil {
			err = errors.Join(e, s.srv.Close())
		}
		<-s.done
		if s.err != nil {
			err = errors.Join(err, s.err)
		}
	})
	return err
}

// closeNewConns closes the connections that have not sent a request: they
// are idle as far as a graceful stop is concerned.
func (s *Server) closeNewConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.newConns {
		_ = c.Close()
		delete(s.newConns, c)
	}
}

// selfSigned makes a CA and a server certificate it signs, valid for a day.
func selfSigned() (caPEM []byte, cert tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "panos-sim CA", Organization: []string{"kubedag"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, cert, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "panos-sim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	cert = tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cert, nil
}
