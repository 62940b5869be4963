package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/intrinsic"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// Options configure an Engine. The zero value runs on a virtual clock starting now, seed 0, with no task
// resolver (a Task state then fails the run with ErrResolver).
type Options struct {
	// Resolver gives Task states their outcomes.
	Resolver Resolver
	// RealTime runs on the wall clock: Wait states and retry back-off really wait, branches and iterations run
	// concurrently, and task timeouts cancel the resolver's context. The default is virtual time.
	RealTime bool
	// MaxDelay, in real-time mode, caps how long each Wait state and each retry back-off really waits; 0 means
	// no cap. Demos and end-to-end tests that drive real workers set it, so that a workflow built to wait minutes
	// between attempts finishes in seconds; the history records the waits as they happened. It has no effect in
	// virtual time, where waiting costs nothing.
	MaxDelay time.Duration
	// Seed seeds every random choice of a run (retry jitter, States.UUID, States.MathRandom, execution name,
	// task tokens): the same seed, input and task outcomes give the same history.
	Seed uint64
	// StartTime is the execution's start on the virtual clock (default: the wall clock when Run is called).
	StartTime time.Time
	// StateMachineName and ExecutionName appear in ARNs and the context object. The defaults are
	// "StateMachine" and a UUID drawn from Seed.
	StateMachineName string
	ExecutionName    string
	// Region, AccountID and Partition build ARNs (defaults us-east-1, 123456789012, aws); RoleArn is the
	// execution role (default arn:aws:iam::<account>:role/StepFunctionsLocal).
	Region    string
	AccountID string
	Partition string
	RoleArn   string
	// OnState, when set, is called as states are entered and left, for live progress. In real-time mode it may
	// be called from several goroutines at once.
	OnState func(StateEvent)
	// MaxEvents bounds the history (Step Functions' quota is 25,000 events); an execution that would exceed it
	// fails with States.Runtime. 0 means 25,000.
	MaxEvents int
}

// StateEvent reports progress: a state entered, exited or failed.
type StateEvent struct {
	Phase    Phase
	State    string // state name
	Type     string // state type
	Scope    string // "" at the top level; "Map[3]", "Par[1]/Inner[0]" inside Map iterations and Parallel branches
	Time     time.Time
	Duration time.Duration // time spent in the state (PhaseExited, PhaseFailed)
	Error    string        // PhaseFailed
	Cause    string        // PhaseFailed
}

// Phase is what a StateEvent reports.
type Phase int

const (
	PhaseEntered Phase = iota
	PhaseExited
	PhaseFailed
)

// Execution statuses.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// Execution is the result of a run.
type Execution struct {
	Arn       string
	Name      string
	Status    string
	Output    json.RawMessage // SUCCEEDED only
	Error     string          // FAILED, TIMED_OUT, ABORTED (may be empty: a Fail state need not name one)
	Cause     string
	StartTime time.Time
	StopTime  time.Time

	records []record
	events  []HistoryEvent
	once    sync.Once
}

// Events returns the execution history in the GetExecutionHistory shapes. It is built on first call.
func (e *Execution) Events() []HistoryEvent {
	e.once.Do(func() {
		e.events = make([]HistoryEvent, len(e.records))
		for i := range e.records {
			e.records[i].fill(&e.events[i], int64(i)+1)
		}
	})
	return e.events
}

// Engine runs one state machine. It is safe for concurrent Runs.
type Engine struct {
	sm   *StateMachine
	top  *machine
	opts Options
	// historyHint is the length of the last history, to size the next one; the slab hints are how many of each
	// structure the last run took.
	historyHint atomic.Int64
	slabHints   [4]atomic.Int64 // Lambda invocations, service invocations, visit records, counts
	smArn       string
	nstates     int
	nresources  int
	// execs keeps executions whose scratch (threads, state runs, counters) the next Run may reuse; see recycle.
	execs sync.Pool
}

// NewEngine compiles sm: it resolves transitions and parses every path, template and intrinsic call, so that
// errors in the definition surface here (as DefinitionErrors) rather than in the middle of a run.
func NewEngine(sm *StateMachine, opts Options) (*Engine, error) {
	if sm == nil {
		return nil, errors.New("asl: nil state machine")
	}
	c := &compiler{}
	top := c.machine(sm.StartAt, sm.States, sm.QueryLanguage, "")
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	if opts.StateMachineName == "" {
		opts.StateMachineName = "StateMachine"
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.Partition == "" {
		opts.Partition = "aws"
	}
	if opts.RoleArn == "" {
		opts.RoleArn = fmt.Sprintf("arn:%s:iam::%s:role/StepFunctionsLocal", opts.Partition, opts.AccountID)
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 25000
	}
	e := &Engine{sm: sm, top: top, opts: opts, nstates: c.nstates, nresources: len(c.resources)}
	e.smArn = fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", opts.Partition, opts.Region, opts.AccountID, opts.StateMachineName)
	return e, nil
}

// StateMachineArn returns the ARN the engine gives its state machine.
func (e *Engine) StateMachineArn() string { return e.smArn }

// Run runs one execution on input (a JSON document; empty means {}). The returned error is for runs that could
// not complete: invalid input (*InputError), a resolver that could not provide an outcome (wrapping
// ErrResolver), a cancelled ctx. A failed execution is not an error: its Status is FAILED.
func (e *Engine) Run(ctx context.Context, input json.RawMessage) (*Execution, error) {
	var in any = value.NewObject(0)
	if len(input) > 0 {
		v, err := value.Parse(input)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		in = v
	}
	return e.RunValue(ctx, in)
}

// RunValue is Run with an input already in the value model (see package value).
func (e *Engine) RunValue(ctx context.Context, input any) (exec *Execution, err error) {
	if !value.Valid(input) {
		return nil, &InputError{Err: errors.New("input is not built of package value types")}
	}
	x := newExecution(ctx, e, input)
	defer func() {
		if r := recover(); r != nil {
			exec, err = nil, fmt.Errorf("asl: internal error: %v", r)
		}
	}()
	exec, err = x.run()
	x.recycle()
	return exec, err
}

// execution is the state of one run.
type execution struct {
	eng      *Engine
	opts     *Options
	ctx      context.Context
	virtual  bool
	sched    scheduler
	vs       *vsched
	vsd      vsched // vs points here in virtual-time mode
	resolver Resolver

	hmu     sync.Mutex
	records []record

	rmu sync.Mutex
	rng *rand.Rand
	pcg rand.PCG
	rnd rand.Rand // rng points here (both live in the execution to save allocations)

	input     any
	start     time.Time
	name, arn string
	ctxExec   *value.Object // the context object's Execution member
	ctxSM     *value.Object // and its StateMachine member

	mu          sync.Mutex // guards the fields below in real-time mode
	stop        string     // why the run stops early: "", "timeout", "limit", "resolver", "cancel"
	resolverErr error
	fatalErr    any
	root        *thread

	// what a later run of the engine may reuse (see recycle)
	scratch

	// slabs of the small structures a run makes by the dozen, which the history points into
	visitRecs  slab[visitRecs]
	lambdaInvs slab[lambdaInvocation]
	svcInvs    slab[serviceInvocation]
	countsHint int  // the length counts reached in the engine's last run, to size it at once
	recyclable bool // see recycle
}

func newExecution(ctx context.Context, e *Engine, input any) *execution {
	x, _ := e.execs.Get().(*execution)
	if x == nil {
		x = &execution{}
	}
	x.eng, x.opts, x.ctx, x.virtual, x.resolver, x.input = e, &e.opts, ctx, !e.opts.RealTime, e.opts.Resolver, input
	// The last run's length, exactly: a record is 48 bytes and a history of ~100 events sits near a size class
	// boundary. A longer history grows the slice as usual.
	x.records = make([]record, 0, max(e.historyHint.Load(), 16))
	x.lambdaInvs.size = int(e.slabHints[0].Load())
	x.countsHint = int(e.slabHints[3].Load())
	x.svcInvs.size = int(e.slabHints[1].Load())
	x.visitRecs.size = int(e.slabHints[2].Load())
	x.pcg.Seed(e.opts.Seed, e.opts.Seed^0x9e3779b97f4a7c15)
	x.rnd = *rand.New(&x.pcg)
	x.rng = &x.rnd
	x.start = e.opts.StartTime
	if x.start.IsZero() || !x.virtual {
		x.start = time.Now()
	}
	x.start = x.start.UTC()
	if x.virtual {
		x.vs = &x.vsd
		x.vs.init(x.start)
		x.sched = x.vs
	} else {
		x.sched = newRealScheduler(e.opts.MaxDelay)
	}
	x.name = e.opts.ExecutionName
	if x.name == "" {
		x.name = intrinsic.UUID(x.rng.Uint64(), x.rng.Uint64())
	}
	x.arn = "arn:" + e.opts.Partition + ":states:" + e.opts.Region + ":" + e.opts.AccountID + ":execution:" + e.opts.StateMachineName + ":" + x.name
	x.ctxExec = value.NewObject(6)
	x.ctxExec.Set("Id", x.arn)
	x.ctxExec.Set("Input", input)
	x.ctxExec.Set("StartTime", formatTime(x.start))
	x.ctxExec.Set("Name", x.name)
	x.ctxExec.Set("RoleArn", e.opts.RoleArn)
	x.ctxExec.Set("RedriveCount", value.Number("0"))
	x.ctxSM = value.NewObject(2)
	x.ctxSM.Set("Id", e.StateMachineArn())
	x.ctxSM.Set("Name", e.opts.StateMachineName)
	return x
}

// slab hands out zeroed values from chunks, so that the many small structures of a run cost few allocations.
// The chunks live as long as the history that points into them, which is as long as the values would anyway.
// A slab's first chunk has the size the previous run of the engine used.
type slab[T any] struct {
	free []T
	size int // of the next chunk
	used int
}

func (s *slab[T]) get() *T {
	if len(s.free) == 0 {
		if s.size < 4 {
			s.size = 4
		}
		s.free = make([]T, s.size)
		s.size = min(2*s.size, 64)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	s.used++
	return p
}

// scratch is the part of an execution that nothing outside it points to once the run is over (the history
// points into the other slabs, not into threads or state runs), so a later run of the same engine may reuse it.
type scratch struct {
	threads   reslab[thread]
	stateRuns reslab[stateRun]
	freeRuns  []*stateRun // stateRuns whose visit is over (see getRun)
	counts    []int32     // invocations per state, one block of nstates per Map iteration (thread.countsAt)
	rcounts   []int32     // invocations per resource (taskSpec.resourceID), for TaskRequest
	groups    []*group    // the groups of Parallel and Map states; the first ngroups are in use
	ngroups   int
}

// recycle offers x to the engine's next Run, when the run ended such that nothing still uses x: in virtual time,
// with every thread run on the caller's goroutine (no scheduler goroutine can still hold x), and not stopped
// early. Its scratch is cleared first, so that a pooled execution keeps no values of the finished run alive.
func (x *execution) recycle() {
	if !x.recyclable {
		return
	}
	e, s := x.eng, x.scratch
	s.threads.reset()
	s.stateRuns.reset()
	clear(s.freeRuns)
	s.freeRuns = s.freeRuns[:0]
	s.counts = s.counts[:0]
	clear(s.rcounts)
	for _, g := range s.groups[:s.ngroups] {
		g.reset()
	}
	s.ngroups = 0
	*x = execution{scratch: s}
	e.execs.Put(x)
}

// reslab is a slab whose chunks are kept for reuse: reset clears the values handed out and hands them out again.
type reslab[T any] struct {
	chunks [][]T
	ci     int // the chunk get takes from
	off    int // the next free value in it
}

func (s *reslab[T]) get() *T {
	for s.ci < len(s.chunks) && s.off == len(s.chunks[s.ci]) {
		s.ci, s.off = s.ci+1, 0
	}
	if s.ci == len(s.chunks) {
		n := 8
		if len(s.chunks) > 0 {
			n = min(2*len(s.chunks[len(s.chunks)-1]), 64)
		}
		s.chunks = append(s.chunks, make([]T, n))
		s.off = 0
	}
	p := &s.chunks[s.ci][s.off]
	s.off++
	return p
}

// reset zeroes the values handed out since the last reset and makes them available again.
func (s *reslab[T]) reset() {
	for i := 0; i < len(s.chunks) && i <= s.ci; i++ {
		if i < s.ci {
			clear(s.chunks[i])
		} else {
			clear(s.chunks[i][:s.off])
		}
	}
	s.ci, s.off = 0, 0
}

// alloc takes a value from a slab of the run (under the lock in real-time mode).
func alloc[T any](x *execution, s *slab[T]) *T {
	if x.virtual {
		return s.get()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return s.get()
}

// formatTime prints a timestamp the way the context object does: UTC, milliseconds.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// The virtual scheduler runs one thread at a time, so locks guard shared state in real-time mode only.

func (x *execution) uint64() uint64 {
	if !x.virtual {
		x.rmu.Lock()
		defer x.rmu.Unlock()
	}
	return x.rng.Uint64()
}

func (x *execution) float64() float64 {
	if !x.virtual {
		x.rmu.Lock()
		defer x.rmu.Unlock()
	}
	return x.rng.Float64()
}

func (x *execution) now() time.Time {
	if x.virtual {
		return x.vs.t
	}
	return time.Now().UTC()
}

func (x *execution) setFatal(r any) {
	x.mu.Lock()
	if x.fatalErr == nil {
		x.fatalErr = r
	}
	x.mu.Unlock()
	x.halt("fatal")
}

// halt stops the whole run early (execution timeout, history limit, resolver error, cancellation).
func (x *execution) halt(reason string) {
	x.mu.Lock()
	first := x.stop == ""
	if first {
		x.stop = reason
	}
	root := x.root
	x.mu.Unlock()
	if first && root != nil {
		x.sched.abort(root)
	}
}

func (x *execution) stopReason() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stop
}

func (x *execution) run() (*Execution, error) {
	root := x.newThread(nil)
	x.root = root
	if x.virtual {
		root.vg = x.vs.root
	} else {
		var cancel context.CancelFunc
		root.ctx, cancel = context.WithCancel(x.ctx)
		root.cancel = cancel
		defer cancel()
	}
	if d := x.eng.sm.TimeoutSeconds; d != nil && *d > 0 {
		x.armTimeout(root, time.Duration(*d)*time.Second)
	}
	det := &eventRec[ExecutionStartedEventDetails]{}
	det.d.Input, det.d.InputDetails, det.d.RoleArn = det.data(x.input), det.details(), x.opts.RoleArn
	x.emitPrev(root, 0, EventExecutionStarted, &det.d, false)

	out, f := x.runMachine(root, x.eng.top, x.input)

	exec := &Execution{Arn: x.arn, Name: x.name, StartTime: x.start}
	var err error
	switch reason := x.stopReason(); {
	case reason == "fatal":
		panic(x.fatalErr)
	case reason == "resolver":
		err = fmt.Errorf("%w: %w", ErrResolver, x.resolverErr)
		exec.Status, exec.Error, exec.Cause = StatusAborted, "States.Runtime", x.resolverErr.Error()
		x.emit(root, EventExecutionAborted, &ErrorDetails{Error: exec.Error, Cause: exec.Cause})
	case reason == "cancel" || x.ctx.Err() != nil:
		err = x.ctx.Err()
		if err == nil {
			err = context.Canceled
		}
		exec.Status = StatusAborted
		x.emit(root, EventExecutionAborted, &ErrorDetails{})
	case reason == "timeout":
		exec.Status, exec.Error = StatusTimedOut, ErrTimeout
		x.emit(root, EventExecutionTimedOut, &ErrorDetails{Error: ErrTimeout})
	case reason == "limit":
		exec.Status, exec.Error = StatusFailed, ErrRuntime
		exec.Cause = fmt.Sprintf("The execution reached the maximum number of history events (%d).", x.opts.MaxEvents)
		x.forceEmit(root, EventExecutionFailed, &ErrorDetails{Error: exec.Error, Cause: exec.Cause})
	case f != nil:
		exec.Status = StatusFailed
		exec.Error, exec.Cause = f.Error, f.Cause
		x.emit(root, EventExecutionFailed, &ErrorDetails{Error: f.Error, Cause: f.Cause})
	default:
		exec.Status = StatusSucceeded
		exec.Output = value.Marshal(out)
		rec := &eventRec[OutputDetails]{}
		rec.d.Output, rec.d.OutputDetails = rec.data(out), rec.details()
		x.emit(root, EventExecutionSucceeded, &rec.d)
	}
	exec.StopTime = x.now()
	x.hmu.Lock()
	exec.records = x.records
	x.hmu.Unlock()
	x.eng.historyHint.Store(int64(len(exec.records)))
	x.eng.slabHints[0].Store(int64(x.lambdaInvs.used))
	x.eng.slabHints[1].Store(int64(x.svcInvs.used))
	x.eng.slabHints[2].Store(int64(x.visitRecs.used))
	x.eng.slabHints[3].Store(int64(len(x.counts)))
	x.recyclable = x.virtual && x.vs.goroutines == 0 && x.vs.fatal == nil && x.stopReason() == "" && err == nil
	return exec, err
}

// armTimeout stops the run when the state machine's TimeoutSeconds elapses.
func (x *execution) armTimeout(root *thread, d time.Duration) {
	if x.virtual {
		// A watchdog thread queued at the deadline: it only runs if the execution is still going then.
		w := x.newThread(nil)
		w.body = func() { x.halt("timeout") }
		w.parent = nil
		x.vs.push(w, x.vs.t.Add(d))
		return
	}
	timer := time.AfterFunc(d, func() { x.halt("timeout") })
	go func() {
		<-root.ctx.Done()
		timer.Stop()
	}()
}

// emit appends an event whose previous event is t's source, and makes it t's source.
func (x *execution) emit(t *thread, typ string, det any) int64 {
	return x.emitPrev(t, t.src, typ, det, true)
}

// emitPrev appends an event with an explicit previous event id; update makes it t's source.
func (x *execution) emitPrev(t *thread, prev int64, typ string, det any, update bool) int64 {
	if !x.virtual {
		x.hmu.Lock()
	}
	if len(x.records) >= x.opts.MaxEvents-1 {
		if !x.virtual {
			x.hmu.Unlock()
		}
		x.halt("limit")
		return prev
	}
	id := int64(len(x.records)) + 1
	x.records = append(x.records, record{prev: prev, typ: typ, at: x.now().UnixNano(), det: det})
	if !x.virtual {
		x.hmu.Unlock()
	}
	if update && t != nil {
		t.src = id
	}
	return id
}

// forceEmit appends the final event even when the history is full.
func (x *execution) forceEmit(t *thread, typ string, det any) {
	x.hmu.Lock()
	x.records = append(x.records, record{prev: t.src, typ: typ, at: x.now().UnixNano(), det: det})
	x.hmu.Unlock()
}

// eventRec bundles the details of an event with the Data and DataDetails they point to, so that an event costs
// one allocation.
type eventRec[D any] struct {
	d     D
	data0 Data
	dd    DataDetails
	dd2   DataDetails // StateExited's AssignedVariablesDetails (it takes no room: dd is padded to a word)
}

func (r *eventRec[D]) data(v any) *Data { r.data0 = valueData(v); return &r.data0 }

func (r *eventRec[D]) details() *DataDetails { return &r.dd }
