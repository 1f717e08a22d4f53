// Package diff computes, without I/O or clock, what a target must be told so
// that an IP's registered tags go from what the target holds (actual) to what
// the cluster wants (desired), and groups those operations into batches in
// which every IP's unregisters precede (or share the call of) its registers.
//
// Only owned tags (those the owns predicate accepts, i.e. carrying the
// cluster's prefix) are ever unregistered: a tag the aggregator does not own
// is never touched, whatever actual says.
package diff
