package sandwich

import (
	"fmt"
	"slices"
	"strings"
)

// Held is one entry a target holds in a container the sandwich manages.
type Held struct {
	Name string
	// Tags are the entry's tag members (ownership markers).
	Tags []string
	// Service and ToInterface are a NAT rule's service (the object naming
	// its port) and to-interface; Port is a service object's TCP port.
	Service, ToInterface, Port string

	canon string
}

// Actual is what a target holds: per kind, its entries in device order
// (rule order matters).
type Actual map[Kind][]Held

// ParseHeld parses the answer of a config get on a container (the inner
// XML of <result>: the container element holding its entries; empty when
// the container does not exist).
func ParseHeld(result []byte) ([]Held, error) {
	roots, err := parseElems(result)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	var entries []*elem
	for _, r := range roots {
		if r.tag == "entry" {
			entries = append(entries, r)
			continue
		}
		for _, c := range r.children {
			if c.tag == "entry" {
				entries = append(entries, c)
			}
		}
	}
	out := make([]Held, 0, len(entries))
	for _, e := range entries {
		h := Held{Name: e.name, Tags: e.child("tag").memberTexts(), canon: e.canonical()}
		if c := e.child("service"); c != nil {
			h.Service = c.text
		}
		if c := e.child("to-interface"); c != nil {
			h.ToInterface = c.text
		}
		if c := e.child("protocol").child("tcp").child("port"); c != nil {
			h.Port = c.text
		}
		out = append(out, h)
	}
	return out, nil
}

// Action is a PAN-OS config action.
type Action string

// Actions an Op takes.
const (
	ActionEdit   Action = "edit"   // create or replace the entry
	ActionDelete Action = "delete" // remove the entry
	ActionMove   Action = "move"   // place a rule
)

// Op is one config call.
type Op struct {
	Action  Action
	Kind    Kind
	Name    string
	XPath   string
	Element string // edit
	// Where and Dst place a rule (move).
	Where, Dst string
	// Service is the namespace/name of the Service the entry is for.
	Service string
	// Repair: the entry is ours but differs from what kubedag set (edited
	// by hand, or by an older kubedag).
	Repair bool
}

func (o Op) String() string {
	s := string(o.Action) + " " + o.Kind.String() + " " + o.Name
	if o.Action == ActionMove {
		s += " " + o.Where
		if o.Dst != "" {
			s += " " + o.Dst
		}
	}
	return s
}

// owned reports whether a held entry of kind k is cluster n's: the tag
// object by its name; routes (which cannot carry tags) by the cluster's
// name prefix; everything else by the prefix and the cluster's tag.
func owned(n Names, k Kind, h Held) bool {
	switch k {
	case KindTag:
		return h.Name == n.Tag()
	case KindRoute:
		return n.Owns(h.Name)
	}
	return n.Owns(h.Name) && slices.Contains(h.Tags, n.Tag())
}

// kubedagRule reports whether a rule belongs to any kubedag cluster; such
// rules do not count against placement, so clusters sharing a rulebase
// place their rules without moving each other's forever.
func kubedagRule(h Held) bool {
	return slices.ContainsFunc(h.Tags, func(t string) bool { return strings.HasPrefix(t, TagPrefix) })
}

// Plan returns the calls that take what target t holds (actual) to what
// cluster n wants (desired): creates and repairs in creation order (objects
// before the rules that reference them), then rule moves, then deletes in
// reverse order (rules before the objects they reference). It touches only
// entries cluster n owns; a desired name held by an entry it does not own
// is reported, and that Service's entries are left alone. Plan is pure.
//
// A firewall port another cluster's inbound rule already uses on t is that
// cluster's: the Service wanting it here is reported and its entries are
// left out (and removed, when both clusters' rules are on the device, from
// the cluster whose rule is lower in the rulebase, the one traffic never
// hits).
func Plan(t Target, n Names, desired Desired, actual Actual) ([]Op, []Problem) {
	desired, problems := yieldPorts(t, n, desired, actual)
	held := make(map[Kind]map[string]Held, numKinds)
	for k, hs := range actual {
		held[k] = make(map[string]Held, len(hs))
		for _, h := range hs {
			held[k][h.Name] = h
		}
	}
	want := make(map[Kind]map[string]bool, numKinds)
	blocked := map[string]bool{}
	var edits []Op
	for _, e := range desired.Entries {
		if want[e.Kind] == nil {
			want[e.Kind] = map[string]bool{}
		}
		want[e.Kind][e.Name] = true
		h, ok := held[e.Kind][e.Name]
		switch {
		case ok && !owned(n, e.Kind, h):
			problems = append(problems, Problem{Service: e.Service, Target: t.Name, Reason: ReasonNameConflict,
				Message: fmt.Sprintf("%s %s exists without kubedag's tag %s; kubedag leaves it alone (rename or delete it, or tag it %s)", e.Kind, e.Name, n.Tag(), n.Tag())})
			if e.Service != "" {
				blocked[e.Service] = true
			}
		case !ok || h.canon != e.canon:
			edits = append(edits, Op{Action: ActionEdit, Kind: e.Kind, Name: e.Name, XPath: t.XPath(e.Kind, e.Name),
				Element: e.Element, Service: e.Service, Repair: ok})
		}
	}
	ops := slices.DeleteFunc(edits, func(o Op) bool { return o.Service != "" && blocked[o.Service] })

	moves, p := placeRules(t, n, desired, actual[KindNATRule], want[KindNATRule], blocked)
	problems = append(problems, p...)
	ops = append(ops, moves...)

	for k := numKinds - 1; k >= 0; k-- {
		for _, h := range actual[k] {
			if owned(n, k, h) && !want[k][h.Name] {
				ops = append(ops, Op{Action: ActionDelete, Kind: k, Name: h.Name, XPath: t.XPath(k, h.Name)})
			}
		}
	}
	return ops, problems
}

// otherCluster returns the kubedag cluster other than n that owns h (its
// tag and its name prefix), or "".
func otherCluster(n Names, h Held) string {
	for _, tag := range h.Tags {
		c, ok := strings.CutPrefix(tag, TagPrefix)
		if ok && c != "" && c != n.Cluster && (Names{Cluster: c}).Owns(h.Name) {
			return c
		}
	}
	return ""
}

// yieldPorts drops from desired the entries of every Service whose firewall
// port another cluster's inbound rule already uses on t, and reports each.
// Ours keeps the port only when our rule is on the device too and above
// theirs (it is the one traffic hits; both clusters see the same order, so
// exactly one yields).
func yieldPorts(t Target, n Names, desired Desired, actual Actual) (Desired, []Problem) {
	svcPort := map[string]string{} // service object name -> port
	for _, h := range actual[KindService] {
		if h.Port != "" {
			svcPort[h.Name] = h.Port
		}
	}
	type holder struct {
		rule, cluster string
		pos           int
	}
	taken := map[string]holder{} // port -> the topmost other cluster's rule
	ourPos := map[string]int{}
	for i, h := range actual[KindNATRule] {
		if owned(n, KindNATRule, h) {
			ourPos[h.Name] = i
			continue
		}
		port, ok := svcPort[h.Service]
		// A rule bound to another untrust interface matches other traffic.
		sameIf := h.ToInterface == "" || h.ToInterface == "any" || h.ToInterface == t.UntrustInterface
		if c := otherCluster(n, h); c != "" && ok && sameIf {
			if _, seen := taken[port]; !seen {
				taken[port] = holder{rule: h.Name, cluster: c, pos: i}
			}
		}
	}
	if len(taken) == 0 {
		return desired, nil
	}
	// Our wanted port per Service: its service object's port, and its
	// inbound rule's name.
	wantPort, wantRule := map[string]string{}, map[string]string{}
	for _, e := range desired.Entries {
		switch {
		case e.Service == "":
		case e.Kind == KindService:
			wantPort[e.Service] = e.port
		case e.Kind == KindNATRule:
			wantRule[e.Service] = e.Name
		}
	}
	var problems []Problem
	yield := map[string]bool{}
	for svc, port := range wantPort {
		h, ok := taken[port]
		if !ok {
			continue
		}
		if pos, held := ourPos[wantRule[svc]]; held && pos < h.pos {
			continue
		}
		yield[svc] = true
		problems = append(problems, Problem{Service: svc, Target: t.Name, Reason: ReasonPortConflict,
			Message: fmt.Sprintf("firewall port %s is already used by cluster %s's inbound NAT rule %s; kubedag leaves the port to it (label another port, or unlabel the other cluster's Service)", port, h.cluster, h.rule)})
	}
	if len(yield) == 0 {
		return desired, nil
	}
	slices.SortFunc(problems, func(a, b Problem) int { return strings.Compare(a.Service, b.Service) })
	kept := Desired{Entries: make([]Entry, 0, len(desired.Entries))}
	for _, e := range desired.Entries {
		if !yield[e.Service] {
			kept.Entries = append(kept.Entries, e)
		}
	}
	return kept, problems
}

// placeRules returns the moves that put the cluster's NAT rules where t
// says, given the rule order after this plan's creates (appended at the
// bottom, as PAN-OS does) and deletes. A rule already in place is not
// moved, so rules keep their place across syncs.
func placeRules(t Target, n Names, desired Desired, rules []Held, want map[string]bool, blocked map[string]bool) ([]Op, []Problem) {
	type rule struct {
		name    string
		ours    bool
		kubedag bool
	}
	var order []rule
	present := map[string]bool{}
	for _, h := range rules {
		ours := owned(n, KindNATRule, h)
		if ours && !want[h.Name] {
			continue // deleted by this plan
		}
		present[h.Name] = true
		order = append(order, rule{name: h.Name, ours: ours && want[h.Name], kubedag: kubedagRule(h)})
	}
	for _, e := range desired.Entries {
		if e.Kind == KindNATRule && !present[e.Name] && !(e.Service != "" && blocked[e.Service]) {
			order = append(order, rule{name: e.Name, ours: true, kubedag: true})
		}
	}
	where := t.Placement.Where
	anchor := -1
	if where == PlaceBefore || where == PlaceAfter {
		anchor = slices.IndexFunc(order, func(r rule) bool { return r.name == t.Placement.Rule })
		if anchor < 0 {
			return nil, []Problem{{Target: t.Name, Reason: ReasonRuleNotFound,
				Message: fmt.Sprintf("NAT rule %s (ruleLocation %s %s) does not exist; kubedag's rules stay where they are", t.Placement.Rule, where, t.Placement.Rule)}}
		}
	}
	var misplaced []string
	for i, r := range order {
		if !r.ours {
			continue
		}
		bad := false
		switch where {
		case PlaceTop:
			bad = slices.ContainsFunc(order[:i], func(o rule) bool { return !o.kubedag })
		case PlaceBottom:
			bad = slices.ContainsFunc(order[i+1:], func(o rule) bool { return !o.kubedag })
		case PlaceBefore:
			bad = i > anchor
		case PlaceAfter:
			bad = i < anchor
		}
		if bad {
			misplaced = append(misplaced, r.name)
		}
	}
	// Moving to top or after the anchor inserts at one spot: go in
	// reverse so the rules keep their relative order.
	if where == PlaceTop || where == PlaceAfter {
		slices.Reverse(misplaced)
	}
	ops := make([]Op, 0, len(misplaced))
	for _, name := range misplaced {
		o := Op{Action: ActionMove, Kind: KindNATRule, Name: name, XPath: t.XPath(KindNATRule, name), Where: where}
		if anchor >= 0 {
			o.Dst = t.Placement.Rule
		}
		for _, e := range desired.Entries {
			if e.Kind == KindNATRule && e.Name == name {
				o.Service = e.Service
			}
		}
		ops = append(ops, o)
	}
	return ops, nil
}
