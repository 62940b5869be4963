// Package intrinsic parses and evaluates the States Language intrinsic functions (States.Format,
// States.StringToJson, ..., States.UUID: all 18), which JSONPath-mode definitions use in "key.$" fields,
// ResultSelector, ItemSelector, Assign and the ErrorPath/CausePath of Fail states.
//
// Arguments are string literals in single quotes, numbers, true/false/null, paths ($..., $$..., $variable) and
// nested calls. Inside a string literal a backslash escapes ' { } and \; in States.Format an unescaped {} is a
// placeholder and \{ \} are literal braces. Calls are checked when parsed (name, number of arguments), as
// Step Functions checks them when a state machine is created; argument types and values are checked when
// evaluated, and fail with an *Error.
package intrinsic

import (
	"fmt"
	"strings"

	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// Call is a parsed intrinsic function call. It is immutable and safe for concurrent use.
type Call struct {
	src  string
	Name string // "States.Format", ...
	Args []Arg
}

// ArgKind tells what an argument is.
type ArgKind int

const (
	ArgLiteral ArgKind = iota // a string, number, boolean or null literal
	ArgPath                   // a JSONPath
	ArgCall                   // a nested intrinsic call
)

// Arg is one argument of a call.
type Arg struct {
	Kind    ArgKind
	Literal any
	Path    *jsonpath.Path
	Call    *Call
	// holes are the byte offsets in a string literal where an unescaped {} stood (States.Format placeholders).
	holes []int
}

// SyntaxError is a call that does not parse or names an unknown function or the wrong number of arguments.
type SyntaxError struct {
	Src string
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid intrinsic function %q at offset %d: %s", e.Src, e.Pos, e.Msg)
}

// IsCall reports whether s looks like an intrinsic function call rather than a path.
func IsCall(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "States.") }

// String returns the call as written.
func (c *Call) String() string { return c.src }

// Parse parses an intrinsic function call.
func Parse(s string) (*Call, error) {
	p := &parser{src: s}
	p.space()
	c, err := p.call()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, p.errorf("unexpected %q after the call", p.src[p.pos:])
	}
	c.src = s
	return c, nil
}

type parser struct {
	src   string
	pos   int
	depth int
}

// maxDepth bounds the nesting of calls, so that a hostile definition cannot exhaust the stack.
const maxDepth = 100

func (p *parser) errorf(format string, a ...any) error {
	return &SyntaxError{Src: p.src, Pos: p.pos, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) call() (*Call, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errorf("calls nested deeper than %d", maxDepth)
	}
	start := p.pos
	for p.pos < len(p.src) && (isNameChar(p.src[p.pos]) || p.src[p.pos] == '.') {
		p.pos++
	}
	name := p.src[start:p.pos]
	spec, ok := functions[name]
	if !ok {
		p.pos = start
		return nil, p.errorf("unknown intrinsic function %q", name)
	}
	p.space()
	if p.peek() != '(' {
		return nil, p.errorf("expected ( after %s", name)
	}
	p.pos++
	c := &Call{Name: name}
	p.space()
	if p.peek() == ')' {
		p.pos++
	} else {
		for {
			p.space()
			a, err := p.arg()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, a)
			p.space()
			if p.peek() == ',' {
				p.pos++
				continue
			}
			if p.peek() == ')' {
				p.pos++
				break
			}
			return nil, p.errorf("expected , or ) in the arguments of %s", name)
		}
	}
	if len(c.Args) < spec.min || (spec.max >= 0 && len(c.Args) > spec.max) {
		return nil, p.errorf("%s takes %s, got %d", name, spec.arity(), len(c.Args))
	}
	c.src = p.src[start:p.pos]
	return c, nil
}

func isNameChar(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func (p *parser) arg() (Arg, error) {
	switch c := p.peek(); {
	case c == '\'':
		return p.stringLit()
	case c == '$':
		return p.path()
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && strings.IndexByte("0123456789.eE+-", p.src[p.pos]) >= 0 {
			p.pos++
		}
		v, err := value.ParseString(p.src[start:p.pos])
		if err != nil {
			p.pos = start
			return Arg{}, p.errorf("invalid number %q", p.src[start:p.pos])
		}
		return Arg{Kind: ArgLiteral, Literal: v}, nil
	case strings.HasPrefix(p.src[p.pos:], "States."):
		call, err := p.call()
		if err != nil {
			return Arg{}, err
		}
		return Arg{Kind: ArgCall, Call: call}, nil
	default:
		for _, lit := range []struct {
			word string
			v    any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if strings.HasPrefix(p.src[p.pos:], lit.word) {
				end := p.pos + len(lit.word)
				if end == len(p.src) || !isNameChar(p.src[end]) {
					p.pos = end
					return Arg{Kind: ArgLiteral, Literal: lit.v}, nil
				}
			}
		}
	}
	return Arg{}, p.errorf("unexpected %q in an argument list", p.peek())
}

// stringLit parses '...'. A backslash escapes the next character; an unescaped {} is recorded as a hole.
func (p *parser) stringLit() (Arg, error) {
	p.pos++ // '
	var b strings.Builder
	var holes []int
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				return Arg{}, p.errorf("unterminated string literal")
			}
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		case c == '\'':
			p.pos++
			return Arg{Kind: ArgLiteral, Literal: b.String(), holes: holes}, nil
		case c == '{' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '}':
			holes = append(holes, b.Len())
			b.WriteString("{}")
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return Arg{}, p.errorf("unterminated string literal")
}

// path reads a path argument: everything up to a , or ) outside brackets and quotes.
func (p *parser) path() (Arg, error) {
	start := p.pos
	depth := 0
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '\'' || c == '"' {
			p.pos++
			for p.pos < len(p.src) && p.src[p.pos] != c {
				if p.src[p.pos] == '\\' {
					p.pos++
				}
				p.pos++
			}
			p.pos++
			continue
		}
		if c == '[' || c == '(' {
			depth++
		} else if c == ']' || c == ')' {
			if depth == 0 {
				break
			}
			depth--
		} else if c == ',' && depth == 0 {
			break
		}
		p.pos++
	}
	if p.pos > len(p.src) {
		p.pos = len(p.src)
	}
	text := strings.TrimSpace(p.src[start:p.pos])
	jp, err := jsonpath.Parse(text)
	if err != nil {
		p.pos = start
		return Arg{}, p.errorf("invalid path argument %q: %v", text, err)
	}
	return Arg{Kind: ArgPath, Path: jp}, nil
}

type spec struct {
	min, max int // max -1: unbounded
}

func (s spec) arity() string {
	switch {
	case s.max < 0:
		return fmt.Sprintf("at least %d argument(s)", s.min)
	case s.min == s.max:
		return fmt.Sprintf("%d argument(s)", s.min)
	default:
		return fmt.Sprintf("%d to %d arguments", s.min, s.max)
	}
}

var functions = map[string]spec{
	"States.Format":         {1, -1},
	"States.StringToJson":   {1, 1},
	"States.JsonToString":   {1, 1},
	"States.Array":          {0, -1},
	"States.ArrayPartition": {2, 2},
	"States.ArrayContains":  {2, 2},
	"States.ArrayRange":     {3, 3},
	"States.ArrayGetItem":   {2, 2},
	"States.ArrayLength":    {1, 1},
	"States.ArrayUnique":    {1, 1},
	"States.Base64Encode":   {1, 1},
	"States.Base64Decode":   {1, 1},
	"States.Hash":           {2, 2},
	"States.JsonMerge":      {3, 3},
	"States.MathRandom":     {2, 3},
	"States.MathAdd":        {2, 2},
	"States.StringSplit":    {2, 2},
	"States.UUID":           {0, 0},
}

// Functions returns the names of the intrinsic functions, for validators and documentation.
func Functions() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	return names
}
