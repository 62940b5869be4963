package asl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/intrinsic"
	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// maxPayload is Step Functions' limit on a task result, a state's input and output: 256 KiB of UTF-8.
const maxPayload = 256 * 1024

func (x *execution) runTask(r *stateRun, input any) (any, *cstate, *failure) {
	st, ts := r.st, r.st.task
	counters := make([]int, len(st.retry)) // attempts per retrier
	for {
		if ts.res.pattern != "" {
			r.token = x.newToken()
		}
		params, f := r.parameters(input)
		if f != nil {
			return nil, nil, f
		}
		timeout, f := r.seconds(ts.timeout, input)
		if f != nil {
			return nil, nil, f
		}
		heartbeat, f := r.seconds(ts.heartbeat, input)
		if f != nil {
			return nil, nil, f
		}
		result, f := x.invoke(r, params, timeout, heartbeat)
		if out, next, f, retry := r.settle(result, f, counters, ""); !retry {
			return out, next, f
		}
	}
}

// parameters applies Parameters (a Map's ItemSelector is applied per item) to a state's input.
func (r *stateRun) parameters(input any) (any, *failure) {
	if r.st.parameters == nil {
		return input, nil
	}
	return r.evalTemplate(r.st.parameters, input)
}

// complete ends a run of a state on its result (a Task's, Parallel's or Map's result, a Pass state's Result or
// Parameters, the input of the others): Assign with assign, then ResultSelector, ResultPath and OutputPath, then
// the exit event. f, the failure of the run so far, is returned as it is, so that a run's last step can be
// passed in whole.
func (r *stateRun) complete(assign *template, result any, f *failure) (any, *failure) {
	if f != nil {
		return nil, f
	}
	assigned, f := r.assign(assign, result)
	if f != nil {
		return nil, f
	}
	if r.st.resultSelector != nil {
		if result, f = r.evalTemplate(r.st.resultSelector, result); f != nil {
			return nil, f
		}
	}
	out, f := r.resultPath(r.st.resultPath, result)
	if f != nil {
		return nil, f
	}
	if out, f = r.outputPath(out); f != nil {
		return nil, f
	}
	r.exit(out, assigned)
	return out, nil
}

// settle ends an attempt of a state that has retriers: its result completes the state (see complete), or its
// failure is retried (retry is then true), or reported with failedEvent (<Type>StateFailed of a Parallel or
// Map; a Task's own events report it) and caught.
func (r *stateRun) settle(result any, f *failure, counters []int, failedEvent string) (out any, next *cstate, fail *failure, retry bool) {
	if out, f = r.complete(r.st.assign, result, f); f == nil {
		return out, r.st.next, nil, false
	}
	if retry, f = r.retry(f, counters); retry {
		return nil, nil, nil, true
	}
	if failedEvent != "" && f != errAborted {
		r.x.emit(r.t, failedEvent, nil)
		r.t.active = nil
	}
	out, next, f = r.catch(f)
	return out, next, f, false
}

// retry applies Retry to a failure: it sleeps the back-off and tells the caller to run the state again, or
// returns false when no retrier applies (or the run was aborted: then fail is errAborted).
func (r *stateRun) retry(f *failure, counters []int) (retried bool, fail *failure) {
	if f == errAborted || f.terminal {
		return false, f
	}
	d, ok := r.retryDelay(counters, f)
	if !ok {
		return false, f
	}
	if d > 0 && !r.x.sched.sleep(r.t, d) {
		return false, errAborted
	}
	if r.t.isAborted() {
		return false, errAborted
	}
	r.retries++
	return true, nil
}

// catch applies Catch to a failure: the matching catcher's ResultPath puts the error output into the state's
// input, and the state exits to the catcher's Next.
func (r *stateRun) catch(f *failure) (any, *cstate, *failure) {
	if f == errAborted || f.terminal {
		return nil, nil, f
	}
	for _, c := range r.st.catch {
		if !errorMatches(c.errorEquals, f) {
			continue
		}
		eo := f.errorOutput()
		a, ff := r.assign(c.assign, eo)
		if ff != nil {
			return nil, nil, ff
		}
		out, ff := r.resultPath(c.resultPath, eo)
		if ff != nil {
			ff.terminal = true
			return nil, nil, ff
		}
		r.exit(out, a)
		return out, c.next, nil
	}
	return nil, nil, f
}

// retryDelay finds the first retrier matching f: it returns the back-off before the next attempt, or false when
// that retrier has no attempts left (the remaining retriers are not consulted).
func (r *stateRun) retryDelay(counters []int, f *failure) (time.Duration, bool) {
	for i, rt := range r.st.retry {
		if !errorMatches(rt.errorEquals, f) {
			continue
		}
		if counters[i] >= rt.maxAttempts {
			return 0, false
		}
		d := rt.interval * math.Pow(rt.backoff, float64(counters[i]))
		if rt.maxDelay > 0 && d > rt.maxDelay {
			d = rt.maxDelay
		}
		if rt.jitter {
			d *= r.x.float64()
		}
		counters[i]++
		return time.Duration(d * float64(time.Second)), true
	}
	return 0, false
}

// seconds resolves TimeoutSeconds/TimeoutSecondsPath or the heartbeat pair; 0 means none.
func (r *stateRun) seconds(n numOrPath, input any) (int64, *failure) {
	if !n.set {
		return 0, nil
	}
	return r.intField(n, input, true)
}

// intField resolves an integer field given as a number or by a path (TimeoutSecondsPath, MaxConcurrencyPath,
// ...). A path must select an integer: one written as such, or, for the timeouts (positive), any positive one.
func (r *stateRun) intField(n numOrPath, input any, positive bool) (int64, *failure) {
	if n.path == nil {
		return n.n, nil
	}
	num, v, f := r.numberAt(n.path, input)
	if f != nil {
		return 0, f
	}
	i, isInt := num.Int64()
	switch {
	case positive && (!isInt || i < 1):
		return 0, r.fail("The %s field refers to value \"%s\" which is not a valid positive integer: %s", n.field, plain(v), n.path.String())
	case !positive && (!isInt || !num.IsIntegerText()):
		return 0, r.fail("The %s field refers to value \"%s\" which is not a valid integer: %s", n.field, plain(v), n.path.String())
	}
	return i, nil
}

// numberAt selects p in input for a numeric field given by path: the number, or "" when the value is not one,
// and the value.
func (r *stateRun) numberAt(p *jsonpath.Path, input any) (value.Number, any, *failure) {
	v, err := r.env(input).Path(p)
	if err != nil {
		return "", nil, r.fail("Invalid path '%s' : %s", p.String(), err.Error())
	}
	num, _ := v.(value.Number)
	return num, v, nil
}

// plain prints a value as Step Functions quotes it in messages: strings bare, the rest as JSON.
func plain(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return value.String(v)
}

func (x *execution) newToken() string {
	return intrinsic.UUID(x.uint64(), x.uint64())
}

// count returns how many times the state (in t's Map iteration) and its resource were invoked before, and
// counts this invocation.
func (x *execution) count(t *thread, st *cstate) (state, resource int) {
	if !x.virtual {
		x.mu.Lock()
		defer x.mu.Unlock()
	}
	f := t.frame
	if f.countsAt < 0 {
		if x.counts == nil {
			x.counts = make([]int32, 0, max(x.countsHint, x.eng.nstates))
		}
		f.countsAt = len(x.counts)
		x.counts = append(x.counts, make([]int32, x.eng.nstates)...)
	}
	if x.rcounts == nil {
		x.rcounts = make([]int32, x.eng.nresources)
	}
	i := f.countsAt + st.id
	state, resource = int(x.counts[i]), int(x.rcounts[st.task.resourceID])
	x.counts[i]++
	x.rcounts[st.task.resourceID]++
	return state, resource
}

// invoke runs one attempt of a task: it emits the scheduled and started events, asks the resolver, lets the
// task's time pass, and emits the outcome.
func (x *execution) invoke(r *stateRun, params any, timeout, heartbeat int64) (any, *failure) {
	t, ts := r.t, r.st.task
	res := ts.res
	kind := TaskOther
	switch res.kind {
	case resourceLambda:
		kind = TaskLambda
	case resourceService:
		kind = TaskService
	case resourceActivity:
		kind = TaskActivity
	}
	inv := x.newInvocation(kind)
	var timeoutPtr, heartbeatPtr *int64
	if timeout > 0 {
		inv.timeout = timeout
		timeoutPtr = &inv.timeout
	}
	if heartbeat > 0 {
		inv.heartbeat = heartbeat
		heartbeatPtr = &inv.heartbeat
	}
	var creds *TaskCredentials
	if ts.credentials != nil {
		cv, f := r.evalTemplate(ts.credentials, params)
		if f != nil {
			return nil, f
		}
		creds = &TaskCredentials{}
		if o, ok := cv.(*value.Object); ok {
			if role, ok := o.Get("RoleArn"); ok {
				creds.RoleArn, _ = role.(string)
			}
		}
	}

	switch kind {
	case TaskLambda:
		rec := &inv.lambda
		rec.d = LambdaFunctionScheduledDetails{Resource: res.arn, Input: rec.data(params), InputDetails: rec.details(), TimeoutInSeconds: timeoutPtr, TaskCredentials: creds}
		x.emit(t, EventLambdaScheduled, &rec.d)
		x.emit(t, EventLambdaStarted, nil)
	case TaskActivity:
		rec := &inv.activity
		rec.d = ActivityScheduledEventDetails{Resource: res.arn, Input: rec.data(params), InputDetails: rec.details(), TimeoutInSeconds: timeoutPtr, HeartbeatInSeconds: heartbeatPtr}
		x.emit(t, EventActivityScheduled, &rec.d)
	default:
		rec := &inv.task
		rec.d = TaskScheduledEventDetails{ResourceType: res.resourceType, Resource: res.resource, Region: x.opts.Region,
			Parameters: rec.data(params), TimeoutInSeconds: timeoutPtr, HeartbeatInSeconds: heartbeatPtr, TaskCredentials: creds}
		x.emit(t, EventTaskScheduled, &rec.d)
		inv.started = TaskResourceDetails{ResourceType: res.resourceType, Resource: res.resource}
		x.emit(t, EventTaskStarted, &inv.started)
	}

	req := &r.req // resolvers do not keep it (see Resolver), so one per state visit serves every attempt
	*req = TaskRequest{StateName: r.st.name, Resource: res.arn, Kind: kind, ResourceType: res.resourceType,
		Action: res.resource, Pattern: res.pattern, Function: res.function, Attempt: r.retries,
		Iteration: t.iter, TaskToken: r.token, ExecutionArn: x.arn, input: params,
		Timeout: time.Duration(timeout) * time.Second, Heartbeat: time.Duration(heartbeat) * time.Second}
	if kind == TaskService && res.resourceType == "lambda" {
		if o, ok := params.(*value.Object); ok {
			if fn, ok := o.Get("FunctionName"); ok {
				if s, ok := fn.(string); ok {
					req.Function = functionName(s)
				}
			}
		}
	}
	req.Invocation, req.ResourceInvocation = x.count(t, r.st)

	if x.resolver == nil {
		return nil, x.resolverFailed(fmt.Errorf("%w: no Resolver configured for %s", ErrNotHandled, res.arn))
	}
	ctx := t.ctx
	started := x.now()
	if !x.virtual && timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
		defer cancel()
	}
	result, err := x.resolver.Invoke(ctx, req)
	if t.isAborted() {
		return nil, errAborted
	}
	if err != nil {
		if !x.virtual && timeout > 0 && errors.Is(err, context.DeadlineExceeded) && t.ctx.Err() == nil {
			result, err = TaskResult{Err: &TaskError{Error: ErrTimeout}}, nil
		} else {
			return nil, x.resolverFailed(err)
		}
	}
	if kind == TaskActivity {
		x.emit(t, EventActivityStarted, &ActivityStartedEventDetails{WorkerName: result.WorkerName})
	}
	if result.Submitted != nil && kind != TaskLambda && kind != TaskActivity {
		sub, perr := value.Parse(result.Submitted)
		if perr != nil {
			return nil, r.fail("The task's submitted response is not valid JSON: %v", perr)
		}
		rec := &inv.submitted
		rec.d = TaskOutputDetails{ResourceType: res.resourceType, Resource: res.resource, Output: rec.data(sub), OutputDetails: rec.details()}
		x.emit(t, EventTaskSubmitted, &rec.d)
	}

	// Let the task's time pass, and decide whether it timed out.
	timedOut, timeoutErr := false, ErrTimeout
	if result.Err != nil && (result.Err.Error == ErrTimeout || result.Err.Error == ErrHeartbeatTimeout) {
		timedOut, timeoutErr = true, result.Err.Error
	}
	if x.virtual {
		d := result.Duration
		if timedOut && result.Duration == 0 {
			switch {
			case timeoutErr == ErrHeartbeatTimeout && heartbeat > 0:
				d = time.Duration(heartbeat) * time.Second
			case timeout > 0:
				d = time.Duration(timeout) * time.Second
			}
		}
		if !timedOut && heartbeat > 0 {
			last := time.Duration(0)
			hb := time.Duration(heartbeat) * time.Second
			for _, beat := range append(append([]time.Duration{}, result.Heartbeats...), d) {
				if beat-last > hb {
					timedOut, timeoutErr, d = true, ErrHeartbeatTimeout, last+hb
					break
				}
				last = beat
			}
		}
		if !timedOut && timeout > 0 && d > time.Duration(timeout)*time.Second {
			timedOut, timeoutErr, d = true, ErrTimeout, time.Duration(timeout)*time.Second
		}
		if d > 0 && !x.sched.sleep(t, d) {
			return nil, errAborted
		}
	} else if timeout > 0 && x.now().Sub(started) > time.Duration(timeout)*time.Second && !timedOut {
		timedOut, timeoutErr = true, ErrTimeout
	}

	if timedOut {
		cause := ""
		if result.Err != nil {
			cause = result.Err.Cause
		}
		switch kind {
		case TaskLambda:
			x.emit(t, EventLambdaTimedOut, &ErrorDetails{Error: timeoutErr, Cause: cause})
		case TaskActivity:
			x.emit(t, EventActivityTimedOut, &ErrorDetails{Error: timeoutErr, Cause: cause})
		default:
			x.emit(t, EventTaskTimedOut, &TaskErrorDetails{ResourceType: res.resourceType, Resource: res.resource, Error: timeoutErr, Cause: cause})
		}
		f := &failure{Error: timeoutErr, hasError: true, Cause: cause, hasCause: cause != "", timeout: true}
		return nil, f
	}

	var out any
	if result.Err == nil {
		if len(result.Output) > maxPayload {
			name := res.resourceType
			if kind == TaskLambda || kind == TaskActivity || name == "" {
				name = res.arn
			}
			result.Err = &TaskError{Error: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", name)}
		} else {
			v, perr := result.value()
			if perr != nil {
				return nil, r.fail("The task result is not valid JSON: %v", perr)
			}
			out = v
		}
	}
	if result.Err != nil {
		e := result.Err
		switch kind {
		case TaskLambda:
			x.emit(t, EventLambdaFailed, &ErrorDetails{Error: e.Error, Cause: e.Cause})
		case TaskActivity:
			x.emit(t, EventActivityFailed, &ErrorDetails{Error: e.Error, Cause: e.Cause})
		default:
			x.emit(t, EventTaskFailed, &TaskErrorDetails{ResourceType: res.resourceType, Resource: res.resource, Error: e.Error, Cause: e.Cause})
		}
		return nil, &failure{Error: e.Error, Cause: e.Cause, hasError: e.Error != "", hasCause: e.Cause != ""}
	}
	switch kind {
	case TaskLambda:
		rec := &inv.lambdaRecs.output
		rec.d.Output, rec.d.OutputDetails = rec.data(out), rec.details()
		x.emit(t, EventLambdaSucceeded, &rec.d)
	case TaskActivity:
		rec := &inv.activityRecs.output
		rec.d.Output, rec.d.OutputDetails = rec.data(out), rec.details()
		x.emit(t, EventActivitySucceeded, &rec.d)
	default:
		rec := &inv.succeeded
		rec.d = TaskOutputDetails{ResourceType: res.resourceType, Resource: res.resource, Output: rec.data(out), OutputDetails: rec.details()}
		x.emit(t, EventTaskSucceeded, &rec.d)
	}
	return out, nil
}

// resolverFailed stops the run: the resolver could not provide an outcome.
func (x *execution) resolverFailed(err error) *failure {
	x.mu.Lock()
	if x.resolverErr == nil {
		x.resolverErr = err
	}
	x.mu.Unlock()
	x.halt("resolver")
	return errAborted
}

// invocation holds what one task attempt allocates: its events' details. Only the records of
// the task's kind are allocated.
type invocation struct {
	timeout, heartbeat int64
	*lambdaRecs
	*serviceRecs
	*activityRecs
}

type lambdaRecs struct {
	lambda eventRec[LambdaFunctionScheduledDetails]
	output eventRec[OutputDetails]
}

type serviceRecs struct {
	task      eventRec[TaskScheduledEventDetails]
	started   TaskResourceDetails
	submitted eventRec[TaskOutputDetails]
	succeeded eventRec[TaskOutputDetails]
}

type activityRecs struct {
	activity eventRec[ActivityScheduledEventDetails]
	output   eventRec[OutputDetails]
}

type lambdaInvocation struct {
	inv invocation
	r   lambdaRecs
}

type serviceInvocation struct {
	inv invocation
	r   serviceRecs
}

func (x *execution) newInvocation(kind TaskKind) *invocation {
	switch kind {
	case TaskLambda:
		v := alloc(x, &x.lambdaInvs)
		v.inv.lambdaRecs = &v.r
		return &v.inv
	case TaskActivity:
		v := &struct {
			inv invocation
			r   activityRecs
		}{}
		v.inv.activityRecs = &v.r
		return &v.inv
	}
	v := alloc(x, &x.svcInvs)
	v.inv.serviceRecs = &v.r
	return &v.inv
}
