// Package nodestate holds the agent's level-triggered desired state: the
// claims (IP -> identity) of its node, as written by the pod and route
// watchers and read by the stream client.
//
// # Usage
//
// Writers call Set and Delete; they never block on a reader. Each consumer
// (the stream to one aggregator replica) takes its own Reader with
// NewReader, so a slow or disconnected replica never holds back another:
// on every (re)connect it sends its Reader's Snapshot (which clears that
// reader's dirty set), then waits on Changed and sends the result of
// TakeDirty as a delta. Changes are coalesced per IP and reader, so memory
// is bounded by the number of IPs on the node times the number of readers,
// never by the number of events. Deltas that were sent but never
// acknowledged can be re-marked with MarkDirty; they are then resent with
// the current state of those IPs.
package nodestate
