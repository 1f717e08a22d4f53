package tags

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func mustDeriver(t testing.TB, cfg Config) *Deriver {
	t.Helper()
	d, err := NewDeriver(cfg)
	if err != nil {
		t.Fatalf("NewDeriver(%+v): %v", cfg, err)
	}
	return d
}

func reasons(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		s := string(p.Reason)
		if p.Label != "" {
			s += ":" + p.Label
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

var (
	webPod = Identity{
		Kind: KindPod, Namespace: "shop", Name: "web-6d4b-x1", UID: "u1",
		Labels:    map[string]string{"app": "web", "tier": "frontend"},
		OwnerKind: "ReplicaSet", OwnerName: "web-6d4b",
		Services: []string{"web", "web-internal"},
	}
	webSvc = Identity{
		Kind: KindService, Namespace: "shop", Name: "web", UID: "s1",
		Labels:   map[string]string{"app": "web"},
		Selector: map[string]string{"app": "web"},
	}
)

func TestTags(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		id       Identity
		want     []string
		problems []string
	}{
		{
			name: "k8s pod of a ReplicaSet behind two services",
			cfg:  Config{Cluster: "prod"},
			id:   webPod,
			want: []string{
				"k8s.cl_prod.ns_shop",
				"k8s.cl_prod.ns_shop.app.web",
				"k8s.cl_prod.ns_shop.rs_web-6d4b",
				"k8s.cl_prod.ns_shop.svc_web",
				"k8s.cl_prod.ns_shop.svc_web-internal",
				"k8s.cl_prod.ns_shop.tier.frontend",
			},
		},
		{
			name: "k8s DaemonSet and StatefulSet owners",
			cfg:  Config{Cluster: "prod", NoLabelTags: true},
			id:   Identity{Kind: KindPod, Namespace: "kube-system", Name: "p", OwnerKind: "DaemonSet", OwnerName: "cilium"},
			want: []string{"k8s.cl_prod.ns_kube-system", "k8s.cl_prod.ns_kube-system.ds_cilium"},
		},
		{
			name: "k8s StatefulSet owner",
			cfg:  Config{Cluster: "prod", NoLabelTags: true},
			id:   Identity{Kind: KindPod, Namespace: "db", Name: "pg-0", OwnerKind: "StatefulSet", OwnerName: "pg"},
			want: []string{"k8s.cl_prod.ns_db", "k8s.cl_prod.ns_db.ss_pg"},
		},
		{
			name:     "k8s Job owner has no format and is reported",
			cfg:      Config{Cluster: "prod", NoLabelTags: true},
			id:       Identity{Kind: KindPod, Namespace: "batch", Name: "j-x", OwnerKind: "Job", OwnerName: "j"},
			want:     []string{"k8s.cl_prod.ns_batch"},
			problems: []string{"unsupported-owner"},
		},
		{
			name: "k8s service: namespace, svc and label tags on its own IP",
			cfg:  Config{Cluster: "prod"},
			id:   webSvc,
			want: []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.svc_web"},
		},
		{
			name: "k8s options off",
			cfg:  Config{Cluster: "prod", NoNamespaceTags: true, NoOwnerTags: true, NoServiceTags: true},
			id:   webPod,
			want: []string{"k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.tier.frontend"},
		},
		{
			name: "k8s only labels off",
			cfg:  Config{Cluster: "prod", NoLabelTags: true, NoServiceTags: true},
			id:   webPod,
			want: []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.rs_web-6d4b"},
		},
		{
			name: "k8s explicit prefix",
			cfg:  Config{Cluster: "prod", Prefix: "corp.k8s", NoLabelTags: true, NoServiceTags: true},
			id:   webPod,
			want: []string{"corp.k8s.ns_shop", "corp.k8s.ns_shop.rs_web-6d4b"},
		},
		{
			name:     "k8s label allow list",
			cfg:      Config{Cluster: "prod", LabelAllow: []string{"ap*"}, NoServiceTags: true, NoOwnerTags: true},
			id:       webPod,
			want:     []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web"},
			problems: []string{"denied:tier"},
		},
		{
			name:     "k8s label deny list wins over allow",
			cfg:      Config{Cluster: "prod", LabelAllow: []string{"*"}, LabelDeny: []string{"t?er"}, NoServiceTags: true, NoOwnerTags: true},
			id:       webPod,
			want:     []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web"},
			problems: []string{"denied:tier"},
		},
		{
			name: "k8s deny glob matches across slash",
			cfg:  Config{Cluster: "prod", LabelDeny: []string{"*.kubernetes.io/*", "pod-template-hash"}, NoServiceTags: true, NoOwnerTags: true, NoNamespaceTags: true},
			id: Identity{Kind: KindPod, Namespace: "a", Name: "p", Labels: map[string]string{
				"app.kubernetes.io/name": "x", "pod-template-hash": "abc", "team": "red",
			}},
			want:     []string{"k8s.cl_prod.ns_a.team.red"},
			problems: []string{"denied:app.kubernetes.io/name", "denied:pod-template-hash"},
		},
		{
			name: "k8s label with slash is repaired and reported",
			cfg:  Config{Cluster: "prod", NoNamespaceTags: true},
			id:   Identity{Kind: KindPod, Namespace: "a", Name: "p", Labels: map[string]string{"app.kubernetes.io/name": "x"}},
			want: []string{"k8s.cl_prod.ns_a.app.kubernetes.io_name.x"},
			problems: []string{
				"invalid-chars:app.kubernetes.io/name",
			},
		},
		{
			name: "k8s label with empty value",
			cfg:  Config{Cluster: "prod", NoNamespaceTags: true},
			id:   Identity{Kind: KindPod, Namespace: "a", Name: "p", Labels: map[string]string{"canary": ""}},
			want: []string{"k8s.cl_prod.ns_a.canary"},
		},
		{
			name:     "k8s services excluded by kind",
			cfg:      Config{Cluster: "prod", Kinds: []Kind{KindPod}},
			id:       webSvc,
			want:     nil,
			problems: []string{"kind-excluded"},
		},
		{
			name: "k8s duplicate services collapse",
			cfg:  Config{Cluster: "prod", NoLabelTags: true, NoOwnerTags: true, NoNamespaceTags: true},
			id:   Identity{Kind: KindPod, Namespace: "a", Name: "p", Services: []string{"b", "a", "b"}},
			want: []string{"k8s.cl_prod.ns_a.svc_a", "k8s.cl_prod.ns_a.svc_b"},
		},
		{
			name: "aks service: name, selector and labels",
			cfg:  Config{Preset: PresetAKS, Cluster: "east"},
			id:   webSvc,
			want: []string{"aks.east.svc.app.web", "aks.east.web", "aks_app_web.east.web"},
		},
		{
			name: "aks selector with dots is dot-free",
			cfg:  Config{Preset: PresetAKS, Cluster: "east", NoLabelTags: true},
			id: Identity{Kind: KindService, Namespace: "a", Name: "api",
				Selector: map[string]string{"app.kubernetes.io/name": "api", "tier": "be"}},
			want: []string{"aks.east.api", "aks_app_kubernetes_io_name_api_tier_be.east.api"},
		},
		{
			name:     "aks pods excluded by default",
			cfg:      Config{Preset: PresetAKS, Cluster: "east"},
			id:       webPod,
			problems: []string{"kind-excluded"},
		},
		{
			name: "aks pods opted in",
			cfg:  Config{Preset: PresetAKS, Cluster: "east", Kinds: []Kind{KindPod}},
			id:   webPod,
			want: []string{"aks.east.pod.app.web", "aks.east.pod.tier.frontend", "aks.east.web", "aks.east.web-internal"},
		},
		{
			name: "custom template",
			cfg: Config{Preset: PresetCustom, Cluster: "c1", Template: `
ns.{{.Namespace}}
{{if .OwnerName}}wl.{{.OwnerName}}{{end}}
{{range $k, $v := .Labels}}l.{{$k}}={{$v}}
{{end}}`},
			id: webPod,
			want: []string{
				"kubedag.cl_c1.l.app_web",
				"kubedag.cl_c1.l.tier_frontend",
				"kubedag.cl_c1.ns.shop",
				"kubedag.cl_c1.wl.web-6d4b",
			},
			problems: []string{"invalid-chars", "invalid-chars"},
		},
		{
			name: "custom template sees filtered labels",
			cfg: Config{Preset: PresetCustom, Cluster: "c1", Prefix: "kd.c1", LabelDeny: []string{"tier"},
				Template: `{{range sortedKeys .Labels}}{{.}}
{{end}}`},
			id:       webPod,
			want:     []string{"kd.c1.app"},
			problems: []string{"denied:tier"},
		},
		{
			name:     "custom template runtime error",
			cfg:      Config{Preset: PresetCustom, Cluster: "c1", Template: `{{if eq .Name "bad"}}{{index .Services 5}}{{end}}x`},
			id:       Identity{Kind: KindPod, Namespace: "a", Name: "bad"},
			problems: []string{"template-error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDeriver(t, tt.cfg)
			got, probs := d.Tags(tt.id)
			if !slices.Equal(got.Slice(), tt.want) {
				t.Errorf("tags:\n got  %q\n want %q", got.Slice(), tt.want)
			}
			if g := reasons(probs); !slices.Equal(g, tt.problems) {
				t.Errorf("problems: got %q, want %q (%v)", g, tt.problems, probs)
			}
			for _, tag := range got.Slice() {
				if !Valid(tag) || !d.Owns(tag) {
					t.Errorf("tag %q: Valid=%v Owns=%v", tag, Valid(tag), d.Owns(tag))
				}
			}
			for _, p := range probs {
				if p.Kind != tt.id.Kind || p.Namespace != tt.id.Namespace || p.Name != tt.id.Name {
					t.Errorf("problem %v does not name the object", p)
				}
			}
		})
	}
}

func TestTagsPriorityAndLimit(t *testing.T) {
	labels := map[string]string{}
	for i := range 40 {
		labels[fmt.Sprintf("l%02d", i)] = "v"
	}
	id := Identity{Kind: KindPod, Namespace: "ns", Name: "p", Labels: labels,
		OwnerKind: "ReplicaSet", OwnerName: "rs", Services: []string{"s1", "s2"}}

	for _, max := range []int{0, 32, 5, 1} {
		t.Run(fmt.Sprint("max=", max), func(t *testing.T) {
			d := mustDeriver(t, Config{Cluster: "c", MaxTags: max})
			limit := d.Config().MaxTags
			got, probs := d.Tags(id)
			if got.Len() != limit {
				t.Fatalf("got %d tags, want %d", got.Len(), limit)
			}
			// Priority: namespace, owner, services (sorted), labels (sorted by key).
			all := []string{"k8s.cl_c.ns_ns", "k8s.cl_c.ns_ns.rs_rs", "k8s.cl_c.ns_ns.svc_s1", "k8s.cl_c.ns_ns.svc_s2"}
			for i := range 40 {
				all = append(all, fmt.Sprintf("k8s.cl_c.ns_ns.l%02d.v", i))
			}
			want := slices.Clone(all[:limit])
			slices.Sort(want)
			if !slices.Equal(got.Slice(), want) {
				t.Fatalf("kept:\n got  %q\n want %q", got.Slice(), want)
			}
			var dropped []string
			for _, p := range probs {
				if p.Reason != ReasonOverLimit {
					t.Fatalf("unexpected problem %v", p)
				}
				dropped = append(dropped, p.Tag)
			}
			if !slices.Equal(dropped, all[limit:]) {
				t.Fatalf("dropped (in priority order):\n got  %q\n want %q", dropped, all[limit:])
			}
		})
	}
}

func TestTagsDeterministic(t *testing.T) {
	d := mustDeriver(t, Config{Cluster: "prod"})
	first, p1 := d.Tags(webPod)
	for range 50 { // map iteration order varies between calls
		again, p2 := d.Tags(webPod)
		if !again.Equal(first) || again.Key() != first.Key() || len(p1) != len(p2) {
			t.Fatalf("Tags not deterministic: %v vs %v", again, first)
		}
	}
}

func TestTruncatedTagsDoNotCollide(t *testing.T) {
	d := mustDeriver(t, Config{Cluster: "prod", NoNamespaceTags: true})
	long := strings.Repeat("v", 200)
	a, pa := d.Tags(Identity{Kind: KindPod, Namespace: "n", Name: "p", Labels: map[string]string{"k": long + "a"}})
	b, _ := d.Tags(Identity{Kind: KindPod, Namespace: "n", Name: "p", Labels: map[string]string{"k": long + "b"}})
	if a.Len() != 1 || b.Len() != 1 {
		t.Fatalf("want one tag each, got %v and %v", a, b)
	}
	ta, tb := a.Slice()[0], b.Slice()[0]
	if ta == tb {
		t.Fatalf("two long labels collide on %q", ta)
	}
	if len(ta) != MaxTagLen || !d.Owns(ta) || !Valid(ta) {
		t.Fatalf("truncated tag %q (len %d) invalid or not owned", ta, len(ta))
	}
	if g := reasons(pa); !slices.Equal(g, []string{"truncated:k"}) {
		t.Fatalf("problems = %q, want truncation reported", g)
	}
}

func TestOwns(t *testing.T) {
	prod := mustDeriver(t, Config{Cluster: "prod"})
	prod2 := mustDeriver(t, Config{Cluster: "prod2"})
	aksProd := mustDeriver(t, Config{Preset: PresetAKS, Cluster: "prod"})
	custom := mustDeriver(t, Config{Preset: PresetCustom, Cluster: "prod", Template: "x"})
	tests := []struct {
		d    *Deriver
		tag  string
		want bool
	}{
		{prod, "k8s.cl_prod.ns_a", true},
		{prod, "k8s.cl_prod.ns_a.app.web", true},
		{prod, "k8s.cl_prod2.ns_a", false},
		{prod, "k8s.cl_prod", false},
		{prod, "k8s.cl_prod.", false},
		{prod, "k8s.cl_pro.ns_a", false},
		{prod, "web", false},
		{prod, "aks.prod.web", false},
		{prod2, "k8s.cl_prod.ns_a", false},
		{prod2, "k8s.cl_prod2.ns_a", true},
		{aksProd, "aks.prod.web", true},
		{aksProd, "aks.prod2.web", false},
		{aksProd, "aks_app_web.prod.web", true},
		{aksProd, "aks_app_web.prod2.web", false},
		{aksProd, "aks_app_web.prod.", false},
		{aksProd, "aks_app_web", false},
		{aksProd, "k8s.cl_prod.ns_a", false},
		{custom, "kubedag.cl_prod.x", true},
		{custom, "kubedag.cl_prod2.x", false},
	}
	for _, tt := range tests {
		if got := tt.d.Owns(tt.tag); got != tt.want {
			t.Errorf("%s Owns(%q) = %v, want %v", tt.d.Prefix(), tt.tag, got, tt.want)
		}
	}
	// Every tag a cluster derives is owned by it and by no other.
	for _, id := range []Identity{webPod, webSvc} {
		s, _ := prod.Tags(id)
		for _, tag := range s.Slice() {
			if !prod.Owns(tag) || prod2.Owns(tag) {
				t.Errorf("tag %q: owned by prod=%v prod2=%v", tag, prod.Owns(tag), prod2.Owns(tag))
			}
		}
	}
}

func BenchmarkTags(b *testing.B) {
	pod := Identity{
		Kind: KindPod, Namespace: "shop", Name: "web-6d4b9c7f5-x1zq2", UID: "0c1f",
		Labels: map[string]string{
			"app": "web", "tier": "frontend", "pod-template-hash": "6d4b9c7f5", "version": "v1.4.2",
		},
		OwnerKind: "ReplicaSet", OwnerName: "web-6d4b9c7f5",
		Services: []string{"web"},
	}
	d := mustDeriver(b, Config{Cluster: "prod"})
	b.ReportAllocs()
	for b.Loop() {
		s, _ := d.Tags(pod)
		if s.Len() != 7 {
			b.Fatal(s)
		}
	}
}
