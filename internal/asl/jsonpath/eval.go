package jsonpath

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// NotFoundError is a definite path that selects nothing. Its message is Jayway's, which Step Functions quotes
// in the causes of failed executions.
type NotFoundError struct {
	Path    string // the expression as written
	Message string // "No results for path: $['a']", "Missing property in path $['a']", ...
}

func (e *NotFoundError) Error() string { return e.Message }

// norm returns Jayway's normalised form of the first n segments of a definite path: $['a'][0].
func (p *Path) norm(n int) string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range p.segs[:n] {
		if s.kind == segIndex {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		} else {
			b.WriteString("['" + s.name + "']")
		}
	}
	return b.String()
}

// Eval evaluates the path against root, the value its root ($, $$ or $name) denotes. A definite path returns the
// value it selects, or a *NotFoundError; an indefinite path returns the list ([]any) of what it selects.
func (p *Path) Eval(root any) (any, error) { return p.evalFrom(root) }

func (p *Path) evalFrom(root any) (any, error) {
	var v any
	if p.definite {
		var err error
		if v, err = p.evalDefinite(root); err != nil {
			return nil, err
		}
	} else {
		v = p.evalList(root)
	}
	if p.length {
		switch t := v.(type) {
		case []any:
			return value.IntValue(int64(len(t))), nil
		case *value.Object:
			return value.IntValue(int64(t.Len())), nil
		case string:
			return value.Int(int64(len([]rune(t)))), nil
		}
		return nil, &NotFoundError{Path: p.src, Message: fmt.Sprintf("Invalid length() on a %s: %s", value.Kind(v), p.src)}
	}
	return v, nil
}

func (p *Path) evalDefinite(root any) (any, error) {
	cur := root
	for i := range p.segs {
		s := &p.segs[i]
		switch s.kind {
		case segName:
			obj, ok := cur.(*value.Object)
			if !ok {
				msg := fmt.Sprintf("Expected to find an object with property ['%s'] in path %s but found '%s'. This is not a json object.", s.name, p.norm(i), value.Kind(cur))
				return nil, &NotFoundError{Path: p.src, Message: msg}
			}
			v, found := obj.Get(s.name)
			if !found {
				if i == len(p.segs)-1 {
					return nil, &NotFoundError{Path: p.src, Message: "No results for path: " + p.norm(i+1)}
				}
				return nil, &NotFoundError{Path: p.src, Message: "Missing property in path " + p.norm(i+1)}
			}
			cur = v
		case segIndex:
			arr, ok := cur.([]any)
			if !ok {
				msg := fmt.Sprintf("Filter: [%d] can only be applied to arrays. Current context is: %s", s.index, value.String(cur))
				return nil, &NotFoundError{Path: p.src, Message: msg}
			}
			idx := s.index
			if idx < 0 {
				idx += len(arr)
			}
			if idx < 0 || idx >= len(arr) {
				return nil, &NotFoundError{Path: p.src, Message: "Index out of bounds when evaluating path " + p.norm(i+1)}
			}
			cur = arr[idx]
		}
	}
	return cur, nil
}

func (p *Path) evalList(root any) []any {
	nodes := []any{root}
	for _, s := range p.segs {
		next := make([]any, 0, len(nodes))
		for _, n := range nodes {
			if s.deep {
				walk(n, func(d any) { next = s.apply(d, next, root) })
			} else {
				next = s.apply(n, next, root)
			}
		}
		nodes = next
	}
	return nodes
}

// walk visits n and all its descendants, parents first.
func walk(n any, fn func(any)) {
	fn(n)
	switch t := n.(type) {
	case []any:
		for _, e := range t {
			walk(e, fn)
		}
	case *value.Object:
		for i := 0; i < t.Len(); i++ {
			walk(t.At(i), fn)
		}
	}
}

func (s *segment) apply(n any, out []any, root any) []any {
	switch s.kind {
	case segName:
		if obj, ok := n.(*value.Object); ok {
			if v, found := obj.Get(s.name); found {
				out = append(out, v)
			}
		}
	case segIndex:
		if arr, ok := n.([]any); ok {
			idx := s.index
			if idx < 0 {
				idx += len(arr)
			}
			if idx >= 0 && idx < len(arr) {
				out = append(out, arr[idx])
			}
		}
	case segWildcard:
		switch t := n.(type) {
		case []any:
			out = append(out, t...)
		case *value.Object:
			for i := 0; i < t.Len(); i++ {
				out = append(out, t.At(i))
			}
		}
	case segNames:
		if obj, ok := n.(*value.Object); ok {
			// Jayway: several properties of one object select an object of those properties.
			sel := value.NewObject(len(s.names))
			for _, name := range s.names {
				if v, found := obj.Get(name); found {
					sel.Set(name, v)
				}
			}
			if sel.Len() > 0 {
				out = append(out, sel)
			}
		}
	case segIndexes:
		if arr, ok := n.([]any); ok {
			for _, idx := range s.indexes {
				if idx < 0 {
					idx += len(arr)
				}
				if idx >= 0 && idx < len(arr) {
					out = append(out, arr[idx])
				}
			}
		}
	case segSlice:
		if arr, ok := n.([]any); ok {
			out = append(out, slice(arr, s.slice)...)
		}
	case segFilter:
		switch t := n.(type) {
		case []any:
			for _, e := range t {
				if truthy(s.filter.eval(e, root)) {
					out = append(out, e)
				}
			}
		case *value.Object:
			if truthy(s.filter.eval(t, root)) {
				out = append(out, t)
			}
		}
	}
	return out
}

func slice(arr []any, bounds [3]*int) []any {
	n := len(arr)
	step := 1
	if bounds[2] != nil && *bounds[2] != 0 {
		step = *bounds[2]
	}
	clamp := func(i int) int {
		if i < 0 {
			i += n
		}
		if i < 0 {
			return 0
		}
		if i > n {
			return n
		}
		return i
	}
	var out []any
	if step > 0 {
		start, end := 0, n
		if bounds[0] != nil {
			start = clamp(*bounds[0])
		}
		if bounds[1] != nil {
			end = clamp(*bounds[1])
		}
		for i := start; i < end; i += step {
			out = append(out, arr[i])
		}
		return out
	}
	start, end := n-1, -1
	if bounds[0] != nil {
		start = clamp(*bounds[0])
		if start >= n {
			start = n - 1
		}
	}
	if bounds[1] != nil {
		end = clamp(*bounds[1])
	}
	for i := start; i > end && i >= 0; i += step {
		out = append(out, arr[i])
	}
	return out
}

// SetError is a reference path that cannot be written into the document (ResultPath's
// States.ResultPathMatchFailure).
type SetError struct {
	Path    string
	Message string
}

func (e *SetError) Error() string { return e.Message }

// Set returns doc with the location p names set to v, creating missing objects on the way; doc itself is not
// modified (the spine is copied). p must be a reference path.
func (p *Path) Set(doc any, v any) (any, error) {
	if !p.IsReference() {
		return nil, &SetError{Path: p.src, Message: fmt.Sprintf("%s is not a reference path", p.src)}
	}
	return p.set(doc, 0, v)
}

func (p *Path) set(cur any, i int, v any) (any, error) {
	if i == len(p.segs) {
		return v, nil
	}
	s := p.segs[i]
	switch s.kind {
	case segName:
		obj, ok := cur.(*value.Object)
		if !ok {
			if cur != nil || i == 0 {
				return nil, &SetError{Path: p.src, Message: fmt.Sprintf("Unable to apply ResultPath %q: the value at '%s' is a %s, not an object", p.src, s.name, value.Kind(cur))}
			}
			obj = nil // a missing intermediate member: create it
		}
		child, _ := obj.Get(s.name)
		if child == nil && i+1 < len(p.segs) && p.segs[i+1].kind == segName {
			child = value.NewObject(1)
		}
		nv, err := p.set(child, i+1, v)
		if err != nil {
			return nil, err
		}
		if obj == nil {
			obj = value.NewObject(1)
			obj.Set(s.name, nv)
			return obj, nil
		}
		return obj.With(s.name, nv), nil
	case segIndex:
		arr, ok := cur.([]any)
		idx := s.index
		if ok && idx < 0 {
			idx += len(arr)
		}
		if !ok || idx < 0 || idx >= len(arr) {
			return nil, &SetError{Path: p.src, Message: fmt.Sprintf("Unable to apply ResultPath %q: index [%d] is not in an array of the input", p.src, s.index)}
		}
		nv, err := p.set(arr[idx], i+1, v)
		if err != nil {
			return nil, err
		}
		c := make([]any, len(arr))
		copy(c, arr)
		c[idx] = nv
		return c, nil
	}
	return nil, &SetError{Path: p.src, Message: fmt.Sprintf("%s is not a reference path", p.src)}
}

// LeadingNames returns the names the path starts with ($.a.b[0].c gives a, b), so that a caller can resolve the
// first segments itself and evaluate the rest with EvalFrom. The slice must not be modified.
func (p *Path) LeadingNames() []string { return p.lead }

// EvalFrom evaluates the path's segments from the n-th on against v, the value the first n segments select.
// Only for definite paths whose first n segments are names (see LeadingNames); errors name the whole path.
func (p *Path) EvalFrom(n int, v any) (any, error) {
	if !p.definite || n > len(p.segs) {
		return nil, &NotFoundError{Path: p.src, Message: "EvalFrom needs a definite path"}
	}
	q := *p
	q.segs = p.segs[n:]
	out, err := q.evalFrom(v)
	if err != nil {
		// Re-run on a document that nests v under the first n names, for the full path in the message.
		doc := v
		for i := n - 1; i >= 0; i-- {
			o := value.NewObject(1)
			o.Set(p.segs[i].name, doc)
			doc = o
		}
		_, err = p.evalFrom(doc)
	}
	return out, err
}
