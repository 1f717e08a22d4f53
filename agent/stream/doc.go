// Package stream is the agent's end of the agent stream: it keeps one gRPC
// stream (TLS, bearer token) to the leading aggregator and mirrors the
// node's nodestate.State into it.
//
// On every (re)connect it sends a full snapshot (a new epoch) and then, as
// the State changes, deltas taken with TakeDirty, numbered 1, 2, ... Deltas
// wait for acks in a bounded window; while the window is full, changes keep
// coalescing in the State. If an ack is late the stream is torn down and a
// new one starts with a snapshot, which supersedes every unacked delta. The
// token is read from its file on every connect, since projected tokens
// rotate. Reconnects back off exponentially with jitter.
package stream
