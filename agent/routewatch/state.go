package routewatch

import (
	"net/netip"
	"slices"
)

// routeKey identifies one route to an IP.
type routeKey struct {
	link  int
	table int
}

type linkInfo struct {
	name string
	up   bool
}

// entry is what is known about one IP.
type entry struct {
	routes []routeKey // usually one
	neighs []int      // link indexes
}

func (e *entry) liveness() Liveness {
	return Liveness{Route: len(e.routes) > 0, Neighbour: len(e.neighs) > 0}
}

// state is the watcher's view of the namespace. Memory is bounded by the
// number of matching routes, neighbours and links in the kernel.
type state struct {
	ips   map[netip.Addr]*entry
	links map[int]linkInfo
}

func newState() state {
	return state{ips: make(map[netip.Addr]*entry), links: make(map[int]linkInfo)}
}

func (s *state) liveness(ip netip.Addr) Liveness {
	if e, ok := s.ips[ip]; ok {
		return e.liveness()
	}
	return Liveness{}
}

func (s *state) get(ip netip.Addr) *entry {
	e, ok := s.ips[ip]
	if !ok {
		e = &entry{}
		s.ips[ip] = e
	}
	return e
}

func (s *state) gc(ip netip.Addr, e *entry) {
	if len(e.routes) == 0 && len(e.neighs) == 0 {
		delete(s.ips, ip)
	}
}

func (s *state) addRoute(ip netip.Addr, k routeKey) {
	if e := s.get(ip); !slices.Contains(e.routes, k) {
		e.routes = append(e.routes, k)
	}
}

func (s *state) delRoute(ip netip.Addr, k routeKey) {
	e, ok := s.ips[ip]
	if !ok {
		return
	}
	if i := slices.Index(e.routes, k); i >= 0 {
		e.routes = slices.Delete(e.routes, i, i+1)
	}
	s.gc(ip, e)
}

// delTable drops every route to ip in one table.
func (s *state) delTable(ip netip.Addr, table int) {
	e, ok := s.ips[ip]
	if !ok {
		return
	}
	e.routes = slices.DeleteFunc(e.routes, func(r routeKey) bool { return r.table == table })
	s.gc(ip, e)
}

func (s *state) addNeigh(ip netip.Addr, link int) {
	if e := s.get(ip); !slices.Contains(e.neighs, link) {
		e.neighs = append(e.neighs, link)
	}
}

func (s *state) delNeigh(ip netip.Addr, link int) {
	e, ok := s.ips[ip]
	if !ok {
		return
	}
	if i := slices.Index(e.neighs, link); i >= 0 {
		e.neighs = slices.Delete(e.neighs, i, i+1)
	}
	s.gc(ip, e)
}

// ipsOnLink returns the IPs with a route or neighbour through link.
func (s *state) ipsOnLink(link int) []netip.Addr {
	var out []netip.Addr
	for ip, e := range s.ips {
		found := false
		for _, r := range e.routes {
			found = found || r.link == link
		}
		for _, l := range e.neighs {
			found = found || l == link
		}
		if found {
			out = append(out, ip)
		}
	}
	return out
}

// dropLink removes ip's routes and neighbours through link.
func (s *state) dropLink(ip netip.Addr, link int) {
	e, ok := s.ips[ip]
	if !ok {
		return
	}
	kr := e.routes[:0]
	for _, r := range e.routes {
		if r.link != link {
			kr = append(kr, r)
		}
	}
	e.routes = kr
	kn := e.neighs[:0]
	for _, l := range e.neighs {
		if l != link {
			kn = append(kn, l)
		}
	}
	e.neighs = kn
	s.gc(ip, e)
}

// maxLinks bounds the link-name cache; links are also removed on
// RTM_DELLINK, so this only matters if deletions were missed.
const maxLinks = 16384

func (s *state) trimLinks() {
	if len(s.links) > maxLinks {
		clear(s.links) // refilled on demand through LinkByIndex
	}
}
