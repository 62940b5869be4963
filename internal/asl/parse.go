package asl

import (
	"encoding/json"
	"fmt"
	"reflect"
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
// fields each state type allows in its query language, and their JSON types. It does not check what needs the
// whole machine or the meaning of a value (dangling Next, unreachable states, path syntax, ranges): NewEngine
// and Validate do. Errors are DefinitionErrors.
func Parse(data []byte) (*StateMachine, error) {
	sm, errs := parseDefinition(data, false)
	if len(errs) > 0 {
		return nil, errs
	}
	return sm, nil
}

// parseDefinition reads a definition into the model; strict adds the checks of Validate (validate.go), made on
// the same walk so that Parse and Validate cannot disagree about what they both check.
func parseDefinition(data []byte, strict bool) (*StateMachine, DefinitionErrors) {
	doc, err := value.Parse(data)
	if err != nil {
		return nil, DefinitionErrors{{Msg: "the definition is not valid JSON: " + err.Error()}}
	}
	obj, ok := doc.(*value.Object)
	if !ok {
		return nil, DefinitionErrors{{Msg: "a state machine definition is a JSON object, not " + value.Kind(doc)}}
	}
	p := &defParser{strict: strict}
	if strict {
		p.names = map[string]string{}
		p.duplicateMembers(data)
	}
	sm := &StateMachine{}
	f := p.fields(obj, "")
	p.read(f, reflect.ValueOf(sm).Elem(), &readCtx{machine: topMachine})
	if strict {
		p.rangeInt(f.jobj, "TimeoutSeconds", 1, maxSeconds)
	}
	f.done("a state machine", nil)
	return sm, p.errs
}

type defParser struct {
	errs   DefinitionErrors
	strict bool
	// names maps every state name to where it is defined (strict only): Step Functions wants names unique across
	// the whole definition, nested Parallel branches and Map processors included, because histories name states
	// only.
	names map[string]string
	// jsonata is the top-level query language; states inherit it unless they set their own.
	jsonata bool
}

func (p *defParser) errorf(path, format string, a ...any) {
	p.errs = append(p.errs, &DefinitionError{Path: path, Msg: fmt.Sprintf(format, a...)})
}

// jobj is a JSON object of the definition and where it is. Its lookups report nothing: they serve the checks
// that run once the parser has reported every problem of shape.
type jobj struct {
	o  *value.Object
	at string
}

func (n jobj) path(name string) string { return join(n.at, name) }

func (n jobj) has(name string) bool { return n.o.Has(name) }

func (n jobj) get(name string) (any, bool) { return n.o.Get(name) }

// str returns a member that is a string.
func (n jobj) str(name string) (string, bool) {
	x, _ := n.get(name)
	s, ok := x.(string)
	return s, ok
}

// array returns a member that is an array.
func (n jobj) array(name string) ([]any, bool) {
	x, _ := n.get(name)
	a, ok := x.([]any)
	return a, ok
}

// object returns a member that is an object.
func (n jobj) object(name string) (jobj, bool) {
	x, _ := n.get(name)
	o, ok := x.(*value.Object)
	return jobj{o: o, at: n.path(name)}, ok
}

// fieldSet reads the members of one JSON object, reporting the ones of the wrong type, and, when done, the ones
// nobody asked for.
type fieldSet struct {
	jobj
	p    *defParser
	used []bool
}

func (p *defParser) fields(obj *value.Object, path string) *fieldSet {
	return &fieldSet{jobj: jobj{o: obj, at: path}, p: p, used: make([]bool, obj.Len())}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fmtIndex formats name[i].
func fmtIndex(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }

// take returns a member and marks it read.
func (f *fieldSet) take(name string) (any, bool) {
	for i := 0; i < f.o.Len(); i++ {
		if f.o.Key(i) == name {
			f.used[i] = true
			return f.o.At(i), true
		}
	}
	return nil, false
}

// done reports the members no reader consumed. hint, when set, explains a member that is not allowed (for
// instance a field of the other query language).
func (f *fieldSet) done(what string, hint func(field string) string) {
	for i, u := range f.used {
		if u {
			continue
		}
		k, msg := f.o.Key(i), ""
		if hint != nil {
			msg = hint(k)
		}
		if msg == "" {
			msg = "field is not allowed in " + what
		}
		f.p.errorf(f.path(k), "%s", msg)
	}
}

// wrong reports a member of the wrong type.
func (f *fieldSet) wrong(name, want string, x any) {
	f.p.errorf(f.path(name), "must be %s, not %s", want, value.Kind(x))
}

func (f *fieldSet) str(name string) string { return f.strOf(name, "a string") }

// strOf reads a string member; want names what it must be in the message for one of another type.
func (f *fieldSet) strOf(name, want string) string {
	x, ok := f.take(name)
	if !ok {
		return ""
	}
	s, isStr := x.(string)
	if !isStr {
		f.wrong(name, want, x)
	}
	return s
}

func (f *fieldSet) boolean(name string) bool {
	x, ok := f.take(name)
	b, isBool := x.(bool)
	if ok && !isBool {
		f.wrong(name, "a boolean", x)
	}
	return b
}

// pathMember reads a path member: a string, or JSON null when nullable.
func (f *fieldSet) pathMember(name string, nullable bool) *Path {
	x, ok := f.take(name)
	if !ok {
		return nil
	}
	switch t := x.(type) {
	case nil:
		if nullable {
			return NullPath()
		}
		f.p.errorf(f.path(name), "must be a path, not null")
	case string:
		return P(t)
	default:
		f.wrong(name, "a path string", x)
	}
	return nil
}

// num reads a numeric member; in JSONata it may be a "{% %}" expression instead.
func (f *fieldSet) num(name string, integer, jsonata bool) *Num {
	x, ok := f.take(name)
	if !ok {
		return nil
	}
	if jsonata && isJSONataExpr(x) {
		n := Num(x.(string))
		return &n
	}
	n, isNum := f.number(name, x, integer)
	if !isNum {
		return nil
	}
	v := Num(n)
	return &v
}

// number checks that x, the member name, is a number, and an integer when integer is set.
func (f *fieldSet) number(name string, x any, integer bool) (value.Number, bool) {
	n, isNum := x.(value.Number)
	want := "a number"
	if integer {
		want = "an integer"
	}
	switch {
	case !isNum:
		f.wrong(name, want, x)
	case integer:
		if _, ok := n.Int64(); !ok {
			f.p.errorf(f.path(name), "must be an integer, not %s", n)
			return "", false
		}
	default:
		if _, err := n.Float64(); err != nil {
			f.p.errorf(f.path(name), "must be a number, not %s", n)
			return "", false
		}
	}
	return n, isNum
}

// json keeps a JSON member as json.RawMessage, in the definition's member order.
func (f *fieldSet) json(name string, object bool) any {
	x, ok := f.take(name)
	if !ok {
		return nil
	}
	if _, isObj := x.(*value.Object); object && !isObj {
		f.wrong(name, "an object", x)
		return nil
	}
	return json.RawMessage(value.Marshal(x))
}

func (f *fieldSet) errorNames(name string) []string {
	x, ok := f.take(name)
	if !ok {
		return nil
	}
	arr, isArr := x.([]any)
	if !isArr {
		f.wrong(name, "an array", x)
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			f.p.errorf(fmtIndex(f.path(name), i), "must be an error name string, not %s", value.Kind(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// objects reads an array of objects, reporting the elements that are not objects.
func (f *fieldSet) objects(name string) ([]*fieldSet, bool) {
	x, ok := f.take(name)
	if !ok {
		return nil, false
	}
	arr, isArr := x.([]any)
	if !isArr {
		f.wrong(name, "an array", x)
		return nil, true
	}
	out := make([]*fieldSet, 0, len(arr))
	for i, e := range arr {
		at := fmtIndex(f.path(name), i)
		o, isObj := e.(*value.Object)
		if !isObj {
			f.p.errorf(at, "must be an object, not %s", value.Kind(e))
			continue
		}
		out = append(out, f.p.fields(o, at))
	}
	return out, true
}

// object reads an object member.
func (f *fieldSet) object(name string) *fieldSet {
	x, ok := f.take(name)
	if !ok {
		return nil
	}
	o, isObj := x.(*value.Object)
	if !isObj {
		f.wrong(name, "an object", x)
		return nil
	}
	return f.p.fields(o, f.path(name))
}

func isJSONataExpr(x any) bool {
	s, ok := x.(string)
	if !ok {
		return false
	}
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{%") && strings.HasSuffix(s, "%}")
}

type machineKind int

const (
	notMachine machineKind = iota // a state, rule, retrier, ...
	topMachine
	branchMachine
	processorMachine
)

// readCtx is where an object is read: its query language and what it is.
type readCtx struct {
	jsonata bool
	state   bool        // a state: it may not go back to JSONPath in a JSONata machine
	machine machineKind // a state machine, branch or processor: its States are a scope
	top     bool        // a top-level choice rule
	// combination is a choice rule of And, Or or Not: it has no Variable and no operator
	combination bool
	sc          *scope // the scope of the state (strict only)
	name        string // the state's name
}

func (c *readCtx) allows(fd *fieldDesc) bool {
	return fd.lang&langOf(c.jsonata) != 0 && (!fd.is(flagProcessor) || c.machine == processorMachine) &&
		(!fd.is(flagTop) || c.top) && (!fd.is(flagComparison) || !c.combination)
}

// read reads the members the description of v's struct lists (describe.go) into v.
func (p *defParser) read(f *fieldSet, v reflect.Value, c *readCtx) {
	d := descOf(v)
	for i := range d.fields {
		fd := &d.fields[i]
		if !c.allows(fd) || fd.kind == kindOp {
			continue
		}
		if fd.is(flagRequired) && !f.has(fd.name) {
			p.errorf(f.path(fd.name), "is required")
			continue
		}
		fv := v.Field(fd.index)
		set := func(x any, ok bool) {
			if ok {
				fv.Set(reflect.ValueOf(x))
			}
		}
		switch fd.kind {
		case kindString:
			want := "a string"
			if fd.is(flagTimestamp) {
				want = "a timestamp string"
			}
			fv.SetString(f.strOf(fd.name, want))
		case kindPathString:
			if pa := f.pathMember(fd.name, false); pa != nil {
				fv.SetString(pa.Value)
			}
		case kindQueryLanguage:
			fv.SetString(p.queryLanguage(f, c))
		case kindBool:
			fv.SetBool(f.boolean(fd.name))
		case kindPath:
			pa := f.pathMember(fd.name, fd.is(flagNullable))
			set(pa, pa != nil)
		case kindNum:
			n := f.num(fd.name, fd.is(flagInteger), c.jsonata)
			set(n, n != nil)
		case kindInt:
			if x, ok := f.take(fd.name); ok {
				n, isNum := f.number(fd.name, x, true)
				i, _ := n.Int64()
				set(Ptr(int(i)), isNum)
			}
		case kindFloat:
			if x, ok := f.take(fd.name); ok {
				n, isNum := f.number(fd.name, x, false)
				fl, _ := n.Float64()
				set(Ptr(fl), isNum)
			}
		case kindJSON:
			x := f.json(fd.name, fd.is(flagObject))
			set(x, x != nil)
		case kindErrorNames:
			names := f.errorNames(fd.name)
			set(names, names != nil)
		case kindRetriers, kindCatchers, kindRules, kindBranches:
			elems, ok := f.objects(fd.name)
			if !ok {
				continue
			}
			list := reflect.MakeSlice(fv.Type(), 0, len(elems))
			for i, e := range elems {
				list = reflect.Append(list, p.element(e, fd.kind, i == len(elems)-1, c))
			}
			fv.Set(list)
		case kindRule:
			if o := f.object(fd.name); o != nil {
				fv.Set(p.element(o, kindRule, false, c))
			}
		case kindBranch:
			if o := f.object(fd.name); o != nil {
				fv.Set(p.branch(o, processorMachine, c.jsonata))
			}
		case kindProcessorConfig:
			if o := f.object(fd.name); o != nil {
				pc := &ProcessorConfig{}
				p.read(o, reflect.ValueOf(pc).Elem(), &readCtx{})
				if p.strict {
					p.processorConfig(o.jobj)
				}
				o.done("ProcessorConfig", nil)
				fv.Set(reflect.ValueOf(pc))
			}
		case kindStates:
			if o := f.object(fd.name); o != nil {
				fv.Set(reflect.ValueOf(p.states(o, f.jobj)))
			}
		}
	}
}

// element reads one element of Retry, Catch, Choices, And, Or, Not or Branches; last tells whether it is the last
// of its array.
func (p *defParser) element(e *fieldSet, kind fieldKind, last bool, c *readCtx) reflect.Value {
	switch kind {
	case kindRetriers:
		r := Retrier{}
		p.read(e, reflect.ValueOf(&r).Elem(), &readCtx{jsonata: c.jsonata})
		if p.strict {
			p.retrier(e.jobj, last)
		}
		e.done("a retrier", nil)
		return reflect.ValueOf(r)
	case kindCatchers:
		k := Catcher{}
		p.read(e, reflect.ValueOf(&k).Elem(), &readCtx{jsonata: c.jsonata})
		if p.strict {
			p.catcher(e.jobj, last, c)
		}
		e.done("a catcher", nil)
		return reflect.ValueOf(k)
	case kindBranches:
		return p.branch(e, branchMachine, c.jsonata)
	case kindRule:
		r := p.choiceRule(e, false, c)
		return reflect.ValueOf(&r)
	}
	// Choices are read in the context of their state, And and Or in that of their rule.
	return reflect.ValueOf(p.choiceRule(e, c.state, c))
}

func (p *defParser) queryLanguage(f *fieldSet, c *readCtx) string {
	ql := f.str("QueryLanguage")
	switch _, isStr := f.jobj.str("QueryLanguage"); {
	case !isStr: // absent, or not a string (reported by str)
	case ql == QueryLanguageJSONata:
		c.jsonata = true
	case ql == QueryLanguageJSONPath:
		if c.state && p.jsonata {
			p.errorf(f.path("QueryLanguage"), "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata")
		}
		c.jsonata = false
	default:
		p.errorf(f.path("QueryLanguage"), "must be %q or %q, not %q", QueryLanguageJSONPath, QueryLanguageJSONata, ql)
	}
	if c.machine == topMachine {
		p.jsonata = c.jsonata
	}
	return ql
}

func (p *defParser) branch(f *fieldSet, kind machineKind, jsonata bool) reflect.Value {
	b := &Branch{}
	p.read(f, reflect.ValueOf(b).Elem(), &readCtx{machine: kind, jsonata: jsonata})
	if kind == processorMachine {
		f.done("a Map item processor", nil)
	} else {
		f.done("a Parallel branch", nil)
	}
	return reflect.ValueOf(b)
}

// states reads the States object of owner (a state machine, branch or processor): one member per state, in order.
// Strict, it checks the machine's transitions.
func (p *defParser) states(f *fieldSet, owner jobj) []State {
	out := make([]State, 0, f.o.Len())
	if p.strict && f.o.Len() == 0 {
		p.errorf(f.at, "must hold at least one state")
		return out
	}
	sc := p.newScope(f.jobj, owner)
	for i := 0; i < f.o.Len(); i++ {
		name := f.o.Key(i)
		f.used[i] = true
		spath := f.path(name)
		so, ok := f.o.At(i).(*value.Object)
		if !ok {
			p.errorf(spath, "a state is a JSON object, not %s", value.Kind(f.o.At(i)))
			sc.unknownEdges = true
			continue
		}
		if s := p.state(name, p.fields(so, spath), sc); s != nil {
			out = append(out, s)
		}
	}
	if p.strict {
		p.scopeEnd(f.jobj, sc, owner)
	}
	return out
}

func (p *defParser) state(name string, f *fieldSet, sc *scope) State {
	if !f.has("Type") {
		p.errorf(f.path("Type"), "is required")
		sc.unknownEdges = true
		return nil
	}
	typ := f.str("Type")
	t, known := stateTypes[typ]
	if !known {
		if _, isStr := f.jobj.str("Type"); isStr {
			p.errorf(f.path("Type"), "unknown state type %q (Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)", typ)
		}
		sc.unknownEdges = true
		return nil
	}
	v := reflect.New(t)
	v.Elem().FieldByName("Name").SetString(name)
	c := &readCtx{jsonata: p.jsonata, state: true, sc: sc, name: name}
	p.read(f, v.Elem(), c)
	s := v.Interface().(State)
	if _, isMap := s.(*Map); isMap && !f.has("ItemProcessor") && !f.has("Iterator") {
		p.errorf(f.path("ItemProcessor"), "is required")
	}
	d := descs[t]
	f.done("a "+typ+" state", func(field string) string {
		switch {
		case typ == "Choice" && (field == "Next" || field == "End"):
			return "a Choice state has no " + field + ": its Choices and Default name the next state"
		case (typ == "Succeed" || typ == "Fail") && (field == "Next" || field == "End"):
			return "a " + typ + " state ends its machine: it has no " + field
		case d.byName[field] != nil && d.byName[field].lang&langOf(!c.jsonata) != 0:
			lang, other := QueryLanguageJSONPath, QueryLanguageJSONata
			if c.jsonata {
				lang, other = other, lang
			}
			return fmt.Sprintf("field belongs to %s; this %s state is %s (set QueryLanguage to use it)", other, typ, lang)
		}
		return ""
	})
	if p.strict {
		p.check(s, f.jobj, c)
	}
	return s
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

// choiceRule reads a choice rule. A JSONPath rule is a comparison (Variable and one operator) or a combination
// (one of And, Or, Not); a JSONata rule has a Condition. top rules have Next and may Assign; nested ones have
// neither.
func (p *defParser) choiceRule(f *fieldSet, top bool, c *readCtx) ChoiceRule {
	var combos []string
	for _, k := range []string{"And", "Or", "Not"} {
		if f.has(k) {
			combos = append(combos, k)
		}
	}
	rc := &readCtx{jsonata: c.jsonata, top: top, combination: len(combos) > 0, sc: c.sc, name: c.name}
	var r ChoiceRule
	p.read(f, reflect.ValueOf(&r).Elem(), rc)
	if c.jsonata {
		if x, ok := f.get("Condition"); ok {
			r.Condition = toGo(x)
			if _, isBool := x.(bool); !isBool && !isJSONataExpr(x) {
				p.errorf(f.path("Condition"), "must be a boolean or a JSONata expression {%% ... %%}, not %s", value.String(x))
			}
		}
		if p.strict {
			p.checkRule(f.jobj, &r, top, rc)
		}
		f.done("a JSONata choice rule", func(field string) string {
			if field == "Variable" || field == "And" || field == "Or" || field == "Not" || choiceOps[field] {
				return "field belongs to JSONPath choice rules; a JSONata rule has a Condition"
			}
			return ""
		})
		return r
	}
	switch {
	case len(combos) > 1:
		p.errorf(f.at, "a choice rule has one of And, Or, Not; this one has %s", strings.Join(combos, ", "))
	case len(combos) == 0:
		var ops []string
		for i := 0; i < f.o.Len(); i++ {
			if k := f.o.Key(i); choiceOps[k] {
				f.used[i] = true
				ops = append(ops, k)
				if r.Op == "" {
					r.Op, r.Value = k, toGo(f.o.At(i))
				}
			}
		}
		switch len(ops) {
		case 0:
			p.errorf(f.at, "a choice rule needs a comparison operator (StringEquals, NumericLessThan, IsPresent, ...) or one of And, Or, Not")
		case 1:
		default:
			p.errorf(f.at, "a choice rule has exactly one comparison operator; this one has %s", strings.Join(ops, ", "))
		}
	}
	if p.strict {
		p.checkRule(f.jobj, &r, top, rc)
	}
	f.done("a choice rule", func(field string) string {
		switch {
		case !top && (field == "Next" || field == "Assign"):
			return "a nested choice rule (inside And, Or or Not) has no " + field
		case field == "Condition":
			return "Condition belongs to JSONata choice rules; a JSONPath rule compares a Variable"
		case rc.combination && field == "Variable":
			return "a combination rule (" + combos[0] + ") has no Variable"
		case rc.combination && choiceOps[field]:
			return "a combination rule (" + combos[0] + ") has no comparison operator"
		}
		return ""
	})
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
