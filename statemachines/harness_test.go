package statemachines

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/workers"
)

// outcome is what a fake worker does on one call.
type outcome struct {
	out   any           // result, when err is empty
	err   string        // ASL error name (the Lambda errorType)
	cause string        // error message
	took  time.Duration // virtual time the call takes
}

func ok(out any) outcome              { return outcome{out: out} }
func fail(name, cause string) outcome { return outcome{err: name, cause: cause} }

// call is one invocation a fake worker received.
type call struct {
	Handler workers.Handler
	State   string
	Input   map[string]any
}

// fakeWorkers stands in for the Lambda functions: each handler answers
// from its script in order, the last entry repeating; handlers without a
// script return {}.
type fakeWorkers struct {
	mu      sync.Mutex
	scripts map[workers.Handler][]outcome
	calls   []call
	n       map[workers.Handler]int
}

func newFakes(scripts map[workers.Handler][]outcome) *fakeWorkers {
	return &fakeWorkers{scripts: scripts, n: map[workers.Handler]int{}}
}

func (f *fakeWorkers) Invoke(_ context.Context, req *asl.TaskRequest) (asl.TaskResult, error) {
	h, found := HandlerOf(req.Resource)
	if !found {
		return asl.TaskResult{}, fmt.Errorf("%w: %s", asl.ErrNotHandled, req.Resource)
	}
	var in map[string]any
	if err := json.Unmarshal(req.Input(), &in); err != nil {
		return asl.TaskResult{}, fmt.Errorf("task input of %s is not an object: %s", req.StateName, req.Input())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{Handler: h, State: req.StateName, Input: in})
	o := outcome{out: map[string]any{}}
	if s := f.scripts[h]; len(s) > 0 {
		o = s[min(f.n[h], len(s)-1)]
	}
	f.n[h]++
	res := asl.TaskResult{Duration: o.took}
	if o.err != "" {
		res.Err = &asl.TaskError{Error: o.err, Cause: o.cause}
		return res, nil
	}
	b, err := json.Marshal(o.out)
	if err != nil {
		return asl.TaskResult{}, err
	}
	res.Output = b
	return res, nil
}

func (f *fakeWorkers) callsOf(h workers.Handler) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Handler == h {
			out = append(out, c)
		}
	}
	return out
}

// run is one execution of w with resources resolved to the fakes.
type run struct {
	exec   *asl.Execution
	path   []string // top-level states entered, in order
	exits  []asl.StateEvent
	output map[string]any
}

// testCluster is the cluster name the definitions are deployed with.
const testCluster = "prod"

var startTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func execute(t *testing.T, w Workflow, input string, f *fakeWorkers) run {
	t.Helper()
	def, err := w.Deployed(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := asl.Parse(def)
	if err != nil {
		t.Fatalf("parse %s: %v", w.Name, err)
	}
	var r run
	var mu sync.Mutex
	eng, err := asl.NewEngine(sm, asl.Options{
		Resolver:         f,
		Seed:             7,
		StartTime:        startTime,
		StateMachineName: "cpwarden-test-" + w.Name,
		OnState: func(ev asl.StateEvent) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Scope != "" {
				return
			}
			if ev.Phase == asl.PhaseEntered {
				r.path = append(r.path, ev.State)
			} else {
				r.exits = append(r.exits, ev)
			}
		},
	})
	if err != nil {
		t.Fatalf("engine for %s: %v", w.Name, err)
	}
	r.exec, err = eng.Run(context.Background(), json.RawMessage(input))
	if err != nil {
		t.Fatalf("run %s: %v", w.Name, err)
	}
	if len(r.exec.Output) > 0 {
		if err := json.Unmarshal(r.exec.Output, &r.output); err != nil {
			t.Fatalf("output is not an object: %s", r.exec.Output)
		}
	}
	return r
}
