package jsonpath

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// expr is a filter expression, evaluated for each candidate node (@) against the document root ($).
type expr interface {
	eval(cur, root any) (any, bool) // value and whether it exists
}

type (
	orExpr  struct{ l, r expr }
	andExpr struct{ l, r expr }
	notExpr struct{ e expr }
	cmpExpr struct {
		op   string
		l, r expr
	}
	litExpr  struct{ v any }
	pathExpr struct {
		relative bool // @ rather than $
		p        *Path
	}
	regexExpr struct{ re *regexp.Regexp }
)

func truthy(v any, ok bool) bool {
	if !ok {
		return false
	}
	if b, isBool := v.(bool); isBool {
		return b
	}
	return true // Jayway: an existing path (even null) passes an existence test
}

func (e orExpr) eval(cur, root any) (any, bool) {
	return truthy(e.l.eval(cur, root)) || truthy(e.r.eval(cur, root)), true
}

func (e andExpr) eval(cur, root any) (any, bool) {
	return truthy(e.l.eval(cur, root)) && truthy(e.r.eval(cur, root)), true
}

func (e notExpr) eval(cur, root any) (any, bool) { return !truthy(e.e.eval(cur, root)), true }

func (e litExpr) eval(any, any) (any, bool) { return e.v, true }

func (e regexExpr) eval(any, any) (any, bool) { return e.re, true }

func (e pathExpr) eval(cur, root any) (any, bool) {
	base := root
	if e.relative {
		base = cur
	}
	v, err := e.p.evalFrom(base)
	if err != nil {
		return nil, false
	}
	return v, true
}

func (e cmpExpr) eval(cur, root any) (any, bool) {
	l, lok := e.l.eval(cur, root)
	r, rok := e.r.eval(cur, root)
	if !lok || !rok {
		return e.op == "!=" && lok != rok, true
	}
	switch e.op {
	case "==":
		return looseEqual(l, r), true
	case "!=":
		return !looseEqual(l, r), true
	case "<", "<=", ">", ">=":
		c, ok := compare(l, r)
		if !ok {
			return false, true
		}
		switch e.op {
		case "<":
			return c < 0, true
		case "<=":
			return c <= 0, true
		case ">":
			return c > 0, true
		default:
			return c >= 0, true
		}
	case "=~":
		s, ok := l.(string)
		re, isRe := r.(*regexp.Regexp)
		return ok && isRe && re.MatchString(s), true
	case "in", "nin":
		list, ok := r.([]any)
		found := false
		if ok {
			for _, x := range list {
				if looseEqual(l, x) {
					found = true
					break
				}
			}
		}
		return found == (e.op == "in"), true
	case "contains":
		switch t := l.(type) {
		case string:
			s, ok := r.(string)
			return ok && strings.Contains(t, s), true
		case []any:
			for _, x := range t {
				if looseEqual(x, r) {
					return true, true
				}
			}
		}
		return false, true
	case "size":
		n, ok := r.(value.Number)
		if !ok {
			return false, true
		}
		want, _ := n.Int64()
		switch t := l.(type) {
		case string:
			return int64(len([]rune(t))) == want, true
		case []any:
			return int64(len(t)) == want, true
		}
		return false, true
	case "empty":
		want, _ := r.(bool)
		switch t := l.(type) {
		case string:
			return (t == "") == want, true
		case []any:
			return (len(t) == 0) == want, true
		}
		return false, true
	}
	return false, true
}

func looseEqual(a, b any) bool { return value.Equal(a, b) }

// compare orders two numbers or two strings.
func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case value.Number:
		y, ok := b.(value.Number)
		if !ok {
			return 0, false
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		if err1 != nil || err2 != nil {
			return 0, false
		}
		switch {
		case fx < fy:
			return -1, true
		case fx > fy:
			return 1, true
		}
		return 0, true
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	}
	return 0, false
}

type filterParser struct {
	src   string
	pos   int
	depth int
}

// maxFilterDepth bounds the nesting of a filter expression, so that a hostile path cannot exhaust the stack.
const maxFilterDepth = 100

func (fp *filterParser) errorf(format string, a ...any) error {
	return &SyntaxError{Path: fp.src, Pos: fp.pos, Msg: fmt.Sprintf(format, a...)}
}

func (fp *filterParser) space() {
	for fp.pos < len(fp.src) && fp.src[fp.pos] == ' ' {
		fp.pos++
	}
}

func (fp *filterParser) peek() byte {
	if fp.pos < len(fp.src) {
		return fp.src[fp.pos]
	}
	return 0
}

func (fp *filterParser) eat(s string) bool {
	if strings.HasPrefix(fp.src[fp.pos:], s) {
		fp.pos += len(s)
		return true
	}
	return false
}

// parseParen parses "( expr )".
func (fp *filterParser) parseParen() (expr, error) {
	if !fp.eat("(") {
		return nil, fp.errorf("expected (")
	}
	e, err := fp.or()
	if err != nil {
		return nil, err
	}
	fp.space()
	if !fp.eat(")") {
		return nil, fp.errorf("expected )")
	}
	return e, nil
}

func (fp *filterParser) or() (expr, error) {
	l, err := fp.and()
	if err != nil {
		return nil, err
	}
	for {
		fp.space()
		if !fp.eat("||") {
			return l, nil
		}
		r, err := fp.and()
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
}

func (fp *filterParser) and() (expr, error) {
	l, err := fp.unary()
	if err != nil {
		return nil, err
	}
	for {
		fp.space()
		if !fp.eat("&&") {
			return l, nil
		}
		r, err := fp.unary()
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
}

func (fp *filterParser) unary() (expr, error) {
	fp.depth++
	defer func() { fp.depth-- }()
	if fp.depth > maxFilterDepth {
		return nil, fp.errorf("filter nested deeper than %d", maxFilterDepth)
	}
	fp.space()
	if fp.peek() == '!' && !strings.HasPrefix(fp.src[fp.pos:], "!=") {
		fp.pos++
		e, err := fp.unary()
		if err != nil {
			return nil, err
		}
		return notExpr{e}, nil
	}
	if fp.peek() == '(' {
		return fp.parseParen()
	}
	return fp.comparison()
}

var filterOps = []string{"==", "!=", "<=", ">=", "=~", "<", ">", " nin ", " in ", " contains ", " size ", " empty ", " subsetof ", " anyof ", " noneof "}

func (fp *filterParser) comparison() (expr, error) {
	l, err := fp.operand()
	if err != nil {
		return nil, err
	}
	save := fp.pos
	if fp.peek() == ' ' || strings.ContainsRune("=!<>", rune(fp.peek())) {
		for _, op := range filterOps {
			word := strings.TrimSpace(op)
			fp.space()
			start := fp.pos
			if op[0] == ' ' {
				if !strings.HasPrefix(fp.src[fp.pos:], word) || fp.pos+len(word) >= len(fp.src) || fp.src[fp.pos+len(word)] != ' ' {
					fp.pos = save
					continue
				}
			} else if !strings.HasPrefix(fp.src[fp.pos:], word) {
				fp.pos = save
				continue
			}
			fp.pos = start + len(word)
			switch word {
			case "subsetof", "anyof", "noneof":
				return nil, fp.errorf("filter operator %s is not supported", word)
			}
			fp.space()
			var r expr
			if word == "=~" {
				r, err = fp.regex()
			} else {
				r, err = fp.operand()
			}
			if err != nil {
				return nil, err
			}
			return cmpExpr{op: word, l: l, r: r}, nil
		}
	}
	fp.pos = save
	return l, nil
}

func (fp *filterParser) regex() (expr, error) {
	fp.space()
	if !fp.eat("/") {
		return nil, fp.errorf("expected /regex/")
	}
	var b strings.Builder
	for fp.pos < len(fp.src) && fp.src[fp.pos] != '/' {
		if fp.src[fp.pos] == '\\' && fp.pos+1 < len(fp.src) && fp.src[fp.pos+1] == '/' {
			b.WriteByte('/')
			fp.pos += 2
			continue
		}
		b.WriteByte(fp.src[fp.pos])
		fp.pos++
	}
	if !fp.eat("/") {
		return nil, fp.errorf("unterminated regex")
	}
	flags := ""
	for fp.pos < len(fp.src) && strings.IndexByte("imsx", fp.src[fp.pos]) >= 0 {
		if fp.src[fp.pos] != 'x' {
			flags += string(fp.src[fp.pos])
		}
		fp.pos++
	}
	pattern := b.String()
	if flags != "" {
		pattern = "(?" + flags + ")" + pattern
	}
	// Jayway matches the whole string.
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fp.errorf("invalid regex: %v", err)
	}
	return regexExpr{re}, nil
}

func (fp *filterParser) operand() (expr, error) {
	fp.space()
	switch c := fp.peek(); {
	case c == '@' || c == '$':
		start := fp.pos
		fp.pos++
		if c == '$' && fp.peek() == '$' {
			return nil, fp.errorf("$$ is not allowed in a filter")
		}
		depth := 0
		for fp.pos < len(fp.src) {
			ch := fp.src[fp.pos]
			if ch == '[' {
				depth++
			} else if ch == ']' {
				depth--
			} else if depth == 0 && (ch == ' ' || ch == ')' || ch == '=' || ch == '!' || ch == '<' || ch == '>' || ch == '&' || ch == '|') {
				break
			} else if depth > 0 && (ch == '\'' || ch == '"') {
				q := ch
				fp.pos++
				for fp.pos < len(fp.src) && fp.src[fp.pos] != q {
					if fp.src[fp.pos] == '\\' {
						fp.pos++
					}
					fp.pos++
				}
			}
			fp.pos++
		}
		if fp.pos > len(fp.src) {
			fp.pos = len(fp.src)
		}
		text := fp.src[start:fp.pos]
		src := text
		if c == '@' {
			src = "$" + text[1:]
		}
		p, err := parseDepth(src, fp.depth+1)
		if err != nil {
			return nil, fp.errorf("invalid path %q in a filter: %v", text, err)
		}
		return pathExpr{relative: c == '@', p: p}, nil
	case c == '\'' || c == '"':
		ps := &pathParser{src: fp.src, pos: fp.pos}
		s, err := ps.quoted()
		if err != nil {
			return nil, err
		}
		fp.pos = ps.pos
		return litExpr{s}, nil
	case c == '[':
		fp.pos++
		var list []any
		for {
			fp.space()
			if fp.eat("]") {
				return litExpr{list}, nil
			}
			e, err := fp.operand()
			if err != nil {
				return nil, err
			}
			lit, ok := e.(litExpr)
			if !ok {
				return nil, fp.errorf("a list holds literals only")
			}
			list = append(list, lit.v)
			fp.space()
			fp.eat(",")
		}
	case c == '-' || (c >= '0' && c <= '9'):
		start := fp.pos
		fp.pos++
		for fp.pos < len(fp.src) && strings.IndexByte("0123456789.eE+-", fp.src[fp.pos]) >= 0 {
			fp.pos++
		}
		v, err := value.ParseString(fp.src[start:fp.pos])
		if err != nil {
			return nil, fp.errorf("invalid number %q", fp.src[start:fp.pos])
		}
		return litExpr{v}, nil
	case fp.eat("true"):
		return litExpr{true}, nil
	case fp.eat("false"):
		return litExpr{false}, nil
	case fp.eat("null"):
		return litExpr{nil}, nil
	}
	return nil, fp.errorf("unexpected %q in a filter", fp.peek())
}
