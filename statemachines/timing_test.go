package statemachines

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

// TestWorstCaseArithmetic pins the numbers written in the comments of
// WorstCaseSeconds and WorstHeartbeatGapSeconds, and the limits they must
// stay under.
func TestWorstCaseArithmetic(t *testing.T) {
	want := map[workers.Handler]float64{
		workers.Drain:              896,
		workers.RemoveMember:       476,
		workers.LifecycleHeartbeat: 161,
		workers.CompleteLifecycle:  161,
	}
	for h, w := range want {
		if got := WorstCaseSeconds(h, StandardRetry); got != w {
			t.Errorf("WorstCaseSeconds(%s) = %v, want %v", h, got, w)
		}
	}
	if got := WorstHeartbeatGapSeconds(); got != 1117 {
		t.Errorf("WorstHeartbeatGapSeconds = %v, want 1117", got)
	}
	// The hook's heartbeat timeout (template parameter, default 1800 s,
	// minimum the worst gap) must outlast every lifecycle Task state and
	// every gap between heartbeats.
	const hookDefault = 1800
	for _, h := range Lifecycle().Handlers {
		if w := WorstCaseSeconds(h, StandardRetry); w >= hookDefault {
			t.Errorf("%s: worst case %v s >= hook heartbeat timeout %d s", h, w, hookDefault)
		}
	}
	if WorstHeartbeatGapSeconds() >= hookDefault {
		t.Errorf("worst heartbeat gap %v s >= hook heartbeat timeout %d s", WorstHeartbeatGapSeconds(), hookDefault)
	}
	// Auto Scaling ends any lifecycle action after 48 h (or 100 heartbeat
	// timeouts): the whole workflow, loops included, must end before.
	if w := WorstLifecycleSeconds(); w >= HookGlobalTimeoutSeconds || w >= 100*WorstHeartbeatGapSeconds() {
		t.Errorf("worst lifecycle %v s exceeds the hook's global timeout", w)
	}
	if w := WorstHealthSeconds(); w >= ExpressLimitSeconds {
		t.Errorf("worst health execution %v s >= Express limit %d s", w, ExpressLimitSeconds)
	}
	// A Task's timeout outlasts its function's, so the Lambda timeout is
	// what ends a slow worker.
	for _, h := range workers.All {
		tm := TimingOf(h)
		if tm.LambdaTimeoutSeconds <= 0 || tm.TaskTimeoutSeconds <= tm.LambdaTimeoutSeconds || tm.LambdaTimeoutSeconds > 900 {
			t.Errorf("%s: timing %+v", h, tm)
		}
	}
}

// slowFailures is a resolver for the worst case: at every visit of a state,
// the first attempts fail with Lambda service errors, the next ones with a
// transient error, each lasting almost the Task timeout; the attempt after
// the retries are exhausted gets final(state, visit).
type slowFailures struct {
	lambda, transient int
	final             func(h workers.Handler, state string, visit int) outcome
	visits            map[string]int
}

func (s *slowFailures) Invoke(_ context.Context, req *asl.TaskRequest) (asl.TaskResult, error) {
	h, ok := HandlerOf(req.Resource)
	if !ok {
		return asl.TaskResult{}, fmt.Errorf("%w: %s", asl.ErrNotHandled, req.Resource)
	}
	took := req.Timeout - time.Millisecond
	switch {
	case req.Attempt < s.lambda:
		return asl.TaskResult{Duration: took, Err: &asl.TaskError{Error: "Lambda.ServiceException", Cause: "slow service error"}}, nil
	case req.Attempt < s.lambda+s.transient:
		return asl.TaskResult{Duration: took, Err: &asl.TaskError{Error: faults.EtcdUnavailable, Cause: "slow transient error"}}, nil
	}
	if req.Attempt == 0 || req.Attempt == s.lambda+s.transient {
		s.visits[req.StateName]++
	}
	o := s.final(h, req.StateName, s.visits[req.StateName])
	res := asl.TaskResult{Duration: took}
	if o.err != "" {
		res.Err = &asl.TaskError{Error: o.err, Cause: o.cause}
		return res, nil
	}
	b, _ := json.Marshal(o.out)
	res.Output = b
	return res, nil
}

func runWith(t *testing.T, w Workflow, input string, r asl.Resolver, onState func(asl.StateEvent)) *asl.Execution {
	t.Helper()
	def, err := w.Deployed(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := asl.Parse(def)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := asl.NewEngine(sm, asl.Options{Resolver: r, Seed: 11, StartTime: startTime, OnState: onState})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := eng.Run(context.Background(), json.RawMessage(input))
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// TestWorstCaseBoundsTheEngine runs every Task state of every workflow with
// all its retries used up by errors that each arrive just before the Task
// timeout, and checks the time the engine spent in the state against
// WorstCaseSeconds: the bound holds for the real Retry semantics, not just
// on paper.
func TestWorstCaseBoundsTheEngine(t *testing.T) {
	inputs := map[string]string{"lifecycle": terminateEvent(nil), "backup": scheduledEvent, "health": scheduledEvent}
	for _, w := range Workflows() {
		lambda, transient := w.Policy[0].MaxAttempts, w.Policy[1].MaxAttempts
		sm := w.Definition(LocalResource)
		for _, st := range sm.States {
			task, isTask := st.(*asl.Task)
			if !isTask {
				continue
			}
			t.Run(w.Name+"/"+task.Name, func(t *testing.T) {
				h, _ := HandlerOf(task.Resource)
				res := &slowFailures{lambda: lambda, transient: transient, visits: map[string]int{},
					final: func(h workers.Handler, state string, visit int) outcome {
						// Route the execution into the state under test.
						switch {
						case state == task.Name:
							return fail(faults.EtcdUnavailable, "still down")
						case task.Name == "HeartbeatDuringDrain" && h == workers.Drain && visit == 1:
							return fail(faults.DrainIncomplete, "pods left")
						case task.Name == "HeartbeatDuringQuorumWait" && h == workers.RemoveMember && visit == 1:
							return fail(faults.EtcdQuorumAtRisk, "replacement not joined")
						case task.Name == "Abandon" && h == workers.Drain:
							return fail(faults.EtcdUnsafeRemoval, "refused")
						}
						return ok(map[string]any{"Action": map[string]string{"TriggerRecovery": ActionTriggerRecovery, "ReportRecovered": ActionReportRecovered}[task.Name]})
					},
				}
				var spent time.Duration
				entered := false
				runWith(t, w, inputs[w.Name], res, func(ev asl.StateEvent) {
					if ev.Scope == "" && ev.State == task.Name {
						entered = true
						if ev.Phase != asl.PhaseEntered {
							spent = max(spent, ev.Duration)
						}
					}
				})
				if !entered {
					t.Fatalf("%s was never entered", task.Name)
				}
				attempts := 1 + lambda + transient
				floor := time.Duration(attempts) * (time.Duration(TimingOf(h).TaskTimeoutSeconds)*time.Second - time.Millisecond)
				bound := time.Duration(WorstCaseSeconds(h, w.Policy) * float64(time.Second))
				if spent < floor || spent > bound {
					t.Fatalf("%s spent %v in the state; want between %v (%d attempts) and the worst case %v", task.Name, spent, floor, attempts, bound)
				}
			})
		}
	}
}

// TestHeartbeatGapsInTheWorstCase runs a lifecycle where every call uses up
// its retries slowly, drain needs three rounds and removal two waits, and
// checks the gaps between successful heartbeats (and the completion) stay
// within WorstHeartbeatGapSeconds, and the whole run within
// WorstLifecycleSeconds.
func TestHeartbeatGapsInTheWorstCase(t *testing.T) {
	res := &slowFailures{lambda: StandardRetry[0].MaxAttempts, transient: StandardRetry[1].MaxAttempts, visits: map[string]int{},
		final: func(h workers.Handler, state string, visit int) outcome {
			switch {
			case h == workers.Drain && visit <= 2:
				return fail(faults.DrainIncomplete, "pods left")
			case h == workers.RemoveMember && visit <= 2:
				return fail(faults.EtcdQuorumAtRisk, "replacement not joined")
			}
			return ok(map[string]any{})
		},
	}
	var beats []time.Time
	exec := runWith(t, Lifecycle(), terminateEvent(nil), res, func(ev asl.StateEvent) {
		if ev.Scope != "" || ev.Phase != asl.PhaseExited {
			return
		}
		if ev.State == "Complete" || ev.State == "HeartbeatAfterDrain" || ev.State == "HeartbeatDuringDrain" || ev.State == "HeartbeatDuringQuorumWait" {
			beats = append(beats, ev.Time)
		}
	})
	if exec.Status != "SUCCEEDED" {
		t.Fatalf("status %s %s %s", exec.Status, exec.Error, exec.Cause)
	}
	if len(beats) != 6 { // 2 during drain, 1 after, 2 during quorum waits, the completion
		t.Fatalf("%d heartbeats and completions, want 6", len(beats))
	}
	prev, worst := exec.StartTime, time.Duration(0)
	for _, b := range beats {
		worst = max(worst, b.Sub(prev))
		prev = b
	}
	// The execution starts when the event arrives: the delivery slack of
	// the first segment is not on this clock.
	bound := time.Duration((WorstHeartbeatGapSeconds() - eventDeliverySeconds) * float64(time.Second))
	if worst > bound {
		t.Fatalf("longest gap between heartbeats %v > %v", worst, bound)
	}
	if total := exec.StopTime.Sub(exec.StartTime); total > time.Duration(WorstLifecycleSeconds()*float64(time.Second)) {
		t.Fatalf("execution took %v > worst case %v s", total, WorstLifecycleSeconds())
	}
	t.Logf("longest gap between heartbeats %v (bound %v); execution %v", worst, bound, exec.StopTime.Sub(exec.StartTime))
}
