package system

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAgentRestart kills one agent process and starts it again: with no
// change in between, not one entry is unregistered and every live tag stays
// (the new snapshot replaces the node's claims atomically); with changes
// made while it was down, the node's running pods follow the API server
// meanwhile (a relabel reaches the emulator from the aggregator's pod view,
// keeping the pod's other tags), the node's IPs converge once it is back,
// and the other nodes' tags never move.
func TestAgentRestart(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "agent-restart")
	pods := e.deployWeb(ctx, t, ns, 4)
	live := e.waitConverged(ctx, t, "before the restart")
	node := e.webNodes[0]
	a := e.agents[node]
	mine := podsOn(pods, node)
	if len(mine) == 0 {
		t.Fatalf("no web pod on %s", node)
	}

	t.Run("no change", func(t *testing.T) {
		if err := e.simPost(ctx, "reset-stats"); err != nil {
			t.Fatal(err)
		}
		sm := e.startSampler(ctx, keepsLive(live))
		if err := a.kill(); err != nil {
			t.Fatal(err)
		}
		e.waitStreams(ctx, t, len(e.agents)-1)
		if err := a.start(); err != nil {
			t.Fatal(err)
		}
		if err := e.waitAgentReady(ctx, node); err != nil {
			t.Fatal(err)
		}
		e.waitStreams(ctx, t, len(e.agents))
		// Barrier: a change on the restarted node reaches the emulator, so
		// its new stream, snapshot included, has been processed. Adding a
		// label only registers.
		e.patchPodLabels(ctx, t, ns, mine[0].Name, map[string]any{"restarted": "once"})
		e.waitConverged(ctx, t, "after the restart")
		n, sampleErr := sm.stop()
		st, err := e.simStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d samples; emulator saw %d register and %d unregister entries", n, st.RegisterEntries, st.UnregisterEntries)
		if sampleErr != nil {
			t.Error(sampleErr)
		}
		if st.UnregisterEntries != 0 {
			t.Errorf("the agent restart unregistered %d entries, want 0", st.UnregisterEntries)
		}
	})

	t.Run("changes while down", func(t *testing.T) {
		ips := podIPs(podsOn(pods, node))
		// The other nodes' tags must not move while this node's change, and
		// the relabelled pod keeps the tags the relabel leaves alone.
		keep := except(live, ips...)
		relabelled := mine[0].Status.PodIP
		keep[relabelled] = append(labelTags(ns, map[string]string{"app": "web"}), nsTag(ns))
		sm := e.startSampler(ctx, keepsLive(keep))
		if err := a.kill(); err != nil {
			t.Fatal(err)
		}
		e.waitStreams(ctx, t, len(e.agents)-1)
		e.patchPodLabels(ctx, t, ns, mine[0].Name, map[string]any{"tier": "back"})
		if len(mine) > 1 {
			e.deletePod(ctx, t, ns, mine[1].Name)
		}
		e.waitPods(ctx, t, ns, "app=web", 4)
		// No agent can report the relabel: the aggregator takes it from
		// its pod view (the claims of a node whose agent is not streaming
		// follow the API server), rather than dropping the pod's tags.
		var tags []string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			reg, err := e.simRegistered(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tags = reg[relabelled]
			if slices.Contains(tags, nsTag(ns)+".tier.back") && !slices.Contains(tags, nsTag(ns)+".tier.front") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("with its agent down, the relabelled %s holds %v, want tier.back for tier.front", relabelled, tags)
			}
		}
		if err := a.start(); err != nil {
			t.Fatal(err)
		}
		if err := e.waitAgentReady(ctx, node); err != nil {
			t.Fatal(err)
		}
		got := e.waitConverged(ctx, t, "changes made while the agent was down")
		if tags := got[mine[0].Status.PodIP]; !slices.Contains(tags, nsTag(ns)+".tier.back") {
			t.Errorf("relabelled pod %s holds %v", mine[0].Status.PodIP, tags)
		}
		if _, err := sm.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAggregatorRestart kills the aggregator and starts it again: with no
// change in between, the new process (an empty store, a reconcile listing
// the emulator) unregisters nothing before the agents' snapshots are in
// (the snapshot gate), so every live tag stays; with changes made while it
// was down, everything converges once it is back.
func TestAggregatorRestart(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "agg-restart")
	pods := e.deployWeb(ctx, t, ns, 4)
	live := e.waitConverged(ctx, t, "before the restart")

	t.Run("no change", func(t *testing.T) {
		if err := e.simPost(ctx, "reset-stats"); err != nil {
			t.Fatal(err)
		}
		sm := e.startSampler(ctx, keepsLive(live))
		if err := e.agg.restart(); err != nil {
			t.Fatal(err)
		}
		for _, n := range e.allNodes() {
			if err := e.waitAgentReady(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		e.waitStreams(ctx, t, len(e.agents))
		e.patchPodLabels(ctx, t, ns, pods[0].Name, map[string]any{"restarted": "once"})
		e.waitConverged(ctx, t, "after the restart")
		n, err := sm.stop()
		if err != nil {
			t.Fatal(err)
		}
		st, err := e.simStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d samples; emulator saw %d register and %d unregister entries, %d listings", n, st.RegisterEntries, st.UnregisterEntries, st.OpCalls)
		if st.UnregisterEntries != 0 {
			t.Errorf("the aggregator restart unregistered %d entries, want 0", st.UnregisterEntries)
		}
		if st.OpCalls == 0 {
			t.Errorf("the restarted aggregator never listed the registered IPs (no reconcile)")
		}
	})

	t.Run("changes while down", func(t *testing.T) {
		if err := e.agg.kill(); err != nil {
			t.Fatal(err)
		}
		e.patchPodLabels(ctx, t, ns, pods[1].Name, map[string]any{"tier": "back"})
		e.deletePod(ctx, t, ns, pods[2].Name)
		e.scale(ctx, t, ns, "web", 5)
		if _, err := e.c.Client.CoreV1().Services(ns).Patch(ctx, "web", "application/merge-patch+json",
			[]byte(`{"metadata":{"labels":{"exposure":"public"}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitPods(ctx, t, ns, "app=web", 5)
		if err := e.agg.start(); err != nil {
			t.Fatal(err)
		}
		got := e.waitConverged(ctx, t, "changes made while the aggregator was down")
		if tags := got[pods[1].Status.PodIP]; !slices.Contains(tags, nsTag(ns)+".tier.back") {
			t.Errorf("relabelled pod %s holds %v", pods[1].Status.PodIP, tags)
		}
	})
}
