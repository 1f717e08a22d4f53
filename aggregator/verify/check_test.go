package verify

import (
	"testing"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/tags"
)

func ident(ns, name string, mut func(*tags.Identity)) tags.Identity {
	id := tags.Identity{Kind: tags.KindPod, Namespace: ns, Name: name, UID: "uid-" + ns + "-" + name,
		Labels: map[string]string{"app": name}, OwnerKind: "ReplicaSet", OwnerName: name + "-rs",
		Services: []string{"front"}, NamespaceLabels: map[string]string{"team": "a"}}
	if mut != nil {
		mut(&id)
	}
	return id
}

func TestCheck(t *testing.T) {
	web := podview.Pod{Node: "n1", Identity: ident("shop", "web", nil)}
	host := podview.Pod{Node: "n1", HostNetwork: true, Identity: ident("kube-system", "proxy", nil)}
	other := podview.Pod{Node: "n2", Identity: ident("shop", "db", nil)}
	webNet := podview.Pod{Node: "n1", Identity: ident("shop", "web", func(i *tags.Identity) { i.Network = "shop/macvlan" })}
	tests := []struct {
		name    string
		node    string
		id      tags.Identity
		holders []podview.Pod
		allow   bool
		want    Reason
	}{
		{"confirmed", "n1", ident("shop", "web", nil), []podview.Pod{web}, false, ""},
		{"nil and empty maps are equal", "n1", ident("shop", "web", func(i *tags.Identity) { i.Services = []string{"front"} }), []podview.Pod{web}, false, ""},
		{"not a pod", "n1", ident("shop", "web", func(i *tags.Identity) { i.Kind = tags.KindService }), []podview.Pod{web}, false, ReasonKind},
		{"pod claim carrying a service selector", "n1", ident("shop", "web", func(i *tags.Identity) { i.Selector = map[string]string{"app": "payments"} }), []podview.Pod{web}, false, ReasonKind},
		{"unused ip (in the podCIDR or not)", "n1", ident("kube-system", "kube-apiserver", nil), nil, false, ReasonUnknownIP},
		{"ip of another node's pod", "n1", ident("shop", "db", nil), []podview.Pod{other}, false, ReasonOtherNode},
		{"forged namespace", "n1", ident("kube-system", "web", nil), []podview.Pod{web}, false, ReasonNamespace},
		{"forged name", "n1", ident("shop", "payments", nil), []podview.Pod{web}, false, ReasonName},
		{"deleted pod re-claimed (same name, new uid)", "n1", ident("shop", "web", func(i *tags.Identity) { i.UID = "old" }), []podview.Pod{web}, false, ReasonUID},
		{"forged owner", "n1", ident("shop", "web", func(i *tags.Identity) { i.OwnerKind, i.OwnerName = "DaemonSet", "kube-proxy" }), []podview.Pod{web}, false, ReasonOwner},
		{"forged labels", "n1", ident("shop", "web", func(i *tags.Identity) { i.Labels = map[string]string{"app": "victim", "tier": "db"} }), []podview.Pod{web}, false, ReasonLabels},
		{"extra label", "n1", ident("shop", "web", func(i *tags.Identity) { i.Labels["tier"] = "db" }), []podview.Pod{web}, false, ReasonLabels},
		// Services are the view's (Core replaces a claim's): an agent's own
		// (older agents sent them) neither confirm nor refute a claim.
		{"claimed services ignored: none", "n1", ident("shop", "web", func(i *tags.Identity) { i.Services = nil }), []podview.Pod{web}, false, ""},
		{"claimed services ignored: forged", "n1", ident("shop", "web", func(i *tags.Identity) { i.Services = []string{"front", "payments"} }), []podview.Pod{web}, false, ""},
		{"forged namespace labels", "n1", ident("shop", "web", func(i *tags.Identity) { i.NamespaceLabels = map[string]string{"team": "sec"} }), []podview.Pod{web}, false, ReasonNamespaceLabels},
		{"secondary (Multus) IP with its network", "n1", ident("shop", "web", func(i *tags.Identity) { i.Network = "shop/macvlan" }), []podview.Pod{webNet}, false, ""},
		{"secondary IP claimed as the pod's own", "n1", ident("shop", "web", nil), []podview.Pod{webNet}, false, ReasonNetwork},
		{"secondary IP with a forged network", "n1", ident("shop", "web", func(i *tags.Identity) { i.Network = "infra/sriov" }), []podview.Pod{webNet}, false, ReasonNetwork},
		{"own IP claimed with a network", "n1", ident("shop", "web", func(i *tags.Identity) { i.Network = "shop/macvlan" }), []podview.Pod{web}, false, ReasonNetwork},
		{"node ip refused", "n1", ident("kube-system", "proxy", nil), []podview.Pod{host}, false, ReasonHostNetwork},
		{"node ip allowed", "n1", ident("kube-system", "proxy", nil), []podview.Pod{host}, true, ""},
		{"reuse: old pod elsewhere, new pod here", "n1", ident("shop", "web", nil), []podview.Pod{other, web}, false, ""},
		{"reuse: the other node's claim", "n2", ident("shop", "db", nil), []podview.Pod{web, other}, false, ""},
		{"reuse: claim for the pod on the other node", "n1", ident("shop", "db", nil), []podview.Pod{web, other}, false, ReasonName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(tt.node, tt.id, tt.holders, tt.allow); got != tt.want {
				t.Fatalf("Check = %q, want %q", got, tt.want)
			}
		})
	}
}
