package dagfilter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func tag(t string) Expr  { return Expr{Op: OpTag, Tag: t} }
func and(a ...Expr) Expr { return Expr{Op: OpAnd, Args: a} }
func or(a ...Expr) Expr  { return Expr{Op: OpOr, Args: a} }
func set(tags ...string) func(string) bool {
	m := map[string]bool{}
	for _, t := range tags {
		m[t] = true
	}
	return func(t string) bool { return m[t] }
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Expr
		print    string // canonical form
	}{
		{"single", `'k8s.cl_prod.ns_shop'`, tag("k8s.cl_prod.ns_shop"), `'k8s.cl_prod.ns_shop'`},
		{"reference example", `'k8s.cl_prod.ns_shop.svc_web' and ('a' or 'b')`,
			and(tag("k8s.cl_prod.ns_shop.svc_web"), or(tag("a"), tag("b"))), `'k8s.cl_prod.ns_shop.svc_web' and ('a' or 'b')`},
		{"ansible example", `'aws-tag.aws:cloudformation:logical-id.ServerInstance' and 'instanceState.running'`,
			and(tag("aws-tag.aws:cloudformation:logical-id.ServerInstance"), tag("instanceState.running")),
			`'aws-tag.aws:cloudformation:logical-id.ServerInstance' and 'instanceState.running'`},
		{"bare tag (terraform example)", `web`, tag("web"), `'web'`},
		{"bare tags and operators in upper case", `internal AND ntp`, and(tag("internal"), tag("ntp")), `'internal' and 'ntp'`},
		{"quoted tag with parentheses, spaces and operator words", `'web (prod) and db or x' or 'b'`,
			or(tag("web (prod) and db or x"), tag("b")), `'web (prod) and db or x' or 'b'`},
		{"double quotes", `"o'brien" and 'x'`, and(tag("o'brien"), tag("x")), `"o'brien" and 'x'`},
		{"quoted not is a tag", `'not' or 'a'`, or(tag("not"), tag("a")), `'not' or 'a'`},
		{"and binds tighter than or", `'a' or 'b' and 'c'`, or(tag("a"), and(tag("b"), tag("c"))), `'a' or 'b' and 'c'`},
		{"and before or", `'a' and 'b' or 'c'`, or(and(tag("a"), tag("b")), tag("c")), `'a' and 'b' or 'c'`},
		{"redundant parentheses flatten", `(('a')) and ('b' and ('c'))`, and(tag("a"), tag("b"), tag("c")), `'a' and 'b' and 'c'`},
		{"no spaces around parentheses", `('a'or'b')and'c'`, and(or(tag("a"), tag("b")), tag("c")), `('a' or 'b') and 'c'`},
		{"whitespace of all kinds", " \t'a'\r\nand\n'b' ", and(tag("a"), tag("b")), `'a' and 'b'`},
		{"k8s plugin DAG", `'k8s.cl_prod.ns_shop' and ('k8s.cl_prod.ns_shop.app.web' or 'k8s.cl_prod.ns_shop.rs_web-6d4b9c7f5') and 'k8s.cl_prod.ns_shop.svc_web'`,
			and(tag("k8s.cl_prod.ns_shop"), or(tag("k8s.cl_prod.ns_shop.app.web"), tag("k8s.cl_prod.ns_shop.rs_web-6d4b9c7f5")), tag("k8s.cl_prod.ns_shop.svc_web")),
			`'k8s.cl_prod.ns_shop' and ('k8s.cl_prod.ns_shop.app.web' or 'k8s.cl_prod.ns_shop.rs_web-6d4b9c7f5') and 'k8s.cl_prod.ns_shop.svc_web'`},
		{"aks tags", `'aks.east.web' or 'aks_app_web.east.web'`, or(tag("aks.east.web"), tag("aks_app_web.east.web")), `'aks.east.web' or 'aks_app_web.east.web'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.print {
				t.Fatalf("String() = %q, want %q", s, tc.print)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		offset   int
		msg      string
	}{
		{"empty", "", 0, "empty filter"},
		{"blank", "   ", 0, "empty filter"},
		{"unterminated quote", `'a' and 'b`, 8, "unterminated '-quoted tag"},
		{"empty tag", `'' or 'a'`, 0, "empty tag name"},
		{"not", `'a' and not 'b'`, 8, "no NOT operator"},
		{"two tags", `'a' 'b'`, 4, `unexpected tag "b", want and, or or the end`},
		{"two operators", `'a' and or 'b'`, 8, "unexpected or, want a tag or ("},
		{"trailing operator", `'a' and`, 7, "unexpected end of filter, want a tag or ("},
		{"leading operator", `or 'a'`, 0, "unexpected or"},
		{"unclosed parenthesis", `('a' or 'b'`, 0, "unclosed parenthesis"},
		{"stray close", `'a')`, 3, "unexpected )"},
		{"empty parentheses", `()`, 1, "unexpected ), want a tag or ("},
		{"too long", "'" + strings.Repeat("x", MaxLen-1) + "'", MaxLen, "at most 2047"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want a *SyntaxError", tc.in, err)
			}
			if se.Offset != tc.offset || !strings.Contains(se.Msg, tc.msg) {
				t.Fatalf("Parse(%q) = offset %d %q, want offset %d containing %q", tc.in, se.Offset, se.Msg, tc.offset, tc.msg)
			}
		})
	}
	// The longest allowed filter parses.
	if _, err := Parse("'" + strings.Repeat("x", MaxLen-2) + "'"); err != nil {
		t.Fatalf("filter of %d characters: %v", MaxLen, err)
	}
}

func TestMatchAndTags(t *testing.T) {
	const f = `'k8s.cl_prod.ns_shop' and ('k8s.cl_prod.ns_shop.app.web' or 'k8s.cl_prod.ns_shop.app.api') and 'k8s.cl_prod.ns_shop'`
	e, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	wantTags := []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.api", "k8s.cl_prod.ns_shop.app.web"}
	if got := e.Tags(); !reflect.DeepEqual(got, wantTags) {
		t.Fatalf("Tags() = %q, want %q", got, wantTags)
	}
	for _, tc := range []struct {
		name string
		tags []string
		want bool
	}{
		{"web pod", []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.svc_web"}, true},
		{"api pod", []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.api"}, true},
		{"other app", []string{"k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.db"}, false},
		{"web in other namespace", []string{"k8s.cl_prod.ns_dev", "k8s.cl_prod.ns_shop.app.web"}, false},
		{"no tags", nil, false},
	} {
		if got := e.Match(set(tc.tags...)); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Precedence decides membership: 'a' or 'b' and 'c' holds for {a}.
	p, _ := Parse(`'a' or 'b' and 'c'`)
	if !p.Match(set("a")) || p.Match(set("b")) || !p.Match(set("b", "c")) {
		t.Fatal("'a' or 'b' and 'c' is not a or (b and c)")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`'k8s.cl_prod.ns_shop.svc_web' and ('a' or 'b')`, `web`, `a AND (b Or "c'd")`, `'(x) and y'`,
		`((('a')))`, `'a' or`, `not 'a'`, `'a`, `"`, `()`, `'a' and 'b' or 'c' and ('d' or 'e')`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) && se.Offset != MaxLen {
				t.Fatalf("Parse(%q): bad error %v", s, err)
			}
			return
		}
		printed := e.String()
		again, err := parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, printed, err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("round trip of %q through %q: %#v != %#v", s, printed, again, e)
		}
		if again.String() != printed {
			t.Fatalf("printing is not stable: %q then %q", printed, again.String())
		}
		// Match is monotone in the tag set: all referenced tags present
		// matches; none present does not.
		tags := e.Tags()
		if !e.Match(set(tags...)) || e.Match(set()) {
			t.Fatalf("%q: Match over all/none of its tags is wrong", printed)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	e, err := Parse(`'k8s.cl_prod.ns_shop' and ('k8s.cl_prod.ns_shop.app.web' or 'k8s.cl_prod.ns_shop.app.api' or 'k8s.cl_prod.ns_shop.svc_web') and 'k8s.cl_prod.ns_shop.tier.frontend'`)
	if err != nil {
		b.Fatal(err)
	}
	has := set("k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.rs_web-6d4b9c7f5", "k8s.cl_prod.ns_shop.svc_web",
		"k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.tier.frontend")
	b.ReportAllocs()
	for b.Loop() {
		if !e.Match(has) {
			b.Fatal("no match")
		}
	}
}
