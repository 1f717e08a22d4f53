// Package explain answers `kubedag explain`: why a pod, Service or IP has
// the tags it has on each target ("why can't my pod reach the database?").
//
// For the object or IP asked about it reports the tags kubedag wants and
// where each comes from (namespace, owner, Service, label, preset rule),
// which were dropped (32-tag limit) or left out (allow/deny lists,
// unsupported owners), who claims each IP (and any IP-reuse conflict or
// agent claim the API server did not confirm), what each target holds now
// and when that was last confirmed, the last tag latency, and which
// Dynamic Address Groups on each target the IP falls into now and once
// pending changes land.
//
// # Parts
//
// Build is the pure core: it turns Facts (snapshots of the store, the pod
// view, the claim gate, each pusher and each target's DAGs, gathered by
// the caller) and the caller's Access into a Report. It does no I/O and
// reads no clock.
//
// Handler is the HTTP endpoint the aggregator serves it on. It
// authenticates the caller with their own Kubernetes credentials (a bearer
// token checked by TokenReview) and authorises with SubjectAccessReview:
// `get pods` in the pod's namespace, `get services` in the Service's, and
// for an IP it shows only the owners (and their tags) the caller may get.
// Users reach it through the API server's service proxy, so they need no
// firewall credentials; the API server consumes the Authorization header,
// so the token travels in TokenHeader.
//
// Recorder keeps, per IP and target, the last acknowledged change and its
// tag latency, fed by the pushers' hooks, in a bounded LRU.
//
// Render writes a Report for humans; `kubedag explain -o json|yaml` prints
// it as is.
package explain
