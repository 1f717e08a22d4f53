package tags

import "fmt"

// Source is what a tag is derived from.
type Source string

const (
	// SourceNamespace: the namespace tag (Why.Object is the namespace).
	SourceNamespace Source = "namespace"
	// SourceOwner: the pod's controller (Why.Object is its name; the
	// kind is the Identity's OwnerKind).
	SourceOwner Source = "owner"
	// SourceService: a Service: the service itself, or one whose
	// EndpointSlices list the pod (Why.Object is its name).
	SourceService Source = "service"
	// SourceSelector: the aks preset's aks_<selector> tag of a Service
	// (Why.Object is the service's name).
	SourceSelector Source = "selector"
	// SourceLabel: a label of the pod or service (Why.Object is its key).
	SourceLabel Source = "label"
	// SourceTemplate: a line of the custom template.
	SourceTemplate Source = "template"
	// SourceNetwork: the network tag of an IP of a pod's secondary
	// (Multus) interface (Why.Object is the attachment's name).
	SourceNetwork Source = "network"
	// SourceNode: the cluster node tag or the external node tag of a
	// Node's address (Why.Object is the node's name).
	SourceNode Source = "node"
)

// Why explains one tag the preset derived for an Identity.
type Why struct {
	Tag    string
	Source Source
	// Object names what the tag comes from (see Source).
	Object string
	// Value is the label's value, for SourceLabel.
	Value string
	// Kept is true if the tag is in the Set; otherwise Dropped says why
	// not: ReasonOverLimit, or "" for a lower-priority duplicate of a
	// kept tag (Duplicate).
	Kept      bool
	Duplicate bool
	Dropped   Reason
	// Repaired lists repairs made to the tag (ReasonInvalidChars,
	// ReasonTruncated).
	Repaired []Reason
}

// Explanation is Deriver.Explain's answer: the same Set and Problems as
// Tags, and every tag considered, in priority order, with its source.
type Explanation struct {
	Set      Set
	Problems []Problem
	// Tags are the candidate tags in priority order (the order the
	// MaxTags limit keeps them in), kept and dropped alike. Labels left
	// out by LabelAllow/LabelDeny never become candidates; they are in
	// Problems (ReasonDenied).
	Tags []Why
	// Preset and MaxTags are the Deriver's.
	Preset  string
	MaxTags int
}

// Explain derives id's tags like Tags and says where each comes from and
// why any was dropped or repaired. It is meant for `kubedag explain`, not
// the hot path: it allocates per tag.
func (d *Deriver) Explain(id Identity) Explanation {
	b := builderPool.Get().(*builder)
	defer b.release()
	set := d.derive(b, &id)
	ex := Explanation{Set: set, Problems: b.takeProblems(), Preset: d.cfg.Preset, MaxTags: d.cfg.MaxTags}
	seen := make(map[string]bool, len(b.cands))
	for i := range b.cands {
		c := b.cands[i]
		w := Why{Tag: string(b.tag(i)), Source: c.from.src, Object: c.from.obj}
		if w.Source == SourceLabel {
			w.Value = id.Labels[w.Object]
		}
		switch {
		case seen[w.Tag]:
			w.Duplicate = true
		case set.Has(w.Tag):
			w.Kept = true
		default:
			w.Dropped = ReasonOverLimit
		}
		seen[w.Tag] = true
		for _, p := range ex.Problems {
			if p.Tag == w.Tag && (p.Reason == ReasonInvalidChars || p.Reason == ReasonTruncated) && !w.Duplicate {
				w.Repaired = append(w.Repaired, p.Reason)
			}
		}
		ex.Tags = append(ex.Tags, w)
	}
	return ex
}

// Describe says where w comes from, for humans, e.g. `label app=web` or `owner
// ReplicaSet web-1` (ownerKind is the Identity's OwnerKind).
func (w Why) Describe(ownerKind string) string {
	switch w.Source {
	case SourceNamespace:
		return "namespace " + w.Object
	case SourceOwner:
		return fmt.Sprintf("owner %s %s", ownerKind, w.Object)
	case SourceService:
		return "service " + w.Object
	case SourceSelector:
		return "selector of service " + w.Object
	case SourceLabel:
		if w.Value == "" {
			return "label " + w.Object
		}
		return fmt.Sprintf("label %s=%s", w.Object, w.Value)
	case SourceTemplate:
		return "template"
	case SourceNode:
		return "node " + w.Object
	case SourceNetwork:
		return "network " + w.Object
	}
	return string(w.Source)
}
