// Package nodewatch is the aggregator's Node source: a cluster-wide Node
// informer whose Nodes' addresses (InternalIPs, and ExternalIPs if
// configured) become claims in the desired-state store under the source
// Source, tagged with the cluster node tag and the allowed node labels
// (tags.Deriver.NodeTags).
//
// Nodes are cluster objects, not claims of an agent: the aggregator reads
// them itself, so no agent can tag a node address, and a pod IP is never
// given node tags (only a Node's own status.addresses are). A Node removed
// from the cluster, or an address it no longer reports, loses its tags
// with the next rebuild.
//
// Like servicewatch it is level-triggered: informer events only poke a
// loop that rebuilds the whole node claim set from the informer's cache
// and replaces the store source atomically. Synced closes after the first
// rebuild, so the failover snapshot gate can wait for it and a new leader
// never unregisters node tags it has not read yet.
package nodewatch
