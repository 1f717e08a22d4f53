package tags

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// whyLine renders a Why compactly for comparison.
func whyLine(w Why) string {
	s := fmt.Sprintf("%s %s:%s", w.Tag, w.Source, w.Object)
	if w.Value != "" {
		s += "=" + w.Value
	}
	switch {
	case w.Kept:
		s += " kept"
	case w.Duplicate:
		s += " duplicate"
	default:
		s += " dropped:" + string(w.Dropped)
	}
	for _, r := range w.Repaired {
		s += " repaired:" + string(r)
	}
	return s
}

func TestExplain(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		id       Identity
		want     []string // whyLine of every candidate, priority order
		problems []string
	}{
		{
			name: "k8s pod: namespace, owner, services, labels",
			cfg:  Config{Cluster: "prod"},
			id:   webPod,
			want: []string{
				"k8s.cl_prod.ns_shop namespace:shop kept",
				"k8s.cl_prod.ns_shop.rs_web-6d4b owner:web-6d4b kept",
				"k8s.cl_prod.ns_shop.svc_web service:web kept",
				"k8s.cl_prod.ns_shop.svc_web-internal service:web-internal kept",
				"k8s.cl_prod.ns_shop.app.web label:app=web kept",
				"k8s.cl_prod.ns_shop.tier.frontend label:tier=frontend kept",
			},
		},
		{
			name: "32-tag limit (lowered to 3) drops the lowest priority, denied label never a candidate",
			cfg:  Config{Cluster: "prod", MaxTags: 3, LabelDeny: []string{"tier"}},
			id:   webPod,
			want: []string{
				"k8s.cl_prod.ns_shop namespace:shop kept",
				"k8s.cl_prod.ns_shop.rs_web-6d4b owner:web-6d4b kept",
				"k8s.cl_prod.ns_shop.svc_web service:web kept",
				"k8s.cl_prod.ns_shop.svc_web-internal service:web-internal dropped:over-limit",
				"k8s.cl_prod.ns_shop.app.web label:app=web dropped:over-limit",
			},
			problems: []string{"denied:tier", "over-limit", "over-limit:app"},
		},
		{
			name: "a label tag equal to the owner tag is a duplicate; repaired characters are named",
			cfg:  Config{Cluster: "prod"},
			id: Identity{Kind: KindPod, Namespace: "shop", Name: "p", OwnerKind: "ReplicaSet", OwnerName: "web.1",
				Labels: map[string]string{"rs_web": "1", "app.kubernetes.io/name": "web"}},
			want: []string{
				"k8s.cl_prod.ns_shop namespace:shop kept",
				"k8s.cl_prod.ns_shop.rs_web.1 owner:web.1 kept",
				"k8s.cl_prod.ns_shop.app.kubernetes.io_name.web label:app.kubernetes.io/name=web kept repaired:invalid-chars",
				"k8s.cl_prod.ns_shop.rs_web.1 label:rs_web=1 duplicate",
			},
			problems: []string{"invalid-chars:app.kubernetes.io/name"},
		},
		{
			name: "unsupported owner is a problem, not a candidate",
			cfg:  Config{Cluster: "prod"},
			id:   Identity{Kind: KindPod, Namespace: "batch", Name: "j", OwnerKind: "Job", OwnerName: "j"},
			want: []string{
				"k8s.cl_prod.ns_batch namespace:batch kept",
			},
			problems: []string{"unsupported-owner"},
		},
		{
			name: "aks service: service, selector, labels",
			cfg:  Config{Cluster: "east", Preset: PresetAKS},
			id:   webSvc,
			want: []string{
				"aks.east.web service:web kept",
				"aks_app_web.east.web selector:web kept",
				"aks.east.svc.app.web label:app=web kept",
			},
		},
		{
			name:     "kind excluded: nothing derived",
			cfg:      Config{Cluster: "east", Preset: PresetAKS},
			id:       webPod,
			problems: []string{"kind-excluded"},
		},
		{
			name: "custom template lines",
			cfg:  Config{Cluster: "prod", Preset: PresetCustom, Template: "ns.{{.Namespace}}\nwl.{{.OwnerName}}"},
			id:   webPod,
			want: []string{
				"kubedag.cl_prod.ns.shop template: kept",
				"kubedag.cl_prod.wl.web-6d4b template: kept",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDeriver(t, tt.cfg)
			ex := d.Explain(tt.id)
			var got []string
			for _, w := range ex.Tags {
				got = append(got, whyLine(w))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Explain tags:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
			if g := reasons(ex.Problems); !slices.Equal(g, tt.problems) {
				t.Errorf("problems = %v, want %v", g, tt.problems)
			}
			// Explain must agree with Tags, the production path.
			set, problems := d.Tags(tt.id)
			if !set.Equal(ex.Set) {
				t.Errorf("Explain set %v != Tags set %v", ex.Set, set)
			}
			if !slices.Equal(reasons(problems), reasons(ex.Problems)) {
				t.Errorf("Explain problems %v != Tags problems %v", ex.Problems, problems)
			}
			var kept []string
			for _, w := range ex.Tags {
				if w.Kept {
					kept = append(kept, w.Tag)
				}
			}
			slices.Sort(kept)
			if !slices.Equal(kept, set.Slice()) {
				t.Errorf("kept tags %v != set %v", kept, set.Slice())
			}
			if ex.Preset != d.Config().Preset || ex.MaxTags != d.Config().MaxTags {
				t.Errorf("preset/max = %s/%d", ex.Preset, ex.MaxTags)
			}
		})
	}
}

func TestWhyDescribe(t *testing.T) {
	tests := []struct {
		w    Why
		want string
	}{
		{Why{Source: SourceNamespace, Object: "shop"}, "namespace shop"},
		{Why{Source: SourceOwner, Object: "web-1"}, "owner ReplicaSet web-1"},
		{Why{Source: SourceService, Object: "web"}, "service web"},
		{Why{Source: SourceSelector, Object: "web"}, "selector of service web"},
		{Why{Source: SourceLabel, Object: "app", Value: "web"}, "label app=web"},
		{Why{Source: SourceLabel, Object: "canary"}, "label canary"},
		{Why{Source: SourceTemplate}, "template"},
	}
	for _, tt := range tests {
		if got := tt.w.Describe("ReplicaSet"); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.w, got, tt.want)
		}
	}
}
