// Package dnstest is a DNS server for tests: it answers A and AAAA queries
// from a table the test sets, standing in for the cluster DNS's records of
// a headless Service (one address per Ready replica), so agents can be
// shown replicas coming and going without a cluster DNS.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers over UDP on 127.0.0.1. Names it does not hold get
// NXDOMAIN, as a headless Service without Ready endpoints does.
type Server struct {
	conn net.PacketConn

	mu      sync.Mutex
	records map[string][]netip.Addr // lower-case FQDN with trailing dot
	queries int
}

// Start listens on a free UDP port of 127.0.0.1; Close stops it.
func Start() (*Server, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dnstest: listen: %w", err)
	}
	s := &Server{conn: conn, records: map[string][]netip.Addr{}}
	go s.serve()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Close stops serving.
func (s *Server) Close() error { return s.conn.Close() }

// Set makes name resolve to addrs; no addrs removes the name.
func (s *Server) Set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fqdn(name)
	if len(addrs) == 0 {
		delete(s.records, key)
		return
	}
	s.records[key] = append([]netip.Addr(nil), addrs...)
}

// Queries returns the number of queries answered so far.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		resp, err := s.answer(buf[:n])
		if err != nil {
			continue // not a query we can parse: a real server drops it too
		}
		_, _ = s.conn.WriteTo(resp, from)
	}
}

func (s *Server) answer(req []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.queries++
	addrs, ok := s.records[strings.ToLower(q.Name.String())]
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	// TTL 0: the test changes records and wants them seen at once.
	res := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			if err := b.AResource(res, dnsmessage.AResource{A: a.As4()}); err != nil {
				return nil, err
			}
		case q.Type == dnsmessage.TypeAAAA && a.Is6() && !a.Is4In6():
			if err := b.AAAAResource(res, dnsmessage.AAAAResource{AAAA: a.As16()}); err != nil {
				return nil, err
			}
		}
	}
	return b.Finish()
}
