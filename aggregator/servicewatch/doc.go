// Package servicewatch is the aggregator's Service source: a cluster-wide
// Service informer whose Services' IPs (ClusterIPs, LoadBalancer ingress
// IPs, externalIPs) become claims in the desired-state store, tagged by the
// configured tag policy.
//
// It is level-triggered: informer events only poke a loop that rebuilds the
// whole Service claim set from the informer's cache and replaces the store
// source atomically, so nothing depends on replaying events.
package servicewatch
