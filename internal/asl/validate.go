package asl

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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
// Validate is Parse with the checks of this file added to the same walk over the document: what Parse reports,
// Validate reports in the same words, and what Validate accepts, Parse accepts. The checks look at the JSON
// members as well as the model, because the model cannot show what it does not keep: members given twice, a
// Next that is not a string, an empty string given for a path. JSONata expressions ("{% ... %}") are not
// parsed; their fields are only checked for presence and type.
func Validate(def []byte) error {
	if _, errs := parseDefinition(def, true); len(errs) > 0 {
		return errs
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

// rangeInt returns an integer member within [lo, hi], reporting one outside; ok is false when there is no
// integer in range to compare with (a member of the wrong type was reported by the parser).
func (p *defParser) rangeInt(n jobj, name string, lo, hi int64) (int64, bool) {
	x, _ := n.get(name)
	num, isNum := x.(value.Number)
	if !isNum {
		return 0, false
	}
	i, ok := num.Int64()
	if !ok {
		return 0, false
	}
	if i < lo || i > hi {
		p.errorf(n.path(name), "must be between %d and %d, not %d", lo, hi, i)
		return i, false
	}
	return i, true
}

// float returns a member that is a number.
func (n jobj) float(name string) (float64, bool) {
	x, _ := n.get(name)
	num, isNum := x.(value.Number)
	if !isNum {
		return 0, false
	}
	f, err := num.Float64()
	return f, err == nil
}

// pathKind is what a path field must be.
type pathKind int

const (
	pathAny       pathKind = iota // a Path: $, $$ or $variable, any selector (InputPath, OutputPath, Variable)
	pathReference                 // a Reference Path: names and single indexes only (SecondsPath, ItemsPath, ...)
	pathResult                    // a Reference Path rooted at the state input $ (ResultPath)
)

// checkPath reports a path that does not parse or is not of the kind the field needs.
func (p *defParser) checkPath(s, at string, kind pathKind) {
	jp, err := jsonpath.Parse(s)
	if err != nil {
		p.errorf(at, "%v", err)
		return
	}
	switch {
	case kind == pathResult && (jp.Root() != jsonpath.RootInput || !jp.IsReference()):
		p.errorf(at, "must be a reference path starting with $ (names and indexes only), not %q", s)
	case kind == pathReference && !jp.IsReference():
		p.errorf(at, "must be a reference path (names and indexes only, no wildcard, slice, filter or length()), not %q", s)
	}
}

// pathField checks the syntax of a path member that is a string (the parser reported the others).
func (p *defParser) pathField(n jobj, name string, kind pathKind) {
	if s, ok := n.str(name); ok {
		p.checkPath(s, n.path(name), kind)
	}
}

// pathOrCall checks a string that is a path or an intrinsic function call (".$" fields, ErrorPath, CausePath).
func (p *defParser) pathOrCall(s, at string, kind pathKind) {
	if intrinsic.IsCall(s) {
		if _, err := intrinsic.Parse(s); err != nil {
			p.errorf(at, "%v", err)
		}
		return
	}
	if !strings.HasPrefix(s, "$") {
		p.errorf(at, "must be a path ($..., $$... or $variable...) or an intrinsic function call (States....), not %q", s)
		return
	}
	p.checkPath(s, at, kind)
}

// template checks a JSONPath payload template (Parameters, ResultSelector, ItemSelector, Assign, Credentials):
// every member named "*.$", however deep, holds a path or an intrinsic call.
func (p *defParser) template(x any, at string) {
	switch t := x.(type) {
	case *value.Object:
		for i := 0; i < t.Len(); i++ {
			k, mv := t.Key(i), t.At(i)
			fat := join(at, k)
			if !strings.HasSuffix(k, ".$") {
				p.template(mv, fat)
				continue
			}
			if k == ".$" {
				p.errorf(fat, "a field ending in .$ needs a name before the .$")
			}
			s, ok := mv.(string)
			if !ok {
				p.errorf(fat, "the value of a field ending in .$ must be a path or an intrinsic function call, not %s", value.Kind(mv))
				continue
			}
			p.pathOrCall(s, fat, pathAny)
		}
	case []any:
		for i, e := range t {
			p.template(e, fmtIndex(at, i))
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

func (p *defParser) target(sc *scope, from, to, at string) {
	if !sc.states[to] {
		p.errorf(at, "names no state of this machine: %q", to)
		sc.dangling = true
		return
	}
	sc.edges[from] = append(sc.edges[from], to)
}

// newScope starts the scope of a machine's States (owner is the machine): strict, it checks the state names and
// StartAt.
func (p *defParser) newScope(states, owner jobj) *scope {
	sc := &scope{}
	if !p.strict {
		return sc
	}
	sc.states, sc.edges = make(map[string]bool, states.o.Len()), map[string][]string{}
	for _, name := range states.o.Keys() {
		at := states.path(name)
		sc.states[name] = true
		switch {
		case name == "":
			p.errorf(at, "a state name must not be empty")
		case utf8.RuneCountInString(name) > maxStateNameLen:
			p.errorf(at, "a state name has at most %d characters; this one has %d", maxStateNameLen, utf8.RuneCountInString(name))
		}
		if first, dup := p.names[name]; dup {
			p.errorf(at, "state name %q is already used at %s; names are unique across the whole definition", name, first)
		} else {
			p.names[name] = at
		}
	}
	if startAt, ok := owner.str("StartAt"); ok && !sc.states[startAt] {
		p.errorf(owner.path("StartAt"), "names no state of this machine: %q", startAt)
	}
	return sc
}

// scopeEnd checks a machine once its states are read: it has an end, and StartAt reaches every state.
func (p *defParser) scopeEnd(states jobj, sc *scope, owner jobj) {
	if !sc.terminal && !sc.unknownEdges && !sc.dangling {
		p.errorf(states.at, "no state ends this machine: it needs a Succeed or Fail state, or a state with \"End\": true")
	}
	startAt, ok := owner.str("StartAt")
	if !ok || !sc.states[startAt] || sc.unknownEdges {
		return
	}
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
			p.errorf(states.path(name), "state is unreachable: no path of Next, Default, Choices or Catch leads to it from StartAt %q", startAt)
		}
	}
}

// check checks one state the parser has read: what its type needs beyond the shape of its fields.
func (p *defParser) check(s State, n jobj, c *readCtx) {
	if !c.jsonata {
		p.jsonPathFields(n)
	}
	p.assign(n, c.jsonata)
	switch t := s.(type) {
	case *Pass:
		p.transition(n, c)
	case *Wait:
		p.wait(n, c.jsonata)
		p.transition(n, c)
	case *Task:
		p.task(n, c.jsonata)
		p.transition(n, c)
	case *Parallel:
		if arr, ok := n.array("Branches"); ok && len(arr) == 0 {
			p.errorf(n.path("Branches"), "a Parallel state needs at least one branch")
		}
		p.transition(n, c)
	case *Map:
		p.mapState(n, t, c.jsonata)
		p.transition(n, c)
	case *Choice:
		if arr, ok := n.array("Choices"); ok && len(arr) == 0 {
			p.errorf(n.path("Choices"), "must hold at least one rule")
		}
		if def, ok := n.str("Default"); ok {
			p.target(c.sc, c.name, def, n.path("Default"))
		}
	case *Succeed:
		c.sc.terminal = true
	case *Fail:
		p.fail(n, c.jsonata)
		c.sc.terminal = true
	}
}

// jsonPathFields checks the data-flow fields of a JSONPath state.
func (p *defParser) jsonPathFields(n jobj) {
	p.pathField(n, "InputPath", pathAny)
	p.pathField(n, "OutputPath", pathAny)
	p.pathField(n, "ResultPath", pathResult)
	for _, f := range []string{"Parameters", "ResultSelector", "ItemSelector"} {
		if x, ok := n.get(f); ok {
			p.template(x, n.path(f))
		}
	}
}

// assign checks an Assign field: an object of variable names, whose ".$" members (JSONPath) hold paths or
// intrinsic calls.
func (p *defParser) assign(n jobj, jsonata bool) {
	a, ok := n.object("Assign")
	if !ok {
		return
	}
	for _, k := range a.o.Keys() {
		if strings.TrimSuffix(k, ".$") == "" {
			p.errorf(a.path(k), "a variable needs a name")
		}
	}
	if !jsonata {
		p.template(a.o, a.at)
	}
}

// transition checks Next and End of a state that continues or ends: exactly one of Next, or End true.
func (p *defParser) transition(n jobj, c *readCtx) {
	sc, name := c.sc, c.name
	next, hasNext := n.str("Next")
	end, _ := n.get("End")
	switch {
	case n.has("Next") && end == true:
		p.errorf(n.at, "has both Next and \"End\": true; a state either continues or ends")
		// Either may be the intent: count both, so that only the conflict is reported.
		sc.terminal = true
		if hasNext && sc.states[next] {
			sc.edges[name] = append(sc.edges[name], next)
		}
	case hasNext:
		p.target(sc, name, next, n.path("Next"))
	case end == true:
		sc.terminal = true
	case !n.has("Next"):
		p.errorf(n.at, "needs Next, or \"End\": true")
		sc.unknownEdges = true
	default: // a Next that is not a string, reported by the parser
		sc.unknownEdges = true
	}
}

func (p *defParser) task(n jobj, jsonata bool) {
	if res, ok := n.str("Resource"); ok {
		if parts := strings.Split(res, ":"); len(parts) < 6 || parts[0] != "arn" {
			p.errorf(n.path("Resource"), "must be an ARN (arn:partition:service:region:account:resource), not %q", res)
		}
	}
	timeout, hasTimeout := p.rangeInt(n, "TimeoutSeconds", 1, maxSeconds)
	heartbeat, hasHeartbeat := p.rangeInt(n, "HeartbeatSeconds", 1, maxSeconds)
	p.exclusive(n, "TimeoutSeconds", "TimeoutSecondsPath")
	p.exclusive(n, "HeartbeatSeconds", "HeartbeatSecondsPath")
	p.pathField(n, "TimeoutSecondsPath", pathReference)
	p.pathField(n, "HeartbeatSecondsPath", pathReference)
	if hasTimeout && hasHeartbeat && heartbeat >= timeout {
		p.errorf(n.path("HeartbeatSeconds"), "must be smaller than TimeoutSeconds (%d), not %d", timeout, heartbeat)
	}
	if c, ok := n.object("Credentials"); ok {
		if !c.has("RoleArn") && !(c.has("RoleArn.$") && !jsonata) {
			p.errorf(c.path("RoleArn"), "is required")
		}
		for _, k := range c.o.Keys() {
			if k != "RoleArn" && k != "RoleArn.$" {
				p.errorf(c.path(k), "field is not allowed in Credentials")
			}
		}
		if !jsonata {
			p.template(c.o, c.at)
		}
	}
}

// exclusive reports a state that has both forms of a field.
func (p *defParser) exclusive(n jobj, a, b string) {
	if n.has(a) && n.has(b) {
		p.errorf(n.path(b), "%s and %s are exclusive: give one", a, b)
	}
}

// retrier checks a retrier's values; last tells whether it is the last one.
func (p *defParser) retrier(r jobj, last bool) {
	p.errorEquals(r, last)
	p.rangeInt(r, "IntervalSeconds", 1, maxSeconds)
	p.rangeInt(r, "MaxAttempts", 0, maxSeconds)
	if f, ok := r.float("BackoffRate"); ok && f < 1 {
		p.errorf(r.path("BackoffRate"), "must be at least 1.0, not %v", f)
	}
	p.rangeInt(r, "MaxDelaySeconds", 1, maxRetryDelaySec)
	if s, ok := r.str("JitterStrategy"); ok && s != "FULL" && s != "NONE" {
		p.errorf(r.path("JitterStrategy"), "must be FULL or NONE, not %q", s)
	}
}

// catcher checks a catcher of the state c; last tells whether it is the last one.
func (p *defParser) catcher(k jobj, last bool, c *readCtx) {
	p.errorEquals(k, last)
	if next, ok := k.str("Next"); ok {
		p.target(c.sc, c.name, next, k.path("Next"))
	}
	if !c.jsonata {
		p.pathField(k, "ResultPath", pathResult)
	}
	p.assign(k, c.jsonata)
}

// errorEquals checks the ErrorEquals of a retrier or catcher; last tells whether it is the last one, where
// States.ALL may appear (alone).
func (p *defParser) errorEquals(n jobj, last bool) {
	arr, ok := n.array("ErrorEquals")
	if !ok {
		return
	}
	if len(arr) == 0 {
		p.errorf(n.path("ErrorEquals"), "must name at least one error")
	}
	for i, e := range arr {
		at := fmtIndex(n.path("ErrorEquals"), i)
		switch s, _ := e.(string); {
		case e == "":
			p.errorf(at, "an error name must not be empty")
		case s == ErrAll && len(arr) > 1:
			p.errorf(at, "States.ALL must appear alone in ErrorEquals")
		case s == ErrAll && !last:
			p.errorf(at, "States.ALL must be in the last retrier or catcher: the ones after it can never match")
		}
	}
}

// checkRule checks the values of a choice rule r the parser has read (and reported the shape of).
func (p *defParser) checkRule(n jobj, r *ChoiceRule, top bool, c *readCtx) {
	if top {
		p.assign(n, c.jsonata)
		if next, ok := n.str("Next"); ok {
			p.target(c.sc, c.name, next, n.path("Next"))
		}
	}
	if c.jsonata {
		return
	}
	if n.has("And") || n.has("Or") || n.has("Not") {
		for _, k := range []string{"And", "Or"} {
			if arr, ok := n.array(k); ok && len(arr) == 0 {
				p.errorf(n.path(k), "must hold at least one rule")
			}
		}
		return
	}
	if variable, ok := n.str("Variable"); ok {
		p.checkPath(variable, n.path("Variable"), pathAny)
	}
	ops := 0
	for _, k := range n.o.Keys() {
		if choiceOps[k] {
			ops++
		}
	}
	if ops == 1 {
		x, _ := n.get(r.Op)
		p.operand(r.Op, x, n.path(r.Op))
	}
}

// operand checks the value of a comparison operator against the type the operator compares.
func (p *defParser) operand(op string, x any, at string) {
	want := ""
	switch {
	case strings.HasSuffix(op, "Path"):
		if s, ok := x.(string); ok {
			p.checkPath(s, at, pathAny)
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
				p.errorf(at, "must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, not %q", s)
			}
			return
		}
		want = "a timestamp string"
	}
	p.errorf(at, "%s compares with %s, not %s", op, want, value.String(x))
}

func (p *defParser) wait(n jobj, jsonata bool) {
	var given []string
	for _, f := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
		if n.has(f) {
			given = append(given, f)
		}
	}
	switch len(given) {
	case 0:
		if jsonata {
			p.errorf(n.at, "a Wait state needs Seconds or Timestamp")
		} else {
			p.errorf(n.at, "a Wait state needs one of Seconds, SecondsPath, Timestamp, TimestampPath")
		}
	case 1:
	default:
		p.errorf(n.path(given[1]), "a Wait state has exactly one of Seconds, SecondsPath, Timestamp, TimestampPath; this one has %s", strings.Join(given, ", "))
	}
	p.rangeInt(n, "Seconds", 0, maxSeconds)
	p.pathField(n, "SecondsPath", pathReference)
	p.pathField(n, "TimestampPath", pathReference)
	if s, ok := n.str("Timestamp"); ok && !(jsonata && isJSONataExpr(s)) {
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			p.errorf(n.path("Timestamp"), "must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, not %q", s)
		}
	}
}

func (p *defParser) fail(n jobj, jsonata bool) {
	if jsonata {
		return
	}
	p.exclusive(n, "Error", "ErrorPath")
	p.exclusive(n, "Cause", "CausePath")
	for _, f := range []string{"ErrorPath", "CausePath"} {
		if s, ok := n.str(f); ok {
			p.pathOrCall(s, n.path(f), pathReference)
		}
	}
}

// processorConfig checks a Map item processor's ProcessorConfig.
func (p *defParser) processorConfig(pc jobj) {
	mode, hasMode := pc.str("Mode")
	if hasMode && mode != "INLINE" && mode != "DISTRIBUTED" {
		p.errorf(pc.path("Mode"), "must be INLINE or DISTRIBUTED, not %q", mode)
	}
	et, hasET := pc.str("ExecutionType")
	switch {
	case hasET && et != "STANDARD" && et != "EXPRESS":
		p.errorf(pc.path("ExecutionType"), "must be STANDARD or EXPRESS, not %q", et)
	case mode == "DISTRIBUTED" && !pc.has("ExecutionType"):
		p.errorf(pc.path("ExecutionType"), "is required in DISTRIBUTED mode")
	}
}

func (p *defParser) mapState(n jobj, m *Map, jsonata bool) {
	if n.has("ItemProcessor") && n.has("Iterator") {
		p.errorf(n.path("Iterator"), "ItemProcessor and Iterator (its older name) are exclusive: give one")
	}
	proc := m.Processor()
	distributed := proc != nil && proc.ProcessorConfig != nil && proc.ProcessorConfig.Mode == "DISTRIBUTED"
	for _, f := range []string{"ItemReader", "ItemBatcher", "ResultWriter", "Label"} {
		if n.has(f) && !distributed {
			p.errorf(n.path(f), "only a Distributed Map (ProcessorConfig.Mode DISTRIBUTED) has %s", f)
		}
	}
	for _, f := range []string{"ItemReader", "ItemBatcher", "ResultWriter"} {
		if o, ok := n.object(f); ok && !jsonata {
			p.template(o.o, o.at)
		}
	}
	if utf8.RuneCountInString(m.Label) > maxLabelLen {
		p.errorf(n.path("Label"), "has at most %d characters", maxLabelLen)
	}
	if !jsonata {
		p.pathField(n, "ItemsPath", pathReference)
		p.exclusive(n, "ItemSelector", "Parameters")
	}
	p.rangeInt(n, "MaxConcurrency", 0, 1<<31-1)
	p.rangeInt(n, "ToleratedFailureCount", 0, 1<<31-1)
	if f, ok := n.float("ToleratedFailurePercentage"); ok && (f < 0 || f > 100) {
		p.errorf(n.path("ToleratedFailurePercentage"), "must be between 0 and 100, not %v", f)
	}
	for _, f := range []string{"MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage"} {
		p.exclusive(n, f, f+"Path")
		p.pathField(n, f+"Path", pathReference)
	}
}

// duplicateMembers reports members given twice in one object: JSON parsers keep one of them silently, so a
// state or a field would vanish.
func (p *defParser) duplicateMembers(def []byte) {
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	if err := p.dupValue(dec, ""); err != nil && !errors.Is(err, io.EOF) {
		p.errorf("", "the definition is not valid JSON: %v", err)
	}
}

func (p *defParser) dupValue(dec *json.Decoder, at string) error {
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
				p.errorf(join(at, k), "field appears more than once in this object")
			}
			seen[k] = true
			if err := p.dupValue(dec, join(at, k)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := p.dupValue(dec, fmtIndex(at, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}
