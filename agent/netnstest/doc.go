// Package netnstest proves the agent's netlink IP sources end to end
// against the kernel (network namespaces and routes made as a CNI would,
// pods from a fake clientset), so its tests need root and iproute2. It has
// no non-test code; `make unit` leaves it out.
package netnstest
