package asl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cpwarden/cpwarden/internal/asl/intrinsic"
	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// Validate checks a JSON state machine definition the way Step Functions checks one when a state machine is
// created, and the way statelint does: the fields each state type allows in its query language, required and
// exclusive fields, their types and ranges, Next/Default/Catch targets, unreachable states, machines without a
// terminal state, state names (at most 80 characters, unique across the whole definition), path and reference
// path syntax, the ".$" fields of payload templates (a path, a $$ context path or a valid intrinsic call),
// Retry and Catch rules (States.ALL alone and last), Choice rules, and nested Parallel and Map machines.
//
// It returns nil or a DefinitionErrors holding every problem at once, each naming the field it is about the
// way Step Functions does ("States.Drain.Retry[1].BackoffRate").
//
// Validate reads the JSON document itself rather than a parsed StateMachine because the model cannot show what
// it does not keep: members given twice, "End": false, the fields of the other query language, a Next that is
// not a string. JSONata expressions ("{% ... %}") are not parsed; their fields are only checked for presence
// and type.
func Validate(def []byte) error {
	doc, err := value.Parse(def)
	if err != nil {
		return DefinitionErrors{{Msg: "the definition is not valid JSON: " + err.Error()}}
	}
	obj, ok := doc.(*value.Object)
	if !ok {
		return DefinitionErrors{{Msg: "a state machine definition is a JSON object, not " + value.Kind(doc)}}
	}
	v := &validator{names: map[string]string{}}
	v.duplicateMembers(def)
	v.stateMachine(obj)
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

// Validate checks the state machine as Validate checks its JSON (sm marshals to the definition it stands for).
func (sm *StateMachine) Validate() error {
	if sm == nil {
		return DefinitionErrors{{Msg: "nil state machine"}}
	}
	def, err := json.Marshal(sm)
	if err != nil {
		return DefinitionErrors{{Msg: "the state machine does not marshal to JSON: " + err.Error()}}
	}
	return Validate(def)
}

// Limits Step Functions enforces when a state machine is created.
const (
	maxStateNameLen  = 80
	maxLabelLen      = 40
	maxSeconds       = 99999999 // TimeoutSeconds, HeartbeatSeconds, IntervalSeconds, MaxAttempts, Wait Seconds
	maxRetryDelaySec = 31622400 // MaxDelaySeconds: one year
)

// stateTypes are the state types and the fields (other than Type, Comment and QueryLanguage) each allows, for
// JSONPath and for JSONata.
var stateTypes = map[string][2][]string{
	"Pass": {
		{"InputPath", "Parameters", "Result", "ResultPath", "OutputPath", "Assign", "Next", "End"},
		{"Output", "Assign", "Next", "End"},
	},
	"Task": {
		{"Resource", "InputPath", "Parameters", "Credentials", "ResultSelector", "ResultPath", "OutputPath",
			"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch",
			"Assign", "Next", "End"},
		{"Resource", "Arguments", "Credentials", "Output", "TimeoutSeconds", "HeartbeatSeconds", "Retry", "Catch",
			"Assign", "Next", "End"},
	},
	"Choice": {
		{"InputPath", "OutputPath", "Choices", "Default", "Assign"},
		{"Choices", "Default", "Output", "Assign"},
	},
	"Wait": {
		{"InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign", "Next", "End"},
		{"Seconds", "Timestamp", "Output", "Assign", "Next", "End"},
	},
	"Succeed": {
		{"InputPath", "OutputPath"},
		{"Output"},
	},
	"Fail": {
		{"Error", "ErrorPath", "Cause", "CausePath"},
		{"Error", "Cause"},
	},
	"Parallel": {
		{"Branches", "InputPath", "Parameters", "ResultSelector", "ResultPath", "OutputPath", "Retry", "Catch",
			"Assign", "Next", "End"},
		{"Branches", "Arguments", "Output", "Retry", "Catch", "Assign", "Next", "End"},
	},
	"Map": {
		{"ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "Parameters", "ItemReader", "ItemBatcher",
			"ResultWriter", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage",
			"ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath", "Label",
			"InputPath", "ResultSelector", "ResultPath", "OutputPath", "Retry", "Catch", "Assign", "Next", "End"},
		{"ItemProcessor", "Items", "ItemSelector", "ItemReader", "ItemBatcher", "ResultWriter", "MaxConcurrency",
			"ToleratedFailurePercentage", "ToleratedFailureCount", "Label", "Output", "Retry", "Catch", "Assign",
			"Next", "End"},
	},
}

var (
	commonStateFields = []string{"Type", "Comment", "QueryLanguage"}
	retrierFields     = []string{"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
		"JitterStrategy", "Comment"}
	catcherFields = [2][]string{
		{"ErrorEquals", "Next", "ResultPath", "Assign", "Comment"},
		{"ErrorEquals", "Next", "Output", "Assign", "Comment"},
	}
)

// validator collects the problems of one definition.
type validator struct {
	errs DefinitionErrors
	// names maps every state name to where it is defined: Step Functions wants names unique across the whole
	// definition, nested Parallel branches and Map processors included, because histories name states only.
	names map[string]string
	// jsonata is the top-level query language; states inherit it unless they set their own.
	jsonata bool
}

func (v *validator) errorf(at, format string, a ...any) {
	v.errs = append(v.errs, &DefinitionError{Path: at, Msg: fmt.Sprintf(format, a...)})
}

// node is one JSON object of the definition and where it is.
type node struct {
	v  *validator
	o  *value.Object
	at string
}

func (n node) path(name string) string { return join(n.at, name) }

func (n node) has(name string) bool { return n.o.Has(name) }

func (n node) get(name string) (any, bool) { return n.o.Get(name) }

// only reports the members that are not in any of the allowed lists. hint, when set, explains a member that
// is not allowed (for instance a field of the other query language).
func (n node) only(what string, hint func(field string) string, allowed ...[]string) {
	for _, k := range n.o.Keys() {
		ok := false
		for _, a := range allowed {
			if slices.Contains(a, k) {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		msg := ""
		if hint != nil {
			msg = hint(k)
		}
		if msg == "" {
			msg = "field is not allowed in " + what
		}
		n.v.errorf(n.path(k), "%s", msg)
	}
}

// str returns a string member; ok is false when it is absent or (reported) not a string.
func (n node) str(name string) (string, bool) {
	x, present := n.get(name)
	if !present {
		return "", false
	}
	s, ok := x.(string)
	if !ok {
		n.v.errorf(n.path(name), "must be a string, not %s", value.Kind(x))
	}
	return s, ok
}

func (n node) requiredStr(name string) (string, bool) {
	if !n.has(name) {
		n.v.errorf(n.path(name), "is required")
		return "", false
	}
	return n.str(name)
}

func (n node) boolean(name string) (bool, bool) {
	x, present := n.get(name)
	if !present {
		return false, false
	}
	b, ok := x.(bool)
	if !ok {
		n.v.errorf(n.path(name), "must be a boolean, not %s", value.Kind(x))
	}
	return b, ok
}

func (n node) object(name string) (node, bool) {
	x, present := n.get(name)
	if !present {
		return node{}, false
	}
	o, ok := x.(*value.Object)
	if !ok {
		n.v.errorf(n.path(name), "must be an object, not %s", value.Kind(x))
		return node{}, false
	}
	return node{v: n.v, o: o, at: n.path(name)}, true
}

func (n node) array(name string) ([]any, bool) {
	x, present := n.get(name)
	if !present {
		return nil, false
	}
	a, ok := x.([]any)
	if !ok {
		n.v.errorf(n.path(name), "must be an array, not %s", value.Kind(x))
	}
	return a, ok
}

// objects returns the members of an array of objects, reporting the elements that are not objects.
func (n node) objects(name string) ([]node, bool) {
	arr, ok := n.array(name)
	if !ok {
		return nil, false
	}
	out := make([]node, 0, len(arr))
	for i, e := range arr {
		at := fmtIndex(n.path(name), i)
		o, isObj := e.(*value.Object)
		if !isObj {
			n.v.errorf(at, "must be an object, not %s", value.Kind(e))
			continue
		}
		out = append(out, node{v: n.v, o: o, at: at})
	}
	return out, true
}

// integer returns an integer member within [lo, hi]; expr allows a JSONata "{% %}" expression instead (ok is
// then false: there is no number to compare).
func (n node) integer(name string, lo, hi int64, expr bool) (int64, bool) {
	x, present := n.get(name)
	if !present {
		return 0, false
	}
	if expr && isJSONataExpr(x) {
		return 0, false
	}
	num, isNum := x.(value.Number)
	if !isNum {
		n.v.errorf(n.path(name), "must be an integer, not %s", value.Kind(x))
		return 0, false
	}
	i, ok := num.Int64()
	if !ok {
		n.v.errorf(n.path(name), "must be an integer, not %s", num)
		return 0, false
	}
	if i < lo || i > hi {
		n.v.errorf(n.path(name), "must be between %d and %d, not %d", lo, hi, i)
		return i, false
	}
	return i, true
}

// number returns a numeric member; expr as for integer.
func (n node) number(name string, expr bool) (float64, bool) {
	x, present := n.get(name)
	if !present {
		return 0, false
	}
	if expr && isJSONataExpr(x) {
		return 0, false
	}
	num, isNum := x.(value.Number)
	if !isNum {
		n.v.errorf(n.path(name), "must be a number, not %s", value.Kind(x))
		return 0, false
	}
	f, err := num.Float64()
	if err != nil {
		n.v.errorf(n.path(name), "must be a number, not %s", num)
		return 0, false
	}
	return f, true
}

func isJSONataExpr(x any) bool {
	s, ok := x.(string)
	if !ok {
		return false
	}
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{%") && strings.HasSuffix(s, "%}")
}

// pathKind is what a path field must be.
type pathKind int

const (
	pathAny       pathKind = iota // a Path: $, $$ or $variable, any selector (InputPath, OutputPath, Variable)
	pathReference                 // a Reference Path: names and single indexes only (SecondsPath, ItemsPath, ...)
	pathResult                    // a Reference Path rooted at the state input $ (ResultPath)
)

// checkPath reports a path that does not parse or is not of the kind the field needs.
func (v *validator) checkPath(s, at string, kind pathKind) {
	p, err := jsonpath.Parse(s)
	if err != nil {
		v.errorf(at, "%v", err)
		return
	}
	switch {
	case kind == pathResult && (p.Root() != jsonpath.RootInput || !p.IsReference()):
		v.errorf(at, "must be a reference path starting with $ (names and indexes only), not %q", s)
	case kind == pathReference && !p.IsReference():
		v.errorf(at, "must be a reference path (names and indexes only, no wildcard, slice, filter or length()), not %q", s)
	}
}

// pathField checks a path member; nullable allows JSON null.
func (n node) pathField(name string, kind pathKind, nullable bool) {
	x, present := n.get(name)
	if !present {
		return
	}
	switch s := x.(type) {
	case nil:
		if !nullable {
			n.v.errorf(n.path(name), "must be a path, not null")
		}
	case string:
		n.v.checkPath(s, n.path(name), kind)
	default:
		n.v.errorf(n.path(name), "must be a path string, not %s", value.Kind(x))
	}
}

// pathOrCall checks a string that is a path or an intrinsic function call (".$" fields, ErrorPath, CausePath).
func (v *validator) pathOrCall(s, at string, kind pathKind) {
	if intrinsic.IsCall(s) {
		if _, err := intrinsic.Parse(s); err != nil {
			v.errorf(at, "%v", err)
		}
		return
	}
	if !strings.HasPrefix(s, "$") {
		v.errorf(at, "must be a path ($..., $$... or $variable...) or an intrinsic function call (States....), not %q", s)
		return
	}
	v.checkPath(s, at, kind)
}

// template checks a JSONPath payload template (Parameters, ResultSelector, ItemSelector, Assign, Credentials):
// every member named "*.$", however deep, holds a path or an intrinsic call.
func (v *validator) template(x any, at string) {
	switch t := x.(type) {
	case *value.Object:
		for i := 0; i < t.Len(); i++ {
			k, mv := t.Key(i), t.At(i)
			fat := join(at, k)
			if !strings.HasSuffix(k, ".$") {
				v.template(mv, fat)
				continue
			}
			if k == ".$" {
				v.errorf(fat, "a field ending in .$ needs a name before the .$")
			}
			s, ok := mv.(string)
			if !ok {
				v.errorf(fat, "the value of a field ending in .$ must be a path or an intrinsic function call, not %s", value.Kind(mv))
				continue
			}
			v.pathOrCall(s, fat, pathAny)
		}
	case []any:
		for i, e := range t {
			v.template(e, fmtIndex(at, i))
		}
	}
}

// scope is one machine: the top level, a Parallel branch or a Map processor. Next, Default and Catch targets
// must name a state of the same scope.
type scope struct {
	states   map[string]bool
	edges    map[string][]string
	terminal bool // some state ends the machine
	// unknownEdges is set when a state's transitions could not be read (no or unknown Type, no Next or End): the
	// whole-machine checks (reachability, an end) would then report consequences, not causes, so they are skipped.
	unknownEdges bool
	// dangling is set when a transition names no state: the end it was meant to lead to is unknown.
	dangling bool
}

func (v *validator) target(sc *scope, from, to, at string) {
	if !sc.states[to] {
		v.errorf(at, "names no state of this machine: %q", to)
		sc.dangling = true
		return
	}
	sc.edges[from] = append(sc.edges[from], to)
}

type machineKind int

const (
	topMachine machineKind = iota
	branchMachine
	processorMachine
)

func (v *validator) stateMachine(obj *value.Object) {
	n := node{v: v, o: obj}
	if ql, ok := n.str("QueryLanguage"); ok {
		switch ql {
		case QueryLanguageJSONPath:
		case QueryLanguageJSONata:
			v.jsonata = true
		default:
			v.errorf(n.path("QueryLanguage"), "must be %q or %q, not %q", QueryLanguageJSONPath, QueryLanguageJSONata, ql)
		}
	}
	n.str("Version")
	n.integer("TimeoutSeconds", 1, maxSeconds, false)
	v.machine(n, topMachine)
}

// machine checks the StartAt and States of a state machine, branch or processor, then its transitions.
func (v *validator) machine(n node, kind machineKind) {
	switch kind {
	case topMachine:
		n.only("a state machine", nil, []string{"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"})
	case branchMachine:
		n.only("a Parallel branch", nil, []string{"StartAt", "States", "Comment"})
	case processorMachine:
		n.only("a Map item processor", nil, []string{"StartAt", "States", "Comment", "ProcessorConfig"})
	}
	n.str("Comment")
	startAt, hasStart := n.requiredStr("StartAt")
	states, ok := n.object("States")
	if !ok {
		if !n.has("States") {
			v.errorf(n.path("States"), "is required")
		}
		return
	}
	if states.o.Len() == 0 {
		v.errorf(states.at, "must hold at least one state")
		return
	}
	sc := &scope{states: make(map[string]bool, states.o.Len()), edges: map[string][]string{}}
	for _, name := range states.o.Keys() {
		at := states.path(name)
		sc.states[name] = true
		switch {
		case name == "":
			v.errorf(at, "a state name must not be empty")
		case utf8.RuneCountInString(name) > maxStateNameLen:
			v.errorf(at, "a state name has at most %d characters; this one has %d", maxStateNameLen, utf8.RuneCountInString(name))
		}
		if first, dup := v.names[name]; dup {
			v.errorf(at, "state name %q is already used at %s; names are unique across the whole definition", name, first)
		} else {
			v.names[name] = at
		}
	}
	if hasStart && !sc.states[startAt] {
		v.errorf(n.path("StartAt"), "names no state of this machine: %q", startAt)
	}
	for i := 0; i < states.o.Len(); i++ {
		name, x := states.o.Key(i), states.o.At(i)
		o, isObj := x.(*value.Object)
		if !isObj {
			v.errorf(states.path(name), "a state is a JSON object, not %s", value.Kind(x))
			sc.unknownEdges = true
			continue
		}
		v.state(node{v: v, o: o, at: states.path(name)}, name, sc)
	}
	if !sc.terminal && !sc.unknownEdges && !sc.dangling {
		v.errorf(states.at, "no state ends this machine: it needs a Succeed or Fail state, or a state with \"End\": true")
	}
	if hasStart && sc.states[startAt] && !sc.unknownEdges {
		reached := map[string]bool{startAt: true}
		queue := []string{startAt}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			for _, to := range sc.edges[cur] {
				if !reached[to] {
					reached[to] = true
					queue = append(queue, to)
				}
			}
		}
		for _, name := range states.o.Keys() {
			if !reached[name] {
				v.errorf(states.path(name), "state is unreachable: no path of Next, Default, Choices or Catch leads to it from StartAt %q", startAt)
			}
		}
	}
}

// state checks one state: its type's fields in its query language, then what the type needs.
func (v *validator) state(n node, name string, sc *scope) {
	typ, ok := n.requiredStr("Type")
	if !ok {
		sc.unknownEdges = true
		return
	}
	fields, known := stateTypes[typ]
	if !known {
		v.errorf(n.path("Type"), "unknown state type %q (Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)", typ)
		sc.unknownEdges = true
		return
	}
	jsonata := v.jsonata
	if ql, ok := n.str("QueryLanguage"); ok {
		switch ql {
		case QueryLanguageJSONata:
			jsonata = true
		case QueryLanguageJSONPath:
			if v.jsonata {
				v.errorf(n.path("QueryLanguage"), "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata")
			}
			jsonata = false
		default:
			v.errorf(n.path("QueryLanguage"), "must be %q or %q, not %q", QueryLanguageJSONPath, QueryLanguageJSONata, ql)
		}
	}
	lang, other := 0, 1
	langName, otherName := QueryLanguageJSONPath, QueryLanguageJSONata
	if jsonata {
		lang, other = 1, 0
		langName, otherName = otherName, langName
	}
	n.only("a "+typ+" state", func(field string) string {
		switch {
		case typ == "Choice" && (field == "Next" || field == "End"):
			return "a Choice state has no " + field + ": its Choices and Default name the next state"
		case (typ == "Succeed" || typ == "Fail") && (field == "Next" || field == "End"):
			return "a " + typ + " state ends its machine: it has no " + field
		case slices.Contains(fields[other], field):
			return fmt.Sprintf("field belongs to %s; this %s state is %s (set QueryLanguage to use it)", otherName, typ, langName)
		}
		return ""
	}, commonStateFields, fields[lang])
	n.str("Comment")

	if !jsonata {
		v.jsonPathFields(n)
	}
	v.assign(n, jsonata)
	switch typ {
	case "Pass", "Wait":
		v.transition(n, name, sc)
	case "Task":
		v.task(n, jsonata)
		v.retryCatch(n, name, sc, jsonata)
		v.transition(n, name, sc)
	case "Parallel":
		v.parallel(n)
		v.retryCatch(n, name, sc, jsonata)
		v.transition(n, name, sc)
	case "Map":
		v.mapState(n, jsonata)
		v.retryCatch(n, name, sc, jsonata)
		v.transition(n, name, sc)
	case "Choice":
		v.choice(n, name, sc, jsonata)
	case "Succeed":
		sc.terminal = true
	case "Fail":
		v.fail(n, jsonata)
		sc.terminal = true
	}
	if typ == "Wait" {
		v.wait(n, jsonata)
	}
}

// jsonPathFields checks the data-flow fields of a JSONPath state (those the state type allows were already
// sorted out by only).
func (v *validator) jsonPathFields(n node) {
	n.pathField("InputPath", pathAny, true)
	n.pathField("OutputPath", pathAny, true)
	n.pathField("ResultPath", pathResult, true)
	for _, f := range []string{"Parameters", "ResultSelector", "ItemSelector"} {
		if x, ok := n.get(f); ok {
			v.template(x, n.path(f))
		}
	}
}

// assign checks an Assign field: an object of variable names, whose ".$" members (JSONPath) hold paths or
// intrinsic calls.
func (v *validator) assign(n node, jsonata bool) {
	a, ok := n.object("Assign")
	if !ok {
		return
	}
	for _, k := range a.o.Keys() {
		if strings.TrimSuffix(k, ".$") == "" {
			v.errorf(a.path(k), "a variable needs a name")
		}
	}
	if !jsonata {
		v.template(a.o, a.at)
	}
}

// transition checks Next and End of a state that continues or ends: exactly one of Next, or End true.
func (v *validator) transition(n node, name string, sc *scope) {
	next, hasNext := n.str("Next")
	end, _ := n.boolean("End")
	switch {
	case n.has("Next") && end:
		v.errorf(n.at, "has both Next and \"End\": true; a state either continues or ends")
		// Either may be the intent: count both, so that only the conflict is reported.
		sc.terminal = true
		if hasNext && sc.states[next] {
			sc.edges[name] = append(sc.edges[name], next)
		}
	case hasNext:
		v.target(sc, name, next, n.path("Next"))
	case end:
		sc.terminal = true
	case !n.has("Next"):
		v.errorf(n.at, "needs Next, or \"End\": true")
		sc.unknownEdges = true
	default: // a Next that is not a string, reported by str
		sc.unknownEdges = true
	}
}

func (v *validator) task(n node, jsonata bool) {
	if res, ok := n.requiredStr("Resource"); ok {
		if parts := strings.Split(res, ":"); len(parts) < 6 || parts[0] != "arn" {
			v.errorf(n.path("Resource"), "must be an ARN (arn:partition:service:region:account:resource), not %q", res)
		}
	}
	timeout, hasTimeout := n.integer("TimeoutSeconds", 1, maxSeconds, jsonata)
	heartbeat, hasHeartbeat := n.integer("HeartbeatSeconds", 1, maxSeconds, jsonata)
	v.exclusive(n, "TimeoutSeconds", "TimeoutSecondsPath")
	v.exclusive(n, "HeartbeatSeconds", "HeartbeatSecondsPath")
	n.pathField("TimeoutSecondsPath", pathReference, false)
	n.pathField("HeartbeatSecondsPath", pathReference, false)
	if hasTimeout && hasHeartbeat && heartbeat >= timeout {
		v.errorf(n.path("HeartbeatSeconds"), "must be smaller than TimeoutSeconds (%d), not %d", timeout, heartbeat)
	}
	if c, ok := n.object("Credentials"); ok {
		if !c.has("RoleArn") && !(c.has("RoleArn.$") && !jsonata) {
			v.errorf(c.path("RoleArn"), "is required")
		}
		c.only("Credentials", nil, []string{"RoleArn", "RoleArn.$"})
		if !jsonata {
			v.template(c.o, c.at)
		}
	}
}

// exclusive reports a state that has both forms of a field.
func (v *validator) exclusive(n node, a, b string) {
	if n.has(a) && n.has(b) {
		v.errorf(n.path(b), "%s and %s are exclusive: give one", a, b)
	}
}

func (v *validator) retryCatch(n node, name string, sc *scope, jsonata bool) {
	if retriers, ok := n.objects("Retry"); ok {
		for i, r := range retriers {
			r.only("a retrier", nil, retrierFields)
			r.str("Comment")
			v.errorEquals(r, i == len(retriers)-1)
			r.integer("IntervalSeconds", 1, maxSeconds, false)
			r.integer("MaxAttempts", 0, maxSeconds, false)
			if f, ok := r.number("BackoffRate", false); ok && f < 1 {
				v.errorf(r.path("BackoffRate"), "must be at least 1.0, not %v", f)
			}
			r.integer("MaxDelaySeconds", 1, maxRetryDelaySec, false)
			if s, ok := r.str("JitterStrategy"); ok && s != "FULL" && s != "NONE" {
				v.errorf(r.path("JitterStrategy"), "must be FULL or NONE, not %q", s)
			}
		}
	}
	lang := 0
	if jsonata {
		lang = 1
	}
	if catchers, ok := n.objects("Catch"); ok {
		for i, c := range catchers {
			c.only("a catcher", nil, catcherFields[lang])
			c.str("Comment")
			v.errorEquals(c, i == len(catchers)-1)
			if next, ok := c.requiredStr("Next"); ok {
				v.target(sc, name, next, c.path("Next"))
			}
			if !jsonata {
				c.pathField("ResultPath", pathResult, true)
			}
			v.assign(c, jsonata)
		}
	}
}

// errorEquals checks the ErrorEquals of a retrier or catcher; last tells whether it is the last one, where
// States.ALL may appear (alone).
func (v *validator) errorEquals(n node, last bool) {
	if !n.has("ErrorEquals") {
		v.errorf(n.path("ErrorEquals"), "is required")
		return
	}
	arr, ok := n.array("ErrorEquals")
	if !ok {
		return
	}
	if len(arr) == 0 {
		v.errorf(n.path("ErrorEquals"), "must name at least one error")
	}
	for i, e := range arr {
		at := fmtIndex(n.path("ErrorEquals"), i)
		s, isStr := e.(string)
		switch {
		case !isStr:
			v.errorf(at, "must be an error name string, not %s", value.Kind(e))
		case s == "":
			v.errorf(at, "an error name must not be empty")
		case s == ErrAll && len(arr) > 1:
			v.errorf(at, "States.ALL must appear alone in ErrorEquals")
		case s == ErrAll && !last:
			v.errorf(at, "States.ALL must be in the last retrier or catcher: the ones after it can never match")
		}
	}
}

func (v *validator) choice(n node, name string, sc *scope, jsonata bool) {
	rules, ok := n.objects("Choices")
	switch {
	case !n.has("Choices"):
		v.errorf(n.path("Choices"), "is required")
	case ok && len(rules) == 0:
		if arr, _ := n.array("Choices"); len(arr) == 0 {
			v.errorf(n.path("Choices"), "must hold at least one rule")
		}
	}
	for _, r := range rules {
		if jsonata {
			v.jsonataRule(r, name, sc)
		} else {
			v.choiceRule(r, true)
			v.assign(r, false)
			if next, ok := r.requiredStr("Next"); ok {
				v.target(sc, name, next, r.path("Next"))
			}
		}
	}
	if def, ok := n.str("Default"); ok {
		v.target(sc, name, def, n.path("Default"))
	}
}

func (v *validator) jsonataRule(r node, name string, sc *scope) {
	r.only("a JSONata choice rule", func(field string) string {
		if field == "Variable" || field == "And" || field == "Or" || field == "Not" || choiceOps[field] {
			return "field belongs to JSONPath choice rules; a JSONata rule has a Condition"
		}
		return ""
	}, []string{"Condition", "Next", "Comment", "Assign", "Output"})
	r.str("Comment")
	if c, ok := r.get("Condition"); !ok {
		v.errorf(r.path("Condition"), "is required")
	} else if _, isBool := c.(bool); !isBool && !isJSONataExpr(c) {
		v.errorf(r.path("Condition"), "must be a boolean or a JSONata expression {%% ... %%}, not %s", value.String(c))
	}
	v.assign(r, true)
	if next, ok := r.requiredStr("Next"); ok {
		v.target(sc, name, next, r.path("Next"))
	}
}

// choiceRule checks a JSONPath choice rule: a comparison (Variable and one operator) or a combination (one of
// And, Or, Not). top rules have Next (checked by the caller) and may Assign; nested ones have neither.
func (v *validator) choiceRule(r node, top bool) {
	allowed := []string{"Variable", "And", "Or", "Not", "Comment"}
	if top {
		allowed = append(allowed, "Next", "Assign")
	}
	var ops []string
	for _, k := range r.o.Keys() {
		if choiceOps[k] {
			ops = append(ops, k)
		}
	}
	r.only("a choice rule", func(field string) string {
		switch {
		case !top && (field == "Next" || field == "Assign"):
			return "a nested choice rule (inside And, Or or Not) has no " + field
		case field == "Condition":
			return "Condition belongs to JSONata choice rules; a JSONPath rule compares a Variable"
		}
		return ""
	}, allowed, ops)
	r.str("Comment")
	var combos []string
	for _, k := range []string{"And", "Or", "Not"} {
		if r.has(k) {
			combos = append(combos, k)
		}
	}
	if len(combos) > 0 {
		if len(combos) > 1 {
			v.errorf(r.at, "a choice rule has one of And, Or, Not; this one has %s", strings.Join(combos, ", "))
		}
		if r.has("Variable") {
			v.errorf(r.path("Variable"), "a combination rule (%s) has no Variable", combos[0])
		}
		for _, op := range ops {
			v.errorf(r.path(op), "a combination rule (%s) has no comparison operator", combos[0])
		}
		for _, k := range []string{"And", "Or"} {
			if !r.has(k) {
				continue
			}
			subs, ok := r.objects(k)
			if arr, _ := r.array(k); ok && len(arr) == 0 {
				v.errorf(r.path(k), "must hold at least one rule")
			}
			for _, s := range subs {
				v.choiceRule(s, false)
			}
		}
		if s, ok := r.object("Not"); ok {
			v.choiceRule(s, false)
		}
		return
	}
	if variable, ok := r.requiredStr("Variable"); ok {
		v.checkPath(variable, r.path("Variable"), pathAny)
	}
	switch len(ops) {
	case 0:
		v.errorf(r.at, "a choice rule needs a comparison operator (StringEquals, NumericLessThan, IsPresent, ...) or one of And, Or, Not")
	case 1:
		x, _ := r.get(ops[0])
		v.operand(ops[0], x, r.path(ops[0]))
	default:
		v.errorf(r.at, "a choice rule has exactly one comparison operator; this one has %s", strings.Join(ops, ", "))
	}
}

// operand checks the value of a comparison operator against the type the operator compares.
func (v *validator) operand(op string, x any, at string) {
	want := ""
	switch {
	case strings.HasSuffix(op, "Path"):
		if s, ok := x.(string); ok {
			v.checkPath(s, at, pathAny)
			return
		}
		want = "a path string"
	case strings.HasPrefix(op, "Is"), op == OpBooleanEquals:
		if _, ok := x.(bool); ok {
			return
		}
		want = "a boolean"
	case strings.HasPrefix(op, "String"):
		if _, ok := x.(string); ok {
			return
		}
		want = "a string"
	case strings.HasPrefix(op, "Numeric"):
		if _, ok := x.(value.Number); ok {
			return
		}
		want = "a number"
	case strings.HasPrefix(op, "Timestamp"):
		if s, ok := x.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				v.errorf(at, "must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, not %q", s)
			}
			return
		}
		want = "a timestamp string"
	}
	v.errorf(at, "%s compares with %s, not %s", op, want, value.String(x))
}

func (v *validator) wait(n node, jsonata bool) {
	var given []string
	for _, f := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
		if n.has(f) {
			given = append(given, f)
		}
	}
	switch len(given) {
	case 0:
		if jsonata {
			v.errorf(n.at, "a Wait state needs Seconds or Timestamp")
		} else {
			v.errorf(n.at, "a Wait state needs one of Seconds, SecondsPath, Timestamp, TimestampPath")
		}
	case 1:
	default:
		v.errorf(n.path(given[1]), "a Wait state has exactly one of Seconds, SecondsPath, Timestamp, TimestampPath; this one has %s", strings.Join(given, ", "))
	}
	n.integer("Seconds", 0, maxSeconds, jsonata)
	n.pathField("SecondsPath", pathReference, false)
	n.pathField("TimestampPath", pathReference, false)
	if x, ok := n.get("Timestamp"); ok && !(jsonata && isJSONataExpr(x)) {
		s, isStr := x.(string)
		if !isStr {
			v.errorf(n.path("Timestamp"), "must be a timestamp string, not %s", value.Kind(x))
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			v.errorf(n.path("Timestamp"), "must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, not %q", s)
		}
	}
}

func (v *validator) fail(n node, jsonata bool) {
	n.str("Error")
	n.str("Cause")
	if jsonata {
		return
	}
	v.exclusive(n, "Error", "ErrorPath")
	v.exclusive(n, "Cause", "CausePath")
	for _, f := range []string{"ErrorPath", "CausePath"} {
		if s, ok := n.str(f); ok {
			v.pathOrCall(s, n.path(f), pathReference)
		}
	}
}

func (v *validator) parallel(n node) {
	branches, ok := n.objects("Branches")
	switch {
	case !n.has("Branches"):
		v.errorf(n.path("Branches"), "is required")
	case ok:
		if arr, _ := n.array("Branches"); len(arr) == 0 {
			v.errorf(n.path("Branches"), "a Parallel state needs at least one branch")
		}
	}
	for _, b := range branches {
		v.machine(b, branchMachine)
	}
}

func (v *validator) mapState(n node, jsonata bool) {
	var proc node
	var hasProc bool
	switch {
	case n.has("ItemProcessor") && n.has("Iterator"):
		v.errorf(n.path("Iterator"), "ItemProcessor and Iterator (its older name) are exclusive: give one")
	case !n.has("ItemProcessor") && !n.has("Iterator"):
		v.errorf(n.path("ItemProcessor"), "is required")
	}
	for _, f := range []string{"ItemProcessor", "Iterator"} {
		if p, ok := n.object(f); ok && !hasProc {
			proc, hasProc = p, true
		}
	}
	distributed := false
	if hasProc {
		if pc, ok := proc.object("ProcessorConfig"); ok {
			pc.only("ProcessorConfig", nil, []string{"Mode", "ExecutionType"})
			mode, hasMode := pc.str("Mode")
			if hasMode && mode != "INLINE" && mode != "DISTRIBUTED" {
				v.errorf(pc.path("Mode"), "must be INLINE or DISTRIBUTED, not %q", mode)
			}
			distributed = mode == "DISTRIBUTED"
			et, hasET := pc.str("ExecutionType")
			switch {
			case hasET && et != "STANDARD" && et != "EXPRESS":
				v.errorf(pc.path("ExecutionType"), "must be STANDARD or EXPRESS, not %q", et)
			case distributed && !pc.has("ExecutionType"):
				v.errorf(pc.path("ExecutionType"), "is required in DISTRIBUTED mode")
			}
		}
		v.machine(proc, processorMachine)
	}
	for _, f := range []string{"ItemReader", "ItemBatcher", "ResultWriter", "Label"} {
		if n.has(f) && !distributed {
			v.errorf(n.path(f), "only a Distributed Map (ProcessorConfig.Mode DISTRIBUTED) has %s", f)
		}
	}
	for _, f := range []string{"ItemReader", "ItemBatcher", "ResultWriter"} {
		if o, ok := n.object(f); ok && !jsonata {
			v.template(o.o, o.at)
		}
	}
	if l, ok := n.str("Label"); ok && utf8.RuneCountInString(l) > maxLabelLen {
		v.errorf(n.path("Label"), "has at most %d characters", maxLabelLen)
	}
	if !jsonata {
		n.pathField("ItemsPath", pathReference, false)
		v.exclusive(n, "ItemSelector", "Parameters")
	}
	n.integer("MaxConcurrency", 0, 1<<31-1, jsonata)
	n.integer("ToleratedFailureCount", 0, 1<<31-1, jsonata)
	if f, ok := n.number("ToleratedFailurePercentage", jsonata); ok && (f < 0 || f > 100) {
		v.errorf(n.path("ToleratedFailurePercentage"), "must be between 0 and 100, not %v", f)
	}
	for _, f := range []string{"MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage"} {
		v.exclusive(n, f, f+"Path")
		n.pathField(f+"Path", pathReference, false)
	}
}

// duplicateMembers reports members given twice in one object: JSON parsers keep one of them silently, so a
// state or a field would vanish.
func (v *validator) duplicateMembers(def []byte) {
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	if err := v.dupValue(dec, ""); err != nil && !errors.Is(err, io.EOF) {
		v.errorf("", "the definition is not valid JSON: %v", err)
	}
}

func (v *validator) dupValue(dec *json.Decoder, at string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if seen[k] {
				v.errorf(join(at, k), "field appears more than once in this object")
			}
			seen[k] = true
			if err := v.dupValue(dec, join(at, k)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := v.dupValue(dec, fmtIndex(at, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}
