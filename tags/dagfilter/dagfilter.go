// Package dagfilter parses PAN-OS Dynamic Address Group filters (the
// address-group/entry/dynamic/filter text, "match criteria" in the web
// interface) and evaluates them against an IP's tags.
//
// The aggregator uses it to learn which tags some DAG on a target
// references (Expr.Tags, for pruning) and which DAGs an IP falls into
// (Expr.Match, for explain).
//
// # Grammar
//
//	filter = or
//	or     = and { OR and }
//	and    = term { AND term }
//	term   = tag | "(" or ")"
//	tag    = "'" { any byte but "'" } "'"
//	       | '"' { any byte but '"' } '"'
//	       | bare
//	bare   = { any byte but space, tab, CR, LF, quotes and parentheses }
//
// AND and OR are the words "and" and "or" in any letter case. What the
// sources say, and what is accepted where they differ or are silent:
//
//   - PAN-OS documentation: tags combined with the logical operators and
//     and or; the web interface writes every tag single-quoted, e.g.
//     'k8s.cl_prod.ns_shop' and ('a' or 'b'). A quoted tag may contain
//     spaces, parentheses and the words and/or: only quotes delimit it.
//   - At most 2,047 characters (the schema's filter length); longer is an
//     error.
//   - Unquoted tag names (web, as in Terraform's panos_address_group
//     examples) are accepted; a bare word ends at whitespace, a quote or
//     a parenthesis. Double quotes are accepted too, so a tag holding a
//     single quote can be written.
//   - Operators are documented in both cases (and/or, AND/OR); any case is
//     accepted.
//   - There is no NOT for Dynamic Address Groups (only Dynamic User Groups'
//     GUI mentions it); a bare "not" is rejected with an error saying so
//     rather than read as a tag called not.
//   - Precedence of a mix of and and or without parentheses is not
//     documented; it is parsed as "and binds tighter than or", as in every
//     boolean notation. Tags (what pruning needs) does not depend on it.
//
// An empty filter, an empty quoted tag, an unclosed quote or parenthesis,
// two tags or two operators in a row are errors (*SyntaxError, giving the
// byte offset). Callers report such a DAG; they never guess what it means.
package dagfilter

import (
	"fmt"
	"sort"
	"strings"
)

// MaxLen is the longest filter PAN-OS stores.
const MaxLen = 2047

// Op is the kind of an Expr node.
type Op uint8

const (
	OpTag Op = iota // a single tag
	OpAnd           // every operand matches
	OpOr            // some operand matches
)

// Expr is a parsed filter. And and Or nodes are flattened (no And directly
// under And), so two filters that differ only in redundant parentheses
// parse to equal Exprs.
type Expr struct {
	Op   Op
	Tag  string // OpTag only
	Args []Expr // OpAnd, OpOr: two or more
}

// SyntaxError says where (byte offset into the filter) and why a filter
// cannot be parsed.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("dag filter: at offset %d: %s", e.Offset, e.Msg)
}

// Parse parses a DAG filter as PAN-OS accepts it (see the package doc).
func Parse(s string) (Expr, error) {
	if len(s) > MaxLen {
		return Expr{}, &SyntaxError{Offset: MaxLen, Msg: fmt.Sprintf("filter is %d characters, PAN-OS allows at most %d", len(s), MaxLen)}
	}
	return parse(s)
}

// parse is Parse without the length limit (printing can lengthen a filter
// by quoting bare tags).
func parse(s string) (Expr, error) {
	p := parser{s: s}
	p.next()
	if p.tok.kind == tEOF {
		return Expr{}, &SyntaxError{Offset: 0, Msg: "empty filter"}
	}
	e, err := p.or()
	if err != nil {
		return Expr{}, err
	}
	if p.tok.kind != tEOF {
		return Expr{}, p.unexpected("and, or or the end of the filter")
	}
	return e, nil
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tTag
	tAnd
	tOr
	tOpen
	tClose
	tErr
)

type token struct {
	kind tokKind
	pos  int
	text string // tTag: the tag name; tErr: the message
}

type parser struct {
	s     string
	pos   int
	tok   token
	depth int
}

// maxDepth bounds recursion; 2,047 characters allow about 1,000 nested
// parentheses, which is fine for the stack, but parse (no limit) is fuzzed.
const maxDepth = 4096

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) next() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
	start := p.pos
	if p.pos == len(p.s) {
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	switch c := p.s[p.pos]; c {
	case '(':
		p.pos++
		p.tok = token{kind: tOpen, pos: start}
	case ')':
		p.pos++
		p.tok = token{kind: tClose, pos: start}
	case '\'', '"':
		end := strings.IndexByte(p.s[start+1:], c)
		if end < 0 {
			p.tok = token{kind: tErr, pos: start, text: fmt.Sprintf("unterminated %c-quoted tag", c)}
			p.pos = len(p.s)
			return
		}
		name := p.s[start+1 : start+1+end]
		p.pos = start + end + 2
		if name == "" {
			p.tok = token{kind: tErr, pos: start, text: "empty tag name"}
			return
		}
		p.tok = token{kind: tTag, pos: start, text: name}
	default:
		for p.pos < len(p.s) && !isSpace(p.s[p.pos]) && !strings.ContainsRune(`'"()`, rune(p.s[p.pos])) {
			p.pos++
		}
		w := p.s[start:p.pos]
		switch {
		case strings.EqualFold(w, "and"):
			p.tok = token{kind: tAnd, pos: start}
		case strings.EqualFold(w, "or"):
			p.tok = token{kind: tOr, pos: start}
		case strings.EqualFold(w, "not"):
			p.tok = token{kind: tErr, pos: start, text: "PAN-OS Dynamic Address Group filters have no NOT operator (quote the tag if it is called " + w + ")"}
		default:
			p.tok = token{kind: tTag, pos: start, text: w}
		}
	}
}

func (p *parser) unexpected(want string) error {
	switch p.tok.kind {
	case tErr:
		return &SyntaxError{Offset: p.tok.pos, Msg: p.tok.text}
	case tEOF:
		return &SyntaxError{Offset: p.tok.pos, Msg: "unexpected end of filter, want " + want}
	}
	what := map[tokKind]string{tTag: "tag", tAnd: "and", tOr: "or", tOpen: "(", tClose: ")"}[p.tok.kind]
	if p.tok.kind == tTag {
		what = fmt.Sprintf("tag %q", p.tok.text)
	}
	return &SyntaxError{Offset: p.tok.pos, Msg: fmt.Sprintf("unexpected %s, want %s", what, want)}
}

func (p *parser) or() (Expr, error) {
	return p.list(OpOr, tOr, p.and)
}

func (p *parser) and() (Expr, error) {
	return p.list(OpAnd, tAnd, p.term)
}

func (p *parser) list(op Op, sep tokKind, operand func() (Expr, error)) (Expr, error) {
	first, err := operand()
	if err != nil {
		return Expr{}, err
	}
	if p.tok.kind != sep {
		return first, nil
	}
	args := flatten(nil, op, first)
	for p.tok.kind == sep {
		p.next()
		e, err := operand()
		if err != nil {
			return Expr{}, err
		}
		args = flatten(args, op, e)
	}
	return Expr{Op: op, Args: args}, nil
}

// flatten appends e to args, splicing in e's operands when e is itself an
// op node (from parentheses: a and (b and c) is a and b and c).
func flatten(args []Expr, op Op, e Expr) []Expr {
	if e.Op == op {
		return append(args, e.Args...)
	}
	return append(args, e)
}

func (p *parser) term() (Expr, error) {
	switch p.tok.kind {
	case tTag:
		e := Expr{Op: OpTag, Tag: p.tok.text}
		p.next()
		return e, nil
	case tOpen:
		open := p.tok.pos
		if p.depth++; p.depth > maxDepth {
			return Expr{}, &SyntaxError{Offset: open, Msg: "parentheses nested too deeply"}
		}
		p.next()
		e, err := p.or()
		if err != nil {
			return Expr{}, err
		}
		if p.tok.kind != tClose {
			if p.tok.kind == tEOF {
				return Expr{}, &SyntaxError{Offset: open, Msg: "unclosed parenthesis"}
			}
			return Expr{}, p.unexpected("and, or or )")
		}
		p.depth--
		p.next()
		return e, nil
	}
	return Expr{}, p.unexpected("a tag or (")
}

// Match reports whether an IP whose tags are has's true set is a member of
// the group.
func (e *Expr) Match(has func(tag string) bool) bool {
	switch e.Op {
	case OpTag:
		return has(e.Tag)
	case OpAnd:
		for i := range e.Args {
			if !e.Args[i].Match(has) {
				return false
			}
		}
		return true
	default:
		for i := range e.Args {
			if e.Args[i].Match(has) {
				return true
			}
		}
		return false
	}
}

// Tags returns the tag names the filter references, sorted, each once.
// Registering only these (on an IP that has them) keeps every DAG's
// membership unchanged, whatever the operators.
func (e *Expr) Tags() []string {
	seen := map[string]struct{}{}
	var walk func(*Expr)
	walk = func(x *Expr) {
		if x.Op == OpTag {
			seen[x.Tag] = struct{}{}
			return
		}
		for i := range x.Args {
			walk(&x.Args[i])
		}
	}
	walk(e)
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// String prints the filter the way the web interface writes it: tags
// single-quoted (double-quoted if the name holds a single quote),
// lower-case operators, parentheses only where needed. Parse(e.String())
// equals e.
func (e Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	switch e.Op {
	case OpTag:
		q := byte('\'')
		if strings.IndexByte(e.Tag, '\'') >= 0 {
			q = '"'
		}
		b.WriteByte(q)
		b.WriteString(e.Tag)
		b.WriteByte(q)
		return
	}
	sep := " and "
	if e.Op == OpOr {
		sep = " or "
	}
	for i := range e.Args {
		if i > 0 {
			b.WriteString(sep)
		}
		a := &e.Args[i]
		// Only an or under an and needs parentheses (and binds tighter);
		// flattening rules out an op directly under the same op.
		if e.Op == OpAnd && a.Op == OpOr {
			b.WriteByte('(')
			a.write(b)
			b.WriteByte(')')
		} else {
			a.write(b)
		}
	}
}
