// Package netnstest proves routewatch against the kernel: it builds
// network namespaces, veth pairs and routes as a CNI would, so its tests
// need root (and iproute2). It has no non-test code; `make unit` leaves it
// out.
package netnstest
