package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Target is a parsed Config.Addr: the name whose addresses are the
// aggregator replicas, their port, and optionally the DNS server to ask.
type Target struct {
	// Raw is set for a gRPC target of another scheme (passthrough:///x,
	// unix:///path): one replica, dialed as given.
	Raw  string
	Host string
	Port string
	// DNSServer (host:port) is asked instead of the system resolver; empty
	// means the system resolver.
	DNSServer string
}

// ParseTarget parses host:port, dns:///host:port or
// dns://server:port/host:port (gRPC's DNS target syntax); any other
// scheme:// target is one replica dialed as given.
func ParseTarget(addr string) (Target, error) {
	var t Target
	if scheme, _, ok := strings.Cut(addr, "://"); ok && scheme != "dns" && !strings.ContainsAny(scheme, ":/[") {
		t.Raw = addr
		return t, nil
	}
	rest := addr
	if after, ok := strings.CutPrefix(addr, "dns://"); ok {
		server, hostport, found := strings.Cut(after, "/")
		if !found {
			return t, fmt.Errorf("%q: want dns://[server:port]/host:port", addr)
		}
		if server != "" {
			if _, _, err := net.SplitHostPort(server); err != nil {
				return t, fmt.Errorf("%q: DNS server: want host:port: %w", addr, err)
			}
		}
		t.DNSServer, rest = server, hostport
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return t, fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	if host == "" || port == "" {
		return t, fmt.Errorf("%q: want host:port", addr)
	}
	t.Host, t.Port = host, port
	return t, nil
}

func validTarget(addr string) bool {
	_, err := ParseTarget(addr)
	return err == nil
}

// Resolve returns one host:port per address of Host, sorted; an IP Host is
// itself. A name that does not exist resolves to no address and no error:
// a headless Service with no Ready replica has no record.
func (t Target) Resolve(ctx context.Context) ([]string, error) {
	if t.Raw != "" {
		return []string{t.Raw}, nil
	}
	if ip, err := netip.ParseAddr(t.Host); err == nil {
		return []string{net.JoinHostPort(ip.String(), t.Port)}, nil
	}
	r := net.DefaultResolver
	if t.DNSServer != "" {
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, t.DNSServer)
		}}
	}
	ips, err := r.LookupNetIP(ctx, "ip", t.Host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("resolve %s: %w", t.Host, err)
	}
	// One family only: a dual-stack replica has an A and an AAAA record,
	// and two streams of one node to one replica would supersede each
	// other.
	v4 := slices.ContainsFunc(ips, func(ip netip.Addr) bool { return ip.Unmap().Is4() })
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		if ip = ip.Unmap(); ip.Is4() == v4 {
			out = append(out, net.JoinHostPort(ip.String(), t.Port))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
