// Command aggregator is the aggregator side of e2e/bench/scale, run as its
// own process so its CPU time and memory can be read from /proc apart from
// the agents, the emulator and the load generator. It wires the production
// core as aggregator.New does (aggregator.NewCore with the claim gate
// verify.Gate over the cluster-wide pod view podview, the node sink, the
// store and a pusher from the core's factory) behind the real agent stream
// server, and with --lease-namespace campaigns for the Lease (package
// aggregator/leader, production's timings) and pushes only while it holds
// it, as a hot standby does; every replica takes every agent's stream. It
// leaves out what the scale run does not exercise: TokenReview (agents
// authenticate with static tokens from --tokens), the Service source and
// the sandwich.
//
// GET /status on --status answers JSON (Status): whether it leads, its
// desired state's size, its open streams and the firewall calls it made.
//
// It prints "listening <stream addr> <status addr>" once both ports are
// open, then one line per firewall acknowledgement, from the pusher's
// hooks:
//
//	A <unix-nanos> <ip> <tag> [<tag>...]   tags the target now holds for ip
//	R <unix-nanos> <ip> <tag> [<tag>...]   tags the target no longer holds
//
// and runs until SIGTERM or interrupt.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
		os.Exit(1)
	}
}
