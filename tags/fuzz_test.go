package tags

import (
	"strings"
	"testing"
)

// FuzzTags derives tags for arbitrary identities under every preset and
// checks the Deriver's promises: every tag Valid and owned by this cluster
// and by no cluster whose name extends this one's, at most MaxTags tags,
// deterministic, and every label either tagged or reported.
func FuzzTags(f *testing.F) {
	f.Add(uint8(0), "default", "web-1", "ReplicaSet", "web", "web", "app", "web", "tier", "frontend")
	f.Add(uint8(1), "kube-system", "svc", "", "", "dns", "k8s-app", "kube-dns", "", "")
	f.Add(uint8(2), "ns", "p", "StatefulSet", "db", "", "app.kubernetes.io/name", "x y\"z", "ünï", strings.Repeat("v", 200))
	f.Add(uint8(3), strings.Repeat("n", 63), "p", "DaemonSet", strings.Repeat("d", 120), "s", "k", "", "k2", "\xff")
	f.Fuzz(func(t *testing.T, mode uint8, ns, name, ownerKind, ownerName, svc, k1, v1, k2, v2 string) {
		cfgs := []Config{
			{Cluster: "prod"},
			{Preset: PresetAKS, Cluster: "prod", Kinds: []Kind{KindPod, KindService}},
			{Preset: PresetCustom, Cluster: "prod", Template: "{{.Namespace}}.{{.Name}}\n{{range $k, $v := .Labels}}{{$k}}.{{$v}}\n{{end}}"},
			{Cluster: "prod", MaxTags: 2},
		}
		others := []Config{
			{Cluster: "prod2"},
			{Preset: PresetAKS, Cluster: "prod2"},
			{Preset: PresetCustom, Cluster: "prod2", Template: "x"},
			{Cluster: "prod_x"},
		}
		i := int(mode) % len(cfgs)
		d := mustDeriver(t, cfgs[i])
		other := mustDeriver(t, others[i])
		kind := KindPod
		if mode&0x10 != 0 {
			kind = KindService
		}
		id := Identity{
			Kind: kind, Namespace: ns, Name: name, OwnerKind: ownerKind, OwnerName: ownerName,
			Labels:   map[string]string{k1: v1, k2: v2},
			Selector: map[string]string{k1: v1},
		}
		if svc != "" {
			id.Services = []string{svc}
		}
		s, probs := d.Tags(id)
		if s.Len() > d.Config().MaxTags {
			t.Fatalf("%d tags > MaxTags %d", s.Len(), d.Config().MaxTags)
		}
		for _, tag := range s.Slice() {
			if !Valid(tag) {
				t.Fatalf("invalid tag %q", tag)
			}
			if !d.Owns(tag) {
				t.Fatalf("tag %q not owned by its deriver (prefix %q)", tag, d.Prefix())
			}
			if other.Owns(tag) {
				t.Fatalf("tag %q owned by the other cluster %q", tag, other.Prefix())
			}
		}
		again, probs2 := d.Tags(id)
		if !again.Equal(s) || again.Key() != s.Key() || len(probs2) != len(probs) {
			t.Fatalf("not deterministic: %v then %v", s, again)
		}
		// The k8s preset tags every label or reports it.
		if i == 0 {
			for k, v := range id.Labels {
				want := Sanitize(d.Prefix() + ".ns_" + ns + "." + k + "." + v)
				if v == "" {
					want = Sanitize(d.Prefix() + ".ns_" + ns + "." + k)
				}
				if s.Has(want) {
					continue
				}
				reported := false
				for _, p := range probs {
					if p.Label == k && p.Reason == ReasonOverLimit {
						reported = true
					}
				}
				if !reported {
					t.Fatalf("label %q=%q: neither tag %q in %v nor reported in %v", k, v, want, s, probs)
				}
			}
		}
	})
}
