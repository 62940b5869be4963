package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// The writer emits fields in one fixed order per state type (the order of the Step Functions documentation:
// Type, Comment, what the state does, data flow, error handling, transition), so that generated definitions are
// stable and diffs stay small.

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

func (w *objWriter) intp(k string, v *int) {
	if v != nil {
		w.key(k)
		w.buf = strconv.AppendInt(w.buf, int64(*v), 10)
	}
}

func (w *objWriter) floatp(k string, v *float64) {
	if v != nil {
		w.key(k)
		w.buf = strconv.AppendFloat(w.buf, *v, 'f', -1, 64)
	}
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

func (w *objWriter) strs(k string, v []string) {
	if v == nil {
		return
	}
	w.key(k)
	w.buf = append(w.buf, '[')
	for i, s := range v {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = value.AppendString(w.buf, s)
	}
	w.buf = append(w.buf, ']')
}

func (w *objWriter) raw(k string, b []byte) {
	w.key(k)
	w.buf = append(w.buf, b...)
}

func (w *objWriter) states(k string, states []State) {
	w.key(k)
	inner := &objWriter{}
	for _, s := range states {
		inner.key(s.StateName())
		inner.buf = appendState(inner.buf, s, inner)
	}
	w.buf = append(w.buf, inner.close()...)
	if inner.err != nil && w.err == nil {
		w.err = inner.err
	}
}

func (w *objWriter) retry(rs []Retrier) {
	if rs == nil {
		return
	}
	w.key("Retry")
	w.buf = append(w.buf, '[')
	for i, r := range rs {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		rw := &objWriter{}
		rw.str("Comment", r.Comment)
		rw.strs("ErrorEquals", r.ErrorEquals)
		rw.intp("IntervalSeconds", r.IntervalSeconds)
		rw.intp("MaxAttempts", r.MaxAttempts)
		rw.floatp("BackoffRate", r.BackoffRate)
		rw.intp("MaxDelaySeconds", r.MaxDelaySeconds)
		rw.str("JitterStrategy", r.JitterStrategy)
		w.buf = append(w.buf, rw.close()...)
	}
	w.buf = append(w.buf, ']')
}

func (w *objWriter) catch(cs []Catcher) {
	if cs == nil {
		return
	}
	w.key("Catch")
	w.buf = append(w.buf, '[')
	for i, c := range cs {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		cw := &objWriter{}
		cw.str("Comment", c.Comment)
		cw.strs("ErrorEquals", c.ErrorEquals)
		cw.path("ResultPath", c.ResultPath)
		cw.anyJSON("Output", c.Output)
		cw.anyJSON("Assign", c.Assign)
		cw.str("Next", c.Next)
		w.buf = append(w.buf, cw.close()...)
		if cw.err != nil && w.err == nil {
			w.err = cw.err
		}
	}
	w.buf = append(w.buf, ']')
}

func (w *objWriter) choiceRule(r *ChoiceRule) []byte {
	cw := &objWriter{}
	cw.str("Comment", r.Comment)
	cw.str("Variable", r.Variable)
	if r.Op != "" {
		cw.key(r.Op)
		cw.buf = cw.appendAny(cw.buf, r.Value)
	}
	if r.Condition != nil {
		cw.anyJSON("Condition", r.Condition)
	}
	for _, group := range []struct {
		name  string
		rules []ChoiceRule
	}{{"And", r.And}, {"Or", r.Or}} {
		if group.rules == nil {
			continue
		}
		cw.key(group.name)
		cw.buf = append(cw.buf, '[')
		for i := range group.rules {
			if i > 0 {
				cw.buf = append(cw.buf, ',')
			}
			cw.buf = append(cw.buf, cw.choiceRule(&group.rules[i])...)
		}
		cw.buf = append(cw.buf, ']')
	}
	if r.Not != nil {
		cw.raw("Not", cw.choiceRule(r.Not))
	}
	cw.anyJSON("Output", r.Output)
	cw.anyJSON("Assign", r.Assign)
	cw.str("Next", r.Next)
	if cw.err != nil && w.err == nil {
		w.err = cw.err
	}
	return cw.close()
}

func (w *objWriter) branch(k string, b *Branch) {
	if b == nil {
		return
	}
	w.raw(k, w.branchObject(b))
}

func (w *objWriter) branchObject(b *Branch) []byte {
	bw := &objWriter{}
	bw.str("Comment", b.Comment)
	bw.str("QueryLanguage", b.QueryLanguage)
	if b.ProcessorConfig != nil {
		pw := &objWriter{}
		pw.str("Mode", b.ProcessorConfig.Mode)
		pw.str("ExecutionType", b.ProcessorConfig.ExecutionType)
		bw.raw("ProcessorConfig", pw.close())
	}
	bw.str("StartAt", b.StartAt)
	bw.states("States", b.States)
	if bw.err != nil && w.err == nil {
		w.err = bw.err
	}
	return bw.close()
}

// appendState appends the JSON of one state; errors go to parent.err.
func appendState(buf []byte, s State, parent *objWriter) []byte {
	w := &objWriter{}
	w.str("Type", s.StateType())
	switch t := s.(type) {
	case *Pass:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.path("InputPath", t.InputPath)
		w.anyJSON("Parameters", t.Parameters)
		w.anyJSON("Result", t.Result)
		w.path("ResultPath", t.ResultPath)
		w.path("OutputPath", t.OutputPath)
		w.anyJSON("Output", t.Output)
		w.anyJSON("Assign", t.Assign)
		w.str("Next", t.Next)
		w.flag("End", t.End)
	case *Task:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.str("Resource", t.Resource)
		w.path("InputPath", t.InputPath)
		w.anyJSON("Parameters", t.Parameters)
		w.anyJSON("Arguments", t.Arguments)
		w.anyJSON("Credentials", t.Credentials)
		w.anyJSON("ResultSelector", t.ResultSelector)
		w.path("ResultPath", t.ResultPath)
		w.path("OutputPath", t.OutputPath)
		w.anyJSON("Output", t.Output)
		w.anyJSON("Assign", t.Assign)
		w.num("TimeoutSeconds", t.TimeoutSeconds)
		w.str("TimeoutSecondsPath", t.TimeoutSecondsPath)
		w.num("HeartbeatSeconds", t.HeartbeatSeconds)
		w.str("HeartbeatSecondsPath", t.HeartbeatSecondsPath)
		w.retry(t.Retry)
		w.catch(t.Catch)
		w.str("Next", t.Next)
		w.flag("End", t.End)
	case *Choice:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.path("InputPath", t.InputPath)
		w.key("Choices")
		w.buf = append(w.buf, '[')
		for i := range t.Choices {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, w.choiceRule(&t.Choices[i])...)
		}
		w.buf = append(w.buf, ']')
		w.str("Default", t.Default)
		w.path("OutputPath", t.OutputPath)
		w.anyJSON("Output", t.Output)
		w.anyJSON("Assign", t.Assign)
	case *Wait:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.num("Seconds", t.Seconds)
		w.str("SecondsPath", t.SecondsPath)
		w.str("Timestamp", t.Timestamp)
		w.str("TimestampPath", t.TimestampPath)
		w.path("InputPath", t.InputPath)
		w.path("OutputPath", t.OutputPath)
		w.anyJSON("Output", t.Output)
		w.anyJSON("Assign", t.Assign)
		w.str("Next", t.Next)
		w.flag("End", t.End)
	case *Succeed:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.path("InputPath", t.InputPath)
		w.path("OutputPath", t.OutputPath)
		w.anyJSON("Output", t.Output)
	case *Fail:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.str("Error", t.Error)
		w.str("ErrorPath", t.ErrorPath)
		w.str("Cause", t.Cause)
		w.str("CausePath", t.CausePath)
	case *Parallel:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.path("InputPath", t.InputPath)
		w.anyJSON("Parameters", t.Parameters)
		w.anyJSON("Arguments", t.Arguments)
		if t.Branches != nil {
			w.key("Branches")
			w.buf = append(w.buf, '[')
			for i, b := range t.Branches {
				if i > 0 {
					w.buf = append(w.buf, ',')
				}
				w.buf = append(w.buf, w.branchObject(b)...)
			}
			w.buf = append(w.buf, ']')
		}
		w.anyJSON("ResultSelector", t.ResultSelector)
		w.path("ResultPath", t.ResultPath)
		w.path("OutputPath", t.OutputPath)
		w.anyJSON("Output", t.Output)
		w.anyJSON("Assign", t.Assign)
		w.retry(t.Retry)
		w.catch(t.Catch)
		w.str("Next", t.Next)
		w.flag("End", t.End)
	case *Map:
		w.str("Comment", t.Comment)
		w.str("QueryLanguage", t.QueryLanguage)
		w.str("Label", t.Label)
		w.path("InputPath", t.InputPath)
		w.path("ItemsPath", t.ItemsPath)
		w.anyJSON("Items", t.Items)
		w.anyJSON("ItemReader", t.ItemReader)
		w.anyJSON("ItemSelector", t.ItemSelector)
		w.anyJSON("Parameters", t.Parameters)
		w.anyJSON("ItemBatcher", t.ItemBatcher)
		w.branch("ItemProcessor", t.ItemProcessor)
		w.branch("Iterator", t.Iterator)
		w.num("MaxConcurrency", t.MaxConcurrency)
		w.str("MaxConcurrencyPath", t.MaxConcurrencyPath)
		w.num("ToleratedFailureCount", t.ToleratedFailureCount)
		w.str("ToleratedFailureCountPath", t.ToleratedFailureCountPath)
		w.num("ToleratedFailurePercentage", t.ToleratedFailurePercentage)
		w.str("ToleratedFailurePercentagePath", t.ToleratedFailurePercentagePath)
		w.anyJSON("ResultWriter", t.ResultWriter)
		w.anyJSON("ResultSelector", t.ResultSelector)
		w.path("ResultPath", t.ResultPath)
		w.path("OutputPath", t.OutputPath)
		w.anyJSON("Output", t.Output)
		w.anyJSON("Assign", t.Assign)
		w.retry(t.Retry)
		w.catch(t.Catch)
		w.str("Next", t.Next)
		w.flag("End", t.End)
	default:
		if parent.err == nil {
			parent.err = fmt.Errorf("asl: unknown state type %T", s)
		}
	}
	if w.err != nil && parent.err == nil {
		parent.err = w.err
	}
	return append(buf, w.close()...)
}

// MarshalJSON writes the definition with a fixed field order and the states in definition order.
func (sm *StateMachine) MarshalJSON() ([]byte, error) {
	w := &objWriter{}
	w.str("Comment", sm.Comment)
	w.str("QueryLanguage", sm.QueryLanguage)
	w.str("Version", sm.Version)
	w.str("StartAt", sm.StartAt)
	w.intp("TimeoutSeconds", sm.TimeoutSeconds)
	w.states("States", sm.States)
	b := w.close()
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
