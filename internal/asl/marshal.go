package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// The writer emits fields in one fixed order per state type, the order of the model's struct fields (the order
// of the Step Functions documentation: Type, Comment, what the state does, data flow, error handling,
// transition), so that generated definitions are stable and diffs stay small.

type objWriter struct {
	buf []byte
	n   int
	err error
}

func (w *objWriter) key(k string) {
	if w.n == 0 {
		w.buf = append(w.buf, '{')
	} else {
		w.buf = append(w.buf, ',')
	}
	w.n++
	w.buf = value.AppendString(w.buf, k)
	w.buf = append(w.buf, ':')
}

func (w *objWriter) close() []byte {
	if w.n == 0 {
		return append(w.buf, "{}"...)
	}
	return append(w.buf, '}')
}

func (w *objWriter) str(k, v string) {
	if v != "" {
		w.key(k)
		w.buf = value.AppendString(w.buf, v)
	}
}

func (w *objWriter) flag(k string, v bool) {
	if v {
		w.key(k)
		w.buf = append(w.buf, "true"...)
	}
}

func (w *objWriter) path(k string, p *Path) {
	if p == nil {
		return
	}
	w.key(k)
	if p.Null {
		w.buf = append(w.buf, "null"...)
		return
	}
	w.buf = value.AppendString(w.buf, p.Value)
}

func (w *objWriter) num(k string, n *Num) {
	if n == nil {
		return
	}
	w.key(k)
	if v, err := value.ParseString(string(*n)); err == nil {
		if _, isNum := v.(value.Number); isNum {
			w.buf = append(w.buf, *n...)
			return
		}
	}
	w.buf = value.AppendString(w.buf, string(*n))
}

// anyJSON appends a JSON field given as a Go value (map, json.RawMessage, ...), without HTML escaping.
func (w *objWriter) anyJSON(k string, v any) {
	if v == nil {
		return
	}
	w.key(k)
	w.buf = w.appendAny(w.buf, v)
}

func (w *objWriter) appendAny(buf []byte, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		if w.err == nil {
			w.err = err
		}
		return append(buf, "null"...)
	}
	return append(buf, bytes.TrimRight(b.Bytes(), "\n")...)
}

// object appends the JSON object of the model struct v points to: its fields in their order (describe.go).
func (w *objWriter) object(v reflect.Value, typ string) []byte {
	ow := &objWriter{}
	ow.str("Type", typ)
	d := descOf(v)
	for i := range d.fields {
		ow.field(&d.fields[i], v.Field(d.fields[i].index), v)
	}
	if ow.err != nil && w.err == nil {
		w.err = ow.err
	}
	return ow.close()
}

// array appends a JSON array of n elements, each written by elem.
func (w *objWriter) array(k string, n int, elem func(i int) []byte) {
	w.key(k)
	w.buf = append(w.buf, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, elem(i)...)
	}
	w.buf = append(w.buf, ']')
}

func (w *objWriter) field(fd *fieldDesc, fv, owner reflect.Value) {
	k := fd.name
	switch fd.kind {
	case kindString, kindPathString, kindQueryLanguage:
		w.str(k, fv.String())
	case kindBool:
		w.flag(k, fv.Bool())
	case kindPath:
		w.path(k, fv.Interface().(*Path))
	case kindNum:
		w.num(k, fv.Interface().(*Num))
	case kindInt:
		if !fv.IsNil() {
			w.key(k)
			w.buf = strconv.AppendInt(w.buf, fv.Elem().Int(), 10)
		}
	case kindFloat:
		if !fv.IsNil() {
			w.key(k)
			w.buf = strconv.AppendFloat(w.buf, fv.Elem().Float(), 'f', -1, 64)
		}
	case kindJSON:
		w.anyJSON(k, fv.Interface())
	case kindErrorNames:
		if !fv.IsNil() {
			names := fv.Interface().([]string)
			w.array(k, len(names), func(i int) []byte { return value.AppendString(nil, names[i]) })
		}
	case kindRetriers, kindCatchers, kindRules, kindBranches:
		if !fv.IsNil() || fd.is(flagAlways) {
			w.array(k, fv.Len(), func(i int) []byte {
				e := fv.Index(i)
				if e.Kind() == reflect.Pointer {
					e = e.Elem()
				}
				return w.object(e, "")
			})
		}
	case kindRule, kindBranch, kindProcessorConfig:
		if !fv.IsNil() {
			w.key(k)
			w.buf = append(w.buf, w.object(fv.Elem(), "")...)
		}
	case kindStates:
		w.key(k)
		inner := &objWriter{}
		for _, s := range fv.Interface().([]State) {
			inner.key(s.StateName())
			inner.buf = appendState(inner.buf, s, inner)
		}
		w.buf = append(w.buf, inner.close()...)
		if inner.err != nil && w.err == nil {
			w.err = inner.err
		}
	case kindOp:
		if op := fv.String(); op != "" {
			w.key(op)
			w.buf = w.appendAny(w.buf, owner.FieldByName("Value").Interface())
		}
	}
}

// appendState appends the JSON of one state; errors go to parent.err.
func appendState(buf []byte, s State, parent *objWriter) []byte {
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Pointer || v.IsNil() || stateTypes[s.StateType()] != v.Elem().Type() {
		if parent.err == nil {
			parent.err = fmt.Errorf("asl: unknown state type %T", s)
		}
		return append(buf, "{}"...)
	}
	return append(buf, parent.object(v.Elem(), s.StateType())...)
}

// MarshalJSON writes the definition with a fixed field order and the states in definition order.
func (sm *StateMachine) MarshalJSON() ([]byte, error) {
	w := &objWriter{}
	b := w.object(reflect.ValueOf(sm).Elem(), "")
	return b, w.err
}

// UnmarshalJSON parses a definition (see Parse).
func (sm *StateMachine) UnmarshalJSON(data []byte) error {
	parsed, err := Parse(data)
	if err != nil {
		return err
	}
	*sm = *parsed
	return nil
}

func marshalState(s State) ([]byte, error) {
	w := &objWriter{}
	b := appendState(nil, s, w)
	return b, w.err
}

// MarshalJSON writes the state's definition.
func (s *Pass) MarshalJSON() ([]byte, error) { return marshalState(s) }

// MarshalJSON writes the state's definition.
func (s *Task) MarshalJSON() ([]byte, error) { return marshalState(s) }

// MarshalJSON writes the state's definition.
func (s *Choice) MarshalJSON() ([]byte, error) { return marshalState(s) }

// MarshalJSON writes the state's definition.
func (s *Wait) MarshalJSON() ([]byte, error) { return marshalState(s) }

// MarshalJSON writes the state's definition.
func (s *Succeed) MarshalJSON() ([]byte, error) { return marshalState(s) }

// MarshalJSON writes the state's definition.
func (s *Fail) MarshalJSON() ([]byte, error) { return marshalState(s) }

// MarshalJSON writes the state's definition.
func (s *Parallel) MarshalJSON() ([]byte, error) { return marshalState(s) }

// MarshalJSON writes the state's definition.
func (s *Map) MarshalJSON() ([]byte, error) { return marshalState(s) }
