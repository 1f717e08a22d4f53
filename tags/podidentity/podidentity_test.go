package podidentity

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/tags"
)

func TestIPs(t *testing.T) {
	tests := []struct {
		name    string
		st      corev1.PodStatus
		want    []string
		wantBad []string
	}{
		{"dual stack", corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}}, []string{"10.0.0.1", "fd00::1"}, nil},
		{"podIP fallback", corev1.PodStatus{PodIP: "10.0.0.2"}, []string{"10.0.0.2"}, nil},
		{"podIPs win over podIP", corev1.PodStatus{PodIP: "10.0.0.9", PodIPs: []corev1.PodIP{{IP: "10.0.0.3"}}}, []string{"10.0.0.3"}, nil},
		{"mapped and duplicate", corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "::ffff:10.0.0.4"}, {IP: "10.0.0.4"}}}, []string{"10.0.0.4"}, nil},
		{"malformed and unspecified", corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "bogus"}, {IP: "0.0.0.0"}, {IP: "10.0.0.5"}}}, []string{"10.0.0.5"}, []string{"bogus", "0.0.0.0"}},
		{"none", corev1.PodStatus{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips, bad := IPs(&tt.st)
			var got []string
			for _, ip := range ips {
				got = append(got, ip.String())
			}
			if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(bad, tt.wantBad) {
				t.Errorf("IPs = %v, bad %v; want %v, bad %v", got, bad, tt.want, tt.wantBad)
			}
		})
	}
	if ips, _ := IPs(&corev1.PodStatus{PodIP: "fe80::1%eth0"}); len(ips) != 1 || ips[0] != netip.MustParseAddr("fe80::1") {
		t.Errorf("zone not dropped: %v", ips)
	}
}

func slice(ns, name, svc string, refs ...*corev1.ObjectReference) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{ServiceNameLabel: svc, "other": "x"}}}
	for _, r := range refs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, TargetRef: r})
	}
	return s
}

func TestOf(t *testing.T) {
	ctrl := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace: "shop", Name: "web-1", UID: "u1", Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ConfigMap", Name: "not-controller"}, {Kind: "ReplicaSet", Name: "web-abc", Controller: &ctrl}},
	}}
	slices := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{SliceIndex: SlicePodKeys})
	for _, s := range []*discoveryv1.EndpointSlice{
		slice("shop", "web-a", "web", &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}),
		slice("shop", "web-b", "web", &corev1.ObjectReference{Kind: "Pod", Name: "web-1", UID: "u1"}), // same Service twice
		slice("shop", "api-a", "api", &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-1", UID: "u1"}),
		slice("shop", "old-a", "old", &corev1.ObjectReference{Kind: "Pod", Name: "web-1", UID: "u0"}), // an earlier pod of that name
		slice("shop", "node-a", "node", &corev1.ObjectReference{Kind: "Node", Name: "web-1"}),
		slice("other", "web-a", "elsewhere", &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}),
		slice("shop", "nolabel", "", &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}),
	} {
		if err := slices.Add(TrimSlice(s)); err != nil {
			t.Fatal(err)
		}
	}
	namespaces := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := namespaces.Add(TrimNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"big": "x"}}})); err != nil {
		t.Fatal(err)
	}
	want := tags.Identity{
		Kind: tags.KindPod, Namespace: "shop", Name: "web-1", UID: "u1",
		Labels: map[string]string{"app": "web"}, OwnerKind: "ReplicaSet", OwnerName: "web-abc",
		NamespaceLabels: map[string]string{"team": "a"},
	}
	if got := Of(pod, namespaces); !got.Equal(want) {
		t.Errorf("Of = %+v\nwant %+v", got, want)
	}
	if got := Services(slices, pod); !reflect.DeepEqual(got, []string{"api", "web"}) {
		t.Errorf("Services = %v, want [api web]", got)
	}
	// A pod in a namespace the view has not seen has no namespace labels
	// and no Services.
	pod.Namespace = "new"
	if got := Of(pod, namespaces); got.NamespaceLabels != nil {
		t.Errorf("unknown namespace: %+v", got)
	}
	if got := Services(slices, pod); got != nil {
		t.Errorf("Services in an unknown namespace: %v", got)
	}
}

func TestTrimSlice(t *testing.T) {
	node := "n1"
	s := slice("shop", "web-a", "web",
		&corev1.ObjectReference{Kind: "Pod", Name: "a", UID: types.UID("ua"), ResourceVersion: "9"},
		&corev1.ObjectReference{Kind: "Pod", Name: "b"},
		nil)
	s.Endpoints[0].NodeName = &node
	got := TrimSlice(s)
	if len(got.Endpoints) != 2 || got.Endpoints[0].TargetRef.Name != "a" || got.Endpoints[0].TargetRef.ResourceVersion != "" ||
		got.Endpoints[0].Addresses != nil || *got.Endpoints[0].NodeName != node {
		t.Errorf("endpoints not trimmed (the nil targetRef dropped): %+v", got.Endpoints)
	}
	if !reflect.DeepEqual(got.Labels, map[string]string{ServiceNameLabel: "web"}) {
		t.Errorf("labels = %v", got.Labels)
	}
}
