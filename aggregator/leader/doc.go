// Package leader runs work only while this aggregator replica holds the
// cluster's coordination.k8s.io Lease.
//
// Leadership decides who pushes to the firewalls and nothing else: the
// caller passes the pushing work as a function, which gets a context that
// ends the moment leadership is lost. A replica that loses the lease
// campaigns again, so a brief API outage does not leave the cluster without
// a pusher.
package leader
