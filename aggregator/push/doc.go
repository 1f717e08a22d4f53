// Package push keeps one User-ID target (a firewall vsys or a Panorama) in
// step with the store's desired state.
//
// A Pusher holds what it believes the target holds (actual: IP -> owned
// tags and their expiry) and, from its store subscription, the IPs whose
// desired state may differ. As soon as no call to the target is in flight
// (and MaxCallsPerSecond, if set, allows), it computes desired vs actual for
// the dirty IPs at that moment (level-triggered: changes that cancel out
// while a call is out never reach the wire) and sends the result as one
// Update per MaxBatch entries, each IP's unregisters in the same call as
// (and, on the wire, before) its registers. Changes coalesce only while a
// call is in flight, so an idle target sees a change one round trip after
// it arrives, and a busy or slow one gets fewer, larger calls: a change
// waits at most for the call in flight and its own (about two round trips).
//
// # Duties
//
//  1. Reconcile: when Run starts (on becoming leader) and every
//     ResyncInterval, list the target's registered IPs and repair both
//     ways: stale owned tags are unregistered, missing ones registered.
//     Tags that Owns rejects are never unregistered.
//  2. The Ready gate: until Ready is closed (or ReadyTimeout passes), tags
//     are unregistered only from IPs that some source claims (a claim proves
//     the tag wrong: a later conflicting claim could only narrow the set);
//     IPs nobody claims yet keep their tags, so a failover whose agents have
//     not sent their snapshots yet never flaps live tags. Registering is
//     never gated.
//  3. TTL: tags are registered with TagTTL as PAN-OS timeout (so tags of a
//     dead kubedag age out) and re-registered once less than half of it
//     remains (checked every TagTTL/8). The listing reports no remaining
//     timeouts, so a reconcile keeps the expiries this pusher registered
//     and, on a new leader, takes the previous one's TTL floor marker (on
//     the canary IP) as their lower bound instead of re-registering every
//     tag (ttlfloor.go says what that relies on).
//  4. Failures: a failed call leaves actual unchanged (its IPs are marked
//     uncertain and fully re-sent) and backs the target off exponentially
//     with jitter; entries the target refuses are retried per IP with their
//     own backoff; CapacityFull is logged once, reported in Status and hooks,
//     and backed off, never hammered.
//  5. Pruning (optional, Options.Filter): the target gets only the desired
//     tags its TagFilter keeps (tags some DAG on it references). A new
//     filter marks pending the IPs whose tags it decides differently, so
//     they change as soon as no call is in flight; an equal one changes nothing.
//  6. Canary: a non-persistent registration of Canary.IP with Canary.Tag,
//     checked every Canary.Interval; when it is gone the target lost its
//     volatile state (reboot) and is reconciled at once.
//
// # Tracing
//
// Every Update call runs in a "kubedag.push.batch" span (tracer
// "kubedag/aggregator/push", Options.TracerProvider or the global one)
// with the target's name, register/unregister/refused entry counts and a
// result (ok, partial, error), linked to the tag-latency spans of the IP
// changes it carries (TTL refreshes excluded), at most MaxBatchLinks links
// and the rest counted. The call's ctx carries the span, so the target
// client's spans are its children.
//
// # Engine and loop
//
// The decisions live in Engine, a state machine with no goroutines, no
// I/O and no clock (time comes in as an explicit now), like etcd raft's
// RawNode under its node. Its caller feeds it events (Dirty IPs, OpenGate)
// and asks Next(now) for the one action due: Send a batch, List the
// target (reconcile), CheckCanary or RegisterCanary, or Wait until a time.
// Every action but Wait is answered (Listed, Sent) before the next Next,
// which gives backpressure: one call in flight per target.
//
// Pusher.Run is the thin loop around it: it carries out actions against
// the Firewall (with the batch span and the Call hook), and while the
// engine waits it sleeps on a timer, the store subscription and Ready.
// Tests drive the same engine and loop body step by step on a fake clock
// (driver_test.go; scenarios in testdata/*.txt).
//
// Each Pusher runs in its own goroutine (Run), so a slow target blocks
// neither other targets nor the store's writers; while a target is down its
// dirty set keeps merging in the store, bounded by the number of IPs.
package push
