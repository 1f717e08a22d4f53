package tags

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"text/template"
)

// Reason says why a label or object was not tagged as written.
type Reason string

const (
	// ReasonInvalidChars: characters PAN-OS may refuse were replaced by
	// '_' in the tag (Problem.Tag is the tag as registered).
	ReasonInvalidChars Reason = "invalid-chars"
	// ReasonTruncated: the tag was longer than MaxTagLen and was cut and
	// hashed (Problem.Tag is the tag as registered).
	ReasonTruncated Reason = "truncated"
	// ReasonOverLimit: the tag was dropped because the IP already had
	// MaxTags tags of higher priority (Problem.Tag is the dropped tag).
	ReasonOverLimit Reason = "over-limit"
	// ReasonDenied: the label was filtered out by LabelAllow/LabelDeny.
	ReasonDenied Reason = "denied"
	// ReasonKindExcluded: the object's kind is not in Config.Kinds; it got
	// no tags at all.
	ReasonKindExcluded Reason = "kind-excluded"
	// ReasonUnsupportedOwner: the pod's owner kind has no tag format (the
	// k8s preset tags ReplicaSet, DaemonSet and StatefulSet owners).
	ReasonUnsupportedOwner Reason = "unsupported-owner"
	// ReasonTemplate: the custom template failed on this Identity; it got
	// no tags at all.
	ReasonTemplate Reason = "template-error"
)

// Problem reports a label or object that could not be tagged as written:
// repaired, dropped or refused. Deriver.Tags never drops anything without
// one; callers log or count them (by Reason).
type Problem struct {
	Reason    Reason
	Kind      Kind
	Namespace string
	Name      string
	// Label is the label key the problem is about, if any.
	Label string
	// Tag is the tag concerned: as registered (repairs) or as it would
	// have been (over-limit), if any.
	Tag string
	// Detail is a human-readable explanation.
	Detail string
}

// String formats p for logs.
func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s: %s", p.Kind, p.Namespace, p.Name, p.Reason)
	if p.Label != "" {
		fmt.Fprintf(&b, " label=%q", p.Label)
	}
	if p.Tag != "" {
		fmt.Fprintf(&b, " tag=%q", p.Tag)
	}
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	return b.String()
}

// Deriver turns Identities into tag Sets according to a Config. It is
// immutable and safe for concurrent use.
type Deriver struct {
	cfg        Config
	prefixDot  string // Prefix + "."
	clusterDot string // Cluster + "."
	tmpl       *template.Template
	pods, svcs bool
	// nodeAll is the cluster node tag's suffix (after the prefix), by preset.
	nodeAll string
}

// NewDeriver validates cfg (filling in defaults) and returns a Deriver.
func NewDeriver(cfg Config) (*Deriver, error) {
	cfg.LabelAllow = slices.Clone(cfg.LabelAllow)
	cfg.LabelDeny = slices.Clone(cfg.LabelDeny)
	cfg.Kinds = slices.Clone(cfg.Kinds)
	cfg.NodeLabels = slices.Clone(cfg.NodeLabels)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Deriver{
		cfg:        cfg,
		prefixDot:  cfg.Prefix + ".",
		clusterDot: cfg.Cluster + ".",
		pods:       slices.Contains(cfg.Kinds, KindPod),
		svcs:       slices.Contains(cfg.Kinds, KindService),
		nodeAll:    "nodes",
	}
	if cfg.Preset == PresetAKS {
		// aks.<cluster>.nodes would be the tag of a Service named
		// "nodes"; no Service name contains '_'.
		d.nodeAll = "cluster_nodes"
	}
	if cfg.Preset == PresetCustom {
		t, err := parseTemplate(cfg.Template)
		if err != nil {
			return nil, fmt.Errorf("tags: Template: %w", err)
		}
		// Catch templates that fail on every Identity (bad field names,
		// wrong function arguments) at start, not on the first pod.
		sample := TemplateData{Identity: Identity{
			Kind: KindPod, Namespace: "default", Name: "sample", Labels: map[string]string{"app": "sample"},
			OwnerKind: "ReplicaSet", OwnerName: "sample-1", Services: []string{"sample"},
		}, Cluster: cfg.Cluster, Prefix: cfg.Prefix}
		if err := t.Execute(&bytes.Buffer{}, sample); err != nil {
			return nil, fmt.Errorf("tags: Template: fails on a sample pod: %w", err)
		}
		d.tmpl = t
	}
	return d, nil
}

// Config returns the validated configuration, defaults filled in.
func (d *Deriver) Config() Config {
	c := d.cfg
	c.LabelAllow = slices.Clone(c.LabelAllow)
	c.LabelDeny = slices.Clone(c.LabelDeny)
	c.Kinds = slices.Clone(c.Kinds)
	c.NodeLabels = slices.Clone(c.NodeLabels)
	return c
}

// Prefix returns the ownership prefix: every tag of this Deriver, except
// the aks preset's aks_<selector>.<cluster>.<service> tags, starts with
// Prefix() + ".". Use Owns to decide ownership.
func (d *Deriver) Prefix() string { return d.cfg.Prefix }

// Owns reports whether tag has the shape of this cluster's tags, i.e.
// whether this cluster's kubedag may unregister it. It never matches
// another cluster's tags: cluster names contain no '.', so
// "k8s.cl_prod." is not a prefix of any "k8s.cl_prod2..." tag.
func (d *Deriver) Owns(tag string) bool {
	if strings.HasPrefix(tag, d.prefixDot) {
		return len(tag) > len(d.prefixDot)
	}
	if d.cfg.Preset == PresetAKS && strings.HasPrefix(tag, "aks_") {
		// aks_<selector>.<cluster>.<service>; the selector segment never
		// contains '.' (see selectorSegment).
		i := strings.IndexByte(tag, '.')
		if i < 0 {
			return false
		}
		rest := tag[i+1:]
		return strings.HasPrefix(rest, d.clusterDot) && len(rest) > len(d.clusterDot)
	}
	return false
}

// Tags derives the tag set of an IP owned by id, and the problems met on
// the way (nil if none). Every tag is Valid and owned (Owns), there are at
// most Config.MaxTags of them, and the same Identity always gives the same
// Set. See the package documentation for the formats and priorities.
func (d *Deriver) Tags(id Identity) (Set, []Problem) {
	b := builderPool.Get().(*builder)
	defer b.release()
	return d.derive(b, &id), b.takeProblems()
}

// NodeTags derives the tag set of one address of a Node: id is the Node
// (Kind KindNode, Name, UID, Labels); external says the address is one of
// its ExternalIPs rather than an InternalIP. Without Config.Nodes (or,
// for an external address, Config.NodeExternalIPs) the address gets no
// tags and a ReasonKindExcluded Problem.
func (d *Deriver) NodeTags(id Identity, external bool) (Set, []Problem) {
	b := builderPool.Get().(*builder)
	defer b.release()
	b.external = external
	return d.derive(b, &id), b.takeProblems()
}

// derive runs the preset on b, leaving the candidates (priority order) and
// problems in it.
func (d *Deriver) derive(b *builder, id *Identity) Set {
	b.kind, b.ns, b.name = id.Kind, id.Namespace, id.Name
	if id.Kind == KindNode {
		switch {
		case !d.cfg.Nodes:
			b.problem(Problem{Reason: ReasonKindExcluded, Detail: "node tags are off (Nodes)"})
			return Set{}
		case b.external && !d.cfg.NodeExternalIPs:
			b.problem(Problem{Reason: ReasonKindExcluded, Detail: "external node addresses are not tagged (NodeExternalIPs)"})
			return Set{}
		}
		d.node(b, id)
		return b.finish(d.cfg.MaxTags)
	}
	if !d.kindOn(id.Kind) {
		b.problem(Problem{Reason: ReasonKindExcluded, Detail: fmt.Sprintf("kind %q is not in Kinds %v", id.Kind, d.cfg.Kinds)})
		return Set{}
	}
	switch d.cfg.Preset {
	case PresetAKS:
		d.aks(b, id)
	case PresetCustom:
		d.custom(b, id)
	default:
		d.k8s(b, id)
	}
	return b.finish(d.cfg.MaxTags)
}

func (d *Deriver) kindOn(k Kind) bool {
	switch k {
	case KindPod:
		return d.pods
	case KindService:
		return d.svcs
	}
	return false
}

// labelAllowed applies LabelAllow and LabelDeny to key.
func (d *Deriver) labelAllowed(key string) (bool, string) {
	if len(d.cfg.LabelAllow) > 0 {
		ok := false
		for _, p := range d.cfg.LabelAllow {
			if globMatch(p, key) {
				ok = true
				break
			}
		}
		if !ok {
			return false, "matches no LabelAllow pattern"
		}
	}
	for _, p := range d.cfg.LabelDeny {
		if globMatch(p, key) {
			return false, "matches LabelDeny pattern " + p
		}
	}
	return true, ""
}

// sortedLabels returns the allowed label keys of labels, sorted, reporting
// the others. The slice is the builder's scratch space.
func (d *Deriver) sortedLabels(b *builder, labels map[string]string) []string {
	keys := b.keys[:0]
	for k := range labels {
		if ok, why := d.labelAllowed(k); !ok {
			b.problem(Problem{Reason: ReasonDenied, Label: k, Detail: why})
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.keys = keys
	return keys
}

var ownerTag = map[string]string{
	"ReplicaSet":  "rs_",
	"DaemonSet":   "ds_",
	"StatefulSet": "ss_",
}

// k8s emits the Kubernetes-plugin formats, in priority order.
func (d *Deriver) k8s(b *builder, id *Identity) {
	p := d.prefixDot
	if !d.cfg.NoNamespaceTags {
		b.add(from{SourceNamespace, id.Namespace}, p, "ns_", id.Namespace)
	}
	if id.Kind == KindPod && id.Network != "" {
		nns, name := networkParts(id)
		b.add(from{SourceNetwork, id.Network}, p, "net_", nns, ".", name)
	}
	if id.Kind == KindPod && !d.cfg.NoOwnerTags && id.OwnerKind != "" {
		if t, ok := ownerTag[id.OwnerKind]; ok {
			b.add(from{SourceOwner, id.OwnerName}, p, "ns_", id.Namespace, ".", t, id.OwnerName)
		} else {
			b.problem(Problem{Reason: ReasonUnsupportedOwner, Detail: fmt.Sprintf("owner %s %q has no tag format", id.OwnerKind, id.OwnerName)})
		}
	}
	if !d.cfg.NoServiceTags {
		if id.Kind == KindService {
			b.add(from{SourceService, id.Name}, p, "ns_", id.Namespace, ".svc_", id.Name)
		}
		for _, s := range sortedCopy(b, id.Services) {
			b.add(from{SourceService, s}, p, "ns_", id.Namespace, ".svc_", s)
		}
	}
	if !d.cfg.NoLabelTags {
		for _, k := range d.sortedLabels(b, id.Labels) {
			if v := id.Labels[k]; v != "" {
				b.add(from{SourceLabel, k}, p, "ns_", id.Namespace, ".", k, ".", v)
			} else {
				b.add(from{SourceLabel, k}, p, "ns_", id.Namespace, ".", k)
			}
		}
	}
}

// node emits the node formats, the same in every preset but for the
// cluster node tag's name: the cluster (or external) node tag, then the
// allowed node labels by key. Priority order.
func (d *Deriver) node(b *builder, id *Identity) {
	p := d.prefixDot
	if b.external {
		b.add(from{SourceNode, id.Name}, p, d.nodeAll, ".external")
	} else {
		b.add(from{SourceNode, id.Name}, p, d.nodeAll)
	}
	keys := b.keys[:0]
	for k := range id.Labels {
		if !slices.ContainsFunc(d.cfg.NodeLabels, func(g string) bool { return globMatch(g, k) }) {
			b.problem(Problem{Reason: ReasonDenied, Label: k, Detail: "matches no NodeLabels pattern"})
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.keys = keys
	for _, k := range keys {
		if v := id.Labels[k]; v != "" {
			b.add(from{SourceLabel, k}, p, "node.", k, ".", v)
		} else {
			b.add(from{SourceLabel, k}, p, "node.", k)
		}
	}
}

// networkParts splits a Multus network name into the attachment's
// namespace (the pod's, if the name has none) and name.
func networkParts(id *Identity) (ns, name string) {
	if ns, name, ok := strings.Cut(id.Network, "/"); ok {
		return ns, name
	}
	return id.Namespace, id.Network
}

// aks emits the Azure plugin's AKS formats, in priority order.
func (d *Deriver) aks(b *builder, id *Identity) {
	p := d.prefixDot
	if id.Kind == KindPod && id.Network != "" {
		// aks.<cluster>.<service> cannot collide: no Service name has '_'.
		nns, name := networkParts(id)
		b.add(from{SourceNetwork, id.Network}, p, "net_", nns, ".", name)
	}
	if !d.cfg.NoServiceTags {
		if id.Kind == KindService {
			b.add(from{SourceService, id.Name}, p, id.Name)
			if len(id.Selector) > 0 {
				b.add(from{SourceSelector, id.Name}, "aks_", selectorSegment(id.Selector), ".", d.clusterDot, id.Name)
			}
		}
		for _, s := range sortedCopy(b, id.Services) {
			b.add(from{SourceService, s}, p, s)
		}
	}
	if !d.cfg.NoLabelTags {
		kind := "svc."
		if id.Kind == KindPod {
			kind = "pod."
		}
		for _, k := range d.sortedLabels(b, id.Labels) {
			if v := id.Labels[k]; v != "" {
				b.add(from{SourceLabel, k}, p, kind, k, ".", v)
			} else {
				b.add(from{SourceLabel, k}, p, kind, k)
			}
		}
	}
}

// selectorSegment renders a label selector as one dot-free tag segment:
// "key_value" pairs sorted by key, joined by "_", every character outside
// [A-Za-z0-9_-] replaced by '_', cut and hashed beyond 48 characters.
func selectorSegment(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var raw []byte
	for i, k := range keys {
		if i > 0 {
			raw = append(raw, '_')
		}
		raw = append(raw, k...)
		raw = append(raw, '_')
		raw = append(raw, sel[k]...)
	}
	// Hash the raw form so selectors differing only in replaced characters
	// still differ when cut.
	full := string(raw)
	b, _ := sanitizeInPlace(raw)
	for i, c := range b {
		if c == '.' {
			b[i] = replacement
		}
	}
	if len(b) <= maxSelectorLen {
		return string(b)
	}
	return shorten(string(b), maxSelectorLen, full)
}

// custom runs the template; each printed line is one tag suffix.
func (d *Deriver) custom(b *builder, id *Identity) {
	data := TemplateData{Identity: *id, Cluster: d.cfg.Cluster, Prefix: d.cfg.Prefix}
	if len(id.Labels) > 0 && (len(d.cfg.LabelAllow) > 0 || len(d.cfg.LabelDeny) > 0) {
		keys := d.sortedLabels(b, id.Labels)
		m := make(map[string]string, len(keys))
		for _, k := range keys {
			m[k] = id.Labels[k]
		}
		data.Labels = m
	}
	b.out.Reset()
	if err := d.tmpl.Execute(&b.out, data); err != nil {
		b.problem(Problem{Reason: ReasonTemplate, Detail: err.Error()})
		b.reset()
		return
	}
	out := b.out.Bytes()
	for len(out) > 0 {
		line := out
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			line, out = out[:i], out[i+1:]
		} else {
			out = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		b.addBytes(d.prefixDot, line)
	}
}

// sortedCopy returns s sorted, copying it only if it is not sorted already.
func sortedCopy(b *builder, s []string) []string {
	if slices.IsSorted(s) {
		return s
	}
	c := append(b.svcs[:0], s...)
	slices.Sort(c)
	b.svcs = c
	return c
}

// builder collects candidate tags in priority order in one byte arena and
// turns them into a Set. Builders are pooled; a Deriver uses one per call.
type builder struct {
	kind     Kind // of the Identity, for Problems
	ns, name string
	external bool // a Node's external address (NodeTags)
	buf      []byte
	cands    []cand
	order    []int
	keys     []string
	svcs     []string
	out      bytes.Buffer
	problems []Problem
}

type cand struct {
	start, end int
	from       from // what the tag was made from
}

// from is what a candidate tag was derived from: its Source and the object
// (namespace, owner, service or label key) it names. Kept per candidate,
// without allocating, so that Explain can say why each tag is there.
type from struct {
	src Source
	obj string
}

// label is the label key the tag was made from, if any.
func (f from) label() string {
	if f.src == SourceLabel {
		return f.obj
	}
	return ""
}

var builderPool = sync.Pool{New: func() any {
	return &builder{buf: make([]byte, 0, 1024), cands: make([]cand, 0, 48), order: make([]int, 0, 48)}
}}

func (b *builder) reset() {
	b.buf = b.buf[:0]
	b.cands = b.cands[:0]
}

func (b *builder) release() {
	b.reset()
	b.kind, b.ns, b.name = "", "", ""
	b.external = false
	b.problems = b.problems[:0]
	clear(b.keys[:cap(b.keys)])
	b.keys = b.keys[:0]
	clear(b.svcs[:cap(b.svcs)])
	b.svcs = b.svcs[:0]
	if b.out.Cap() > 64<<10 {
		b.out = bytes.Buffer{}
	}
	if cap(b.buf) > 64<<10 {
		b.buf = make([]byte, 0, 1024)
	}
	builderPool.Put(b)
}

func (b *builder) problem(p Problem) {
	p.Kind, p.Namespace, p.Name = b.kind, b.ns, b.name
	b.problems = append(b.problems, p)
}

func (b *builder) takeProblems() []Problem {
	if len(b.problems) == 0 {
		return nil
	}
	return slices.Clone(b.problems)
}

// add appends one candidate tag, the concatenation of parts, sanitised.
func (b *builder) add(f from, parts ...string) {
	start := len(b.buf)
	for _, s := range parts {
		b.buf = append(b.buf, s...)
	}
	b.end(f, start)
}

func (b *builder) addBytes(prefix string, suffix []byte) {
	start := len(b.buf)
	b.buf = append(b.buf, prefix...)
	b.buf = append(b.buf, suffix...)
	b.end(from{src: SourceTemplate}, start)
}

func (b *builder) end(f from, start int) {
	label := f.label()
	t, rep := sanitizeInPlace(b.buf[start:])
	b.buf = b.buf[:start+len(t)]
	if rep != 0 {
		tag := string(t)
		if rep&repairedChars != 0 {
			b.problem(Problem{Reason: ReasonInvalidChars, Label: label, Tag: tag, Detail: "characters outside [A-Za-z0-9._-] replaced by '_'"})
		}
		if rep&repairedLength != 0 {
			b.problem(Problem{Reason: ReasonTruncated, Label: label, Tag: tag, Detail: fmt.Sprintf("longer than %d characters: cut and hashed", MaxTagLen)})
		}
	}
	b.cands = append(b.cands, cand{start: start, end: len(b.buf), from: f})
}

func (b *builder) tag(i int) []byte {
	c := b.cands[i]
	return b.buf[c.start:c.end]
}

// finish removes duplicates (keeping the higher-priority copy), keeps the
// limit highest-priority tags, reports the rest, and builds the Set.
func (b *builder) finish(limit int) Set {
	if len(b.cands) == 0 {
		return Set{}
	}
	order := b.order[:0]
	for i := range b.cands {
		order = append(order, i)
	}
	byTag := func(x, y int) int {
		if c := bytes.Compare(b.tag(x), b.tag(y)); c != 0 {
			return c
		}
		return x - y
	}
	slices.SortFunc(order, byTag)
	kept := order[:0]
	for i, o := range order {
		if i > 0 && bytes.Equal(b.tag(o), b.tag(kept[len(kept)-1])) {
			continue // a lower-priority duplicate
		}
		kept = append(kept, o)
	}
	if len(kept) > limit {
		slices.Sort(kept) // priority order
		for _, o := range kept[limit:] {
			b.problem(Problem{Reason: ReasonOverLimit, Label: b.cands[o].from.label(), Tag: string(b.tag(o)),
				Detail: fmt.Sprintf("more than %d tags on one IP; lower priority than the tags kept", limit)})
		}
		kept = kept[:limit]
		slices.SortFunc(kept, byTag)
	}
	b.order = order

	n := len(kept) - 1
	for _, o := range kept {
		n += len(b.tag(o))
	}
	var sb strings.Builder
	sb.Grow(n)
	for i, o := range kept {
		if i > 0 {
			sb.WriteByte(0)
		}
		sb.Write(b.tag(o))
	}
	key := sb.String()
	tags := make([]string, len(kept))
	off := 0
	for i, o := range kept {
		l := len(b.tag(o))
		tags[i] = key[off : off+l]
		off += l + 1
	}
	return Set{d: &setData{key: key, tags: tags, hash: maphash.String(hashSeed, key)}}
}
