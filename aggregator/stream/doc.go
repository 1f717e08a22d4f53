// Package stream is the aggregator's end of the agent stream: a gRPC server
// (over TLS) that authenticates each agent, binds its stream to one node, and
// feeds that node's claims into a Sink.
//
// # Protocol (see api/agent/v1/agent.proto)
//
//  1. The agent connects with a bearer token; the Authenticator maps it to a
//     node. Only a Ready server (the leader) accepts streams; the others
//     answer UNAVAILABLE so agents try another replica.
//  2. One stream per node is active: a new stream for a node ends the old
//     one (ABORTED) before it starts applying anything.
//  3. The agent sends a snapshot (epoch, chunks, final marker). On the final
//     chunk the server checks every claim (ClaimChecker), atomically
//     replaces the node's set in the Sink with the accepted ones, and acks
//     (epoch, seq 0) listing the rejected ones.
//  4. Deltas follow with seq 1, 2, ...; each is applied in order and acked. A
//     delta out of sequence ends the stream with FAILED_PRECONDITION; the
//     agent reconnects and sends a snapshot (level-triggered recovery).
//  5. When a node's stream ends, its claims stay for the grace period; if no
//     new stream for the node arrives in time the Sink gets NodeGone (the
//     aggregator's claim gate then keeps only what the API server confirms).
package stream
