// Package aggregator wires the aggregator together: the desired-state store
// fed by agent streams and the Service watcher, one pusher per PAN-OS
// target run only while this replica leads, the snapshot gate that keeps a
// failover from unregistering live tags, and the metrics and health
// endpoints. The parts live in the sub-packages; this package only connects
// them (see Run).
package aggregator
