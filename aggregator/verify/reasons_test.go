package verify

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// TestReasonsListsEveryReason: metrics start a series per Reasons entry, so
// a Reason constant missing from it would appear only at its first event.
func TestReasonsListsEveryReason(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "check.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []Reason
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Reason" {
				for i := range vs.Names {
					lit := vs.Values[i].(*ast.BasicLit)
					declared = append(declared, Reason(lit.Value[1:len(lit.Value)-1]))
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("found no Reason constants in check.go")
	}
	got := slices.Sorted(slices.Values(Reasons))
	slices.Sort(declared)
	if !slices.Equal(got, declared) {
		t.Fatalf("Reasons = %v, want every Reason constant %v", got, declared)
	}
}
