package tags

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct {
		name, in string
		want     string // "" means: check only validity and length
		rep      repair
	}{
		{name: "clean", in: "k8s.cl_prod.ns_a.app.web-1", want: "k8s.cl_prod.ns_a.app.web-1"},
		{name: "slash", in: "app.kubernetes.io/name", want: "app.kubernetes.io_name", rep: repairedChars},
		{name: "space quote angle", in: `a b"c<d>&e'`, want: "a_b_c_d__e_", rep: repairedChars},
		{name: "one underscore per utf8 char", in: "café☕", want: "caf__", rep: repairedChars},
		{name: "invalid utf8 bytes", in: "a\xff\xfeb", want: "a__b", rep: repairedChars},
		{name: "control", in: "a\x00b\nc", want: "a_b_c", rep: repairedChars},
		{name: "exactly max", in: strings.Repeat("x", MaxTagLen), want: strings.Repeat("x", MaxTagLen)},
		{name: "too long", in: long, rep: repairedLength},
		{name: "too long after repair", in: strings.Repeat("/", 130), rep: repairedChars | repairedLength},
		{name: "multibyte shrinks under limit", in: strings.Repeat("é", 100), want: strings.Repeat("_", 100), rep: repairedChars},
		{
			// A 127-byte name shaped like a hashed one is hashed too, so it
			// cannot collide with a truncated name.
			name: "looks hashed", in: strings.Repeat("x", keepLen) + "-0123456789abcdef", rep: repairedLength,
		},
		{
			name: "hash-like but uppercase is left alone",
			in:   strings.Repeat("x", keepLen) + "-0123456789ABCDEF",
			want: strings.Repeat("x", keepLen) + "-0123456789ABCDEF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rep := sanitize(tt.in)
			if tt.want != "" && got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if rep != tt.rep {
				t.Errorf("repair = %b, want %b", rep, tt.rep)
			}
			if !Valid(got) {
				t.Errorf("Sanitize(%q) = %q is not Valid", tt.in, got)
			}
			if rep&repairedLength != 0 {
				if len(got) != MaxTagLen || !looksHashed(got) {
					t.Errorf("truncated form %q wrong", got)
				}
			}
		})
	}
}

func TestSanitizeTruncationDistinguishes(t *testing.T) {
	base := strings.Repeat("k", 150)
	seen := map[string]string{}
	for _, in := range []string{
		base + "a", base + "b", base + "/", base + "_", // "/" and "_" sanitise alike but hash differently
		base[:120] + "x" + base[121:],
	} {
		out := Sanitize(in)
		if prev, ok := seen[out]; ok {
			t.Fatalf("%q and %q both give %q", prev, in, out)
		}
		seen[out] = in
	}
}

func TestValid(t *testing.T) {
	for tag, want := range map[string]bool{
		"":                               false,
		"a":                              true,
		"k8s.cl_a.ns_b":                  true,
		"a b":                            false,
		"a/b":                            false,
		strings.Repeat("a", MaxTagLen):   true,
		strings.Repeat("a", MaxTagLen+1): false,
		"ä":                              false,
		"A-Z_0.9":                        true,
	} {
		if got := Valid(tag); got != want {
			t.Errorf("Valid(%q) = %v, want %v", tag, got, want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "app.kubernetes.io/name", true},
		{"app", "app", true},
		{"app", "apps", false},
		{"app*", "apps", true},
		{"*.kubernetes.io/*", "app.kubernetes.io/name", true},
		{"*.kubernetes.io/*", "kubernetes.io/name", false},
		{"t?er", "tier", true},
		{"t?er", "ter", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"**", "x", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

// FuzzSanitize checks Sanitize's promises on any input: a valid name,
// deterministic, unchanged if already valid and not hash-shaped, and a
// truncated name never equal to another input's name.
func FuzzSanitize(f *testing.F) {
	f.Add("k8s.cl_prod.ns_default.app.web", "k8s.cl_prod.ns_default.app/web")
	f.Add(strings.Repeat("a", 140), strings.Repeat("a", 139)+"b")
	f.Add(strings.Repeat("é", 70), strings.Repeat("_", 70))
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, ra := sanitize(a)
		if a != "" && !Valid(sa) {
			t.Fatalf("Sanitize(%q) = %q invalid", a, sa)
		}
		if again := Sanitize(a); again != sa {
			t.Fatalf("Sanitize(%q) not deterministic: %q vs %q", a, sa, again)
		}
		if Valid(a) && !(len(a) == MaxTagLen && looksHashed(a)) && (sa != a || ra != 0) {
			t.Fatalf("valid %q changed to %q", a, sa)
		}
		// The builder path (in place) agrees with Sanitize.
		if ip, _ := sanitizeInPlace([]byte(a)); string(ip) != sa {
			t.Fatalf("sanitizeInPlace(%q) = %q, Sanitize = %q", a, ip, sa)
		}
		sb, rb := sanitize(b)
		if a != b && sa == sb {
			// Only untruncated names may meet (by replaced characters);
			// a truncated name never equals another input's name.
			if ra&repairedLength != 0 || rb&repairedLength != 0 {
				t.Fatalf("%q and %q collide on %q", a, b, sa)
			}
		}
	})
}
