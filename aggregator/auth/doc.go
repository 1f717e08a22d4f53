// Package auth authenticates agent streams.
//
// TokenAuthenticator turns a bearer token into a node name: it asks the API
// server (TokenReview, audience "kubedag") and reads the node from the
// token's "authentication.kubernetes.io/node-name" extra, which projected
// ServiceAccount tokens of pods carry. Results are cached in an expiring LRU
// keyed by a hash of the token; the token itself is never stored, logged or
// put in an error.
//
// Whether a node may claim an IP, and for which identity, is decided by
// aggregator/verify against the aggregator's own view of the API; a token
// only tells which node is speaking. TokenAuthenticator implements
// stream.Authenticator.
package auth
