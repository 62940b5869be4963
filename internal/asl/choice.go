package asl

import (
	"fmt"
	"strings"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// choiceSpec is a compiled Choice state.
type choiceSpec struct {
	rules []*crule
	def   *cstate
}

type crule struct {
	op       string
	variable *jsonpath.Path
	operand  any            // literal operand
	opPath   *jsonpath.Path // operand of a *Path operator
	ts       time.Time      // literal operand of a Timestamp operator
	and, or  []*crule
	not      *crule
	next     *cstate
	assign   *template
}

func (c *compiler) choiceSpec(m *machine, t *Choice, at string) *choiceSpec {
	cs := &choiceSpec{}
	if len(t.Choices) == 0 {
		c.errorf(join(at, "Choices"), "a Choice state needs at least one rule")
	}
	for i := range t.Choices {
		rat := fmt.Sprintf("%s.Choices[%d]", at, i)
		r := c.choiceRule(&t.Choices[i], rat)
		if t.Choices[i].Next == "" {
			c.errorf(join(rat, "Next"), "is required")
		} else if r.next = m.states[t.Choices[i].Next]; r.next == nil {
			c.errorf(join(rat, "Next"), "names no state: %q", t.Choices[i].Next)
		}
		r.assign = c.template(t.Choices[i].Assign, join(rat, "Assign"))
		cs.rules = append(cs.rules, r)
	}
	if t.Default != "" {
		if cs.def = m.states[t.Default]; cs.def == nil {
			c.errorf(join(at, "Default"), "names no state: %q", t.Default)
		}
	}
	return cs
}

func (c *compiler) choiceRule(r *ChoiceRule, at string) *crule {
	cr := &crule{op: r.Op}
	n := 0
	for _, g := range [...]struct {
		name  string
		rules []ChoiceRule
		into  *[]*crule
	}{{"And", r.And, &cr.and}, {"Or", r.Or, &cr.or}} {
		if g.rules == nil {
			continue
		}
		n++
		for i := range g.rules {
			*g.into = append(*g.into, c.choiceRule(&g.rules[i], fmtIndex(join(at, g.name), i)))
		}
		if len(g.rules) == 0 {
			c.errorf(join(at, g.name), "needs at least one rule")
		}
	}
	if r.Not != nil {
		n++
		cr.not = c.choiceRule(r.Not, join(at, "Not"))
	}
	if r.Op != "" {
		n++
		if !choiceOps[r.Op] {
			c.errorf(join(at, r.Op), "unknown comparison operator")
			return cr
		}
		if r.Variable == "" {
			c.errorf(join(at, "Variable"), "is required with %s", r.Op)
		} else {
			cr.variable = c.path(r.Variable, join(at, "Variable"))
		}
		oat := join(at, r.Op)
		operand, err := jsonValue(r.Value)
		if err != nil {
			c.errorf(oat, "%v", err)
			return cr
		}
		switch {
		case strings.HasSuffix(r.Op, "Path"):
			s, ok := operand.(string)
			if !ok {
				c.errorf(oat, "must be a path, not %s", value.Kind(operand))
				break
			}
			cr.opPath = c.path(s, oat)
		case strings.HasPrefix(r.Op, "Is"), strings.HasPrefix(r.Op, "Boolean"):
			if _, ok := operand.(bool); !ok {
				c.errorf(oat, "must be a boolean, not %s", value.Kind(operand))
			}
		case strings.HasPrefix(r.Op, "Numeric"):
			if _, ok := operand.(value.Number); !ok {
				c.errorf(oat, "must be a number, not %s", value.Kind(operand))
			}
		case strings.HasPrefix(r.Op, "Timestamp"):
			s, ok := operand.(string)
			ts, err := parseTimestamp(s)
			if !ok || err != nil {
				c.errorf(oat, "must be an ISO-8601 timestamp, not %s", value.String(operand))
			}
			cr.ts = ts
		default: // String*
			if _, ok := operand.(string); !ok {
				c.errorf(oat, "must be a string, not %s", value.Kind(operand))
			}
		}
		cr.operand = operand
	}
	if r.Condition != nil {
		n++
		c.errorf(join(at, "Condition"), "JSONata conditions are not supported by this engine yet")
	}
	if n != 1 {
		c.errorf(at, "a choice rule needs exactly one of a comparison operator, And, Or, Not")
	}
	return cr
}

// matchRule evaluates a choice rule. A variable that selects nothing is a runtime error, except for IsPresent.
func (e *evalEnv) matchRule(r *crule) (bool, error) {
	switch {
	case r.and != nil:
		for _, s := range r.and {
			ok, err := e.matchRule(s)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			ok, err := e.matchRule(s)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := e.matchRule(r.not)
		return !ok, err
	}
	v, err := e.Path(r.variable)
	present := err == nil
	if r.op == OpIsPresent {
		return present == r.operand.(bool), nil
	}
	if err != nil {
		return false, causeError("Invalid path '" + r.variable.String() + "': The choice state's condition path references an invalid value.")
	}
	operand := r.operand
	if r.opPath != nil {
		if operand, err = e.Path(r.opPath); err != nil {
			return false, causeError("Invalid path '" + r.opPath.String() + "': The choice state's condition path references an invalid value.")
		}
	}
	op := strings.TrimSuffix(r.op, "Path")
	switch op {
	case OpIsNull:
		return (v == nil) == operand.(bool), nil
	case OpIsNumeric:
		_, ok := v.(value.Number)
		return ok == operand.(bool), nil
	case OpIsString:
		_, ok := v.(string)
		return ok == operand.(bool), nil
	case OpIsBoolean:
		_, ok := v.(bool)
		return ok == operand.(bool), nil
	case OpIsTimestamp:
		s, ok := v.(string)
		if ok {
			_, perr := parseTimestamp(s)
			ok = perr == nil
		}
		return ok == operand.(bool), nil
	case OpBooleanEquals:
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	case OpStringMatches:
		s, ok1 := v.(string)
		pat, ok2 := operand.(string)
		return ok1 && ok2 && wildcardMatch(pat, s), nil
	}
	switch {
	case strings.HasPrefix(op, "String"):
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		return cmpResult(strings.TrimPrefix(op, "String"), strings.Compare(a, b)), nil
	case strings.HasPrefix(op, "Numeric"):
		a, ok1 := v.(value.Number)
		b, ok2 := operand.(value.Number)
		if !ok1 || !ok2 {
			return false, nil
		}
		fa, err1 := a.Float64()
		fb, err2 := b.Float64()
		if err1 != nil || err2 != nil {
			return false, nil
		}
		c := 0
		if fa < fb {
			c = -1
		} else if fa > fb {
			c = 1
		}
		return cmpResult(strings.TrimPrefix(op, "Numeric"), c), nil
	case strings.HasPrefix(op, "Timestamp"):
		s, ok := v.(string)
		if !ok {
			return false, nil
		}
		a, perr := parseTimestamp(s)
		if perr != nil {
			return false, nil
		}
		b := r.ts
		if r.opPath != nil {
			os, ok := operand.(string)
			if !ok {
				return false, nil
			}
			if b, perr = parseTimestamp(os); perr != nil {
				return false, nil
			}
		}
		return cmpResult(strings.TrimPrefix(op, "Timestamp"), a.Compare(b)), nil
	}
	return false, fmt.Errorf("unknown operator %s", r.op)
}

// causeError is an error whose text is the cause Step Functions reports, verbatim.
type causeError string

func (e causeError) Error() string { return string(e) }

func cmpResult(rel string, c int) bool {
	switch rel {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "GreaterThan":
		return c > 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

// wildcardMatch implements StringMatches: * matches any run of characters; \* is a literal star and \\ a
// literal backslash.
func wildcardMatch(pattern, s string) bool {
	type tok struct {
		star bool
		r    rune
	}
	var toks []tok
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\' && i+1 < len(rs):
			i++
			toks = append(toks, tok{r: rs[i]})
		case rs[i] == '*':
			toks = append(toks, tok{star: true})
		default:
			toks = append(toks, tok{r: rs[i]})
		}
	}
	str := []rune(s)
	// Iterative glob match with backtracking to the last star.
	pi, si, starP, starS := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(toks) && !toks[pi].star && toks[pi].r == str[si]:
			pi++
			si++
		case pi < len(toks) && toks[pi].star:
			starP, starS = pi, si
			pi++
		case starP >= 0:
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(toks) && toks[pi].star {
		pi++
	}
	return pi == len(toks)
}
