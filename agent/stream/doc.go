// Package stream is the agent's end of the agent stream: it keeps one gRPC
// stream (TLS, bearer token) to every aggregator replica and mirrors the
// node's nodestate.State into each.
//
// The aggregator address is a name that resolves to every replica (a
// headless Service); it is resolved again every ResolveInterval and
// whenever a stream ends, and a stream is opened to each new address and
// closed for each address that left. Every replica thus holds the whole
// cluster's claims, so a standby can take over pushing without waiting for
// agents. Each stream reads the State through its own nodestate.Reader, so
// a stalled replica never holds back another.
//
// On every (re)connect a stream sends a full snapshot (a new epoch) and
// then, as the State changes, deltas taken with TakeDirty, numbered 1, 2,
// ... Deltas wait for acks in a bounded window; while the window is full,
// changes keep coalescing in the reader. If an ack is late the stream is
// torn down and a new one starts with a snapshot, which supersedes every
// unacked delta. The token is read from its file on every connect, since
// projected tokens rotate. Reconnects back off exponentially with jitter.
package stream
