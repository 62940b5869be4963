package asl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// DefinitionError is a definition that does not parse or cannot run. Path names the field the way Step Functions
// and statelint do: "States.Drain.Retry[1].BackoffRate".
type DefinitionError struct {
	Path string
	Msg  string
}

func (e *DefinitionError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// DefinitionErrors is every problem found in a definition, in document order.
type DefinitionErrors []*DefinitionError

func (e DefinitionErrors) Error() string {
	parts := make([]string, len(e))
	for i, d := range e {
		parts[i] = d.Error()
	}
	return "invalid state machine definition: " + strings.Join(parts, "; ")
}

// Unwrap lets errors.As find each *DefinitionError.
func (e DefinitionErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, d := range e {
		out[i] = d
	}
	return out
}

// Parse parses a JSON state machine definition. It checks the shape of the document: required fields, the
// fields each state type allows, and their JSON types. It does not check what needs the whole machine (dangling
// Next, unreachable states, path syntax): NewEngine and the validator do. Errors are DefinitionErrors.
func Parse(data []byte) (*StateMachine, error) {
	doc, err := value.Parse(data)
	if err != nil {
		return nil, DefinitionErrors{{Msg: err.Error()}}
	}
	p := &defParser{}
	obj, ok := doc.(*value.Object)
	if !ok {
		return nil, DefinitionErrors{{Msg: "a state machine definition is a JSON object"}}
	}
	f := p.fields(obj, "")
	sm := &StateMachine{
		Comment:       f.str("Comment"),
		QueryLanguage: f.queryLanguage(),
		Version:       f.str("Version"),
		StartAt:       f.requiredStr("StartAt"),
	}
	sm.TimeoutSeconds = f.intp("TimeoutSeconds")
	sm.States = p.states(f, "States")
	f.done()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return sm, nil
}

type defParser struct {
	errs DefinitionErrors
}

func (p *defParser) errorf(path, format string, a ...any) {
	p.errs = append(p.errs, &DefinitionError{Path: path, Msg: fmt.Sprintf(format, a...)})
}

// fieldSet reads the members of one JSON object and reports the ones nobody asked for.
type fieldSet struct {
	p    *defParser
	obj  *value.Object
	at   string
	used []bool
}

func (p *defParser) fields(obj *value.Object, path string) *fieldSet {
	return &fieldSet{p: p, obj: obj, at: path, used: make([]bool, obj.Len())}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (f *fieldSet) get(name string) (any, bool) {
	for i := 0; i < f.obj.Len(); i++ {
		if f.obj.Key(i) == name {
			f.used[i] = true
			return f.obj.At(i), true
		}
	}
	return nil, false
}

func (f *fieldSet) has(name string) bool { return f.obj.Has(name) }

// done reports the members no reader consumed.
func (f *fieldSet) done() {
	for i, u := range f.used {
		if !u {
			f.p.errorf(join(f.at, f.obj.Key(i)), "field is not allowed here")
		}
	}
}

func (f *fieldSet) str(name string) string {
	v, ok := f.get(name)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		f.p.errorf(join(f.at, name), "must be a string, not %s", value.Kind(v))
	}
	return s
}

func (f *fieldSet) requiredStr(name string) string {
	if !f.has(name) {
		f.p.errorf(join(f.at, name), "is required")
		return ""
	}
	return f.str(name)
}

func (f *fieldSet) queryLanguage() string {
	ql := f.str("QueryLanguage")
	if ql != "" && ql != QueryLanguageJSONPath && ql != QueryLanguageJSONata {
		f.p.errorf(join(f.at, "QueryLanguage"), "must be %q or %q, not %q", QueryLanguageJSONPath, QueryLanguageJSONata, ql)
	}
	return ql
}

func (f *fieldSet) boolean(name string) bool {
	v, ok := f.get(name)
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		f.p.errorf(join(f.at, name), "must be a boolean, not %s", value.Kind(v))
	}
	return b
}

func (f *fieldSet) path(name string) *Path {
	v, ok := f.get(name)
	if !ok {
		return nil
	}
	switch t := v.(type) {
	case nil:
		return NullPath()
	case string:
		return P(t)
	}
	f.p.errorf(join(f.at, name), "must be a path string or null, not %s", value.Kind(v))
	return nil
}

func (f *fieldSet) num(name string) *Num {
	v, ok := f.get(name)
	if !ok {
		return nil
	}
	switch t := v.(type) {
	case value.Number:
		n := Num(t)
		return &n
	case string:
		n := Num(t)
		return &n
	}
	f.p.errorf(join(f.at, name), "must be a number, not %s", value.Kind(v))
	return nil
}

func (f *fieldSet) intp(name string) *int {
	v, ok := f.get(name)
	if !ok {
		return nil
	}
	n, isNum := v.(value.Number)
	if isNum {
		if i, ok := n.Int64(); ok && i >= -1<<31 && i < 1<<31 {
			x := int(i)
			return &x
		}
	}
	f.p.errorf(join(f.at, name), "must be an integer, not %s", value.String(v))
	return nil
}

func (f *fieldSet) floatp(name string) *float64 {
	v, ok := f.get(name)
	if !ok {
		return nil
	}
	if n, isNum := v.(value.Number); isNum {
		if x, err := n.Float64(); err == nil {
			return &x
		}
	}
	f.p.errorf(join(f.at, name), "must be a number, not %s", value.Kind(v))
	return nil
}

// raw keeps a JSON field as json.RawMessage, in the definition's member order.
func (f *fieldSet) raw(name string) any {
	v, ok := f.get(name)
	if !ok {
		return nil
	}
	return json.RawMessage(value.Marshal(v))
}

func (f *fieldSet) strings(name string) []string {
	v, ok := f.get(name)
	if !ok {
		return nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		f.p.errorf(join(f.at, name), "must be an array of strings, not %s", value.Kind(v))
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			f.p.errorf(fmt.Sprintf("%s[%d]", join(f.at, name), i), "must be a string, not %s", value.Kind(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (f *fieldSet) objects(name string) ([]*value.Object, []string) {
	v, ok := f.get(name)
	if !ok {
		return nil, nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		f.p.errorf(join(f.at, name), "must be an array, not %s", value.Kind(v))
		return nil, nil
	}
	objs := make([]*value.Object, 0, len(arr))
	paths := make([]string, 0, len(arr))
	for i, e := range arr {
		path := fmt.Sprintf("%s[%d]", join(f.at, name), i)
		o, isObj := e.(*value.Object)
		if !isObj {
			f.p.errorf(path, "must be an object, not %s", value.Kind(e))
			continue
		}
		objs = append(objs, o)
		paths = append(paths, path)
	}
	return objs, paths
}

func (f *fieldSet) object(name string) (*value.Object, string) {
	v, ok := f.get(name)
	if !ok {
		return nil, ""
	}
	o, isObj := v.(*value.Object)
	if !isObj {
		f.p.errorf(join(f.at, name), "must be an object, not %s", value.Kind(v))
		return nil, ""
	}
	return o, join(f.at, name)
}

// states reads a States object: one member per state, in order.
func (p *defParser) states(f *fieldSet, name string) []State {
	obj, path := f.object(name)
	if obj == nil {
		if !f.has(name) {
			p.errorf(join(f.at, name), "is required")
		}
		return nil
	}
	out := make([]State, 0, obj.Len())
	for i := 0; i < obj.Len(); i++ {
		stateName := obj.Key(i)
		spath := join(path, stateName)
		so, ok := obj.At(i).(*value.Object)
		if !ok {
			p.errorf(spath, "a state is a JSON object, not %s", value.Kind(obj.At(i)))
			continue
		}
		if s := p.state(stateName, so, spath); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (p *defParser) state(name string, obj *value.Object, path string) State {
	f := p.fields(obj, path)
	typ := f.requiredStr("Type")
	comment := f.str("Comment")
	ql := f.queryLanguage()
	var s State
	switch typ {
	case "Pass":
		s = &Pass{Name: name, Comment: comment, QueryLanguage: ql,
			InputPath: f.path("InputPath"), Parameters: f.raw("Parameters"), Result: f.raw("Result"),
			ResultPath: f.path("ResultPath"), OutputPath: f.path("OutputPath"),
			Assign: f.raw("Assign"), Output: f.raw("Output"), Next: f.str("Next"), End: f.boolean("End")}
	case "Task":
		s = &Task{Name: name, Comment: comment, QueryLanguage: ql, Resource: f.requiredStr("Resource"),
			InputPath: f.path("InputPath"), Parameters: f.raw("Parameters"), Arguments: f.raw("Arguments"),
			Credentials: f.raw("Credentials"), ResultSelector: f.raw("ResultSelector"),
			ResultPath: f.path("ResultPath"), OutputPath: f.path("OutputPath"),
			Assign: f.raw("Assign"), Output: f.raw("Output"),
			TimeoutSeconds: f.num("TimeoutSeconds"), TimeoutSecondsPath: f.str("TimeoutSecondsPath"),
			HeartbeatSeconds: f.num("HeartbeatSeconds"), HeartbeatSecondsPath: f.str("HeartbeatSecondsPath"),
			Retry: p.retriers(f), Catch: p.catchers(f), Next: f.str("Next"), End: f.boolean("End")}
	case "Choice":
		c := &Choice{Name: name, Comment: comment, QueryLanguage: ql,
			InputPath: f.path("InputPath"), OutputPath: f.path("OutputPath"), Default: f.str("Default"),
			Assign: f.raw("Assign"), Output: f.raw("Output")}
		objs, paths := f.objects("Choices")
		if !f.has("Choices") {
			p.errorf(join(path, "Choices"), "is required")
		}
		for i, o := range objs {
			c.Choices = append(c.Choices, p.choiceRule(o, paths[i], true))
		}
		s = c
	case "Wait":
		s = &Wait{Name: name, Comment: comment, QueryLanguage: ql,
			InputPath: f.path("InputPath"), OutputPath: f.path("OutputPath"),
			Seconds: f.num("Seconds"), SecondsPath: f.str("SecondsPath"),
			Timestamp: f.str("Timestamp"), TimestampPath: f.str("TimestampPath"),
			Assign: f.raw("Assign"), Output: f.raw("Output"), Next: f.str("Next"), End: f.boolean("End")}
	case "Succeed":
		s = &Succeed{Name: name, Comment: comment, QueryLanguage: ql,
			InputPath: f.path("InputPath"), OutputPath: f.path("OutputPath"), Output: f.raw("Output")}
	case "Fail":
		s = &Fail{Name: name, Comment: comment, QueryLanguage: ql,
			Error: f.str("Error"), ErrorPath: f.str("ErrorPath"), Cause: f.str("Cause"), CausePath: f.str("CausePath")}
	case "Parallel":
		par := &Parallel{Name: name, Comment: comment, QueryLanguage: ql,
			InputPath: f.path("InputPath"), Parameters: f.raw("Parameters"), Arguments: f.raw("Arguments"),
			ResultSelector: f.raw("ResultSelector"), ResultPath: f.path("ResultPath"), OutputPath: f.path("OutputPath"),
			Assign: f.raw("Assign"), Output: f.raw("Output"),
			Retry: p.retriers(f), Catch: p.catchers(f), Next: f.str("Next"), End: f.boolean("End")}
		objs, paths := f.objects("Branches")
		if !f.has("Branches") {
			p.errorf(join(path, "Branches"), "is required")
		}
		for i, o := range objs {
			par.Branches = append(par.Branches, p.branch(o, paths[i], false))
		}
		s = par
	case "Map":
		m := &Map{Name: name, Comment: comment, QueryLanguage: ql,
			InputPath: f.path("InputPath"), ItemsPath: f.path("ItemsPath"), Items: f.raw("Items"),
			ItemSelector: f.raw("ItemSelector"), Parameters: f.raw("Parameters"),
			ItemReader: f.raw("ItemReader"), ItemBatcher: f.raw("ItemBatcher"), ResultWriter: f.raw("ResultWriter"),
			MaxConcurrency: f.num("MaxConcurrency"), MaxConcurrencyPath: f.str("MaxConcurrencyPath"),
			ToleratedFailureCount: f.num("ToleratedFailureCount"), ToleratedFailureCountPath: f.str("ToleratedFailureCountPath"),
			ToleratedFailurePercentage: f.num("ToleratedFailurePercentage"), ToleratedFailurePercentagePath: f.str("ToleratedFailurePercentagePath"),
			Label: f.str("Label"), ResultSelector: f.raw("ResultSelector"), ResultPath: f.path("ResultPath"),
			OutputPath: f.path("OutputPath"), Assign: f.raw("Assign"), Output: f.raw("Output"),
			Retry: p.retriers(f), Catch: p.catchers(f), Next: f.str("Next"), End: f.boolean("End")}
		if o, bpath := f.object("ItemProcessor"); o != nil {
			m.ItemProcessor = p.branch(o, bpath, true)
		}
		if o, bpath := f.object("Iterator"); o != nil {
			m.Iterator = p.branch(o, bpath, true)
		}
		if m.ItemProcessor == nil && m.Iterator == nil && !f.has("ItemProcessor") && !f.has("Iterator") {
			p.errorf(join(path, "ItemProcessor"), "is required")
		}
		s = m
	case "":
		// reported by requiredStr or str
	default:
		p.errorf(join(path, "Type"), "unknown state type %q", typ)
	}
	if s == nil {
		return nil
	}
	f.done()
	return s
}

func (p *defParser) branch(obj *value.Object, path string, processor bool) *Branch {
	f := p.fields(obj, path)
	b := &Branch{Comment: f.str("Comment"), QueryLanguage: f.queryLanguage(), StartAt: f.requiredStr("StartAt")}
	if processor {
		if o, cpath := f.object("ProcessorConfig"); o != nil {
			cf := p.fields(o, cpath)
			b.ProcessorConfig = &ProcessorConfig{Mode: cf.str("Mode"), ExecutionType: cf.str("ExecutionType")}
			cf.done()
		}
	}
	b.States = p.states(f, "States")
	f.done()
	return b
}

func (p *defParser) retriers(f *fieldSet) []Retrier {
	objs, paths := f.objects("Retry")
	if objs == nil {
		if f.has("Retry") {
			return []Retrier{}
		}
		return nil
	}
	out := make([]Retrier, 0, len(objs))
	for i, o := range objs {
		rf := p.fields(o, paths[i])
		r := Retrier{Comment: rf.str("Comment"), ErrorEquals: rf.strings("ErrorEquals"),
			IntervalSeconds: rf.intp("IntervalSeconds"), MaxAttempts: rf.intp("MaxAttempts"),
			BackoffRate: rf.floatp("BackoffRate"), MaxDelaySeconds: rf.intp("MaxDelaySeconds"),
			JitterStrategy: rf.str("JitterStrategy")}
		if !rf.has("ErrorEquals") {
			p.errorf(join(paths[i], "ErrorEquals"), "is required")
		}
		rf.done()
		out = append(out, r)
	}
	return out
}

func (p *defParser) catchers(f *fieldSet) []Catcher {
	objs, paths := f.objects("Catch")
	if objs == nil {
		if f.has("Catch") {
			return []Catcher{}
		}
		return nil
	}
	out := make([]Catcher, 0, len(objs))
	for i, o := range objs {
		cf := p.fields(o, paths[i])
		c := Catcher{Comment: cf.str("Comment"), ErrorEquals: cf.strings("ErrorEquals"),
			ResultPath: cf.path("ResultPath"), Assign: cf.raw("Assign"), Output: cf.raw("Output"),
			Next: cf.requiredStr("Next")}
		if !cf.has("ErrorEquals") {
			p.errorf(join(paths[i], "ErrorEquals"), "is required")
		}
		cf.done()
		out = append(out, c)
	}
	return out
}

// choiceOps are the comparison operators a choice rule may name.
var choiceOps = map[string]bool{}

func init() {
	for _, op := range []string{OpStringEquals, OpStringEqualsPath, OpStringLessThan, OpStringLessThanPath,
		OpStringGreaterThan, OpStringGreaterThanPath, OpStringLessThanEquals, OpStringLessThanEqualsPath,
		OpStringGreaterThanEquals, OpStringGreaterThanEqualsPath, OpStringMatches,
		OpNumericEquals, OpNumericEqualsPath, OpNumericLessThan, OpNumericLessThanPath, OpNumericGreaterThan,
		OpNumericGreaterThanPath, OpNumericLessThanEquals, OpNumericLessThanEqualsPath,
		OpNumericGreaterThanEquals, OpNumericGreaterThanEqualsPath, OpBooleanEquals, OpBooleanEqualsPath,
		OpTimestampEquals, OpTimestampEqualsPath, OpTimestampLessThan, OpTimestampLessThanPath,
		OpTimestampGreaterThan, OpTimestampGreaterThanPath, OpTimestampLessThanEquals,
		OpTimestampLessThanEqualsPath, OpTimestampGreaterThanEquals, OpTimestampGreaterThanEqualsPath,
		OpIsNull, OpIsPresent, OpIsNumeric, OpIsString, OpIsBoolean, OpIsTimestamp} {
		choiceOps[op] = true
	}
}

// ChoiceOperators returns the names of the choice rule comparison operators.
func ChoiceOperators() []string {
	out := make([]string, 0, len(choiceOps))
	for op := range choiceOps {
		out = append(out, op)
	}
	return out
}

func (p *defParser) choiceRule(obj *value.Object, path string, top bool) ChoiceRule {
	f := p.fields(obj, path)
	r := ChoiceRule{Variable: f.str("Variable"), Comment: f.str("Comment")}
	if top {
		r.Next = f.requiredStr("Next")
		r.Assign = f.raw("Assign")
		r.Output = f.raw("Output")
	}
	if f.has("Condition") {
		v, _ := f.get("Condition")
		r.Condition = toGo(v)
	}
	for i := 0; i < obj.Len(); i++ {
		k := obj.Key(i)
		if !choiceOps[k] {
			continue
		}
		v, _ := f.get(k)
		if r.Op != "" {
			p.errorf(join(path, k), "a choice rule has one comparison operator; it already has %s", r.Op)
			continue
		}
		r.Op = k
		r.Value = toGo(v)
	}
	if objs, paths := f.objects("And"); f.has("And") {
		r.And = []ChoiceRule{}
		for i, o := range objs {
			r.And = append(r.And, p.choiceRule(o, paths[i], false))
		}
	}
	if objs, paths := f.objects("Or"); f.has("Or") {
		r.Or = []ChoiceRule{}
		for i, o := range objs {
			r.Or = append(r.Or, p.choiceRule(o, paths[i], false))
		}
	}
	if o, npath := f.object("Not"); o != nil {
		n := p.choiceRule(o, npath, false)
		r.Not = &n
	}
	f.done()
	return r
}

// toGo turns a parsed JSON value into a Go value that marshals back to the same JSON.
func toGo(v any) any {
	switch t := v.(type) {
	case value.Number:
		return json.Number(t)
	case []any, *value.Object:
		return json.RawMessage(value.Marshal(t))
	}
	return v
}

// fmtIndex formats name[i].
func fmtIndex(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }
