// Package store holds the aggregator's desired state: for every IP, the
// claims made on it by each source (one source per agent node stream, plus
// one for Services), and from them the tags the IP should carry.
//
// One claim: the IP's desired tags are the claim's tags. Several claims
// (IP reuse: a new pod claims an IP whose old owner has not withdrawn yet):
// the desired tags are the intersection of all claims' tag sets, so a reused
// IP never carries a tag its current owner lacks; the conflict (claims with
// different owners) is counted and resolves when the older claim goes.
//
// # Consumers
//
// Each pusher Subscribes and receives a dirty set of IPs (never an event
// queue: memory is bounded by the number of IPs, and repeated changes of one
// IP merge) plus a poke channel buffered to one. The consumer Takes the
// dirty IPs and reads their current desired state (level-triggered).
//
// Writers never block on consumers. Tag sets are interned (reference
// counted), so IPs with equal tags share one set.
package store
