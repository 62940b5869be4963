package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// HistoryResolver replays the task outcomes recorded in an execution history: re-running the definition on the
// same input with a HistoryResolver reproduces the recorded execution, or shows where the definition now takes
// another path.
//
// Each recorded attempt is tied to its state by following previousEventId back to the state's Entered event,
// and to its Map iteration by the MapIteration* events; attempts are served in recorded order
// (TaskRequest.Invocation). Events whose ids were lost (the normalised Parallel branches of some recordings)
// are served by resource, in order, when nothing is recorded for the state.
type HistoryResolver struct {
	byState    map[string][]TaskResult
	byResource map[string][]TaskResult
}

// NewHistoryResolver indexes the task outcomes of a history (events in id order; events with id 0 are taken to
// have lost their ids).
func NewHistoryResolver(events []HistoryEvent) *HistoryResolver {
	h := &HistoryResolver{byState: map[string][]TaskResult{}, byResource: map[string][]TaskResult{}}
	byID := make(map[int64]*HistoryEvent, len(events))
	kids := make(map[int64][]*HistoryEvent, len(events))
	for i := range events {
		e := &events[i]
		if e.ID > 0 {
			byID[e.ID] = e
			kids[e.PreviousEventID] = append(kids[e.PreviousEventID], e)
		}
	}
	paths := iterationPaths(events, byID)
	var orphans []*HistoryEvent
	for i := range events {
		e := &events[i]
		if !isScheduled(e.Type) {
			continue
		}
		if e.ID <= 0 {
			orphans = append(orphans, e)
			continue
		}
		state := enteredState(e, byID)
		if state == "" {
			continue
		}
		res, ok := outcome(e, func(ev *HistoryEvent) []*HistoryEvent { return kids[ev.ID] })
		if !ok {
			continue
		}
		key := state + "\x00" + paths[e.ID]
		h.byState[key] = append(h.byState[key], res)
	}
	h.addOrphans(events, orphans)
	return h
}

func isScheduled(typ string) bool {
	return typ == EventTaskScheduled || typ == EventLambdaScheduled || typ == EventActivityScheduled
}

// enteredState follows previousEventId from a task's scheduled event back to its state's Entered event.
func enteredState(e *HistoryEvent, byID map[int64]*HistoryEvent) string {
	for steps := 0; e != nil && steps < 10000; steps++ {
		if strings.HasSuffix(e.Type, "StateEntered") && e.StateEnteredEventDetails != nil {
			return e.StateEnteredEventDetails.Name
		}
		e = byID[e.PreviousEventID]
	}
	return ""
}

// iterationPaths gives each event the Map iteration it belongs to ("" at the top, "2" in iteration 2, "2/0" in
// iteration 0 of a Map inside iteration 2), from the MapIteration* events and previousEventId.
func iterationPaths(events []HistoryEvent, byID map[int64]*HistoryEvent) map[int64]string {
	paths := make(map[int64]string, len(events))
	parent := func(p string) string {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			return p[:i]
		}
		return ""
	}
	child := func(p string, i int) string {
		if p == "" {
			return strconv.Itoa(i)
		}
		return p + "/" + strconv.Itoa(i)
	}
	for i := range events {
		e := &events[i]
		if e.ID <= 0 {
			continue
		}
		prev := byID[e.PreviousEventID]
		pp, prevType := "", ""
		if prev != nil {
			pp, prevType = paths[prev.ID], prev.Type
		}
		switch e.Type {
		case EventMapIterationStarted:
			base := pp
			if prevType != EventMapStateStarted {
				base = parent(pp)
			}
			paths[e.ID] = child(base, e.MapIterationStartedEventDetails.Index)
		case EventMapIterationSucceeded, EventMapIterationFailed, EventMapIterationAborted:
			idx := 0
			for _, d := range []*MapIterationEventDetails{e.MapIterationSucceededEventDetails, e.MapIterationFailedEventDetails, e.MapIterationAbortedEventDetails} {
				if d != nil {
					idx = d.Index
				}
			}
			paths[e.ID] = child(parent(pp), idx)
		case EventMapStateSucceeded, EventMapStateFailed, EventMapStateAborted, EventMapStateStarted:
			if prevType == EventMapStateStarted || prevType == "MapStateEntered" {
				paths[e.ID] = pp
			} else {
				paths[e.ID] = parent(pp)
			}
		default:
			switch prevType {
			case EventMapIterationSucceeded, EventMapIterationFailed, EventMapIterationAborted:
				paths[e.ID] = parent(pp)
			default:
				paths[e.ID] = pp
			}
		}
	}
	return paths
}

// outcome reads a task attempt's result from the events that follow its scheduled event.
func outcome(s *HistoryEvent, next func(*HistoryEvent) []*HistoryEvent) (TaskResult, bool) {
	var res TaskResult
	var started *HistoryEvent
	cur := s
	for steps := 0; steps < 4; steps++ {
		var found *HistoryEvent
		for _, k := range next(cur) {
			if isTaskEvent(k.Type) {
				found = k
				break
			}
		}
		if found == nil {
			return res, false
		}
		switch found.Type {
		case EventTaskStarted, EventLambdaStarted:
			started = found
		case EventActivityStarted:
			started = found
			if d := found.ActivityStartedEventDetails; d != nil {
				res.WorkerName = d.WorkerName
			}
		case EventTaskSubmitted:
			if d := found.TaskSubmittedEventDetails; d != nil && d.Output != nil {
				res.Submitted = json.RawMessage(d.Output.String())
			}
		default:
			fillOutcome(&res, found)
			if started != nil && !started.Timestamp.IsZero() && !found.Timestamp.IsZero() {
				res.Duration = found.Timestamp.Sub(started.Timestamp)
			}
			return res, true
		}
		cur = found
	}
	return res, false
}

func isTaskEvent(typ string) bool {
	return strings.HasPrefix(typ, "Task") && !strings.HasPrefix(typ, "TaskState") ||
		strings.HasPrefix(typ, "LambdaFunction") || strings.HasPrefix(typ, "Activity")
}

func fillOutcome(res *TaskResult, e *HistoryEvent) {
	switch d := e.details().(type) {
	case *TaskOutputDetails:
		res.setOutput(d.Output)
	case *OutputDetails:
		res.setOutput(d.Output)
	case *TaskErrorDetails:
		res.setError(e.Type, d.Error, d.Cause)
	case *ErrorDetails:
		res.setError(e.Type, d.Error, d.Cause)
	default: // no details
		if strings.HasSuffix(e.Type, "Succeeded") {
			res.setOutput(nil)
		} else {
			res.setError(e.Type, "", "")
		}
	}
}

// setOutput sets the result of a recorded success. It is parsed once here, not on every replay: values are
// immutable and can be shared.
func (res *TaskResult) setOutput(d *Data) {
	if d == nil {
		res.Value = nil
		return
	}
	if v, err := d.Value(); err == nil {
		res.Value = v
		return
	}
	res.Output = json.RawMessage(d.String()) // not JSON: the engine reports it
}

// setError sets the error of a recorded failure of type typ; a timeout without an error name is States.Timeout.
func (res *TaskResult) setError(typ, name, cause string) {
	res.Err = &TaskError{Error: name, Cause: cause}
	switch typ {
	case EventTaskTimedOut, EventLambdaTimedOut, EventActivityTimedOut:
		if name == "" {
			res.Err.Error = ErrTimeout
		}
	}
}

// addOrphans indexes by resource the outcomes of events that lost their ids: each scheduled event takes the
// next task events of the same resource.
func (h *HistoryResolver) addOrphans(events []HistoryEvent, orphans []*HistoryEvent) {
	if len(orphans) == 0 {
		return
	}
	var pool []*HistoryEvent
	for i := range events {
		if events[i].ID <= 0 && isTaskEvent(events[i].Type) && !isScheduled(events[i].Type) {
			pool = append(pool, &events[i])
		}
	}
	used := make(map[*HistoryEvent]bool)
	for _, s := range orphans {
		key := eventResourceKey(s)
		var chain []*HistoryEvent
		for _, e := range pool {
			if !used[e] && eventResourceKey(e) == key {
				chain = append(chain, e)
				used[e] = true
				if !strings.HasSuffix(e.Type, "Started") && e.Type != EventTaskSubmitted {
					break
				}
			}
		}
		// Order the chain as it happened: started, submitted, then the outcome.
		next := func(cur *HistoryEvent) []*HistoryEvent {
			for i, e := range chain {
				if e == cur && i+1 < len(chain) {
					return chain[i+1 : i+2]
				}
			}
			if cur == s && len(chain) > 0 {
				return chain[:1]
			}
			return nil
		}
		sortTaskChain(chain)
		if res, ok := outcome(s, next); ok {
			h.byResource[key] = append(h.byResource[key], res)
		}
	}
}

func sortTaskChain(chain []*HistoryEvent) {
	rank := func(typ string) int {
		switch {
		case strings.HasSuffix(typ, "Started"):
			return 0
		case typ == EventTaskSubmitted:
			return 1
		}
		return 2
	}
	for i := 1; i < len(chain); i++ {
		for j := i; j > 0 && rank(chain[j].Type) < rank(chain[j-1].Type); j-- {
			chain[j], chain[j-1] = chain[j-1], chain[j]
		}
	}
}

// eventResourceKey names the resource of a task event; Lambda and activity events other than the scheduled one
// carry none, so they share their family's key.
func eventResourceKey(e *HistoryEvent) string {
	switch {
	case strings.HasPrefix(e.Type, "LambdaFunction"):
		return "lambda"
	case strings.HasPrefix(e.Type, "Activity"):
		return "activity"
	}
	for _, d := range []*TaskResourceDetails{e.TaskStartedEventDetails} {
		if d != nil {
			return d.ResourceType + ":" + d.Resource
		}
	}
	switch {
	case e.TaskScheduledEventDetails != nil:
		return e.TaskScheduledEventDetails.ResourceType + ":" + e.TaskScheduledEventDetails.Resource
	case e.TaskSucceededEventDetails != nil:
		return e.TaskSucceededEventDetails.ResourceType + ":" + e.TaskSucceededEventDetails.Resource
	case e.TaskSubmittedEventDetails != nil:
		return e.TaskSubmittedEventDetails.ResourceType + ":" + e.TaskSubmittedEventDetails.Resource
	}
	for _, d := range []*TaskErrorDetails{e.TaskFailedEventDetails, e.TaskTimedOutEventDetails, e.TaskStartFailedEventDetails, e.TaskSubmitFailedEventDetails} {
		if d != nil {
			return d.ResourceType + ":" + d.Resource
		}
	}
	return ""
}

func requestResourceKey(req *TaskRequest) string {
	switch req.Kind {
	case TaskLambda:
		return "lambda"
	case TaskActivity:
		return "activity"
	}
	return req.ResourceType + ":" + req.Action
}

// Invoke returns the recorded outcome of the request's attempt.
func (h *HistoryResolver) Invoke(_ context.Context, req *TaskRequest) (TaskResult, error) {
	parts := make([]string, len(req.Iteration))
	for i, n := range req.Iteration {
		parts[i] = strconv.Itoa(n)
	}
	key := req.StateName + "\x00"
	if len(parts) > 0 {
		key += strings.Join(parts, "/")
	}
	if list := h.byState[key]; req.Invocation < len(list) {
		return list[req.Invocation], nil
	}
	if list := h.byResource[requestResourceKey(req)]; req.ResourceInvocation < len(list) {
		return list[req.ResourceInvocation], nil
	}
	where := ""
	if len(parts) > 0 {
		where = " in Map iteration " + strings.Join(parts, "/")
	}
	return TaskResult{}, fmt.Errorf("no recorded outcome for invocation %d of state %q%s (resource %s)", req.Invocation, req.StateName, where, req.Resource)
}
