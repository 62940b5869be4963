package asl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// thread is one line of execution: the top level, a Parallel branch or a Map iteration.
type thread struct {
	x        *execution
	parent   *thread
	children []*thread
	src      int64          // the event the thread's next event follows (previousEventId)
	vars     map[string]any // variables; never modified once published (copy on assign)
	scope    string         // "Map[3]/Par[1]": for StateEvent (only kept when Options.OnState is set)
	iter     []int          // enclosing Map iteration indexes, outermost first
	frame    *thread        // the Map iteration (or root) thread this thread runs in, for invocation counts
	countsAt int            // a frame's invocations per state are x.counts[countsAt+cstate.id]

	// what a branch or iteration runs (see run)
	group   *group
	index   int
	machine *machine
	input   any
	active  *cstate // the Task, Parallel, Map or Wait state the thread is in, for Aborted events

	ctx    context.Context
	cancel context.CancelFunc

	// virtual scheduling (see vsched)
	vg       *vgoroutine
	body     func()
	qidx     int // in vsched.q, or -1
	qat      time.Time
	qseq     uint64
	waitCond func() bool

	// The flags sit together so that they share a word (a thread is allocated for every branch and iteration).
	finished   bool // guarded by the scheduler's lock
	aborted    bool // virtual scheduling from here on
	ready      bool // in vsched.ready
	sleeping   bool
	waitInline bool
}

func (x *execution) newThread(parent *thread) *thread {
	var t *thread
	if x.virtual {
		t = x.threads.get()
	} else {
		x.mu.Lock()
		t = x.threads.get()
		x.mu.Unlock()
	}
	t.x, t.parent, t.qidx = x, parent, -1
	if parent == nil {
		t.ctx = x.ctx
		t.frame, t.countsAt = t, -1
		return t
	}
	t.vars, t.scope, t.iter, t.frame = parent.vars, parent.scope, parent.iter, parent.frame
	if x.virtual {
		t.ctx = parent.ctx
	} else {
		t.ctx, t.cancel = context.WithCancel(parent.ctx)
	}
	x.sched.lock()
	parent.children = append(parent.children, t)
	x.sched.unlock()
	return t
}

func (t *thread) isAborted() bool {
	if t.x.virtual {
		return t.aborted
	}
	return t.ctx.Err() != nil
}

// errAborted ends a thread that was aborted; its parent has already reported it.
var errAborted = &failure{Error: "aborted", terminal: true}

func (t *thread) getVar(name string) (any, bool) {
	v, ok := t.vars[name]
	return v, ok
}

// runMachine runs the states of m from StartAt and returns the output or the failure that ended the thread.
func (x *execution) runMachine(t *thread, m *machine, input any) (any, *failure) {
	st := m.start
	for {
		if t.isAborted() {
			return nil, errAborted
		}
		if x.ctx.Err() != nil {
			x.halt("cancel")
			return nil, errAborted
		}
		out, next, f := x.runState(t, st, input)
		if f != nil {
			return nil, f
		}
		if next == nil {
			return out, nil
		}
		st, input = next, out
	}
}

// stateRun is the bookkeeping of one state visit.
type stateRun struct {
	visit
	// a Task state's request to the resolver, reused by each attempt and, once the stateRun is recycled, by later
	// Task states: each attempt assigns it whole, so getRun need not clear it
	req TaskRequest
}

// visit is the part of a stateRun that getRun clears.
type visit struct {
	x       *execution
	t       *thread
	st      *cstate
	raw     any // the state's input as it entered
	entered int64
	at      time.Time
	retries int // $$.State.RetryCount
	item    *mapItem
	token   string

	ev      evalEnv       // reused by env
	ctxBase *value.Object // the context object, built on first use for the current attempt
	ctxTry  int
	ctxItem *mapItem // the item ctxMap was built for
	ctxMap  *value.Object

	// the details of the state's Entered and Exited events: the history points into them, so they outlive the
	// visit, while the stateRun itself is recycled (see getRun)
	recs *visitRecs
}

// visitRecs are the details of a state visit's Entered and Exited events, allocated together.
type visitRecs struct {
	entered eventRec[StateEnteredEventDetails]
	exited  eventRec[StateExitedEventDetails]
}

// getRun returns a cleared stateRun. A stateRun is bookkeeping that nothing keeps once its visit is over (the
// event details it fills live in visitRecs), so putRun recycles it: a run needs as many as it has states in
// progress at once, rather than one per visit.
func (x *execution) getRun() *stateRun {
	if !x.virtual {
		x.mu.Lock()
		defer x.mu.Unlock()
	}
	if n := len(x.freeRuns); n > 0 {
		r := x.freeRuns[n-1]
		x.freeRuns[n-1] = nil
		x.freeRuns = x.freeRuns[:n-1]
		r.visit = visit{}
		return r
	}
	return x.stateRuns.get()
}

// putRun returns r, whose visit is over, for reuse.
func (x *execution) putRun(r *stateRun) {
	if !x.virtual {
		x.mu.Lock()
		defer x.mu.Unlock()
	}
	x.freeRuns = append(x.freeRuns, r)
}

func (r *stateRun) fail(format string, a ...any) *failure {
	return runtimeFailure(r.st.name, r.entered, format, a...)
}

// runState runs one state: it returns the state's output and the next state (nil at an end), or a failure.
func (x *execution) runState(t *thread, st *cstate, input any) (out any, next *cstate, f *failure) {
	r := x.getRun()
	r.x, r.t, r.st, r.raw, r.at = x, t, st, input, x.now()
	r.recs = alloc(x, &x.visitRecs)
	rec := &r.recs.entered
	rec.d.Name, rec.d.Input, rec.d.InputDetails = st.name, rec.data(input), rec.details()
	r.entered = x.emit(t, st.enteredEvent, &rec.d)
	switch st.typ {
	case "Task", "Parallel", "Map", "Wait":
		t.active = st
	default:
		t.active = nil
	}
	x.observe(t, st, PhaseEntered, r.at, nil)
	defer func() {
		if p := recover(); p != nil {
			out, next, f = nil, nil, r.fail("Internal error: %v", p)
		}
		if f != nil && f != errAborted {
			x.observe(t, st, PhaseFailed, r.at, f)
		}
		x.putRun(r)
	}()
	in, f := r.inputPath(input) // the state's input after InputPath (a Fail state has none)
	if f != nil {
		return nil, nil, f
	}
	return st.run(x, r, in)
}

func (x *execution) observe(t *thread, st *cstate, phase Phase, since time.Time, f *failure) {
	if x.opts.OnState == nil {
		return
	}
	now := x.now()
	ev := StateEvent{Phase: phase, State: st.name, Type: st.typ, Scope: t.scope, Time: now}
	if phase != PhaseEntered {
		ev.Duration = now.Sub(since)
	}
	if f != nil {
		ev.Error, ev.Cause = f.Error, f.Cause
	}
	x.opts.OnState(ev)
}

// exit publishes the state's variables and emits its Exited event.
func (r *stateRun) exit(out any, a *assignment) {
	rec := &r.recs.exited
	rec.d.Name, rec.d.Output, rec.d.OutputDetails = r.st.name, rec.data(out), rec.details()
	if a != nil {
		r.t.vars = a.vars
		rec.d.AssignedVariables, rec.d.AssignedVariablesDetails = a.reported, &rec.dd2
	}
	r.x.emit(r.t, r.st.exitedEvent, &rec.d)
	r.t.active = nil
	r.x.observe(r.t, r.st, PhaseExited, r.at, nil)
}

// env returns the evaluation environment with $ bound to input. There is one per state visit: a caller must
// be done with it before asking for another input.
func (r *stateRun) env(input any) *evalEnv {
	r.ev = evalEnv{x: r.x, t: r.t, input: input, r: r}
	return &r.ev
}

// contextObject returns the context object ($$) of the state visit.
func (r *stateRun) contextObject() any {
	if r.ctxBase == nil || r.ctxTry != r.retries || r.token != "" {
		o := value.NewObject(4)
		o.Set("Execution", r.x.ctxExec)
		o.Set("StateMachine", r.x.ctxSM)
		state := value.NewObject(3)
		state.Set("Name", r.st.name)
		state.Set("EnteredTime", formatTime(r.at))
		switch r.st.typ {
		case "Task", "Parallel", "Map":
			state.Set("RetryCount", value.IntValue(int64(r.retries)))
		}
		o.Set("State", state)
		if r.token != "" {
			task := value.NewObject(1)
			task.Set("Token", r.token)
			o.Set("Task", task)
		}
		r.ctxBase, r.ctxTry = o, r.retries
	}
	if r.item == nil {
		return r.ctxBase
	}
	if r.ctxItem != r.item {
		item := value.NewObject(2)
		item.Set("Index", value.IntValue(int64(r.item.index)))
		item.Set("Value", r.item.value)
		m := value.NewObject(1)
		m.Set("Item", item)
		r.ctxMap, r.ctxItem = r.ctxBase.With("Map", m), r.item
	}
	return r.ctxMap
}

type mapItem struct {
	index int
	value any
}

// inputPath applies InputPath to the state's input.
func (r *stateRun) inputPath(v any) (any, *failure) {
	return r.selectPath(r.st.inputPath, v)
}

// outputPath applies OutputPath to the state's output.
func (r *stateRun) outputPath(v any) (any, *failure) {
	return r.selectPath(r.st.outputPath, v)
}

func (r *stateRun) selectPath(s pathSel, v any) (any, *failure) {
	if s.null {
		return value.NewObject(0), nil
	}
	if s.p == nil {
		return v, nil
	}
	env := r.env(v)
	out, err := env.Path(s.p)
	if err != nil {
		return nil, r.fail("Invalid path '%s' : %s", s.p.String(), err.Error())
	}
	return out, nil
}

// resultPath merges result into the state's raw input as ResultPath says.
func (r *stateRun) resultPath(rp resultPath, result any) (any, *failure) {
	switch {
	case rp.discard:
		return r.raw, nil
	case rp.p == nil:
		return result, nil
	}
	out, err := rp.p.Set(r.raw, result)
	if err != nil {
		var se *jsonpath.SetError
		if errors.As(err, &se) {
			return nil, newFailure(ErrResultPathMatchFailure, se.Message)
		}
		return nil, r.fail("%v", err)
	}
	return out, nil
}

// evalTemplate evaluates a payload template; a failure is States.Runtime.
func (r *stateRun) evalTemplate(tp *template, input any) (any, *failure) {
	v, err := r.env(input).eval(tp)
	if err != nil {
		return nil, r.fail("%s", err.Error())
	}
	return v, nil
}

// assignment is an Assign field evaluated but not yet in force: a state's Assign expressions, and its
// OutputPath, still see the variables as they were when the state was entered. exit publishes it.
type assignment struct {
	vars     map[string]any
	reported map[string]string
}

// assign evaluates an Assign template with $ bound to input.
func (r *stateRun) assign(tp *template, input any) (*assignment, *failure) {
	if tp == nil {
		return nil, nil
	}
	v, f := r.evalTemplate(tp, input)
	if f != nil {
		return nil, f
	}
	obj, ok := v.(*value.Object)
	if !ok {
		return nil, r.fail("Assign must be a JSON object")
	}
	a := &assignment{vars: make(map[string]any, len(r.t.vars)+obj.Len()), reported: make(map[string]string, obj.Len())}
	for k, v := range r.t.vars {
		a.vars[k] = v
	}
	for i := 0; i < obj.Len(); i++ {
		a.vars[obj.Key(i)] = obj.At(i)
		a.reported[obj.Key(i)] = value.String(obj.At(i))
	}
	return a, nil
}

func (x *execution) runPass(r *stateRun, input any) (any, *cstate, *failure) {
	st := r.st
	result := st.result
	if !st.hasResult {
		var f *failure
		if result, f = r.parameters(input); f != nil {
			return nil, nil, f
		}
	}
	return r.leave(st.assign, result, st.next)
}

// leave ends a run of a state that has no retriers on its result (see complete) and goes to next.
func (r *stateRun) leave(assign *template, result any, next *cstate) (any, *cstate, *failure) {
	out, f := r.complete(assign, result, nil)
	if f != nil {
		return nil, nil, f
	}
	return out, next, nil
}

func (x *execution) runSucceed(r *stateRun, input any) (any, *cstate, *failure) {
	return r.leave(nil, input, nil)
}

func (x *execution) runChoice(r *stateRun, input any) (any, *cstate, *failure) {
	cs := r.st.choice
	env := r.env(input)
	var next *cstate
	var assign *template
	for _, rule := range cs.rules {
		ok, err := env.matchRule(rule)
		if err != nil {
			return nil, nil, r.fail("%s", err.Error())
		}
		if ok {
			next, assign = rule.next, rule.assign
			break
		}
	}
	if next == nil {
		if cs.def == nil {
			return nil, nil, newFailure(ErrNoChoiceMatched, fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). No Choice Rules matched the input and no Default was specified.", r.st.name, r.entered))
		}
		next, assign = cs.def, r.st.assign
	} else if assign == nil {
		assign = r.st.assign
	}
	return r.leave(assign, input, next)
}

// maxWait is the longest delay a Wait state accepts.
const maxWait = math.MaxInt32 * time.Second

func (x *execution) runWait(r *stateRun, input any) (any, *cstate, *failure) {
	w := r.st.wait
	env := r.env(input)
	now := x.now()
	var d time.Duration
	switch {
	case w.hasSeconds:
		d = time.Duration(w.seconds) * time.Second
	case w.secondsPath != nil:
		v, err := env.Path(w.secondsPath)
		if err != nil {
			return nil, nil, r.fail("The SecondsPath parameter does not reference an input value: %s", w.secondsPath.String())
		}
		n, ok := v.(value.Number)
		var secs int64
		if ok {
			secs, ok = n.Int64()
			ok = ok && n.IsIntegerText()
		}
		if !ok {
			return nil, nil, r.fail("The SecondsPath parameter cannot be parsed as a long value: %s == %s", w.secondsPath.String(), value.String(v))
		}
		if secs < 0 {
			return nil, nil, r.fail("The SecondsPath parameter references a negative value: %s == %d", w.secondsPath.String(), secs)
		}
		if secs > int64(maxWait/time.Second) {
			return nil, nil, r.fail("Wait state delay is too long.")
		}
		d = time.Duration(secs) * time.Second
	case w.hasTimestamp:
		d = w.timestamp.Sub(now)
	case w.timestampPath != nil:
		v, err := env.Path(w.timestampPath)
		if err != nil {
			return nil, nil, r.fail("The TimestampPath parameter does not reference an input value: %s", w.timestampPath.String())
		}
		s, _ := v.(string)
		ts, perr := parseTimestamp(s)
		if _, isStr := v.(string); !isStr || perr != nil {
			shown := s
			if !isStr {
				shown = value.String(v)
			}
			return nil, nil, r.fail("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: %s == %s", w.timestampPath.String(), shown)
		}
		d = ts.Sub(now)
	}
	if d > maxWait {
		return nil, nil, r.fail("Wait state delay is too long.")
	}
	if d > 0 && !x.sched.sleep(r.t, d) {
		return nil, nil, errAborted
	}
	return r.leave(r.st.assign, input, r.st.next)
}

// runFail ends the run with the Fail state's error and cause.
func (x *execution) runFail(r *stateRun, input any) (any, *cstate, *failure) {
	fs := r.st.fail
	f := &failure{Error: fs.errName, Cause: fs.cause, hasError: fs.hasError, hasCause: fs.hasCause}
	env := r.env(input)
	if fs.errorPath != nil || fs.errorCall != nil {
		s, ff := r.failString(env, fs.errorPath, fs.errorCall != nil, fs.errorPathSrc, "ErrorPath")
		if ff != nil {
			return nil, nil, ff
		}
		f.Error, f.hasError = s, true
	}
	if fs.causePath != nil || fs.causeCall != nil {
		s, ff := r.failString(env, fs.causePath, fs.causeCall != nil, fs.causeSrc, "CausePath")
		if ff != nil {
			return nil, nil, ff
		}
		f.Cause, f.hasCause = s, true
	}
	r.t.active = nil
	return nil, nil, f
}

func (r *stateRun) failString(env *evalEnv, p *jsonpath.Path, isCall bool, src, field string) (string, *failure) {
	var v any
	var err error
	if isCall {
		fs := r.st.fail
		call := fs.causeCall
		if field == "ErrorPath" {
			call = fs.errorCall
		}
		v, err = call.Eval(env)
	} else {
		v, err = env.Path(p)
	}
	if err != nil {
		return "", r.fail("Invalid path '%s' : %s", src, err.Error())
	}
	s, ok := v.(string)
	if !ok {
		return "", r.fail("The %s field refers to a value that is not a string: %s == %s", field, src, value.String(v))
	}
	return s, nil
}
