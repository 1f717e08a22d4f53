// Package bench measures kubedag against the goals of DESIGN.md
// ("Performance goals") in one process, with the baselines in the same run.
// It backs the `kubedag bench` command; production code never imports it.
//
// # Phases
//
//  1. Tag latency: pod changes at a steady rate are made in the agents'
//     nodestate (FirstSeen stamped at the change) and flow through the real
//     agent stream client, the real aggregator stream server (TLS with a
//     generated CA, a static token authenticator), the aggregator's core
//     as aggregator.New wires it (aggregator.NewCore: the claim gate
//     verify.Gate, checking each claim against a pod view the bench fills
//     as the API server would, then the node sink, the store and a pusher
//     from the core's factory) and the userid client to a PAN-OS emulator over loopback HTTPS. The clock
//     stops when the target acknowledges (push Hooks.Applied). The same
//     change stream feeds two baselines, each with its own emulator: naive
//     (a pusher with MaxBatch 1: one API call per change) and poll (every
//     PollInterval, list the desired state and push the difference, as the
//     Panorama plugins do). Every ReuseEvery-th change gives its IP to a
//     new pod on another node, claimed there before the old node withdraws
//     the old pod: the IP-reuse exposure is the time from that claim until
//     the target acknowledged removing the old pod's tags (push
//     Hooks.Removed). The agents' own detection (the API watch for
//     --ip-source api, a route event plus the pod from the API for
//     netlink) comes before the claim and is not in this in-process
//     figure.
//  2. Throughput: mapping changes per second through store and pusher with
//     GOMAXPROCS 1 against a no-op firewall (our side only), and mappings per
//     API call at saturation.
//  3. Memory: heap bytes per registered IP (store plus one pusher's actual
//     state, runtime.MemStats HeapInuse delta after GC) at ThroughputIPs IPs.
//  4. Restart: RestartIPs IPs registered on an emulator, with the canary
//     and TTL floor marker a previous leader leaves (RestartNoFloor: none,
//     the baseline); a fresh pusher reconciles them. Time to converge,
//     registers (TTL refreshes among them) and unregisters of live tags
//     (which must be zero).
//
// # Usage
//
//	rep, err := bench.Run(ctx, bench.Config{Rate: 2000, Duration: 10 * time.Second})
//	rep.WriteText(os.Stdout)
//
// Run starts its goroutines and servers and stops them all before it
// returns. It is CPU-heavy: run it alone.
package bench
