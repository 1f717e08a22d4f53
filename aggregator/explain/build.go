package explain

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/aggregator/nodewatch"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/tags"
)

// Query kinds.
const (
	KindPod     = "pod"
	KindService = "service"
	KindIP      = "ip"
)

// Query is what the caller asks about.
type Query struct {
	Kind      string // KindPod, KindService or KindIP
	Namespace string // pod, service
	Name      string // pod, service
	IP        netip.Addr
}

func (q Query) String() string {
	if q.Kind == KindIP {
		return "ip " + q.IP.String()
	}
	return q.Kind + " " + q.Namespace + "/" + q.Name
}

// Access says what the caller may see (the answers of SubjectAccessReview,
// asked beforehand).
type Access interface {
	// MayGet reports whether the caller may get the object name of
	// resource ("pods", "services" or "nodes") in namespace; namespace ""
	// asks for every namespace (nodes have none).
	MayGet(resource, namespace, name string) bool
}

// Facts are the snapshots Build explains, gathered by the caller.
type Facts struct {
	Now     time.Time
	Leader  bool
	Deriver *tags.Deriver
	// Pod is the pod asked about (KindPod).
	Pod *podview.Named
	// Service is the Service asked about (KindService).
	Service *ServiceFacts
	// IPs are the object's IPs, or the IP asked about.
	IPs []IPFacts
}

// ServiceFacts is a Service as the API server has it.
type ServiceFacts struct {
	Identity tags.Identity
	IPs      []netip.Addr
	// BadIPs are IPs in its spec or status that do not parse.
	BadIPs []string
}

// IPFacts is everything known about one IP.
type IPFacts struct {
	IP      netip.Addr
	Desired store.Desired
	// Claims are the store's claims, by source name.
	Claims map[string]store.Claim
	// Holders are the pods holding the IP (the pod view); Services the
	// Services whose ClusterIP, load-balancer or external IPs include it.
	Holders  []podview.Pod
	Services []tags.Identity
	// Nodes are the Nodes whose addresses include it (node tags).
	Nodes []tags.Identity
	// Agents are the node agents' claims (the claim gate).
	Agents  []verify.ClaimState
	Targets []TargetFacts
}

// TargetFacts is one target's state for the IP.
type TargetFacts struct {
	Name string
	// Holding is the pusher's belief; HoldingErr why it is unknown.
	Holding    push.Holding
	HoldingErr error
	Status     push.Status
	// Ack is the IP's last acknowledged change on this target, if
	// recorded.
	Ack    Ack
	HasAck bool
	// DAGs is the target's last good DAG read (nil: none yet).
	DAGs *dags.Set
}

// Build explains q from f, showing only what acc allows. The caller has
// already checked that acc allows the pod or Service asked about.
func Build(q Query, f Facts, acc Access) Report {
	r := Report{Query: q.String(), At: f.Now, Leader: f.Leader}
	b := builder{f: &f, acc: acc, all: acc.MayGet("pods", "", "") && acc.MayGet("services", "", ""), objTags: map[string]bool{}}
	switch q.Kind {
	case KindPod:
		if p := f.Pod; p != nil {
			r.Objects = append(r.Objects, b.object(p.Identity, p.Node, p.IPs))
			if len(p.IPs) == 0 {
				if len(p.Reported) > 0 {
					r.Notes = append(r.Notes, fmt.Sprintf("the pod holds no IP: it is terminating or finished, so its IPs (%s) may already be another pod's and carry no tags of it", joinAddrs(p.Reported)))
				} else {
					r.Notes = append(r.Notes, "the pod has no IP yet: nothing is registered for it")
				}
			}
			if p.HostNetwork {
				r.Notes = append(r.Notes, "the pod uses the host network: its IP is the node's, which kubedag does not tag with a pod's identity unless allowed")
			}
		}
	case KindService:
		if s := f.Service; s != nil {
			r.Objects = append(r.Objects, b.object(s.Identity, "", s.IPs))
			for _, bad := range s.BadIPs {
				r.Notes = append(r.Notes, "unparsable IP "+bad+" in the Service is not tagged")
			}
			if len(s.IPs) == 0 {
				r.Notes = append(r.Notes, "the Service has no IP (headless, or no load balancer address yet): nothing is registered for it")
			}
		}
	case KindIP:
		// The IP's owners the caller may see become the objects.
		for _, ipf := range f.IPs {
			for _, h := range ipf.Holders {
				if b.may("pods", h.Identity.Namespace, h.Identity.Name) {
					r.Objects = append(r.Objects, b.object(h.Identity, h.Node, []netip.Addr{ipf.IP}))
				} else {
					b.hidden++
				}
			}
			for _, s := range ipf.Services {
				if b.may("services", s.Namespace, s.Name) {
					r.Objects = append(r.Objects, b.object(s, "", []netip.Addr{ipf.IP}))
				} else {
					b.hidden++
				}
			}
			for _, n := range ipf.Nodes {
				if b.may("nodes", "", n.Name) {
					r.Objects = append(r.Objects, b.object(n, "", []netip.Addr{ipf.IP}))
				} else {
					b.hidden++
				}
			}
		}
	}
	for i := range f.IPs {
		if ip, ok := b.ip(&f.IPs[i]); ok {
			r.IPs = append(r.IPs, ip)
		}
	}
	if !f.Leader {
		r.Notes = append(r.Notes, "this aggregator replica does not lead: it pushes to no target, so what targets hold is unknown here")
	}
	if q.Kind == KindIP && len(r.Objects) == 0 && b.hidden == 0 && !slices.ContainsFunc(r.IPs, func(ip IP) bool { return len(ip.Claims) > 0 }) {
		r.Notes = append(r.Notes, "no pod or Service holds this IP and kubedag has no claim on it")
	}
	r.Hidden = b.hidden
	return r
}

type builder struct {
	f       *Facts
	acc     Access
	all     bool // the caller may see every namespace
	hidden  int
	objTags map[string]bool // kept tags of the objects shown
}

func (b *builder) may(resource, ns, name string) bool {
	return b.all || b.acc.MayGet(resource, ns, name)
}

// object explains the tags of id.
func (b *builder) object(id tags.Identity, node string, ips []netip.Addr) Object {
	ex := b.f.Deriver.Explain(id)
	o := Object{Kind: string(id.Kind), Namespace: id.Namespace, Name: id.Name, UID: id.UID, Node: node,
		Services: id.Services, IPs: addrStrings(ips), Preset: ex.Preset, MaxTags: ex.MaxTags}
	if id.OwnerKind != "" {
		o.Owner = id.OwnerKind + "/" + id.OwnerName
	}
	for _, w := range ex.Tags {
		t := Tag{Tag: w.Tag, From: w.Describe(id.OwnerKind), Source: string(w.Source), Status: "kept"}
		switch {
		case w.Duplicate:
			t.Status = "duplicate"
		case !w.Kept:
			t.Status = string(w.Dropped)
		}
		for _, rp := range w.Repaired {
			t.Repaired = append(t.Repaired, string(rp))
		}
		if w.Kept {
			b.objTags[w.Tag] = true
		}
		o.Tags = append(o.Tags, t)
	}
	for _, p := range ex.Problems {
		switch p.Reason {
		case tags.ReasonOverLimit, tags.ReasonInvalidChars, tags.ReasonTruncated:
			continue // shown on the tag itself
		}
		o.NotTagged = append(o.NotTagged, Problem{Reason: string(p.Reason), Label: p.Label, Tag: p.Tag, Detail: p.Detail})
	}
	return o
}

// ip explains one IP; ok is false when the caller may see nothing of it.
func (b *builder) ip(f *IPFacts) (IP, bool) {
	out := IP{IP: f.IP.String(), Conflict: f.Desired.Conflict}
	visible := map[string]bool{}
	for t := range b.objTags {
		visible[t] = true
	}
	for _, src := range slices.Sorted(maps.Keys(f.Claims)) {
		c := f.Claims[src]
		owner, ns, name, resource := b.claimOwner(f, src, c)
		if resource == "" || !b.may(resource, ns, name) {
			b.hidden++
			continue
		}
		cl := Claim{Source: src, Owner: owner, UID: c.Owner, Tags: c.Tags.Slice()}
		if !c.FirstSeen.IsZero() {
			t := c.FirstSeen
			cl.FirstSeen = &t
		}
		for _, t := range cl.Tags {
			visible[t] = true
		}
		out.Claims = append(out.Claims, cl)
	}
	for _, a := range f.Agents {
		if !b.may("pods", a.Identity.Namespace, a.Identity.Name) {
			b.hidden++
			continue
		}
		ac := AgentClaim{Node: a.Node, Pod: a.Identity.Namespace + "/" + a.Identity.Name}
		switch {
		case a.Refused != "":
			ac.State, ac.Reason = "refused", refusalText(a.Refused)
		case a.Waiting:
			ac.State = "waiting"
			d := a.Deadline
			ac.Deadline = &d
		case a.Forwarded:
			ac.State = "confirmed"
		default:
			ac.State = "waiting" // the view has not synced yet
		}
		out.AgentClaims = append(out.AgentClaims, ac)
	}
	if !b.all && len(out.Claims) == 0 && len(out.AgentClaims) == 0 && len(visible) == 0 {
		return IP{}, false
	}
	show := func(ts []string) []string {
		var kept []string
		for _, t := range ts {
			if b.all || visible[t] {
				kept = append(kept, t)
			} else {
				out.HiddenTags++
			}
		}
		return kept
	}
	desired := f.Desired.Tags
	out.Desired = show(desired.Slice())
	if out.Desired == nil {
		out.Desired = []string{}
	}
	for i := range f.Targets {
		out.Targets = append(out.Targets, b.target(&f.Targets[i], desired, show))
	}
	return out, true
}

// claimOwner names the object behind a store claim and the resource and
// namespace the caller must be allowed to get to see it ("" if unknown).
func (b *builder) claimOwner(f *IPFacts, src string, c store.Claim) (owner, ns, name, resource string) {
	if node, ok := strings.CutPrefix(src, "node/"); ok {
		for _, a := range f.Agents {
			if a.Node == node && a.Identity.UID == c.Owner {
				return "Pod " + a.Identity.Namespace + "/" + a.Identity.Name, a.Identity.Namespace, a.Identity.Name, "pods"
			}
		}
		for _, h := range f.Holders {
			if h.Identity.UID == c.Owner {
				return "Pod " + h.Identity.Namespace + "/" + h.Identity.Name, h.Identity.Namespace, h.Identity.Name, "pods"
			}
		}
		return "", "", "", ""
	}
	// Services (Nodes) sharing an IP claim it together, their UIDs joined
	// by ",".
	if src == nodewatch.Source {
		var names []string
		for _, uid := range strings.Split(c.Owner, ",") {
			i := slices.IndexFunc(f.Nodes, func(n tags.Identity) bool { return n.UID == uid })
			if i < 0 {
				return "", "", "", ""
			}
			names = append(names, f.Nodes[i].Name)
		}
		if len(names) == 1 {
			name = names[0]
		}
		return "Node " + strings.Join(names, ", "), "", name, "nodes"
	}
	var names []string
	for _, uid := range strings.Split(c.Owner, ",") {
		i := slices.IndexFunc(f.Services, func(s tags.Identity) bool { return s.UID == uid })
		if i < 0 {
			return "", "", "", ""
		}
		s := f.Services[i]
		if ns != "" && ns != s.Namespace {
			// Shared across namespaces: only a caller who sees every
			// namespace sees it.
			return "Service " + strings.Join(append(names, s.Namespace+"/"+s.Name), ", "), "", "", "services"
		}
		ns, name = s.Namespace, s.Name
		names = append(names, s.Namespace+"/"+s.Name)
	}
	if len(names) > 1 {
		name = "" // several Services: the whole namespace must be visible
	}
	return "Service " + strings.Join(names, ", "), ns, name, "services"
}

func (b *builder) target(t *TargetFacts, desired tags.Set, show func([]string) []string) Target {
	out := Target{Name: t.Name, Healthy: t.Status.Healthy, LastError: t.Status.LastError, CapacityFull: t.Status.CapacityFull}
	h := t.Holding
	switch {
	case t.HoldingErr != nil:
		out.Error = t.HoldingErr.Error()
	case !h.Synced:
		out.Error = "the target has not been listed yet"
	default:
		out.Known = true
	}
	if h.Pruning {
		out.Pruning = true
	}
	if t.HasAck && t.Ack.RefusedMsg != "" {
		out.LastRefusal = t.Ack.RefusedMsg
	}
	if t.HasAck && t.Ack.Latency > 0 {
		out.LastLatency = t.Ack.Latency.String()
	}
	want := desired
	if out.Known {
		if h.Pruning {
			// The target is to hold only the tags its DAGs use.
			want = h.Want
			out.Pruned = show(tags.Minus(desired, want))
		}
		out.Holds = show(h.Tags.Slice())
		if !h.Expires.IsZero() {
			e := h.Expires
			out.Expires = &e
		}
		out.Register = show(tags.Minus(want, h.Tags))
		out.Unregister = show(tags.Minus(h.Tags, want))
		out.Uncertain, out.Refusals = h.Uncertain, h.RetryAttempts
		conf, by := h.LastReconcile, "reconcile"
		if t.HasAck && t.Ack.At.After(conf) {
			conf, by = t.Ack.At, "update"
		}
		if !conf.IsZero() {
			out.Confirmed, out.ConfirmedBy = &conf, by
		}
	}
	if out.Holds == nil {
		out.Holds = []string{}
	}
	if t.DAGs != nil {
		at := t.DAGs.ReadAt
		out.DAGsReadAt = &at
		now := toSet(out.Holds)
		after := toSet(show(want.Slice()))
		for _, d := range t.DAGs.Filters {
			dag := DAG{Location: d.Location.String(), Name: d.Group, Filter: d.Filter}
			if d.Err != nil {
				dag.Error = d.Err.Error()
				out.DAGs = append(out.DAGs, dag)
				continue
			}
			dag.Now = out.Known && d.Expr.Match(func(t string) bool { return now[t] })
			dag.AfterPending = d.Expr.Match(func(t string) bool { return after[t] })
			if !dag.Now && !dag.AfterPending {
				continue
			}
			for _, tg := range d.Expr.Tags() {
				if !b.f.Deriver.Owns(tg) {
					dag.Foreign = true
					break
				}
			}
			out.DAGs = append(out.DAGs, dag)
		}
	}
	return out
}

// refusalText explains a claim-gate reason.
func refusalText(r verify.Reason) string {
	switch r {
	case verify.ReasonUnknownIP:
		return "unknown-ip: no pod holds the IP according to the API server"
	case verify.ReasonOtherNode:
		return "other-node: the pods holding the IP run on other nodes"
	case verify.ReasonHostNetwork:
		return "host-network: the IP is a node IP, which is not tagged"
	case verify.ReasonNamespace, verify.ReasonName, verify.ReasonUID:
		return string(r) + ": the IP is held by another pod"
	case verify.ReasonKind:
		return "kind: agents may only claim pod IPs"
	}
	return string(r) + ": the pod's " + string(r) + " differ from what the API server says"
}

func toSet(ts []string) map[string]bool {
	m := make(map[string]bool, len(ts))
	for _, t := range ts {
		m[t] = true
	}
	return m
}

func addrStrings(ips []netip.Addr) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func joinAddrs(ips []netip.Addr) string { return strings.Join(addrStrings(ips), ", ") }
