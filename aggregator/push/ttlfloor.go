package push

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TTL floor: PAN-OS does not report a registered tag's remaining timeout
// in `show object registered-ip` (nor does the emulator), so a pusher that
// lists a target cannot tell a tag registered a minute ago from one about
// to expire, and would have to re-register every tag it did not register
// itself. Two facts let it skip most of that work safely:
//
//  1. Its own registrations: while the same Engine holds a tag it
//     registered (expiry known) and the listing shows the IP with the same
//     owned tags, the known expiry stands (not after a detected reboot).
//  2. The floor marker: with every canary registration the Engine also
//     registers, on Canary.FloorIP, the tag Canary.Tag + ".ttl-floor.<unix
//     seconds F>": "every owned tag this kubedag holds on the target
//     expires at or after F" (the earliest expiry it knows, at most now +
//     TagTTL, written only while no expiry is uncertain). A later
//     registration by the writer expires after F too (F <= now + TagTTL).
//     A new leader that lists the marker takes F as a lower bound for the
//     expiry of every listed tag whose timeout is unreported, and refreshes
//     those tags once less than TagTTL/4 remains before F instead of at
//     once. It is not on the canary IP, whose 32 tags (PAN-OS's limit) are
//     for up to 32 clusters' canaries; if FloorIP is full the marker is
//     refused and that cluster simply has none. The marker is
//     non-persistent with the canary's timeout, so a
//     reboot or a kubedag down for longer than Canary.TTL leaves none, and
//     everything is refreshed as before.
//
// What it relies on: only kubedag registers tags of its cluster's prefix;
// the writer's and the reader's clocks agree to well within TagTTL/4; the
// target expires a tag no earlier than its registered timeout.

// floorInfix sits between Canary.Tag and F in the marker tag.
const floorInfix = ".ttl-floor."

// inheritedExpiry marks an expiry taken from a floor marker rather than
// from a registration: floor seconds minus one nanosecond (a lower bound
// still), an ending no registration's now + TagTTL has in practice. Such
// tags are refreshed TagTTL/4 before it instead of TagTTL/2.
func inheritedExpiry(floor int64) int64 { return floor*int64(time.Second) - 1 }

func isInherited(exp int64) bool { return exp > 0 && exp%int64(time.Second) == int64(time.Second)-1 }

func (e *Engine) floorTag(sec int64) string {
	return e.opts.Canary.Tag + floorInfix + strconv.FormatInt(sec, 10)
}

// parseFloor returns F of a marker tag.
func (e *Engine) parseFloor(tag string) (int64, bool) {
	rest, ok := strings.CutPrefix(tag, e.opts.Canary.Tag+floorInfix)
	if !ok {
		return 0, false
	}
	sec, err := strconv.ParseInt(rest, 10, 64)
	return sec, err == nil && sec > 0
}

// listedFloor reads the floor markers of a listing: the lowest F (several
// markers are each a valid claim), and every marker tag seen, so the next
// canary registration removes the stale ones. 0 when there is none, or it
// is of no use (TagTTL 0, no canary, F passed).
func (e *Engine) listedFloor(now time.Time, regs []RegisteredIP) int64 {
	if !e.opts.Canary.IP.IsValid() || !e.opts.Canary.FloorIP.IsValid() {
		return 0
	}
	var floor int64
	e.markers = e.markers[:0]
	for _, r := range regs {
		if r.IP.Unmap() != e.opts.Canary.FloorIP {
			continue
		}
		for _, t := range r.Tags {
			if sec, ok := e.parseFloor(t.Name); ok {
				e.markers = append(e.markers, t.Name)
				if floor == 0 || sec < floor {
					floor = sec
				}
			}
		}
	}
	if e.opts.TagTTL <= 0 || floor == 0 || inheritedExpiry(floor) <= now.UnixNano() {
		return 0
	}
	return inheritedExpiry(floor)
}

// floorUpdate adds to the canary registration u the floor marker due at
// now, and the removal of stale ones. It adds nothing while an expiry is
// uncertain (the markers on the target stay valid: anything registered
// since expires after them) or without TagTTL.
func (e *Engine) floorUpdate(now time.Time, u *Update) {
	if e.opts.TagTTL <= 0 || !e.opts.Canary.FloorIP.IsValid() {
		return
	}
	f := now.Add(e.opts.TagTTL).UnixNano()
	for _, rec := range e.actual.All() {
		if rec.expires == uncertainExpiry {
			return
		}
		if rec.expires > 0 && rec.expires < f {
			f = rec.expires
		}
	}
	tag := e.floorTag(e.floorSeconds(f))
	u.Register = append(u.Register, Entry{IP: e.opts.Canary.FloorIP, Tags: []Tag{{Name: tag, Timeout: e.opts.Canary.TTL}}, NonPersistent: true})
	var stale []Tag
	for _, m := range e.markers {
		if m != tag {
			stale = append(stale, Tag{Name: m})
		}
	}
	if len(stale) > 0 {
		u.Unregister = append(u.Unregister, Entry{IP: e.opts.Canary.FloorIP, Tags: stale})
	}
	e.markerSent = tag
}

// floorSeconds is the marker's F for the earliest expiry f: rounded down
// to a multiple of TagTTL/16 (at least a second), so the marker changes
// about as often as the refresh sweeps run rather than with every removed
// IP; an inherited expiry gives back the F it came from, so a new leader
// rewrites the same marker.
func (e *Engine) floorSeconds(f int64) int64 {
	if isInherited(f) {
		return (f + 1) / int64(time.Second)
	}
	q := max(int64(e.opts.TagTTL/16/time.Second), 1)
	return f / int64(time.Second) / q * q
}

// floorSent records the canary registration's outcome for the markers.
func (e *Engine) floorSent(ok bool) {
	if e.markerSent == "" {
		return
	}
	if ok {
		e.markers = append(e.markers[:0], e.markerSent)
	} else if !contains(e.markers, e.markerSent) {
		e.markers = append(e.markers, e.markerSent) // may have applied
	}
	e.markerSent = ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// FloorMarker is the TTL floor marker tag a pusher with canary tag
// canaryTag registers on Canary.FloorIP to say that every owned tag it
// holds expires at or after floor (see the TTL floor above). Tools that
// set up a target as a previous leader would have left it use it.
func FloorMarker(canaryTag string, floor time.Time) string {
	return canaryTag + floorInfix + strconv.FormatInt(floor.Unix(), 10)
}

// reserved reports whether ip is the canary's or the floor marker's: the
// pusher's own, never a pod's.
func (e *Engine) reserved(ip netip.Addr) bool {
	return ip == e.opts.Canary.IP || (ip == e.opts.Canary.FloorIP && ip.IsValid())
}
