package asl

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/intrinsic"
	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// machine is a compiled StateMachine or Branch.
type machine struct {
	start  *cstate
	states map[string]*cstate
}

// cstate is a compiled state: paths parsed, templates built, transitions resolved.
type cstate struct {
	name    string
	typ     string
	at      string // definition path, for messages
	jsonata bool
	// event types, spelled once
	enteredEvent, exitedEvent, abortedEvent string
	id                                      int // numbers the states of an engine, for invocation counts

	next *cstate
	end  bool

	inputPath, outputPath pathSel
	resultPath            resultPath
	parameters            *template // Parameters, or Map's ItemSelector
	resultSelector        *template
	assign                *template
	result                any // Pass Result
	hasResult             bool

	retry []*retrier
	catch []*catcher

	run func(x *execution, r *stateRun, input any) (any, *cstate, *failure) // the interpreter of the state's type

	task     *taskSpec
	choice   *choiceSpec
	wait     *waitSpec
	fail     *failSpec
	branches []*machine
	mp       *mapSpec
}

// pathSel is InputPath or OutputPath: absent ($), null ({}), or a path.
type pathSel struct {
	null bool
	p    *jsonpath.Path
}

// resultPath is a ResultPath: absent or $ (replace), null (discard), or a reference path.
type resultPath struct {
	discard bool
	p       *jsonpath.Path // nil: the result replaces the input
}

type retrier struct {
	errorEquals []string
	interval    float64
	maxAttempts int
	backoff     float64
	maxDelay    float64 // 0: none
	jitter      bool
}

type catcher struct {
	errorEquals []string
	resultPath  resultPath
	assign      *template
	next        *cstate
}

type compiler struct {
	errs      DefinitionErrors
	nstates   int
	resources map[string]int // resource ARN → number, for invocation counts
}

func (c *compiler) errorf(at, format string, a ...any) {
	c.errs = append(c.errs, &DefinitionError{Path: at, Msg: fmt.Sprintf(format, a...)})
}

// machine compiles the states of a state machine or branch; at is the path of its States field's owner.
func (c *compiler) machine(startAt string, states []State, ql, at string) *machine {
	m := &machine{states: make(map[string]*cstate, len(states))}
	statesAt := join(at, "States")
	cs := make([]*cstate, len(states))
	for i, s := range states {
		if s == nil {
			c.errorf(statesAt, "state %d is nil", i)
			continue
		}
		name := s.StateName()
		if name == "" {
			c.errorf(statesAt, "state %d has no name", i)
			continue
		}
		if _, dup := m.states[name]; dup {
			c.errorf(join(statesAt, name), "duplicate state name")
			continue
		}
		sql := s.stateQueryLanguage()
		if sql == "" {
			sql = ql
		}
		typ := s.StateType()
		cs[i] = &cstate{name: name, typ: typ, at: join(statesAt, name), jsonata: sql == QueryLanguageJSONata,
			enteredEvent: typ + "StateEntered", exitedEvent: typ + "StateExited", abortedEvent: typ + "StateAborted", id: c.nstates}
		c.nstates++
		m.states[name] = cs[i]
	}
	if startAt == "" {
		c.errorf(join(at, "StartAt"), "is required")
	} else if m.start = m.states[startAt]; m.start == nil {
		c.errorf(join(at, "StartAt"), "names no state: %q", startAt)
	}
	for i, s := range states {
		if cs[i] == nil {
			continue
		}
		c.state(m, cs[i], s, ql)
	}
	return m
}

func (c *compiler) transition(m *machine, st *cstate, next string, end bool, at string) {
	switch {
	case next != "" && end:
		c.errorf(at, "a state has either Next or End, not both")
	case next != "":
		if st.next = m.states[next]; st.next == nil {
			c.errorf(join(at, "Next"), "names no state: %q", next)
		}
	case end:
		st.end = true
	default:
		c.errorf(at, "a state needs Next or End")
	}
}

func (c *compiler) state(m *machine, st *cstate, s State, ql string) {
	at := st.at
	if st.jsonata {
		c.errorf(at, "JSONata states are not supported by this engine yet")
		return
	}
	// The fields several state types share (a type that has none of one gets its default).
	st.inputPath = c.pathSel(field[*Path](s, "InputPath"), join(at, "InputPath"))
	st.outputPath = c.pathSel(field[*Path](s, "OutputPath"), join(at, "OutputPath"))
	st.parameters = c.template(field[any](s, "Parameters"), join(at, "Parameters"))
	st.resultSelector = c.template(field[any](s, "ResultSelector"), join(at, "ResultSelector"))
	st.resultPath = c.resultPath(field[*Path](s, "ResultPath"), join(at, "ResultPath"))
	st.assign = c.template(field[any](s, "Assign"), join(at, "Assign"))
	st.retry = c.retriers(field[[]Retrier](s, "Retry"), at)
	st.catch = c.catchers(m, field[[]Catcher](s, "Catch"), at)
	if hasField(s, "Next") {
		c.transition(m, st, field[string](s, "Next"), field[bool](s, "End"), at)
	}
	switch t := s.(type) {
	case *Pass:
		st.run = (*execution).runPass
		if t.Result != nil {
			v, err := jsonValue(t.Result)
			if err != nil {
				c.errorf(join(at, "Result"), "%v", err)
			}
			st.result, st.hasResult = v, true
		}
	case *Task:
		st.run = (*execution).runTask
		st.task = c.taskSpec(t, at)
	case *Choice:
		st.run = (*execution).runChoice
		st.choice = c.choiceSpec(m, t, at)
	case *Wait:
		st.run = (*execution).runWait
		st.wait = c.waitSpec(t, at)
	case *Succeed:
		st.run = (*execution).runSucceed
		st.end = true
	case *Fail:
		st.run = (*execution).runFail
		st.fail = c.failSpec(t, at)
	case *Parallel:
		st.run = (*execution).runParallel
		if len(t.Branches) == 0 {
			c.errorf(join(at, "Branches"), "a Parallel state needs at least one branch")
		}
		for i, b := range t.Branches {
			bat := fmt.Sprintf("%s.Branches[%d]", at, i)
			if b == nil {
				c.errorf(bat, "branch is nil")
				continue
			}
			st.branches = append(st.branches, c.machine(b.StartAt, b.States, branchQL(b, ql), bat))
		}
	case *Map:
		st.run = (*execution).runMap
		if t.ItemSelector != nil {
			st.parameters = c.template(t.ItemSelector, join(at, "ItemSelector"))
		}
		st.mp = c.mapSpec(t, at, ql)
	default:
		c.errorf(at, "unknown state type %T", s)
	}
}

// branchQL is the query language of a branch or processor: its own, or that of the machine around it.
func branchQL(b *Branch, ql string) string {
	if b.QueryLanguage != "" {
		return b.QueryLanguage
	}
	return ql
}

// jsonValue converts a JSON field given as a Go value (map, json.RawMessage, ...) to the value model.
func jsonValue(v any) (any, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return value.Parse(raw)
	}
	return value.FromGo(v)
}

func (c *compiler) path(s, at string) *jsonpath.Path {
	p, err := jsonpath.Parse(s)
	if err != nil {
		c.errorf(at, "%v", err)
		return nil
	}
	return p
}

// optPath compiles an optional path field: absent (nil, false), JSON null (nil, true), or the path (nil when it
// does not parse, which is reported).
func (c *compiler) optPath(p *Path, at string) (*jsonpath.Path, bool) {
	if p == nil || p.Null {
		return nil, p != nil
	}
	return c.path(p.Value, at), false
}

func (c *compiler) pathSel(p *Path, at string) pathSel {
	jp, null := c.optPath(p, at)
	if jp != nil && jp.IsRoot() && jp.Root() == jsonpath.RootInput {
		jp = nil // $ selects the whole input, as no path does
	}
	return pathSel{null: null, p: jp}
}

func (c *compiler) resultPath(p *Path, at string) resultPath {
	jp, null := c.optPath(p, at)
	if jp != nil && (jp.Root() != jsonpath.RootInput || !jp.IsReference()) {
		c.errorf(at, "ResultPath must be a reference path starting with $ (names and indexes only), not %q", p.Value)
		jp = nil
	}
	if jp != nil && jp.IsRoot() {
		jp = nil // $: the result replaces the input
	}
	return resultPath{discard: null, p: jp}
}

func (c *compiler) retriers(rs []Retrier, at string) []*retrier {
	out := make([]*retrier, 0, len(rs))
	for i, r := range rs {
		rat := fmt.Sprintf("%s.Retry[%d]", at, i)
		cr := &retrier{errorEquals: r.ErrorEquals, interval: 1, maxAttempts: 3, backoff: 2}
		if len(r.ErrorEquals) == 0 {
			c.errorf(join(rat, "ErrorEquals"), "must name at least one error")
		}
		for j, e := range r.ErrorEquals {
			if e == ErrAll && (j != len(r.ErrorEquals)-1 || len(r.ErrorEquals) > 1) {
				c.errorf(fmt.Sprintf("%s.ErrorEquals[%d]", rat, j), "States.ALL must appear alone")
			}
		}
		if r.IntervalSeconds != nil {
			if *r.IntervalSeconds < 1 {
				c.errorf(join(rat, "IntervalSeconds"), "must be a positive integer, not %d", *r.IntervalSeconds)
			}
			cr.interval = float64(*r.IntervalSeconds)
		}
		if r.MaxAttempts != nil {
			if *r.MaxAttempts < 0 {
				c.errorf(join(rat, "MaxAttempts"), "must not be negative, not %d", *r.MaxAttempts)
			}
			cr.maxAttempts = *r.MaxAttempts
		}
		if r.BackoffRate != nil {
			if *r.BackoffRate < 1 {
				c.errorf(join(rat, "BackoffRate"), "must be at least 1.0, not %v", *r.BackoffRate)
			}
			cr.backoff = *r.BackoffRate
		}
		if r.MaxDelaySeconds != nil {
			if *r.MaxDelaySeconds < 1 {
				c.errorf(join(rat, "MaxDelaySeconds"), "must be a positive integer, not %d", *r.MaxDelaySeconds)
			}
			cr.maxDelay = float64(*r.MaxDelaySeconds)
		}
		switch r.JitterStrategy {
		case "", "NONE":
		case "FULL":
			cr.jitter = true
		default:
			c.errorf(join(rat, "JitterStrategy"), "must be FULL or NONE, not %q", r.JitterStrategy)
		}
		out = append(out, cr)
	}
	return out
}

func (c *compiler) catchers(m *machine, cs []Catcher, at string) []*catcher {
	out := make([]*catcher, 0, len(cs))
	for i, k := range cs {
		cat := fmt.Sprintf("%s.Catch[%d]", at, i)
		cc := &catcher{errorEquals: k.ErrorEquals}
		if len(k.ErrorEquals) == 0 {
			c.errorf(join(cat, "ErrorEquals"), "must name at least one error")
		}
		cc.resultPath = c.resultPath(k.ResultPath, join(cat, "ResultPath"))
		cc.assign = c.template(k.Assign, join(cat, "Assign"))
		if cc.next = m.states[k.Next]; cc.next == nil {
			c.errorf(join(cat, "Next"), "names no state: %q", k.Next)
		}
		out = append(out, cc)
	}
	return out
}

// numOrPath compiles a numeric field that may be given literally or by a path (TimeoutSeconds and
// TimeoutSecondsPath, ...).
type numOrPath struct {
	set   bool
	n     int64
	f     float64
	path  *jsonpath.Path
	field string // the path field's name, for messages
}

func (c *compiler) numOrPath(n *Num, path string, name, at string, integer bool) numOrPath {
	switch {
	case n != nil && path != "":
		c.errorf(join(at, name), "%s and %sPath are exclusive", name, name)
	case n != nil:
		if integer {
			i, ok := n.Int64()
			if !ok {
				c.errorf(join(at, name), "must be an integer, not %s", *n)
			}
			return numOrPath{set: true, n: i, f: float64(i)}
		}
		f, ok := n.Float64()
		if !ok {
			c.errorf(join(at, name), "must be a number, not %s", *n)
		}
		return numOrPath{set: true, f: f}
	case path != "":
		return numOrPath{set: true, path: c.path(path, join(at, name+"Path")), field: name + "Path"}
	}
	return numOrPath{}
}

// taskSpec is a compiled Task state's resource and timeouts.
type taskSpec struct {
	res         resourceInfo
	resourceID  int
	credentials *template
	timeout     numOrPath
	heartbeat   numOrPath
}

func (c *compiler) taskSpec(t *Task, at string) *taskSpec {
	ts := &taskSpec{res: parseResource(t.Resource)}
	if c.resources == nil {
		c.resources = map[string]int{}
	}
	id, ok := c.resources[t.Resource]
	if !ok {
		id = len(c.resources)
		c.resources[t.Resource] = id
	}
	ts.resourceID = id
	ts.timeout = c.numOrPath(t.TimeoutSeconds, t.TimeoutSecondsPath, "TimeoutSeconds", at, true)
	ts.heartbeat = c.numOrPath(t.HeartbeatSeconds, t.HeartbeatSecondsPath, "HeartbeatSeconds", at, true)
	if ts.timeout.set && ts.timeout.path == nil && ts.timeout.n < 1 {
		c.errorf(join(at, "TimeoutSeconds"), "must be a positive integer")
	}
	if ts.heartbeat.set && ts.heartbeat.path == nil {
		if ts.heartbeat.n < 1 {
			c.errorf(join(at, "HeartbeatSeconds"), "must be a positive integer")
		}
		if ts.timeout.set && ts.timeout.path == nil && ts.heartbeat.n >= ts.timeout.n {
			c.errorf(join(at, "HeartbeatSeconds"), "must be smaller than TimeoutSeconds")
		}
	}
	ts.credentials = c.template(t.Credentials, join(at, "Credentials"))
	return ts
}

// waitSpec is a compiled Wait state.
type waitSpec struct {
	seconds       int64
	hasSeconds    bool
	secondsPath   *jsonpath.Path
	timestamp     time.Time
	hasTimestamp  bool
	timestampPath *jsonpath.Path
}

func (c *compiler) waitSpec(t *Wait, at string) *waitSpec {
	w := &waitSpec{}
	n := 0
	if t.Seconds != nil {
		n++
		i, ok := t.Seconds.Int64()
		if !ok || i < 0 {
			c.errorf(join(at, "Seconds"), "must be a non-negative integer, not %s", *t.Seconds)
		}
		w.seconds, w.hasSeconds = i, true
	}
	if t.SecondsPath != "" {
		n++
		w.secondsPath = c.path(t.SecondsPath, join(at, "SecondsPath"))
	}
	if t.Timestamp != "" {
		n++
		ts, err := parseTimestamp(t.Timestamp)
		if err != nil {
			c.errorf(join(at, "Timestamp"), "must be an ISO-8601 extended offset date-time, not %q", t.Timestamp)
		}
		w.timestamp, w.hasTimestamp = ts, true
	}
	if t.TimestampPath != "" {
		n++
		w.timestampPath = c.path(t.TimestampPath, join(at, "TimestampPath"))
	}
	if n != 1 {
		c.errorf(at, "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath")
	}
	return w
}

// parseTimestamp accepts what Step Functions accepts: RFC 3339 with a T, seconds, optional fraction and a zone.
func parseTimestamp(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

// failSpec is a compiled Fail state.
type failSpec struct {
	errName, cause         string
	hasError, hasCause     bool
	errorPath, causePath   *jsonpath.Path
	errorCall, causeCall   *intrinsic.Call
	errorPathSrc, causeSrc string
}

func (c *compiler) failSpec(t *Fail, at string) *failSpec {
	f := &failSpec{errName: t.Error, cause: t.Cause, hasError: t.Error != "", hasCause: t.Cause != ""}
	if t.Error != "" && t.ErrorPath != "" {
		c.errorf(join(at, "ErrorPath"), "Error and ErrorPath are exclusive")
	}
	if t.Cause != "" && t.CausePath != "" {
		c.errorf(join(at, "CausePath"), "Cause and CausePath are exclusive")
	}
	if t.ErrorPath != "" {
		f.errorPath, f.errorCall = c.pathOrCall(t.ErrorPath, join(at, "ErrorPath"))
		f.errorPathSrc = t.ErrorPath
	}
	if t.CausePath != "" {
		f.causePath, f.causeCall = c.pathOrCall(t.CausePath, join(at, "CausePath"))
		f.causeSrc = t.CausePath
	}
	return f
}

func (c *compiler) pathOrCall(s, at string) (*jsonpath.Path, *intrinsic.Call) {
	if intrinsic.IsCall(s) {
		call, err := intrinsic.Parse(s)
		if err != nil {
			c.errorf(at, "%v", err)
		}
		return nil, call
	}
	return c.path(s, at), nil
}

// mapSpec is a compiled Map state.
type mapSpec struct {
	itemsPath      *jsonpath.Path // nil: $
	processor      *machine
	distributed    bool
	maxConcurrency numOrPath
	toleratedCount numOrPath
	toleratedPct   numOrPath
	label          string
}

func (c *compiler) mapSpec(t *Map, at string, ql string) *mapSpec {
	ms := &mapSpec{label: t.Label}
	if t.ItemsPath != nil && !t.ItemsPath.Null {
		p := c.path(t.ItemsPath.Value, join(at, "ItemsPath"))
		if p != nil && !p.IsRoot() {
			ms.itemsPath = p
		}
	}
	b, bname := t.ItemProcessor, "ItemProcessor"
	if b == nil {
		b, bname = t.Iterator, "Iterator"
	}
	if b == nil {
		c.errorf(join(at, "ItemProcessor"), "is required")
		return ms
	}
	if b.ProcessorConfig != nil && b.ProcessorConfig.Mode == "DISTRIBUTED" {
		ms.distributed = true
	}
	if t.ItemReader != nil || t.ResultWriter != nil || t.ItemBatcher != nil {
		c.errorf(at, "ItemReader, ItemBatcher and ResultWriter (Distributed Map) are not supported by this engine")
	}
	ms.processor = c.machine(b.StartAt, b.States, branchQL(b, ql), join(at, bname))
	ms.maxConcurrency = c.numOrPath(t.MaxConcurrency, t.MaxConcurrencyPath, "MaxConcurrency", at, true)
	ms.toleratedCount = c.numOrPath(t.ToleratedFailureCount, t.ToleratedFailureCountPath, "ToleratedFailureCount", at, true)
	ms.toleratedPct = c.numOrPath(t.ToleratedFailurePercentage, t.ToleratedFailurePercentagePath, "ToleratedFailurePercentage", at, false)
	if ms.toleratedPct.set && ms.toleratedPct.path == nil && (ms.toleratedPct.f < 0 || ms.toleratedPct.f > 100) {
		c.errorf(join(at, "ToleratedFailurePercentage"), "must be between 0 and 100")
	}
	return ms
}

// resourceInfo classifies a Task's Resource.
type resourceInfo struct {
	arn          string
	kind         resourceKind
	resourceType string // service integrations: "lambda", "sqs", "aws-sdk:s3", ...
	resource     string // service integrations: "invoke", "sendMessage.waitForTaskToken", ...
	pattern      string // "", "waitForTaskToken", "sync", "sync:2"
	function     string // Lambda function name of a lambda ARN resource
}

type resourceKind int

const (
	resourceOther resourceKind = iota
	resourceLambda
	resourceService
	resourceActivity
)

// parseResource splits a Resource ARN. Any partition, region and account are accepted (recorded histories
// replace them with placeholders).
func parseResource(arn string) resourceInfo {
	ri := resourceInfo{arn: arn}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ri
	}
	switch {
	case parts[2] == "lambda" && strings.HasPrefix(parts[5], "function:"):
		ri.kind = resourceLambda
		ri.function = strings.SplitN(strings.TrimPrefix(parts[5], "function:"), ":", 2)[0]
	case parts[2] == "states" && parts[3] == "" && parts[4] == "":
		ri.kind = resourceService
		rest := parts[5]
		if strings.HasPrefix(rest, "aws-sdk:") {
			segs := strings.SplitN(rest, ":", 3)
			if len(segs) == 3 {
				ri.resourceType, ri.resource = segs[0]+":"+segs[1], segs[2]
			}
		} else if i := strings.Index(rest, ":"); i > 0 {
			ri.resourceType, ri.resource = rest[:i], rest[i+1:]
		}
		switch {
		case strings.HasSuffix(ri.resource, ".waitForTaskToken"):
			ri.pattern = "waitForTaskToken"
		case strings.HasSuffix(ri.resource, ".sync:2"):
			ri.pattern = "sync:2"
		case strings.HasSuffix(ri.resource, ".sync"):
			ri.pattern = "sync"
		}
	case parts[2] == "states" && strings.HasPrefix(parts[5], "activity:"):
		ri.kind = resourceActivity
	}
	return ri
}
