package tags

import (
	"errors"
	"slices"
	"testing"
)

func TestNodeTags(t *testing.T) {
	labels := map[string]string{
		"topology.kubernetes.io/zone":      "eu-west-1a",
		"node.kubernetes.io/instance-type": "m5.large",
		"eks.amazonaws.com/nodegroup":      "ng-1",
		"kubernetes.azure.com/agentpool":   "pool1",
		"kubernetes.io/hostname":           "ip-10-0-1-5", // not allowed by default
	}
	node := Identity{Kind: KindNode, Name: "ip-10-0-1-5", UID: "n1", Labels: labels}
	k8sLabels := []string{
		"k8s.cl_prod.node.eks.amazonaws.com_nodegroup.ng-1",
		"k8s.cl_prod.node.kubernetes.azure.com_agentpool.pool1",
		"k8s.cl_prod.node.node.kubernetes.io_instance-type.m5.large",
		"k8s.cl_prod.node.topology.kubernetes.io_zone.eu-west-1a",
	}
	tests := []struct {
		name     string
		cfg      Config
		external bool
		want     []string
	}{
		{"k8s internal", Config{Cluster: "prod", Nodes: true}, false, append([]string{"k8s.cl_prod.nodes"}, k8sLabels...)},
		{"k8s external", Config{Cluster: "prod", Nodes: true, NodeExternalIPs: true}, true, append([]string{"k8s.cl_prod.nodes.external"}, k8sLabels...)},
		{"k8s external off", Config{Cluster: "prod", Nodes: true}, true, nil},
		{"off", Config{Cluster: "prod"}, false, nil},
		{"aks", Config{Cluster: "east", Preset: PresetAKS, Nodes: true, NodeLabels: []string{"kubernetes.azure.com/*"}}, false,
			[]string{"aks.east.cluster_nodes", "aks.east.node.kubernetes.azure.com_agentpool.pool1"}},
		{"custom", Config{Cluster: "prod", Preset: PresetCustom, Template: "ns.{{.Namespace}}", Nodes: true, NodeLabels: []string{}}, false,
			[]string{"kubedag.cl_prod.nodes"}},
		{"own prefix, max tags", Config{Cluster: "prod", Prefix: "corp.k8s", Nodes: true, MaxTags: 2}, false,
			[]string{"corp.k8s.node.eks.amazonaws.com_nodegroup.ng-1", "corp.k8s.nodes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDeriver(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			set, problems := d.NodeTags(node, tt.external)
			want := slices.Sorted(slices.Values(tt.want))
			if got := set.Slice(); !slices.Equal(got, want) {
				t.Fatalf("NodeTags = %v\nwant %v", got, want)
			}
			for _, tag := range set.Slice() {
				if !d.Owns(tag) || !Valid(tag) {
					t.Errorf("tag %q not owned or not valid", tag)
				}
			}
			if len(tt.want) == 0 {
				if len(problems) != 1 || problems[0].Reason != ReasonKindExcluded || problems[0].Kind != KindNode {
					t.Errorf("problems = %v, want one kind-excluded", problems)
				}
				return
			}
			denied := false
			for _, p := range problems {
				if p.Reason == ReasonDenied && p.Label == "kubernetes.io/hostname" {
					denied = true
				}
			}
			if !denied {
				t.Errorf("label outside NodeLabels not reported: %v", problems)
			}
			// Tags on a Node identity is NodeTags of an internal address.
			if s2, _ := d.Tags(node); !s2.Equal(mustNode(d, node, false)) {
				t.Errorf("Tags(node) = %v, want the internal address's tags", s2.Slice())
			}
		})
	}
}

func mustNode(d *Deriver, id Identity, external bool) Set {
	s, _ := d.NodeTags(id, external)
	return s
}

// TestNodeTagsNeverPodTags: a node's tags never carry pod or service
// formats, and no Service name can make the aks cluster node tag.
func TestNodeTagsNeverPodTags(t *testing.T) {
	d, err := NewDeriver(Config{Cluster: "east", Preset: PresetAKS, Kinds: []Kind{KindService}, Nodes: true})
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := d.Tags(Identity{Kind: KindService, Namespace: "default", Name: "nodes"})
	nodes, _ := d.NodeTags(Identity{Kind: KindNode, Name: "n"}, false)
	for _, tag := range nodes.Slice() {
		if svc.Has(tag) {
			t.Fatalf("Service %q gets node tag %q", "nodes", tag)
		}
	}
}

func TestNodeConfigValidate(t *testing.T) {
	c := Config{Cluster: "prod", NodeExternalIPs: true}
	var fe *FieldError
	if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "NodeExternalIPs" {
		t.Fatalf("NodeExternalIPs without Nodes: %v", err)
	}
	c = Config{Cluster: "prod", Nodes: true, NodeLabels: []string{"a", ""}}
	if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "NodeLabels" || fe.Index != 1 {
		t.Fatalf("empty NodeLabels pattern: %v", err)
	}
	c = Config{Cluster: "prod", Nodes: true}
	if err := c.Validate(); err != nil || !slices.Equal(c.NodeLabels, DefaultNodeLabels) {
		t.Fatalf("default NodeLabels = %v, %v", c.NodeLabels, err)
	}
}

// TestNetworkTag: an IP of a pod's secondary (Multus) interface carries
// the pod's tags plus the network tag, in the k8s and aks presets; the
// custom template sees .Network.
func TestNetworkTag(t *testing.T) {
	pod := Identity{Kind: KindPod, Namespace: "shop", Name: "web-1", UID: "u1", Labels: map[string]string{"app": "web"},
		OwnerKind: "ReplicaSet", OwnerName: "web-1a", Services: []string{"web"}}
	tests := []struct {
		name    string
		cfg     Config
		network string
		want    []string
	}{
		{"k8s", Config{Cluster: "prod"}, "shop/macvlan-conf", []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.rs_web-1a", "k8s.cl_prod.ns_shop.svc_web", "k8s.cl_prod.net_shop.macvlan-conf"}},
		{"k8s, attachment without namespace", Config{Cluster: "prod"}, "storage", []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.rs_web-1a", "k8s.cl_prod.ns_shop.svc_web", "k8s.cl_prod.net_shop.storage"}},
		{"aks", Config{Cluster: "east", Preset: PresetAKS, Kinds: []Kind{KindPod}}, "infra/sriov", []string{"aks.east.web", "aks.east.pod.app.web", "aks.east.net_infra.sriov"}},
		{"custom", Config{Cluster: "prod", Preset: PresetCustom, Template: "{{if .Network}}net.{{replace .Network \"/\" \".\"}}{{end}}"}, "shop/macvlan-conf", []string{"kubedag.cl_prod.net.shop.macvlan-conf"}},
		{"k8s, own IP", Config{Cluster: "prod"}, "", []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.rs_web-1a", "k8s.cl_prod.ns_shop.svc_web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDeriver(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			id := pod
			id.Network = tt.network
			set, problems := d.Tags(id)
			if want := slices.Sorted(slices.Values(tt.want)); !slices.Equal(set.Slice(), want) {
				t.Fatalf("Tags = %v\nwant %v", set.Slice(), want)
			}
			if len(problems) != 0 {
				t.Errorf("problems: %v", problems)
			}
		})
	}
}
