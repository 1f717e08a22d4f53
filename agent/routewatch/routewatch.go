package routewatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Liveness is what the node's tables say about one IP.
type Liveness struct {
	// Route: a matching host route to the IP exists.
	Route bool
	// Neighbour: a usable neighbour entry for the IP exists on a matching
	// interface (only with Config.Neighbours).
	Neighbour bool
}

// Sink receives liveness changes. Calls come from the goroutine running Run,
// one IP at a time, only when the IP's Liveness changed; an IP not reported
// is neither routed nor a neighbour. They must not block for long.
type Sink interface {
	Observe(ip netip.Addr, l Liveness, at time.Time)
}

// DefaultLinkPrefixes are the host-side pod interface name prefixes of
// common CNIs: veth (bridge/ptp, kindnet, flannel), eni (AWS VPC CNI), cali
// (Calico), lxc (Cilium), azv (Azure CNI), gke (GKE).
var DefaultLinkPrefixes = []string{"veth", "eni", "cali", "lxc", "azv", "gke"}

// Config configures a Watcher.
type Config struct {
	// Sink receives liveness changes. Required.
	Sink Sink
	// LinkPrefixes selects pod interfaces by name prefix. Nil means
	// DefaultLinkPrefixes; an empty non-nil slice matches no interface
	// (useful with AnyScopeLink).
	LinkPrefixes []string
	// AnyScopeLink also counts every scope-link host route, whatever its
	// interface name.
	AnyScopeLink bool
	// Neighbours also watches neighbour entries on pod interfaces.
	Neighbours bool
	// NetNSPath is the network namespace to watch, e.g. /proc/1/ns/net or
	// /var/run/netns/NAME; empty means the process's own namespace.
	NetNSPath string
	// MinBackoff and MaxBackoff bound the wait before resubscribing after an
	// error (exponential with jitter). Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	if c.Sink == nil {
		return errors.New("routewatch: Sink is required")
	}
	if c.LinkPrefixes == nil {
		c.LinkPrefixes = DefaultLinkPrefixes
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(10*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Watcher watches one network namespace's routes, neighbours and links.
type Watcher struct {
	cfg Config
	log *slog.Logger

	started  atomic.Bool
	synced   atomic.Bool
	syncedCh chan struct{} // closed when synced turns true
	sessions atomic.Int64

	// Owned by the Run goroutine.
	st state
}

// New returns a Watcher; it starts nothing and opens no socket.
func New(cfg Config) (*Watcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Watcher{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "routewatch"),
		syncedCh: make(chan struct{}),
		st:       newState(),
	}, nil
}

// HasSynced reports whether the first listing has been reported to the Sink.
func (w *Watcher) HasSynced() bool { return w.synced.Load() }

// Synced is closed once HasSynced is true.
func (w *Watcher) Synced() <-chan struct{} { return w.syncedCh }

// Sessions returns how many subscribe-and-list sessions were started (1 plus
// the number of resubscriptions after errors).
func (w *Watcher) Sessions() int { return int(w.sessions.Load()) }

// Run watches until ctx is done, resubscribing and re-listing after errors.
// It returns nil when ctx is cancelled, or an error if the namespace cannot
// be opened. Run may be called only once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("routewatch: Run called twice")
	}
	var ns *netns.NsHandle
	if w.cfg.NetNSPath != "" {
		h, err := netns.GetFromPath(w.cfg.NetNSPath)
		if err != nil {
			return fmt.Errorf("routewatch: open network namespace %s: %w", w.cfg.NetNSPath, err)
		}
		defer h.Close()
		ns = &h
	}
	backoff := w.cfg.MinBackoff
	for {
		start := w.cfg.Now()
		err := w.session(ctx, ns)
		if ctx.Err() != nil {
			return nil
		}
		if w.cfg.Now().Sub(start) > w.cfg.MaxBackoff {
			backoff = w.cfg.MinBackoff // the session was healthy for a while
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		w.log.WarnContext(ctx, "netlink session ended, resubscribing", "err", err, "after", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, w.cfg.MaxBackoff)
	}
}

// session subscribes, lists, and applies updates until ctx is done or a
// subscription fails. It closes its subscriptions and waits for the netlink
// library's goroutines (by draining their channels until closed) before it
// returns.
func (w *Watcher) session(ctx context.Context, ns *netns.NsHandle) (err error) {
	w.sessions.Add(1)
	done := make(chan struct{})
	errc := make(chan error, 1)
	onErr := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	var (
		links  chan netlink.LinkUpdate
		routes chan netlink.RouteUpdate
		neighs chan netlink.NeighUpdate
	)
	defer func() {
		close(done)
		// The library's receive goroutines close these channels once the
		// socket is closed; drain so none is stuck on a send.
		if links != nil {
			for range links {
			}
		}
		if routes != nil {
			for range routes {
			}
		}
		if neighs != nil {
			for range neighs {
			}
		}
	}()

	l := make(chan netlink.LinkUpdate, 256)
	if err := netlink.LinkSubscribeWithOptions(l, done, netlink.LinkSubscribeOptions{Namespace: ns, ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe links: %w", err)
	}
	links = l
	r := make(chan netlink.RouteUpdate, 1024)
	if err := netlink.RouteSubscribeWithOptions(r, done, netlink.RouteSubscribeOptions{Namespace: ns, ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe routes: %w", err)
	}
	routes = r
	var neighIn <-chan netlink.NeighUpdate
	if w.cfg.Neighbours {
		n := make(chan netlink.NeighUpdate, 1024)
		if err := netlink.NeighSubscribeWithOptions(n, done, netlink.NeighSubscribeOptions{Namespace: ns, ErrorCallback: onErr}); err != nil {
			return fmt.Errorf("subscribe neighbours: %w", err)
		}
		neighs = n
		neighIn = n
	}

	h, err := newHandle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	fresh, err := w.list(h)
	if err != nil {
		return err
	}
	w.replace(fresh)
	if !w.synced.Swap(true) {
		close(w.syncedCh)
		w.log.InfoContext(ctx, "routes listed", "live", len(w.st.ips))
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			// Receive errors close the channel too; others (a message that
			// does not parse) may have lost an update: list again.
			return fmt.Errorf("netlink subscription: %w", err)
		case u, ok := <-links:
			if !ok {
				return errors.New("link subscription closed")
			}
			w.onLink(u)
		case u, ok := <-routes:
			if !ok {
				return errors.New("route subscription closed")
			}
			w.onRoute(h, u)
		case u, ok := <-neighIn:
			if !ok {
				return errors.New("neighbour subscription closed")
			}
			w.onNeigh(h, u)
		}
	}
}

func newHandle(ns *netns.NsHandle) (*netlink.Handle, error) {
	var (
		h   *netlink.Handle
		err error
	)
	if ns != nil {
		h, err = netlink.NewHandleAt(*ns, unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("routewatch: netlink handle: %w", err)
	}
	return h, nil
}

// list dumps links, routes and neighbours into a fresh state, retrying a few
// times when the kernel reports the dump was interrupted.
func (w *Watcher) list(h *netlink.Handle) (state, error) {
	var err error
	for range 5 {
		var s state
		s, err = w.listOnce(h)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return state{}, err
}

func (w *Watcher) listOnce(h *netlink.Handle) (state, error) {
	s := newState()
	ls, err := h.LinkList()
	if err != nil {
		return s, fmt.Errorf("list links: %w", err)
	}
	for _, l := range ls {
		a := l.Attrs()
		s.links[a.Index] = linkInfo{name: a.Name, up: a.Flags&net.FlagUp != 0}
	}
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return s, fmt.Errorf("list routes: %w", err)
	}
	for i := range rs {
		if ip, k, ok := w.matchRoute(&rs[i], s.links, nil); ok {
			s.addRoute(ip, k)
		}
	}
	if w.cfg.Neighbours {
		ns, err := h.NeighList(0, netlink.FAMILY_ALL)
		if err != nil {
			return s, fmt.Errorf("list neighbours: %w", err)
		}
		for i := range ns {
			if ip, ok := w.matchNeigh(&ns[i], s.links, nil); ok {
				s.addNeigh(ip, ns[i].LinkIndex)
			}
		}
	}
	return s, nil
}

// replace swaps in a freshly listed state and reports the differences.
func (w *Watcher) replace(fresh state) {
	now := w.cfg.Now()
	old := w.st
	w.st = fresh
	for ip := range old.ips {
		if _, ok := fresh.ips[ip]; !ok {
			w.cfg.Sink.Observe(ip, Liveness{}, now)
		}
	}
	for ip, e := range fresh.ips {
		if o, ok := old.ips[ip]; !ok || o.liveness() != e.liveness() {
			w.cfg.Sink.Observe(ip, e.liveness(), now)
		}
	}
}

// change applies f to the state of ip and reports a Liveness change.
func (w *Watcher) change(ip netip.Addr, f func()) {
	before := w.st.liveness(ip)
	f()
	if after := w.st.liveness(ip); after != before {
		w.cfg.Sink.Observe(ip, after, w.cfg.Now())
	}
}

func (w *Watcher) onLink(u netlink.LinkUpdate) {
	a := u.Attrs()
	if a == nil {
		return
	}
	up := a.Flags&net.FlagUp != 0
	if u.Header.Type == unix.RTM_DELLINK || !up {
		// The kernel flushes the link's routes without telling us (IPv4).
		for _, ip := range w.st.ipsOnLink(a.Index) {
			w.change(ip, func() { w.st.dropLink(ip, a.Index) })
		}
	}
	if u.Header.Type == unix.RTM_DELLINK {
		delete(w.st.links, a.Index)
		return
	}
	w.st.links[a.Index] = linkInfo{name: a.Name, up: up}
	w.st.trimLinks()
}

func (w *Watcher) onRoute(h *netlink.Handle, u netlink.RouteUpdate) {
	rt := &u.Route
	ip, ok := hostDst(rt.Dst)
	if !ok {
		return
	}
	key := routeKey{link: rt.LinkIndex, table: rt.Table}
	switch u.Type {
	case unix.RTM_DELROUTE:
		w.change(ip, func() { w.st.delRoute(ip, key) })
	case unix.RTM_NEWROUTE:
		_, k, match := w.matchRoute(rt, w.st.links, h)
		w.change(ip, func() {
			if u.NlFlags&unix.NLM_F_REPLACE != 0 {
				// A replace moves the destination without a delete.
				w.st.delTable(ip, key.table)
			}
			if match {
				w.st.addRoute(ip, k)
			}
		})
	}
}

func (w *Watcher) onNeigh(h *netlink.Handle, u netlink.NeighUpdate) {
	n := &u.Neigh
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return
	}
	ip = ip.Unmap()
	switch {
	case u.Type == unix.RTM_DELNEIGH:
		w.change(ip, func() { w.st.delNeigh(ip, n.LinkIndex) })
	case u.Type == unix.RTM_NEWNEIGH:
		if _, match := w.matchNeigh(n, w.st.links, h); match {
			w.change(ip, func() { w.st.addNeigh(ip, n.LinkIndex) })
		} else {
			// Became unusable (FAILED, ...) or never matched.
			w.change(ip, func() { w.st.delNeigh(ip, n.LinkIndex) })
		}
	}
}

// hostDst returns the destination of a host route (/32 or /128), skipping
// link-local, multicast and unspecified destinations.
func hostDst(dst *net.IPNet) (netip.Addr, bool) {
	if dst == nil {
		return netip.Addr{}, false
	}
	ones, bits := dst.Mask.Size()
	if bits == 0 || ones != bits {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(dst.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if !usable(ip) {
		return netip.Addr{}, false
	}
	return ip, true
}

func usable(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() &&
		!ip.IsMulticast() && !ip.IsLoopback()
}

// linkName returns the name of link index, asking the kernel (through h,
// when not nil) if it is not known yet.
func linkName(idx int, links map[int]linkInfo, h *netlink.Handle) (string, bool) {
	if li, ok := links[idx]; ok {
		return li.name, true
	}
	if h == nil || idx <= 0 {
		return "", false
	}
	l, err := h.LinkByIndex(idx)
	if err != nil {
		return "", false // gone already; its routes go with it
	}
	a := l.Attrs()
	links[idx] = linkInfo{name: a.Name, up: a.Flags&net.FlagUp != 0}
	return a.Name, true
}

func (w *Watcher) podLink(name string) bool {
	for _, p := range w.cfg.LinkPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func (w *Watcher) matchRoute(rt *netlink.Route, links map[int]linkInfo, h *netlink.Handle) (netip.Addr, routeKey, bool) {
	ip, ok := hostDst(rt.Dst)
	if !ok || rt.Type != unix.RTN_UNICAST || rt.LinkIndex <= 0 {
		return netip.Addr{}, routeKey{}, false
	}
	k := routeKey{link: rt.LinkIndex, table: rt.Table}
	if w.cfg.AnyScopeLink && rt.Scope == netlink.SCOPE_LINK {
		return ip, k, true
	}
	name, ok := linkName(rt.LinkIndex, links, h)
	if !ok || !w.podLink(name) {
		return netip.Addr{}, routeKey{}, false
	}
	return ip, k, true
}

const badNeighState = netlink.NUD_INCOMPLETE | netlink.NUD_FAILED | netlink.NUD_NOARP

func (w *Watcher) matchNeigh(n *netlink.Neigh, links map[int]linkInfo, h *netlink.Handle) (netip.Addr, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if !usable(ip) || n.State&badNeighState != 0 || n.State == netlink.NUD_NONE {
		return netip.Addr{}, false
	}
	name, ok := linkName(n.LinkIndex, links, h)
	if !ok || !w.podLink(name) {
		return netip.Addr{}, false
	}
	return ip, true
}
