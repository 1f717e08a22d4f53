// Package apiservertest proves the aggregator as a whole against a real
// kube-apiserver with kwok nodes (e2e/cluster): agents' streams and
// ServiceAccount tokens, the claim gate over real pods, Services, leader
// failover and the PAN-OS emulator. Its tests need the control-plane tools
// (`make tools`); it has no non-test code and `make unit` leaves it out.
package apiservertest
