package podwatch

import (
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/tags/podidentity"
)

// podClaim is what one pod claims: its IPs, its identity, and its rank for
// duplicate-IP resolution.
type podClaim struct {
	key     string
	ips     []netip.Addr // its own IPs, then its secondary (Multus) IPs
	id      tags.Identity
	nets    map[netip.Addr]string // secondary IP -> network attachment (Multus)
	running bool
	created time.Time
}

// idFor is the identity the pod claims ip with: its own, plus the network
// for a secondary interface's IP.
func (a *podClaim) idFor(ip netip.Addr) tags.Identity {
	id := a.id
	id.Network = a.nets[ip]
	return id
}

// beats reports whether a wins an IP over b: Running over not Running, then
// the newest, then the larger UID, then the larger key (total order).
func (a *podClaim) beats(b *podClaim) bool {
	if a.running != b.running {
		return a.running
	}
	if !a.created.Equal(b.created) {
		return a.created.After(b.created)
	}
	if a.id.UID != b.id.UID {
		return a.id.UID > b.id.UID
	}
	return a.key > b.key
}

// reconciler holds the claims computed so far; it is owned by the Run
// goroutine (or a test calling reconcile directly).
type reconciler struct {
	w       *Watcher
	pods    map[string]*podClaim         // pod key -> its current claim
	owners  map[netip.Addr][]*podClaim   // ip -> pods reporting it
	emitted map[netip.Addr]tags.Identity // what the Sink was last told
	conflct map[netip.Addr]string        // ip -> winner key, for IPs in conflict
	// malformed holds the pods whose network-status annotation was
	// refused, with the error last logged.
	malformed map[string]string
}

func newReconciler(w *Watcher) reconciler {
	return reconciler{
		w:       w,
		pods:    make(map[string]*podClaim),
		owners:  make(map[netip.Addr][]*podClaim),
		emitted: make(map[netip.Addr]tags.Identity),
		conflct: make(map[netip.Addr]string),

		malformed: make(map[string]string),
	}
}

// reconcile recomputes the dirty pods and tells the Sink about every IP
// whose winning identity changed.
func (w *Watcher) reconcile() {
	dirty := w.takeDirty()
	if len(dirty) == 0 {
		return
	}
	r := &w.rec
	touched := make(map[netip.Addr]time.Time, len(dirty))
	touch := func(ip netip.Addr, at time.Time) {
		if t, ok := touched[ip]; !ok || at.Before(t) {
			touched[ip] = at
		}
	}
	for key, seen := range dirty {
		old := r.pods[key]
		nc := w.computePod(key)
		if old != nil {
			for _, ip := range old.ips {
				r.owners[ip] = slices.DeleteFunc(r.owners[ip], func(c *podClaim) bool { return c == old })
				if len(r.owners[ip]) == 0 {
					delete(r.owners, ip)
				}
				touch(ip, seen)
			}
			delete(r.pods, key)
		}
		if nc == nil {
			delete(r.malformed, key) // bounded by the node's pods
		}
		if nc != nil {
			r.pods[key] = nc
			for _, ip := range nc.ips {
				r.owners[ip] = append(r.owners[ip], nc)
				touch(ip, seen)
			}
		}
	}
	for ip, seen := range touched {
		owners := r.owners[ip]
		if len(owners) == 0 {
			delete(r.conflct, ip)
			if _, ok := r.emitted[ip]; ok {
				delete(r.emitted, ip)
				w.cfg.Sink.Remove(ip)
			}
			continue
		}
		win := owners[0]
		for _, c := range owners[1:] {
			if c.beats(win) {
				win = c
			}
		}
		w.noteConflict(ip, owners, win)
		id := win.idFor(ip)
		if cur, ok := r.emitted[ip]; ok && cur.Equal(id) {
			continue
		}
		r.emitted[ip] = id
		w.cfg.Sink.Upsert(ip, id, seen)
	}
	w.conflicts.Store(int64(len(r.conflct)))
}

func (w *Watcher) noteConflict(ip netip.Addr, owners []*podClaim, win *podClaim) {
	r := &w.rec
	if len(owners) < 2 {
		delete(r.conflct, ip)
		return
	}
	if r.conflct[ip] == win.key {
		return // already reported with this winner
	}
	r.conflct[ip] = win.key
	keys := make([]string, 0, len(owners))
	for _, c := range owners {
		keys = append(keys, c.key)
	}
	slices.Sort(keys)
	w.log.Warn("duplicate pod IP on node", "ip", ip, "pods", keys, "winner", win.key)
}

// computePod returns the claim of the pod with the given key, or nil if it
// claims nothing (gone, terminating, finished, no IPs, hostNetwork).
func (w *Watcher) computePod(key string) *podClaim {
	obj, ok, err := w.pods.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != w.cfg.NodeName {
		return nil
	}
	if pod.DeletionTimestamp != nil ||
		pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return nil
	}
	if pod.Spec.HostNetwork && !w.cfg.AllowHostNetwork {
		return nil
	}
	ips := podIPs(pod, w)
	if len(ips) == 0 {
		return nil
	}
	id := podidentity.Of(pod, w.namespaces.GetIndexer())
	c := &podClaim{
		key:     key,
		ips:     ips,
		id:      id,
		running: pod.Status.Phase == corev1.PodRunning,
		created: pod.CreationTimestamp.Time,
	}
	if w.cfg.Multus && !pod.Spec.HostNetwork {
		nets, err := podidentity.SecondaryIPs(pod.Annotations, ips)
		if err != nil {
			w.noteMalformed(key, err)
		} else {
			delete(w.rec.malformed, key)
		}
		for _, n := range nets {
			if c.nets == nil {
				c.nets = make(map[netip.Addr]string, len(nets))
			}
			c.ips = append(c.ips, n.IP)
			c.nets[n.IP] = n.Network
		}
	}
	return c
}

// noteMalformed logs a pod's malformed network-status annotation, once per
// pod and message.
func (w *Watcher) noteMalformed(key string, err error) {
	if w.rec.malformed[key] == err.Error() {
		return
	}
	w.rec.malformed[key] = err.Error()
	w.log.Warn("pod's secondary interfaces not claimed", "pod", key, "err", err)
}

// podIPs returns the pod's distinct IPs, reporting malformed ones.
func podIPs(pod *corev1.Pod, w *Watcher) []netip.Addr {
	ips, bad := podidentity.IPs(&pod.Status)
	for _, s := range bad {
		w.log.Warn("pod reports a malformed IP", "pod", pod.Namespace+"/"+pod.Name, "ip", s)
	}
	return ips
}
