// Package jsonpath evaluates the JSONPath dialect Step Functions accepts in JSONPath-mode definitions (it is
// Jayway JsonPath's): dot and bracket notation, indexes (negative from the end), slices, wildcards, deep scan,
// union lists, filters such as [?(@.status == 0)] and a trailing length(). A path starts at the state input ($),
// the context object ($$) or a variable ($name).
//
// As in Jayway, a definite path (names and single indexes only) selects one value and fails when it selects
// nothing, with Jayway's messages ("No results for path: $['a']", "Missing property in path $['a']") because
// they end up in the causes of execution histories; an indefinite path selects a list, possibly empty. A
// reference path (names and indexes only, no wildcard) can also be written to, which is what ResultPath does.
//
// Why not an RFC 9535 library: RFC 9535 has no definite/indefinite distinction and reports no errors for missing
// members, both of which change what a Step Functions execution does; and the paths here run on the ordered value
// model of package value.
package jsonpath

import (
	"fmt"
	"strconv"
	"strings"
)

// Root is where a path starts.
type Root int

const (
	RootInput    Root = iota // $
	RootContext              // $$
	RootVariable             // $name
)

// Path is a parsed JSONPath expression. It is immutable and safe for concurrent use.
type Path struct {
	src      string
	root     Root
	variable string
	segs     []segment
	lead     []string // the names the path starts with
	definite bool
	length   bool // trailing .length()
}

type segKind uint8

const (
	segName     segKind = iota // .name, ['name']
	segIndex                   // [3], [-1]
	segWildcard                // .*, [*]
	segNames                   // ['a','b']
	segIndexes                 // [0,2]
	segSlice                   // [1:3], [::2]
	segFilter                  // [?(...)]
)

type segment struct {
	kind    segKind
	deep    bool // preceded by "..": applies to the node and all its descendants
	name    string
	index   int
	names   []string
	indexes []int
	slice   [3]*int
	filter  expr
}

// SyntaxError is a path that does not parse.
type SyntaxError struct {
	Path string
	Pos  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSONPath %q at offset %d: %s", e.Path, e.Pos, e.Msg)
}

// MustParse is Parse for paths known at compile time; it panics on a syntax error.
func MustParse(s string) *Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Parse parses a JSONPath expression.
func Parse(s string) (*Path, error) { return parseDepth(s, 0) }

// parseDepth parses a path that appears depth filters deep inside another.
func parseDepth(s string, depth int) (*Path, error) {
	ps := &pathParser{src: s, depth: depth}
	p, err := ps.parse()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// String returns the expression as written.
func (p *Path) String() string { return p.src }

// Root returns where the path starts.
func (p *Path) Root() Root { return p.root }

// Variable returns the variable name of a $name path.
func (p *Path) Variable() string { return p.variable }

// IsDefinite reports whether the path selects at most one value (no wildcard, slice, union, filter or deep scan).
func (p *Path) IsDefinite() bool { return p.definite }

// IsReference reports whether the path is a reference path: names and single indexes only, so it can be
// written to (ResultPath, and the other fields the States Language calls reference paths).
func (p *Path) IsReference() bool {
	if !p.definite || p.length {
		return false
	}
	for _, s := range p.segs {
		if s.kind != segName && s.kind != segIndex {
			return false
		}
	}
	return true
}

// IsRoot reports whether the path is the bare root ($, $$ or $name).
func (p *Path) IsRoot() bool { return len(p.segs) == 0 && !p.length }

type pathParser struct {
	src   string
	pos   int
	depth int
}

func (ps *pathParser) errorf(format string, a ...any) error {
	return &SyntaxError{Path: ps.src, Pos: ps.pos, Msg: fmt.Sprintf(format, a...)}
}

func (ps *pathParser) peek() byte {
	if ps.pos < len(ps.src) {
		return ps.src[ps.pos]
	}
	return 0
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (ps *pathParser) parse() (*Path, error) {
	p := &Path{src: ps.src, definite: true}
	if !strings.HasPrefix(ps.src, "$") {
		return nil, ps.errorf("a path starts with $")
	}
	ps.pos = 1
	switch c := ps.peek(); {
	case c == '$':
		p.root = RootContext
		ps.pos++
	case isIdentStart(c):
		start := ps.pos
		for ps.pos < len(ps.src) && isIdentPart(ps.src[ps.pos]) {
			ps.pos++
		}
		p.root = RootVariable
		p.variable = ps.src[start:ps.pos]
	}
	for ps.pos < len(ps.src) {
		if p.length {
			return nil, ps.errorf("nothing may follow length()")
		}
		switch ps.peek() {
		case '.':
			ps.pos++
			deep := false
			if ps.peek() == '.' {
				ps.pos++
				deep = true
			}
			if deep && ps.peek() == '[' {
				seg, err := ps.bracket()
				if err != nil {
					return nil, err
				}
				seg.deep = true
				p.segs = append(p.segs, seg)
				continue
			}
			if ps.peek() == '*' {
				ps.pos++
				p.segs = append(p.segs, segment{kind: segWildcard, deep: deep})
				continue
			}
			start := ps.pos
			for ps.pos < len(ps.src) && ps.src[ps.pos] != '.' && ps.src[ps.pos] != '[' {
				ps.pos++
			}
			name := ps.src[start:ps.pos]
			if name == "" {
				return nil, ps.errorf("empty property name")
			}
			if name == "length()" && !deep && ps.pos == len(ps.src) {
				p.length = true
				continue
			}
			if strings.ContainsAny(name, " ()'\"") {
				return nil, ps.errorf("invalid property name %q", name)
			}
			p.segs = append(p.segs, segment{kind: segName, name: name, deep: deep})
		case '[':
			seg, err := ps.bracket()
			if err != nil {
				return nil, err
			}
			p.segs = append(p.segs, seg)
		default:
			return nil, ps.errorf("unexpected %q", ps.peek())
		}
	}
	for _, s := range p.segs {
		if s.deep || (s.kind != segName && s.kind != segIndex) {
			p.definite = false
		}
	}
	for _, s := range p.segs {
		if s.kind != segName || s.deep {
			break
		}
		p.lead = append(p.lead, s.name)
	}
	return p, nil
}

func (ps *pathParser) skipSpace() {
	for ps.pos < len(ps.src) && ps.src[ps.pos] == ' ' {
		ps.pos++
	}
}

// bracket parses a [...] selector; ps.pos is at '['.
func (ps *pathParser) bracket() (segment, error) {
	ps.pos++
	ps.skipSpace()
	var seg segment
	switch c := ps.peek(); {
	case c == '*':
		ps.pos++
		seg.kind = segWildcard
	case c == '\'' || c == '"':
		var names []string
		for {
			ps.skipSpace()
			name, err := ps.quoted()
			if err != nil {
				return seg, err
			}
			names = append(names, name)
			ps.skipSpace()
			if ps.peek() != ',' {
				break
			}
			ps.pos++
		}
		if len(names) == 1 {
			seg = segment{kind: segName, name: names[0]}
		} else {
			seg = segment{kind: segNames, names: names}
		}
	case c == '?':
		ps.pos++
		ps.skipSpace()
		if ps.peek() != '(' {
			return seg, ps.errorf("a filter is written [?(...)]")
		}
		fp := &filterParser{src: ps.src, pos: ps.pos, depth: ps.depth}
		e, err := fp.parseParen()
		if err != nil {
			return seg, err
		}
		ps.pos = fp.pos
		seg = segment{kind: segFilter, filter: e}
	case c == '-' || c == ':' || (c >= '0' && c <= '9'):
		var nums [3]*int
		part, colons := 0, 0
		var list []int
		for {
			ps.skipSpace()
			if n, ok, err := ps.integer(); err != nil {
				return seg, err
			} else if ok {
				v := n
				nums[part] = &v
			}
			ps.skipSpace()
			switch ps.peek() {
			case ':':
				if len(list) > 0 || part == 2 {
					return seg, ps.errorf("invalid slice")
				}
				ps.pos++
				part++
				colons++
				continue
			case ',':
				if colons > 0 || nums[0] == nil {
					return seg, ps.errorf("invalid index list")
				}
				list = append(list, *nums[0])
				nums[0] = nil
				ps.pos++
				continue
			}
			break
		}
		switch {
		case colons > 0:
			seg = segment{kind: segSlice, slice: nums}
		case len(list) > 0:
			if nums[0] == nil {
				return seg, ps.errorf("invalid index list")
			}
			seg = segment{kind: segIndexes, indexes: append(list, *nums[0])}
		case nums[0] != nil:
			seg = segment{kind: segIndex, index: *nums[0]}
		default:
			return seg, ps.errorf("empty selector")
		}
	default:
		return seg, ps.errorf("unexpected %q in a selector", c)
	}
	ps.skipSpace()
	if ps.peek() != ']' {
		return seg, ps.errorf("expected ]")
	}
	ps.pos++
	return seg, nil
}

func (ps *pathParser) integer() (int, bool, error) {
	start := ps.pos
	if ps.peek() == '-' {
		ps.pos++
	}
	for ps.pos < len(ps.src) && ps.src[ps.pos] >= '0' && ps.src[ps.pos] <= '9' {
		ps.pos++
	}
	if ps.pos == start {
		return 0, false, nil
	}
	n, err := strconv.Atoi(ps.src[start:ps.pos])
	if err != nil {
		return 0, false, ps.errorf("invalid integer %q", ps.src[start:ps.pos])
	}
	return n, true, nil
}

// quoted parses a '...' or "..." name; backslash escapes the next character.
func (ps *pathParser) quoted() (string, error) {
	q := ps.peek()
	if q != '\'' && q != '"' {
		return "", ps.errorf("expected a quoted name")
	}
	ps.pos++
	var b strings.Builder
	for ps.pos < len(ps.src) {
		c := ps.src[ps.pos]
		switch {
		case c == '\\' && ps.pos+1 < len(ps.src):
			b.WriteByte(ps.src[ps.pos+1])
			ps.pos += 2
		case c == q:
			ps.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			ps.pos++
		}
	}
	return "", ps.errorf("unterminated quoted name")
}
