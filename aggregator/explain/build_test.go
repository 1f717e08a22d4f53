package explain

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/tags/dagfilter"
	"github.com/kubedag/kubedag/userid"
)

// access is a fixed Access: "resource/namespace" (or
// "resource/namespace/name") -> allowed.
type access map[string]bool

func (a access) MayGet(resource, ns, name string) bool {
	return a[resource+"/"+ns] || (name != "" && a[resource+"/"+ns+"/"+name])
}

var (
	t0  = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ip1 = netip.MustParseAddr("10.0.1.5")

	web = tags.Identity{Kind: tags.KindPod, Namespace: "shop", Name: "web-1", UID: "uid-web",
		Labels: map[string]string{"app": "web", "tier": "front", "pod-template-hash": "abc"}, OwnerKind: "ReplicaSet", OwnerName: "web-rs",
		Services: []string{"web"}}
	spy = tags.Identity{Kind: tags.KindPod, Namespace: "secret", Name: "spy", UID: "uid-spy",
		Labels: map[string]string{"app": "spy"}}
	db = tags.Identity{Kind: tags.KindService, Namespace: "shop", Name: "db", UID: "uid-db", Labels: map[string]string{"app": "db"}}
)

func deriver(t *testing.T, cfg tags.Config) *tags.Deriver {
	t.Helper()
	d, err := tags.NewDeriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dagSet(t *testing.T, groups ...[2]string) *dags.Set {
	t.Helper()
	var fs []userid.DAGFilter
	for _, g := range groups {
		f := userid.DAGFilter{Location: userid.DAGLocation{Scope: userid.ScopeShared}, Group: g[0], Filter: g[1]}
		f.Expr, f.Err = dagfilter.Parse(g[1])
		fs = append(fs, f)
	}
	return dags.NewSet(fs, nil, t0.Add(-time.Minute))
}

func set(ts ...string) tags.Set { return tags.NewSet(ts...) }

func tagsOf(d *tags.Deriver, id tags.Identity) tags.Set { s, _ := d.Tags(id); return s }

// TestBuildPod explains a pod whose IP a target holds in part: the tags
// and their sources, the claim, the pending register, the latency and the
// DAGs it is in now and joins once the register lands.
func TestBuildPod(t *testing.T) {
	d := deriver(t, tags.Config{Cluster: "prod", LabelDeny: []string{"pod-template-hash"}, MaxTags: 4})
	want := tagsOf(d, web)
	held := set("k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.rs_web-rs", "k8s.cl_prod.ns_shop.svc_web", "k8s.cl_prod.ns_shop.stale")
	f := Facts{
		Now: t0, Leader: true, Deriver: d,
		Pod: &podview.Named{Pod: podview.Pod{Node: "n1", Identity: web}, IPs: []netip.Addr{ip1}, Reported: []netip.Addr{ip1}},
		IPs: []IPFacts{{
			IP:      ip1,
			Desired: store.Desired{Tags: want, Claimed: true},
			Claims:  map[string]store.Claim{"node/n1": {Tags: want, Owner: "uid-web", FirstSeen: t0.Add(-2 * time.Second)}},
			Holders: []podview.Pod{{Node: "n1", Identity: web}},
			Agents:  []verify.ClaimState{{Node: "n1", Identity: web, Forwarded: true}},
			Targets: []TargetFacts{{
				Name:    "fw1",
				Holding: push.Holding{Tags: held, Synced: true, LastReconcile: t0.Add(-time.Minute), Expires: t0.Add(time.Hour)},
				Status:  push.Status{Healthy: true},
				Ack:     Ack{At: t0.Add(-time.Second), Latency: 40 * time.Millisecond}, HasAck: true,
				DAGs: dagSet(t,
					[2]string{"shop-web", "'k8s.cl_prod.ns_shop' and 'k8s.cl_prod.ns_shop.rs_web-rs'"},
					[2]string{"web-app", "'k8s.cl_prod.ns_shop.app.web'"},
					[2]string{"stale", "'k8s.cl_prod.ns_shop.stale' or 'corp.other'"},
					[2]string{"other", "'k8s.cl_prod.ns_other'"},
					[2]string{"broken", "'a' and"}),
			}},
		}},
	}
	r := Build(Query{Kind: KindPod, Namespace: "shop", Name: "web-1"}, f, access{"pods/shop": true})

	if r.Query != "pod shop/web-1" || !r.Leader || r.Hidden != 0 || len(r.Objects) != 1 || len(r.IPs) != 1 {
		t.Fatalf("report = %+v", r)
	}
	o := r.Objects[0]
	var got []string
	for _, tg := range o.Tags {
		got = append(got, tg.Tag+" <- "+tg.From+" : "+tg.Status)
	}
	wantTags := []string{
		"k8s.cl_prod.ns_shop <- namespace shop : kept",
		"k8s.cl_prod.ns_shop.rs_web-rs <- owner ReplicaSet web-rs : kept",
		"k8s.cl_prod.ns_shop.svc_web <- service web : kept",
		"k8s.cl_prod.ns_shop.app.web <- label app=web : kept",
		"k8s.cl_prod.ns_shop.tier.front <- label tier=front : over-limit",
	}
	if !slices.Equal(got, wantTags) {
		t.Errorf("tags:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(wantTags, "\n     "))
	}
	if len(o.NotTagged) != 1 || o.NotTagged[0].Reason != "denied" || o.NotTagged[0].Label != "pod-template-hash" {
		t.Errorf("not tagged = %+v, want the denied pod-template-hash label", o.NotTagged)
	}
	if o.Owner != "ReplicaSet/web-rs" || o.Node != "n1" || o.MaxTags != 4 || o.Preset != "k8s" {
		t.Errorf("object = %+v", o)
	}

	ip := r.IPs[0]
	if len(ip.Claims) != 1 || ip.Claims[0].Owner != "Pod shop/web-1" || ip.Claims[0].Source != "node/n1" {
		t.Errorf("claims = %+v", ip.Claims)
	}
	if len(ip.AgentClaims) != 1 || ip.AgentClaims[0].State != "confirmed" {
		t.Errorf("agent claims = %+v", ip.AgentClaims)
	}
	tg := ip.Targets[0]
	if !tg.Known || !slices.Equal(tg.Register, []string{"k8s.cl_prod.ns_shop.app.web"}) {
		t.Errorf("register = %v (known %v)", tg.Register, tg.Known)
	}
	// The stale tag is nobody's the caller may see: hidden, not shown.
	if len(tg.Unregister) != 0 || ip.HiddenTags == 0 || slices.Contains(tg.Holds, "k8s.cl_prod.ns_shop.stale") {
		t.Errorf("stale tag shown to a caller who may not see its owner: holds %v unregister %v hidden %d", tg.Holds, tg.Unregister, ip.HiddenTags)
	}
	if tg.ConfirmedBy != "update" || !tg.Confirmed.Equal(t0.Add(-time.Second)) || tg.LastLatency != "40ms" {
		t.Errorf("confirmed %v by %q, latency %q", tg.Confirmed, tg.ConfirmedBy, tg.LastLatency)
	}
	dagState := map[string]string{}
	for _, g := range tg.DAGs {
		s := ""
		if g.Now {
			s += "now "
		}
		if g.AfterPending {
			s += "after "
		}
		if g.Error != "" {
			s += "error"
		}
		dagState[g.Name] = strings.TrimSpace(s)
	}
	wantDAGs := map[string]string{"shop-web": "now after", "web-app": "after", "broken": "error"}
	if len(dagState) != len(wantDAGs) {
		t.Errorf("DAGs = %v, want %v", dagState, wantDAGs)
	}
	for k, v := range wantDAGs {
		if dagState[k] != v {
			t.Errorf("DAG %s: %q, want %q (all %v)", k, dagState[k], v, dagState)
		}
	}

	var buf bytes.Buffer
	if err := Render(&buf, r); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, s := range []string{
		"Pod shop/web-1 (node n1, owner ReplicaSet web-rs, in Services web)",
		"k8s.cl_prod.ns_shop.tier.front", "DROPPED: over the 4-tag limit",
		"label pod-template-hash", "Claimed by: Pod shop/web-1 via node/n1",
		"Target fw1 (healthy)", "confirmed 1s ago", "pending register:   k8s.cl_prod.ns_shop.app.web",
		"last tag latency: 40ms", "JOINS once pending changes land", "CANNOT EVALUATE",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("rendered text lacks %q:\n%s", s, text)
		}
	}
}

// TestBuildIPReuse explains an IP two pods claim during reuse, one in a
// namespace the caller may not see: that pod, its claims and its tags
// stay hidden; a caller who sees everything sees all of it.
func TestBuildIPReuse(t *testing.T) {
	d := deriver(t, tags.Config{Cluster: "prod"})
	webTags, spyTags := tagsOf(d, web), tagsOf(d, spy)
	f := Facts{
		Now: t0, Leader: true, Deriver: d,
		IPs: []IPFacts{{
			IP:      ip1,
			Desired: store.Desired{Tags: tags.Intersect(webTags, spyTags), Claimed: true, Conflict: true},
			Claims: map[string]store.Claim{
				"node/n1": {Tags: webTags, Owner: "uid-web"},
				"node/n2": {Tags: spyTags, Owner: "uid-spy"},
			},
			Holders: []podview.Pod{{Node: "n1", Identity: web}, {Node: "n2", Identity: spy}},
			Agents: []verify.ClaimState{
				{Node: "n1", Identity: web, Forwarded: true},
				{Node: "n2", Identity: spy, Forwarded: true},
				{Node: "n3", Identity: web, Refused: verify.ReasonOtherNode},
			},
			Targets: []TargetFacts{{Name: "fw1", Holding: push.Holding{Tags: spyTags, Synced: true, LastReconcile: t0.Add(-time.Minute)}}},
		}},
	}
	q := Query{Kind: KindIP, IP: ip1}

	r := Build(q, f, access{"pods/shop": true})
	if len(r.Objects) != 1 || r.Objects[0].Name != "web-1" {
		t.Fatalf("objects = %+v, want only web-1", r.Objects)
	}
	if r.Hidden != 3 { // spy as holder, its claim, its agent claim
		t.Errorf("hidden = %d, want 3", r.Hidden)
	}
	ip := r.IPs[0]
	if !ip.Conflict || len(ip.Claims) != 1 || ip.Claims[0].Owner != "Pod shop/web-1" {
		t.Errorf("ip = %+v", ip)
	}
	if len(ip.AgentClaims) != 2 || ip.AgentClaims[1].State != "refused" || !strings.HasPrefix(ip.AgentClaims[1].Reason, "other-node") {
		t.Errorf("agent claims = %+v", ip.AgentClaims)
	}
	tg := ip.Targets[0]
	for _, tag := range append(slices.Clone(tg.Holds), tg.Unregister...) {
		if strings.Contains(tag, "secret") {
			t.Errorf("hidden namespace's tag %q shown", tag)
		}
	}
	if ip.HiddenTags == 0 {
		t.Error("no hidden tags counted")
	}
	var buf bytes.Buffer
	_ = Render(&buf, r)
	if strings.Contains(buf.String(), "secret") || strings.Contains(buf.String(), "spy") {
		t.Errorf("rendered text shows the hidden pod:\n%s", buf.String())
	}

	all := Build(q, f, access{"pods/": true, "services/": true})
	if len(all.Objects) != 2 || all.Hidden != 0 || len(all.IPs[0].Claims) != 2 || all.IPs[0].HiddenTags != 0 {
		t.Errorf("cluster-wide reader: %+v", all)
	}
	if !slices.Equal(all.IPs[0].Targets[0].Unregister, tags.Minus(spyTags, tags.NewSet(all.IPs[0].Desired...))) {
		t.Errorf("unregister = %v", all.IPs[0].Targets[0].Unregister)
	}

	none := Build(q, f, access{})
	if len(none.Objects) != 0 || len(none.IPs) != 0 || none.Hidden == 0 {
		t.Errorf("caller who may see nothing: %+v", none)
	}
}

// TestBuildServiceAndNotLeader explains a Service on a replica that does
// not lead: tags are known, target state is not.
func TestBuildServiceAndNotLeader(t *testing.T) {
	d := deriver(t, tags.Config{Cluster: "prod"})
	svcIP := netip.MustParseAddr("10.96.0.10")
	dbTags := tagsOf(d, db)
	f := Facts{
		Now: t0, Deriver: d,
		Service: &ServiceFacts{Identity: db, IPs: []netip.Addr{svcIP}, BadIPs: []string{"nonsense"}},
		IPs: []IPFacts{{
			IP: svcIP, Desired: store.Desired{Tags: dbTags, Claimed: true},
			Claims:   map[string]store.Claim{"services": {Tags: dbTags, Owner: "uid-db"}},
			Services: []tags.Identity{db},
			Targets:  []TargetFacts{{Name: "fw1", HoldingErr: push.ErrNotRunning}},
		}},
	}
	r := Build(Query{Kind: KindService, Namespace: "shop", Name: "db"}, f, access{"services/shop": true})
	if len(r.Objects) != 1 || r.Objects[0].Kind != "Service" || len(r.Objects[0].Tags) != 3 {
		t.Fatalf("objects = %+v", r.Objects)
	}
	ip := r.IPs[0]
	if len(ip.Claims) != 1 || ip.Claims[0].Owner != "Service shop/db" {
		t.Errorf("claims = %+v", ip.Claims)
	}
	tg := ip.Targets[0]
	if tg.Known || tg.Error != push.ErrNotRunning.Error() || len(tg.Holds) != 0 {
		t.Errorf("target on a non-leader = %+v", tg)
	}
	notes := strings.Join(r.Notes, "\n")
	if !strings.Contains(notes, "does not lead") || !strings.Contains(notes, "nonsense") {
		t.Errorf("notes = %v", r.Notes)
	}
}

// TestBuildPodWithoutIP: a pending pod's tags are explained, with a note
// that nothing is registered.
func TestBuildPodWithoutIP(t *testing.T) {
	d := deriver(t, tags.Config{Cluster: "prod"})
	f := Facts{Now: t0, Leader: true, Deriver: d, Pod: &podview.Named{Pod: podview.Pod{Identity: web}}}
	r := Build(Query{Kind: KindPod, Namespace: "shop", Name: "web-1"}, f, access{"pods/shop": true})
	if len(r.Objects) != 1 || len(r.Objects[0].Tags) == 0 || len(r.IPs) != 0 || !strings.Contains(strings.Join(r.Notes, " "), "no IP yet") {
		t.Errorf("report = %+v", r)
	}
}

func TestBuildUnknownIP(t *testing.T) {
	d := deriver(t, tags.Config{Cluster: "prod"})
	stale := set("k8s.cl_prod.ns_gone")
	f := Facts{Now: t0, Leader: true, Deriver: d, IPs: []IPFacts{{IP: ip1, Targets: []TargetFacts{{Name: "fw1", Holding: push.Holding{Tags: stale, Synced: true}}}}}}
	r := Build(Query{Kind: KindIP, IP: ip1}, f, access{"pods/": true, "services/": true})
	if len(r.Objects) != 0 || !strings.Contains(strings.Join(r.Notes, " "), "no pod or Service holds this IP") {
		t.Errorf("report = %+v", r)
	}
	// A cluster-wide reader sees the stale tag waiting to be unregistered.
	if len(r.IPs) != 1 || !slices.Equal(r.IPs[0].Targets[0].Unregister, stale.Slice()) {
		t.Errorf("stale tag not shown to a cluster-wide reader: %+v", r.IPs)
	}
	// Anyone else sees nothing of it.
	if r := Build(Query{Kind: KindIP, IP: ip1}, f, access{"pods/shop": true}); len(r.IPs) != 0 {
		t.Errorf("stale tag shown to a namespaced reader: %+v", r.IPs)
	}
}

// TestBuildPruned: on a target that prunes, tags no DAG uses are shown as
// pruned, not as pending registers, and DAG membership after pending is
// judged on what the target is to hold.
func TestBuildPruned(t *testing.T) {
	d := deriver(t, tags.Config{Cluster: "prod"})
	want := tagsOf(d, web)
	kept := set("k8s.cl_prod.ns_shop.app.web")
	f := Facts{Now: t0, Leader: true, Deriver: d,
		Pod: &podview.Named{Pod: podview.Pod{Identity: web}, IPs: []netip.Addr{ip1}},
		IPs: []IPFacts{{IP: ip1, Desired: store.Desired{Tags: want, Claimed: true},
			Claims: map[string]store.Claim{"node/n1": {Tags: want, Owner: "uid-web"}},
			Agents: []verify.ClaimState{{Node: "n1", Identity: web, Forwarded: true}},
			Targets: []TargetFacts{{Name: "pano", Holding: push.Holding{Synced: true, Want: kept, Pruning: true},
				DAGs: dagSet(t, [2]string{"web", "'k8s.cl_prod.ns_shop.app.web'"}, [2]string{"other", "'k8s.cl_prod.ns_other'"})}}}}}
	r := Build(Query{Kind: KindPod, Namespace: "shop", Name: "web-1"}, f, access{"pods/shop": true})
	tg := r.IPs[0].Targets[0]
	if !tg.Pruning || !slices.Equal(tg.Register, kept.Slice()) || !slices.Equal(tg.Pruned, tags.Minus(want, kept)) {
		t.Errorf("pruning target: register %v pruned %v", tg.Register, tg.Pruned)
	}
	if len(tg.DAGs) != 1 || tg.DAGs[0].Name != "web" || !tg.DAGs[0].AfterPending {
		t.Errorf("DAGs = %+v", tg.DAGs)
	}
	var buf bytes.Buffer
	_ = Render(&buf, r)
	if !strings.Contains(buf.String(), "pruned (no DAG uses it): k8s.cl_prod.ns_shop.svc_web") {
		t.Errorf("rendered:\n%s", buf.String())
	}
}

// TestBuildNodeIP: a node address claimed by the Node source is shown to
// callers who may get nodes, hidden from others.
func TestBuildNodeIP(t *testing.T) {
	d := deriver(t, tags.Config{Cluster: "prod", Nodes: true})
	node := tags.Identity{Kind: tags.KindNode, Name: "n1", UID: "uid-n1", Labels: map[string]string{"topology.kubernetes.io/zone": "a"}}
	nodeTags, _ := d.NodeTags(node, false)
	nip := netip.MustParseAddr("192.168.0.10")
	f := Facts{Now: t0, Leader: true, Deriver: d, IPs: []IPFacts{{IP: nip,
		Desired: store.Desired{Tags: nodeTags, Claimed: true},
		Claims:  map[string]store.Claim{"nodes": {Tags: nodeTags, Owner: "uid-n1"}},
		Nodes:   []tags.Identity{node},
		Targets: []TargetFacts{{Name: "fw1", Holding: push.Holding{Tags: nodeTags, Synced: true}}}}}}
	q := Query{Kind: KindIP, IP: nip}

	r := Build(q, f, access{"nodes/": true})
	if len(r.Objects) != 1 || r.Objects[0].Kind != "Node" || len(r.Objects[0].Tags) == 0 || len(r.IPs) != 1 ||
		len(r.IPs[0].Claims) != 1 || r.IPs[0].Claims[0].Owner != "Node n1" || len(r.IPs[0].Targets[0].Holds) != nodeTags.Len() {
		t.Errorf("node reader: %+v", r)
	}
	r = Build(q, f, access{"pods/shop": true})
	if len(r.Objects) != 0 || len(r.IPs) != 0 || r.Hidden != 2 {
		t.Errorf("caller without nodes access: %+v", r)
	}
}
