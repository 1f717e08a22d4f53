// Package nodestate holds the agent's level-triggered desired state: the
// claims (IP -> identity) of its node, as written by the pod and route
// watchers and read by the stream client.
//
// # Usage
//
// Writers call Set and Delete; they never block on the reader. The stream
// client, on every (re)connect, sends Snapshot (which clears the dirty set),
// then waits on Changed and sends the result of TakeDirty as a delta. Changes
// are coalesced per IP, so memory is bounded by the number of IPs on the node,
// never by the number of events. Deltas that were sent but never acknowledged
// can be re-marked with MarkDirty; they are then resent with the current
// state of those IPs.
package nodestate
