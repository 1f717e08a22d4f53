// Package auth authenticates agent streams and checks their claims.
//
// TokenAuthenticator turns a bearer token into a node name: it asks the API
// server (TokenReview, audience "kubedag") and reads the node from the
// token's "authentication.kubernetes.io/node-name" extra, which projected
// ServiceAccount tokens of pods carry. Results are cached in an expiring LRU
// keyed by a hash of the token; the token itself is never stored, logged or
// put in an error.
//
// ClaimValidator decides whether a node may claim an IP: IPs inside the
// node's spec.podCIDRs are the node's; any other IP must belong to the pod
// the claim names (spec.nodeName is the node, the IP in status.podIPs). The
// node's own InternalIPs (shared by hostNetwork pods) are refused unless
// allowed. Both implement the interfaces of aggregator/stream.
package auth
