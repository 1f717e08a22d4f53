// Package agent wires the per-node agent: the pod watcher (podwatch) and,
// unless --ip-source=api, the route watcher (routewatch) feed a Combiner
// (ipsource) that writes the node's claims into a nodestate, which the
// stream client (stream) mirrors to the aggregator.
//
// # Usage
//
//	a, err := agent.New(agent.Config{Source: src, NodeName: node, IPSource: mode, Stream: streamCfg})
//	// serve a.Checks() on /readyz
//	err = a.Run(ctx) // returns when ctx ends or a component fails
//
// New starts nothing. Run runs every component under one errgroup and
// returns only after all of them stopped.
package agent
