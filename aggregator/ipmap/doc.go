// Package ipmap holds maps and sets keyed by IP address, for the
// aggregator's per-IP state (the store's index, dirty sets, each pusher's
// actual state), which at 500,000 IPs dominates its memory.
//
// A netip.Addr map key is 24 bytes and holds a pointer (the zone), so
// every map slot costs 24 bytes for the key alone and the garbage collector
// scans the whole table. Here an IPv4 address is a 4-byte key without
// pointers, an IPv6 address a 16-byte one, in two Go maps. Zones are not
// kept (no pod or service IP has one); an IPv4-mapped IPv6 address is a key
// of its own, distinct from its IPv4 address, as in a map[netip.Addr].
package ipmap
