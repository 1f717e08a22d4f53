package diff

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubedag/kubedag/tags"
)

func owned(t string) bool { return strings.HasPrefix(t, "k8s.") }

func set(ts ...string) tags.Set { return tags.NewSet(ts...) }

func TestTags(t *testing.T) {
	tests := []struct {
		name             string
		desired, actual  tags.Set
		wantUnreg, wantR []string
	}{
		{"equal", set("k8s.a"), set("k8s.a"), nil, nil},
		{"both empty", set(), set(), nil, nil},
		{"new ip", set("k8s.a", "k8s.b"), set(), nil, []string{"k8s.a", "k8s.b"}},
		{"gone ip", set(), set("k8s.a", "k8s.b"), []string{"k8s.a", "k8s.b"}, nil},
		{"relabel", set("k8s.a", "k8s.c"), set("k8s.a", "k8s.b"), []string{"k8s.b"}, []string{"k8s.c"}},
		{"foreign tag in actual kept", set("k8s.a"), set("k8s.a", "other"), nil, nil},
		{"foreign gone ip kept", set(), set("other", "k8s.x"), []string{"k8s.x"}, nil},
		{"desired foreign registered", set("other"), set(), nil, []string{"other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, r := Tags(tt.desired, tt.actual, owned)
			if !reflect.DeepEqual(u, tt.wantUnreg) || !reflect.DeepEqual(r, tt.wantR) {
				t.Fatalf("Tags = unreg %v reg %v, want %v %v", u, r, tt.wantUnreg, tt.wantR)
			}
		})
	}
}

func TestOpFor(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name string
		it   Item
		want Op
	}{
		{"refresh registers all", Item{IP: ip, Desired: set("k8s.a", "k8s.b"), Actual: set("k8s.a", "k8s.z"), Refresh: true},
			Op{IP: ip, Unregister: []string{"k8s.z"}, Register: []string{"k8s.a", "k8s.b"}}},
		{"gate suppresses unregister", Item{IP: ip, Desired: set("k8s.b"), Actual: set("k8s.a"), NoUnregister: true},
			Op{IP: ip, Register: []string{"k8s.b"}}},
		{"refresh of nothing", Item{IP: ip, Refresh: true}, Op{IP: ip}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OpFor(tt.it, owned); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("OpFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	a := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	items := []Item{
		{IP: a(1), Desired: set("k8s.a")},                       // 1 entry
		{IP: a(2), Desired: set("k8s.a"), Actual: set("k8s.a")}, // cancelled out: dropped
		{IP: a(3), Desired: set("k8s.b"), Actual: set("k8s.a")}, // 2 entries
		{IP: a(4), Actual: set("k8s.a")},                        // 1 entry
		{IP: a(5), Desired: set("k8s.c")},                       // 1 entry
	}
	tests := []struct {
		name string
		max  int
		want [][]int // IP last octets per batch
	}{
		{"unlimited", 0, [][]int{{1, 3, 4, 5}}},
		{"max 3", 3, [][]int{{1, 3}, {4, 5}}},
		{"max 2", 2, [][]int{{1}, {3}, {4, 5}}},
		{"max 1 never splits an ip", 1, [][]int{{1}, {3}, {4}, {5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := Plan(items, owned, tt.max)
			var got [][]int
			for _, b := range bs {
				var ips []int
				n := 0
				for _, op := range b.Ops {
					ips = append(ips, int(op.IP.As4()[3]))
					n += op.Entries()
				}
				if n != b.Entries {
					t.Errorf("batch Entries = %d, ops count %d", b.Entries, n)
				}
				got = append(got, ips)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Plan batches = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTagsMatchesNaive compares Tags and Plan's shared-buffer tag lists
// with a naive computation on random sets, and checks that the lists of a
// Plan are independent (appending to one never changes another).
func TestTagsMatchesNaive(t *testing.T) {
	universe := []string{"k8s.a", "k8s.b", "k8s.c", "k8s.d", "other.x", "other.y"}
	r := rand.New(rand.NewPCG(1, 2))
	randomSet := func() tags.Set {
		var ts []string
		for _, u := range universe {
			if r.IntN(2) == 0 {
				ts = append(ts, u)
			}
		}
		return tags.NewSet(ts...)
	}
	naive := func(d, a tags.Set) (unreg, reg []string) {
		for _, x := range a.Slice() {
			if !d.Has(x) && owned(x) {
				unreg = append(unreg, x)
			}
		}
		for _, x := range d.Slice() {
			if !a.Has(x) {
				reg = append(reg, x)
			}
		}
		return unreg, reg
	}
	for round := range 200 {
		var items []Item
		for i := range 20 {
			items = append(items, Item{IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Desired: randomSet(), Actual: randomSet()})
		}
		for _, it := range items {
			u, g := Tags(it.Desired, it.Actual, owned)
			wu, wg := naive(it.Desired, it.Actual)
			if !slices.Equal(u, wu) || !slices.Equal(g, wg) {
				t.Fatalf("round %d: Tags(%v, %v) = %v %v, want %v %v", round, it.Desired, it.Actual, u, g, wu, wg)
			}
		}
		bs := Plan(items, owned, 0)
		var ops []Op
		for _, b := range bs {
			ops = append(ops, b.Ops...)
		}
		want := map[netip.Addr][2][]string{}
		for _, it := range items {
			u, g := naive(it.Desired, it.Actual)
			want[it.IP] = [2][]string{u, g}
		}
		for _, op := range ops {
			op.Unregister = append(op.Unregister, "scribble")
			op.Register = append(op.Register, "scribble")
		}
		for _, op := range ops {
			w := want[op.IP]
			if !slices.Equal(op.Unregister, w[0]) || !slices.Equal(op.Register, w[1]) {
				t.Fatalf("round %d: Plan op for %v = %v %v, want %v %v", round, op.IP, op.Unregister, op.Register, w[0], w[1])
			}
		}
		for _, it := range items { // the sets themselves are untouched
			if slices.Contains(it.Desired.Slice(), "scribble") || slices.Contains(it.Actual.Slice(), "scribble") {
				t.Fatalf("round %d: a set was written through an op's list", round)
			}
		}
	}
}
