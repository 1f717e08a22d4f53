package tags

import "testing"

func TestIdentityEqual(t *testing.T) {
	base := Identity{Kind: KindService, Namespace: "ns", Name: "a", UID: "u", OwnerKind: "ReplicaSet", OwnerName: "rs",
		Labels: map[string]string{"app": "a"}, Services: []string{"svc"}, NamespaceLabels: map[string]string{"team": "x"},
		Selector: map[string]string{"app": "a"}}
	tests := []struct {
		name  string
		a, b  Identity
		equal bool
	}{
		{"same", base, base, true},
		{"nil and empty are equal", Identity{Name: "a"}, Identity{Name: "a", Labels: map[string]string{}, Services: []string{}, NamespaceLabels: map[string]string{}, Selector: map[string]string{}}, true},
		{"kind", base, with(base, func(i *Identity) { i.Kind = KindPod }), false},
		{"namespace", base, with(base, func(i *Identity) { i.Namespace = "other" }), false},
		{"name", base, with(base, func(i *Identity) { i.Name = "b" }), false},
		{"uid", base, with(base, func(i *Identity) { i.UID = "v" }), false},
		{"owner kind", base, with(base, func(i *Identity) { i.OwnerKind = "DaemonSet" }), false},
		{"owner name", base, with(base, func(i *Identity) { i.OwnerName = "ds" }), false},
		{"labels", base, with(base, func(i *Identity) { i.Labels = map[string]string{"app": "b"} }), false},
		{"services", base, with(base, func(i *Identity) { i.Services = []string{"svc", "svc2"} }), false},
		{"namespace labels", base, with(base, func(i *Identity) { i.NamespaceLabels = nil }), false},
		{"selector", base, with(base, func(i *Identity) { i.Selector = map[string]string{"app": "b"} }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(tt.b); got != tt.equal {
				t.Fatalf("Equal = %v, want %v", got, tt.equal)
			}
			if got := tt.b.Equal(tt.a); got != tt.equal {
				t.Fatalf("Equal (swapped) = %v, want %v", got, tt.equal)
			}
		})
	}
}

// with returns a copy of id changed by mut (maps and slices replaced, not
// mutated, by the callers above).
func with(id Identity, mut func(*Identity)) Identity {
	mut(&id)
	return id
}
