package asl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cpwarden/cpwarden/internal/asl/intrinsic"
	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// template is a compiled payload template (Parameters, ResultSelector, ItemSelector, Assign, Credentials):
// members whose name ends in ".$" take their value from a path or an intrinsic function call.
type template struct {
	dynamic bool
	static  any // the whole value, when nothing in it is dynamic
	fields  []tfield
	items   []*template
	isObj   bool
}

type tfield struct {
	key   string // member name in the output
	field string // member name in the definition (with .$), for messages
	sub   *template
	path  *jsonpath.Path
	call  *intrinsic.Call
}

func (c *compiler) template(v any, at string) *template {
	if v == nil {
		return nil
	}
	jv, err := jsonValue(v)
	if err != nil {
		c.errorf(at, "%v", err)
		return nil
	}
	return c.compileTemplate(jv, at)
}

func (c *compiler) compileTemplate(v any, at string) *template {
	switch t := v.(type) {
	case *value.Object:
		tp := &template{isObj: true, static: t}
		for i := 0; i < t.Len(); i++ {
			k, mv := t.Key(i), t.At(i)
			fat := join(at, k)
			if strings.HasSuffix(k, ".$") {
				s, ok := mv.(string)
				if !ok {
					c.errorf(fat, "the value of a .$ field must be a path or an intrinsic function, not %s", value.Kind(mv))
					continue
				}
				f := tfield{key: strings.TrimSuffix(k, ".$"), field: k}
				if intrinsic.IsCall(s) {
					call, err := intrinsic.Parse(s)
					if err != nil {
						c.errorf(fat, "%v", err)
						continue
					}
					f.call = call
				} else {
					f.path = c.path(s, fat)
					if f.path == nil {
						continue
					}
				}
				tp.dynamic = true
				tp.fields = append(tp.fields, f)
				continue
			}
			sub := c.compileTemplate(mv, fat)
			if sub.dynamic {
				tp.dynamic = true
			}
			tp.fields = append(tp.fields, tfield{key: k, field: k, sub: sub})
		}
		return tp
	case []any:
		tp := &template{static: t}
		for i, e := range t {
			sub := c.compileTemplate(e, fmt.Sprintf("%s[%d]", at, i))
			if sub.dynamic {
				tp.dynamic = true
			}
			tp.items = append(tp.items, sub)
		}
		return tp
	default:
		return &template{static: v}
	}
}

// evalEnv resolves the roots a path may start from.
type evalEnv struct {
	x     *execution
	t     *thread
	input any       // $
	r     *stateRun // whose context object is $$
}

func (e *evalEnv) root(p *jsonpath.Path) (any, error) {
	switch p.Root() {
	case jsonpath.RootContext:
		return e.r.contextObject(), nil // see Path for the members it resolves without building it
	case jsonpath.RootVariable:
		v, ok := e.t.getVar(p.Variable())
		if !ok {
			return nil, &jsonpath.NotFoundError{Path: p.String(), Message: fmt.Sprintf("The variable '$%s' is not defined", p.Variable())}
		}
		return v, nil
	}
	return e.input, nil
}

// Path implements intrinsic.Env.
func (e *evalEnv) Path(p *jsonpath.Path) (any, error) {
	if p.Root() == jsonpath.RootContext && p.IsDefinite() {
		// Most context paths read one member ($$.Execution.Id, $$.Map.Item.Value): resolve it without building
		// the whole context object.
		if v, ok, err := e.contextMember(p); ok {
			return v, err
		}
	}
	r, err := e.root(p)
	if err != nil {
		return nil, err
	}
	return p.Eval(r)
}

// Uint64 implements intrinsic.Env.
func (e *evalEnv) Uint64() uint64 { return e.x.uint64() }

// fieldError is a path or call in a template that failed; it becomes the cause of a States.Runtime failure.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }

func (e *evalEnv) eval(tp *template) (any, error) {
	if !tp.dynamic {
		return tp.static, nil
	}
	if !tp.isObj {
		out := make([]any, len(tp.items))
		for i, it := range tp.items {
			v, err := e.eval(it)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	out := value.NewObject(len(tp.fields))
	for i := range tp.fields {
		f := &tp.fields[i]
		var v any
		var err error
		switch {
		case f.sub != nil:
			v, err = e.eval(f.sub)
		case f.call != nil:
			v, err = f.call.Eval(e)
			if err != nil {
				var nf *jsonpath.NotFoundError
				if errors.As(err, &nf) {
					err = &fieldError{fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", nf.Path, f.field, value.String(e.input))}
				} else {
					err = &fieldError{err.Error()}
				}
			}
		default:
			v, err = e.Path(f.path)
			if err != nil {
				err = &fieldError{fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", f.path.String(), f.field, value.String(e.input))}
			}
		}
		if err != nil {
			return nil, err
		}
		out.Set(f.key, v)
	}
	return out, nil
}

// contextMember resolves a definite $$ path through the member it starts with; ok is false when the whole
// context object is needed.
func (e *evalEnv) contextMember(p *jsonpath.Path) (v any, ok bool, err error) {
	names := p.LeadingNames()
	if len(names) == 0 {
		return nil, false, nil
	}
	r := e.r
	switch names[0] {
	case "Execution":
		v, err = p.EvalFrom(1, e.x.ctxExec)
		return v, true, err
	case "StateMachine":
		v, err = p.EvalFrom(1, e.x.ctxSM)
		return v, true, err
	case "Map":
		if r.item == nil || len(names) < 3 || names[1] != "Item" {
			return nil, false, nil
		}
		switch names[2] {
		case "Value":
			v, err = p.EvalFrom(3, r.item.value)
			return v, true, err
		case "Index":
			if len(names) == 3 {
				return value.IntValue(int64(r.item.index)), true, nil
			}
		}
	}
	return nil, false, nil
}
