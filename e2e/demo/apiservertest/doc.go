// Package apiservertest runs the whole demo (`kubedag demo --once`: real
// control plane, kwok nodes, agents, aggregator, PAN-OS emulator) through
// its scripted steps. It needs the control-plane tools (`make tools`); it
// has no non-test code and `make unit` leaves it out.
package apiservertest
