package sandwich

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// hold turns entries into what a device would answer for them.
func hold(t *testing.T, elements ...string) []Held {
	t.Helper()
	hs, err := ParseHeld([]byte("<rules>" + strings.Join(elements, "") + "</rules>"))
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// actualOf is what a target holds after applying d.
func actualOf(t *testing.T, d Desired) Actual {
	a := Actual{}
	for _, e := range d.Entries {
		a[e.Kind] = append(a[e.Kind], hold(t, e.Element)...)
	}
	return a
}

func opStrings(ops []Op) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.String()
		if o.Repair {
			out[i] += " (repair)"
		}
	}
	return out
}

func foreignRule(name string, tags ...string) string {
	tg := ""
	if len(tags) > 0 {
		tg = "<tag>"
		for _, x := range tags {
			tg += "<member>" + x + "</member>"
		}
		tg += "</tag>"
	}
	return `<entry name="` + name + `" uuid="0f2a"><from><member>any</member></from>` + tg + `</entry>`
}

func TestPlan(t *testing.T) {
	n := Names{Cluster: "prod"}
	fw := mustTarget(t, Target{Name: "fw"})
	one := []Service{{Namespace: "shop", Name: "web", Port: 82, TargetPort: 80, Hostname: "ilb.example"}}
	d1, _ := Build("prod", Inventory{}, one, fw)
	d0, _ := Build("prod", Inventory{}, nil, fw)
	// Cluster prod-eu on the same firewalls, wanting the same port 82.
	eu, _ := Build("prod-eu", Inventory{}, []Service{{Namespace: "shop", Name: "web", Port: 82, TargetPort: 80, Hostname: "eu.example"}}, fw)
	both := func(first, second Desired) Actual {
		a, b := actualOf(t, first), actualOf(t, second)
		for k, hs := range b {
			a[k] = append(a[k], hs...)
		}
		return a
	}
	relabelled, _ := Build("prod", Inventory{}, []Service{{Namespace: "shop", Name: "web", Port: 83, TargetPort: 80, Hostname: "ilb.example"}}, fw)

	for _, tc := range []struct {
		name     string
		target   Target
		desired  Desired
		actual   func() Actual
		want     []string
		problems []string
	}{
		{
			name: "create from nothing, objects before the rule", target: fw, desired: d1,
			actual: func() Actual { return Actual{} },
			want: []string{"edit tag kubedag.prod", "edit address kd.prod.shop.web.ilb", "edit service kd.prod.tcp82",
				"edit nat-rule kd.prod.shop.web-82-inbound"},
		},
		{
			name: "in step: nothing to do", target: fw, desired: d1,
			actual: func() Actual { return actualOf(t, d1) },
		},
		{
			name: "device order, uuid and bookkeeping attributes do not count", target: fw, desired: d1,
			actual: func() Actual {
				a := actualOf(t, d1)
				a[KindService] = hold(t, `<entry name="kd.prod.tcp82" admin="kubedag" dirtyId="3" time="2026/11/30 10:00:00">`+
					`<tag><member>kubedag.prod</member></tag><description>kubedag cluster prod: Service shop/web firewall port</description>`+
					`<protocol><tcp><port>82</port></tcp></protocol></entry>`)
				return a
			},
		},
		{
			name: "hand-edited address is repaired", target: fw, desired: d1,
			actual: func() Actual {
				a := actualOf(t, d1)
				a[KindAddress] = hold(t, `<entry name="kd.prod.shop.web.ilb"><fqdn>evil.example</fqdn><tag><member>kubedag.prod</member></tag></entry>`)
				return a
			},
			want: []string{"edit address kd.prod.shop.web.ilb (repair)"},
		},
		{
			name: "unlabel: rule deleted before the objects it references, tag kept", target: fw, desired: d0,
			actual: func() Actual { return actualOf(t, d1) },
			want:   []string{"delete nat-rule kd.prod.shop.web-82-inbound", "delete service kd.prod.tcp82", "delete address kd.prod.shop.web.ilb"},
		},
		{
			name: "relabel to another port: new objects and rule first, old ones deleted after", target: fw, desired: relabelled,
			actual: func() Actual { return actualOf(t, d1) },
			want: []string{"edit service kd.prod.tcp83", "edit nat-rule kd.prod.shop.web-83-inbound",
				"delete nat-rule kd.prod.shop.web-82-inbound", "delete service kd.prod.tcp82"},
		},
		{
			name: "another cluster's and untagged entries are never touched", target: fw, desired: d0,
			actual: func() Actual {
				a := actualOf(t, d0)
				a[KindAddress] = hold(t,
					`<entry name="kd.prod-eu.shop.web.ilb"><fqdn>x</fqdn><tag><member>kubedag.prod-eu</member></tag></entry>`,
					`<entry name="kd.prod.hand-made"><fqdn>x</fqdn></entry>`,
					`<entry name="users-own"><fqdn>x</fqdn><tag><member>kubedag.prod</member></tag></entry>`)
				a[KindTag] = append(a[KindTag], hold(t, `<entry name="kubedag.prod-eu"/>`)...)
				a[KindRoute] = hold(t, `<entry name="kd.prod-eu.10.0.0.0_19-a"/>`, `<entry name="default-route"/>`)
				return a
			},
		},
		{
			name: "a name held without our tag blocks that Service only", target: fw, desired: d1,
			actual: func() Actual {
				return Actual{KindTag: hold(t, d1.Entries[0].Element),
					KindService: hold(t, `<entry name="kd.prod.tcp82"><protocol><tcp><port>82</port></tcp></protocol></entry>`)}
			},
			problems: []string{"NameConflict shop/web"},
		},
		{
			name: "a port another cluster's inbound rule holds is left to it", target: fw, desired: d1,
			actual: func() Actual { return both(d0, eu) },
			want:   nil, problems: []string{"FirewallPortConflict shop/web"},
		},
		{
			name: "both clusters' rules on the device, theirs above: ours goes", target: fw, desired: d1,
			actual:   func() Actual { return both(eu, d1) },
			want:     []string{"delete nat-rule kd.prod.shop.web-82-inbound", "delete service kd.prod.tcp82", "delete address kd.prod.shop.web.ilb"},
			problems: []string{"FirewallPortConflict shop/web"},
		},
		{
			name: "both clusters' rules on the device, ours above: ours stays", target: fw, desired: d1,
			actual: func() Actual { return both(d1, eu) },
		},
		{
			name: "another cluster's rule on another port is no conflict", target: fw, desired: relabelled,
			actual: func() Actual { return both(d0, eu) },
			want:   []string{"edit address kd.prod.shop.web.ilb", "edit service kd.prod.tcp83", "edit nat-rule kd.prod.shop.web-83-inbound"},
		},
		{
			name: "another cluster's rule on another untrust interface is no conflict", target: fw, desired: d1,
			actual: func() Actual {
				a := both(d0, eu)
				a[KindNATRule] = hold(t, strings.Replace(eu.Entries[len(eu.Entries)-1].Element, "<to-interface>ethernet1/1<", "<to-interface>ethernet1/3<", 1))
				return a
			},
			want: []string{"edit address kd.prod.shop.web.ilb", "edit service kd.prod.tcp82", "edit nat-rule kd.prod.shop.web-82-inbound"},
		},
		{
			name: "an untagged rule with a kd. name does not hold a port", target: fw, desired: d1,
			actual: func() Actual {
				a := both(d0, eu)
				a[KindNATRule] = hold(t, `<entry name="kd.prod-eu.shop.web-82-inbound"><service>kd.prod-eu.tcp82</service></entry>`)
				return a
			},
			want: []string{"edit address kd.prod.shop.web.ilb", "edit service kd.prod.tcp82", "edit nat-rule kd.prod.shop.web-82-inbound"},
		},
		{
			name:   "top: new rule moved above foreign rules, other clusters' rules do not count",
			target: mustTarget(t, Target{Name: "fw", Placement: Placement{Where: PlaceTop}}), desired: d1,
			actual: func() Actual {
				a := actualOf(t, d0)
				a[KindNATRule] = hold(t, foreignRule("kd.prod-eu.x-1-inbound", "kubedag.prod-eu"), foreignRule("users-rule"))
				return a
			},
			want: []string{"edit address kd.prod.shop.web.ilb", "edit service kd.prod.tcp82",
				"edit nat-rule kd.prod.shop.web-82-inbound", "move nat-rule kd.prod.shop.web-82-inbound top"},
		},
		{
			name:   "top: a rule already on top stays",
			target: mustTarget(t, Target{Name: "fw", Placement: Placement{Where: PlaceTop}}), desired: d1,
			actual: func() Actual {
				a := actualOf(t, d1)
				a[KindNATRule] = append(a[KindNATRule], hold(t, foreignRule("users-rule"))...)
				return a
			},
		},
		{
			name: "bottom: a user rule added below ours moves ours back down", target: fw, desired: d1,
			actual: func() Actual {
				a := actualOf(t, d1)
				a[KindNATRule] = append(a[KindNATRule], hold(t, foreignRule("users-rule"))...)
				return a
			},
			want: []string{"move nat-rule kd.prod.shop.web-82-inbound bottom"},
		},
		{
			name:   "before a named rule",
			target: mustTarget(t, Target{Name: "fw", Placement: Placement{Where: PlaceBefore, Rule: "deny"}}), desired: d1,
			actual: func() Actual {
				a := actualOf(t, d0)
				a[KindNATRule] = hold(t, foreignRule("a"), foreignRule("deny"), foreignRule("z"))
				return a
			},
			want: []string{"edit address kd.prod.shop.web.ilb", "edit service kd.prod.tcp82",
				"edit nat-rule kd.prod.shop.web-82-inbound", "move nat-rule kd.prod.shop.web-82-inbound before deny"},
		},
		{
			name:   "after a rule that does not exist: reported, nothing moved",
			target: mustTarget(t, Target{Name: "fw", Placement: Placement{Where: PlaceAfter, Rule: "gone"}}), desired: d1,
			actual:   func() Actual { return actualOf(t, d1) },
			problems: []string{"PlacementRuleNotFound "},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, problems := Plan(tc.target, n, tc.desired, tc.actual())
			if got := opStrings(ops); !slices.Equal(got, tc.want) {
				t.Errorf("ops:\n got %q\nwant %q", got, tc.want)
			}
			var ps []string
			for _, p := range problems {
				ps = append(ps, p.Reason+" "+p.Service)
			}
			if !slices.Equal(ps, tc.problems) {
				t.Errorf("problems %q, want %q (%v)", ps, tc.problems, problems)
			}
			for _, o := range ops {
				if o.Action != ActionMove && !strings.HasPrefix(o.XPath, tc.target.Container(o.Kind)+"/entry[@name='") {
					t.Errorf("op %s: xpath %s", o, o.XPath)
				}
			}
		})
	}
}

// TestPlanConverges: applying a plan's ops to what the target holds gives
// a state whose plan is empty, for placements and rule orders.
func TestPlanConverges(t *testing.T) {
	n := Names{Cluster: "prod"}
	svcs := testServices()
	for _, pl := range []Placement{{Where: PlaceTop}, {Where: PlaceBottom}, {Where: PlaceBefore, Rule: "m"}, {Where: PlaceAfter, Rule: "m"}} {
		t.Run(fmt.Sprint(pl), func(t *testing.T) {
			tg := mustTarget(t, Target{Name: "fw", Placement: pl})
			d, _ := Build("prod", testInventory(), svcs, tg)
			a := Actual{KindNATRule: hold(t, foreignRule("a"), foreignRule("m"), foreignRule("z"))}
			for round := 0; round < 3; round++ {
				ops, problems := Plan(tg, n, d, a)
				if len(problems) > 0 {
					t.Fatal(problems)
				}
				if len(ops) == 0 {
					checkPlaced(t, pl, a[KindNATRule], n)
					return
				}
				a = apply(t, a, ops)
			}
			t.Fatalf("no convergence after 3 rounds")
		})
	}
}

func checkPlaced(t *testing.T, pl Placement, rules []Held, n Names) {
	t.Helper()
	var names []string
	for _, r := range rules {
		names = append(names, r.Name)
	}
	first := slices.IndexFunc(rules, func(h Held) bool { return n.Owns(h.Name) })
	last := -1
	for i, r := range rules {
		if n.Owns(r.Name) {
			last = i
		}
	}
	m := slices.Index(names, "m")
	ok := map[string]bool{
		PlaceTop: first == 0, PlaceBottom: last == len(rules)-1,
		PlaceBefore: last < m, PlaceAfter: first > m,
	}[pl.Where]
	if !ok {
		t.Errorf("%v: rules %v", pl, names)
	}
}

// apply mimics PAN-OS edit (replace or append), delete and move.
func apply(t *testing.T, a Actual, ops []Op) Actual {
	t.Helper()
	out := Actual{}
	for k, hs := range a {
		out[k] = slices.Clone(hs)
	}
	for _, o := range ops {
		hs := out[o.Kind]
		i := slices.IndexFunc(hs, func(h Held) bool { return h.Name == o.Name })
		switch o.Action {
		case ActionEdit:
			h := hold(t, o.Element)[0]
			if i >= 0 {
				hs[i] = h
			} else {
				hs = append(hs, h)
			}
		case ActionDelete:
			hs = slices.Delete(hs, i, i+1)
		case ActionMove:
			h := hs[i]
			hs = slices.Delete(hs, i, i+1)
			j := 0
			switch o.Where {
			case PlaceBottom:
				j = len(hs)
			case PlaceBefore, PlaceAfter:
				j = slices.IndexFunc(hs, func(h Held) bool { return h.Name == o.Dst })
				if o.Where == PlaceAfter {
					j++
				}
			}
			hs = slices.Insert(hs, j, h)
		}
		out[o.Kind] = hs
	}
	return out
}
