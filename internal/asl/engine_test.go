package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func mustEngine(t *testing.T, def string, opts Options) *Engine {
	t.Helper()
	sm, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if opts.StartTime.IsZero() {
		opts.StartTime = t0
	}
	eng, err := NewEngine(sm, opts)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return eng
}

func mustRun(t *testing.T, def, input string, opts Options) *Execution {
	t.Helper()
	exec, err := mustEngine(t, def, opts).Run(context.Background(), json.RawMessage(input))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return exec
}

func types(exec *Execution) string {
	var parts []string
	for _, e := range exec.Events() {
		parts = append(parts, e.Type)
	}
	return strings.Join(parts, " ")
}

func eventsOf(exec *Execution, typ string) []HistoryEvent {
	var out []HistoryEvent
	for _, e := range exec.Events() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// fnResolver resolves every task with f.
func fnResolver(f func(req *TaskRequest) (TaskResult, error)) Resolver {
	return ResolverFunc(func(_ context.Context, req *TaskRequest) (TaskResult, error) { return f(req) })
}

func TestDataFlowAppliesPathsInAWSOrder(t *testing.T) {
	tests := []struct {
		name, state, input, want string
	}{
		{"InputPath selects", `"InputPath":"$.a"`, `{"a":{"b":1},"c":2}`, `{"b":1}`},
		{"InputPath null gives {}", `"InputPath":null`, `{"a":1}`, `{}`},
		{"Parameters with paths and context", `"Parameters":{"x.$":"$.a","name.$":"$$.State.Name","lit":[1,{"y.$":"$.a"}]}`, `{"a":5}`, `{"x":5,"name":"S","lit":[1,{"y":5}]}`},
		{"Result and ResultPath into the input", `"Result":{"r":1},"ResultPath":"$.out"`, `{"a":1}`, `{"a":1,"out":{"r":1}}`},
		{"ResultPath creates objects on the way", `"Result":7,"ResultPath":"$.x.y.z"`, `{"a":1}`, `{"a":1,"x":{"y":{"z":7}}}`},
		{"ResultPath null keeps the input", `"Result":7,"ResultPath":null`, `{"a":1}`, `{"a":1}`},
		{"ResultPath $ replaces", `"Result":7,"ResultPath":"$"`, `{"a":1}`, `7`},
		{"ResultPath replaces a member in place", `"Result":7,"ResultPath":"$.a"`, `{"a":1,"b":2}`, `{"a":7,"b":2}`},
		{"OutputPath selects", `"Result":{"r":1},"ResultPath":"$.out","OutputPath":"$.out.r"`, `{"a":1}`, `1`},
		{"OutputPath null gives {}", `"OutputPath":null`, `{"a":1}`, `{}`},
		{"indefinite paths give lists", `"Parameters":{"all.$":"$.items[*].v","none.$":"$.missing[*]"}`, `{"items":[{"v":1},{"v":2}]}`, `{"all":[1,2],"none":[]}`},
		{"filters", `"Parameters":{"big.$":"$.items[?(@.v > 1)].v"}`, `{"items":[{"v":1},{"v":2},{"v":3}]}`, `{"big":[2,3]}`},
		{"intrinsics nest", `"Parameters":{"s.$":"States.Format('{} has {} items', $.name, States.ArrayLength($.items))"}`, `{"name":"x","items":[1,2]}`, `{"s":"x has 2 items"}`},
		{"member order is kept", `"Parameters":{"z":1,"a":2,"m.$":"$.m"}`, `{"m":3}`, `{"z":1,"a":2,"m":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"S","States":{"S":{"Type":"Pass",%s,"End":true}}}`, tt.state)
			exec := mustRun(t, def, tt.input, Options{})
			if exec.Status != StatusSucceeded || string(exec.Output) != tt.want {
				t.Fatalf("got %s %s (%s %s), want %s", exec.Status, exec.Output, exec.Error, exec.Cause, tt.want)
			}
		})
	}
}

func TestTaskResultSelectorAndResultPath(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Parameters":{"FunctionName":"f","Payload.$":"$"},
		"ResultSelector":{"value.$":"$.Payload.v","code.$":"$.StatusCode"},"ResultPath":"$.res","End":true}}}`
	fns := NewFunctions()
	fns.Handle("f", Func(func(_ context.Context, in map[string]int) (map[string]int, error) {
		return map[string]int{"v": in["n"] * 10}, nil
	}))
	exec := mustRun(t, def, `{"n":4}`, Options{Resolver: fns})
	if string(exec.Output) != `{"n":4,"res":{"value":40,"code":200}}` {
		t.Fatalf("output %s (%s %s)", exec.Output, exec.Error, exec.Cause)
	}
	if got := types(exec); got != "ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited ExecutionSucceeded" {
		t.Fatalf("events %s", got)
	}
	sched := eventsOf(exec, EventTaskScheduled)[0].TaskScheduledEventDetails
	if sched.ResourceType != "lambda" || sched.Resource != "invoke" || sched.Parameters.String() != `{"FunctionName":"f","Payload":{"n":4}}` {
		t.Fatalf("scheduled %+v %s", sched, sched.Parameters.String())
	}
}

func TestRuntimeErrorsAreTerminalWithAWSCauses(t *testing.T) {
	tests := []struct {
		name, state, input, cause string
	}{
		{"InputPath missing", `"Type":"Pass","InputPath":"$.nope","End":true`, `{"a":1}`,
			"An error occurred while executing the state 'S' (entered at the event id #2). Invalid path '$.nope' : No results for path: $['nope']"},
		{"intermediate missing", `"Type":"Pass","OutputPath":"$.no.such","End":true`, `{"a":1}`,
			"An error occurred while executing the state 'S' (entered at the event id #2). Invalid path '$.no.such' : Missing property in path $['no']"},
		{"Parameters path missing", `"Type":"Pass","Parameters":{"v.$":"$.x"},"End":true`, `{"a":1}`,
			`An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.x' specified for the field 'v.$' could not be found in the input '{"a":1}'`},
		{"SecondsPath missing", `"Type":"Wait","SecondsPath":"$.s","End":true`, `{}`,
			"An error occurred while executing the state 'S' (entered at the event id #2). The SecondsPath parameter does not reference an input value: $.s"},
		{"TimestampPath not a timestamp", `"Type":"Wait","TimestampPath":"$.ts","End":true`, `{"ts":"2016-12-05 21:29:29Z"}`,
			"An error occurred while executing the state 'S' (entered at the event id #2). The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.ts == 2016-12-05 21:29:29Z"},
		{"intrinsic failure", `"Type":"Pass","Parameters":{"v.$":"States.ArrayGetItem($.a, 5)"},"End":true`, `{"a":[1]}`,
			"An error occurred while executing the state 'S' (entered at the event id #2). The function 'States.ArrayGetItem($.a, 5)' had the following error: The index 5 is out of bounds for an array of length 1"},
		{"Map items not an array", `"Type":"Map","ItemsPath":"$.a","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true`, `{"a":1}`,
			"An error occurred while executing the state 'S' (entered at the event id #2). Map state input must be an array but was: 1 (ItemsPath $.a)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A Catch on States.ALL and even on States.Runtime does not catch these: they end the execution.
			def := fmt.Sprintf(`{"StartAt":"S","States":{"S":{%s}}}`, tt.state)
			exec := mustRun(t, def, tt.input, Options{})
			if exec.Status != StatusFailed || exec.Error != ErrRuntime || exec.Cause != tt.cause {
				t.Fatalf("got %s %s %q\nwant cause %q", exec.Status, exec.Error, exec.Cause, tt.cause)
			}
		})
	}
}

func TestStatesRuntimeIsNotCaught(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","OutputPath":"$.no.path",
		"Catch":[{"ErrorEquals":["States.Runtime"],"Next":"C"},{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},
		"C":{"Type":"Pass","End":true}}}`
	res := fnResolver(func(*TaskRequest) (TaskResult, error) { return TaskResult{Output: json.RawMessage(`{}`)}, nil })
	exec := mustRun(t, def, `{}`, Options{Resolver: res})
	if exec.Status != StatusFailed || exec.Error != ErrRuntime {
		t.Fatalf("got %s %s", exec.Status, exec.Error)
	}
	if got := types(exec); !strings.HasSuffix(got, "LambdaFunctionSucceeded ExecutionFailed") {
		t.Fatalf("events %s", got)
	}
}

func TestErrorMatching(t *testing.T) {
	tests := []struct {
		name     string
		equals   []string
		f        *failure
		expected bool
	}{
		{"exact name", []string{"A"}, newFailure("A", ""), true},
		{"other name", []string{"B"}, newFailure("A", ""), false},
		{"States.ALL matches a custom error", []string{ErrAll}, newFailure("A", ""), true},
		{"States.ALL matches a missing error", []string{ErrAll}, &failure{}, true},
		{"States.ALL does not match States.Runtime", []string{ErrAll}, newFailure(ErrRuntime, ""), false},
		{"States.TaskFailed matches a task error", []string{ErrTaskFailed}, newFailure("Lambda.Unknown", ""), true},
		{"States.TaskFailed does not match States.Timeout", []string{ErrTaskFailed}, newFailure(ErrTimeout, ""), false},
		{"States.Timeout matches itself", []string{ErrTimeout}, newFailure(ErrTimeout, ""), true},
		{"explicit States.Runtime", []string{ErrRuntime}, newFailure(ErrRuntime, ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorMatches(tt.equals, tt.f); got != tt.expected {
				t.Fatalf("errorMatches(%v, %q) = %v", tt.equals, tt.f.Error, got)
			}
		})
	}
}

func TestRetryBackoffRunsOnTheVirtualClock(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
		"Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":10,"MaxAttempts":4,"BackoffRate":3,"MaxDelaySeconds":60}],"End":true}}}`
	calls := 0
	res := fnResolver(func(req *TaskRequest) (TaskResult, error) {
		calls++
		if req.Attempt != calls-1 {
			t.Errorf("attempt %d on call %d", req.Attempt, calls)
		}
		if calls <= 4 {
			return TaskResult{Err: &TaskError{Error: "Flaky", Cause: "try again"}}, nil
		}
		return TaskResult{Output: json.RawMessage(`"ok"`)}, nil
	})
	start := time.Now()
	exec := mustRun(t, def, `{}`, Options{Resolver: res})
	if time.Since(start) > 5*time.Second {
		t.Fatalf("virtual waits took real time")
	}
	if exec.Status != StatusSucceeded || string(exec.Output) != `"ok"` {
		t.Fatalf("got %s %s", exec.Status, exec.Output)
	}
	// Delays 10, 30, 60 (90 capped), 60 (270 capped): the attempts are scheduled at 0, 10, 40, 100, 160 s.
	var offsets []time.Duration
	for _, e := range eventsOf(exec, EventLambdaScheduled) {
		offsets = append(offsets, e.Timestamp.Sub(t0))
	}
	want := []time.Duration{0, 10 * time.Second, 40 * time.Second, 100 * time.Second, 160 * time.Second}
	if fmt.Sprint(offsets) != fmt.Sprint(want) {
		t.Fatalf("attempts at %v, want %v", offsets, want)
	}
}

func TestRetryWithMaxAttemptsZeroNeverRetries(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
		"Retry":[{"ErrorEquals":["E"],"MaxAttempts":0},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}],"End":true}}}`
	calls := 0
	res := fnResolver(func(*TaskRequest) (TaskResult, error) {
		calls++
		return TaskResult{Err: &TaskError{Error: "E"}}, nil
	})
	exec := mustRun(t, def, `{}`, Options{Resolver: res})
	// The first matching retrier decides: its MaxAttempts 0 means no retry, and the next retrier is not consulted.
	if calls != 1 || exec.Status != StatusFailed || exec.Error != "E" {
		t.Fatalf("calls %d, %s %s", calls, exec.Status, exec.Error)
	}
}

func TestJitterIsDeterministicForASeed(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
		"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":100,"MaxAttempts":3,"JitterStrategy":"FULL"}],"End":true}}}`
	fail := fnResolver(func(*TaskRequest) (TaskResult, error) { return TaskResult{Err: &TaskError{Error: "E"}}, nil })
	stops := func(seed uint64) []time.Duration {
		exec := mustRun(t, def, `{}`, Options{Resolver: fail, Seed: seed})
		var out []time.Duration
		for _, e := range eventsOf(exec, EventLambdaScheduled) {
			out = append(out, e.Timestamp.Sub(t0))
		}
		return out
	}
	a, b, c := stops(7), stops(7), stops(8)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different delays: %v %v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("different seeds, same delays: %v", a)
	}
	for i := 1; i < len(a); i++ {
		d := a[i] - a[i-1]
		max := 100 * time.Second << (i - 1)
		if d < 0 || d > max {
			t.Fatalf("delay %d is %v, beyond full jitter's [0, %v]", i, d, max)
		}
	}
}

func TestWaitStatesAdvanceVirtualTime(t *testing.T) {
	def := `{"StartAt":"A","States":{
		"A":{"Type":"Wait","Seconds":3600,"Next":"B"},
		"B":{"Type":"Wait","SecondsPath":"$.s","Next":"C"},
		"C":{"Type":"Wait","TimestampPath":"$.until","Next":"D"},
		"D":{"Type":"Wait","Timestamp":"2020-01-01T00:00:00Z","End":true}}}`
	start := time.Now()
	exec := mustRun(t, def, `{"s":60,"until":"2025-01-02T06:00:00Z"}`, Options{})
	if time.Since(start) > 5*time.Second {
		t.Fatal("waits took real time")
	}
	exits := eventsOf(exec, "WaitStateExited")
	got := []time.Duration{}
	for _, e := range exits {
		got = append(got, e.Timestamp.Sub(t0))
	}
	// 1h, then 60s, then until 06:00 (the start is 03:04:05), then a past timestamp: no wait.
	want := []time.Duration{time.Hour, time.Hour + time.Minute, 6*time.Hour - (3*time.Hour + 4*time.Minute + 5*time.Second), 6*time.Hour - (3*time.Hour + 4*time.Minute + 5*time.Second)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("exits at %v, want %v", got, want)
	}
	if exec.StopTime.Sub(exec.StartTime) != want[3] {
		t.Fatalf("execution took %v", exec.StopTime.Sub(exec.StartTime))
	}
}

func TestTaskTimeoutsOnTheVirtualClock(t *testing.T) {
	tests := []struct {
		name   string
		fields string
		result TaskResult
		events string
		err    string
		at     time.Duration
	}{
		{"duration beyond TimeoutSeconds", `"TimeoutSeconds":30`, TaskResult{Output: json.RawMessage(`1`), Duration: time.Minute},
			"LambdaFunctionTimedOut", ErrTimeout, 30 * time.Second},
		{"duration within TimeoutSeconds", `"TimeoutSeconds":30`, TaskResult{Output: json.RawMessage(`1`), Duration: 20 * time.Second},
			"LambdaFunctionSucceeded", "", 20 * time.Second},
		{"no heartbeat in time", `"TimeoutSeconds":300,"HeartbeatSeconds":10`, TaskResult{Output: json.RawMessage(`1`), Duration: time.Minute, Heartbeats: []time.Duration{5 * time.Second, 12 * time.Second}},
			"LambdaFunctionTimedOut", ErrHeartbeatTimeout, 22 * time.Second},
		{"heartbeats keep it alive", `"TimeoutSeconds":300,"HeartbeatSeconds":10`, TaskResult{Output: json.RawMessage(`1`), Duration: 25 * time.Second, Heartbeats: []time.Duration{8 * time.Second, 16 * time.Second, 24 * time.Second}},
			"LambdaFunctionSucceeded", "", 25 * time.Second},
		{"resolver reports a timeout", `"TimeoutSecondsPath":"$.timeout"`, TaskResult{Err: &TaskError{Error: ErrTimeout}},
			"LambdaFunctionTimedOut", ErrTimeout, 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",%s,
				"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}`, tt.fields)
			exec := mustRun(t, def, `{"timeout":45}`, Options{Resolver: fnResolver(func(*TaskRequest) (TaskResult, error) { return tt.result, nil })})
			evs := eventsOf(exec, tt.events)
			if len(evs) != 1 {
				t.Fatalf("no %s in %s", tt.events, types(exec))
			}
			if at := evs[0].Timestamp.Sub(t0); at != tt.at {
				t.Fatalf("%s at %v, want %v", tt.events, at, tt.at)
			}
			if tt.err != "" {
				if d := evs[0].LambdaFunctionTimedOutEventDetails; d == nil || d.Error != tt.err {
					t.Fatalf("details %+v", evs[0])
				}
				var out struct{ Err struct{ Error, Cause string } }
				if err := json.Unmarshal(exec.Output, &out); err != nil || out.Err.Error != tt.err {
					t.Fatalf("output %s", exec.Output)
				}
			}
		})
	}
}

func TestExecutionTimeoutSeconds(t *testing.T) {
	def := `{"TimeoutSeconds":100,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1000,"End":true}}}`
	exec := mustRun(t, def, `{}`, Options{})
	if exec.Status != StatusTimedOut || exec.Error != ErrTimeout {
		t.Fatalf("got %s %s", exec.Status, exec.Error)
	}
	last := exec.Events()[len(exec.Events())-1]
	if last.Type != EventExecutionTimedOut || last.Timestamp.Sub(t0) != 100*time.Second {
		t.Fatalf("last event %s at %v", last.Type, last.Timestamp.Sub(t0))
	}
}

func TestParallelBranchesRunConcurrentlyOnTheVirtualClock(t *testing.T) {
	def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
		{"StartAt":"W1","States":{"W1":{"Type":"Wait","Seconds":30,"Next":"X1"},"X1":{"Type":"Pass","Result":1,"End":true}}},
		{"StartAt":"W2","States":{"W2":{"Type":"Wait","Seconds":10,"Next":"X2"},"X2":{"Type":"Pass","Result":2,"End":true}}},
		{"StartAt":"X3","States":{"X3":{"Type":"Pass","Result":3,"End":true}}}]}}}`
	exec := mustRun(t, def, `{}`, Options{})
	if string(exec.Output) != `[1,2,3]` {
		t.Fatalf("output %s", exec.Output)
	}
	if d := exec.StopTime.Sub(t0); d != 30*time.Second {
		t.Fatalf("took %v, want the longest branch (30s)", d)
	}
	// Events come in time order: the branch that waits least finishes first.
	var exited []string
	for _, e := range eventsOf(exec, "PassStateExited") {
		exited = append(exited, e.StateExitedEventDetails.Name)
	}
	if strings.Join(exited, ",") != "X3,X2,X1" {
		t.Fatalf("exits %v", exited)
	}
}

func TestMapMaxConcurrencyOnTheVirtualClock(t *testing.T) {
	tests := []struct {
		conc string
		want time.Duration
	}{
		{`"MaxConcurrency":1`, 60 * time.Second},
		{`"MaxConcurrency":2`, 30 * time.Second},
		{`"MaxConcurrency":0`, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.conc, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"M","States":{"M":{"Type":"Map",%s,"ItemProcessor":{"StartAt":"W","States":{
				"W":{"Type":"Wait","Seconds":10,"End":true}}},"End":true}}}`, tt.conc)
			exec := mustRun(t, def, `[1,2,3,4,5,6]`, Options{})
			if exec.Status != StatusSucceeded || string(exec.Output) != `[1,2,3,4,5,6]` {
				t.Fatalf("%s %s", exec.Status, exec.Output)
			}
			if d := exec.StopTime.Sub(t0); d != tt.want {
				t.Fatalf("took %v, want %v", d, tt.want)
			}
		})
	}
}

func TestMapIterationFailureAbortsTheOthers(t *testing.T) {
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}},
		"Catch":[{"ErrorEquals":["Boom"],"ResultPath":"$.error","Next":"Caught"}],"End":true},
		"Caught":{"Type":"Pass","End":true}}}`
	res := fnResolver(func(req *TaskRequest) (TaskResult, error) {
		n, _ := req.Value().(value.Number).Int64()
		if n == 2 {
			return TaskResult{Err: &TaskError{Error: "Boom", Cause: "item 2"}, Duration: 5 * time.Second}, nil
		}
		return TaskResult{Value: n, Duration: time.Duration(n) * 10 * time.Second}, nil
	})
	exec := mustRun(t, def, `[1,2,3]`, Options{Resolver: res})
	if exec.Status != StatusFailed {
		// the input of a Map is an array: ResultPath $.error cannot apply
		t.Fatalf("status %s %s", exec.Status, exec.Error)
	}
	got := types(exec)
	for _, want := range []string{"MapIterationFailed", "MapIterationAborted", "TaskStateAborted", "MapStateFailed"} {
		if !strings.Contains(got, want) {
			t.Fatalf("no %s in %s", want, got)
		}
	}
	// Iterations 1 and 3 were running when iteration 2 failed at 5s: they are aborted, their tasks never end.
	if n := len(eventsOf(exec, EventLambdaSucceeded)); n != 0 {
		t.Fatalf("%d tasks succeeded after the failure: %s", n, got)
	}
	if d := exec.StopTime.Sub(t0); d != 5*time.Second {
		t.Fatalf("took %v, want the failure time", d)
	}
}

func TestMapToleratedFailures(t *testing.T) {
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailureCount":1,"ItemProcessor":{"StartAt":"C","States":{
		"C":{"Type":"Choice","Choices":[{"Variable":"$","NumericGreaterThan":%d,"Next":"F"}],"Default":"P"},
		"F":{"Type":"Fail","Error":"Big"},"P":{"Type":"Pass","End":true}}},"End":true}}}`
	ok := mustRun(t, fmt.Sprintf(def, 2), `[1,2,3]`, Options{})
	if ok.Status != StatusSucceeded || string(ok.Output) != `[1,2,null]` {
		t.Fatalf("one tolerated failure: %s %s", ok.Status, ok.Output)
	}
	bad := mustRun(t, fmt.Sprintf(def, 1), `[1,2,3]`, Options{})
	if bad.Status != StatusFailed || bad.Error != ErrExceedToleratedFailure {
		t.Fatalf("two failures: %s %s", bad.Status, bad.Error)
	}
}

func TestChoiceOperators(t *testing.T) {
	tests := []struct {
		rule  string
		input string
		match bool
	}{
		{`"Variable":"$.s","StringEquals":"a"`, `{"s":"a"}`, true},
		{`"Variable":"$.s","StringEquals":"a"`, `{"s":1}`, false},
		{`"Variable":"$.s","StringLessThan":"b"`, `{"s":"a"}`, true},
		{`"Variable":"$.s","StringGreaterThanEquals":"a"`, `{"s":"a"}`, true},
		{`"Variable":"$.s","StringEqualsPath":"$.t"`, `{"s":"a","t":"a"}`, true},
		{`"Variable":"$.s","StringMatches":"log-*.txt"`, `{"s":"log-2024.txt"}`, true},
		{`"Variable":"$.s","StringMatches":"log-\\*.txt"`, `{"s":"log-2024.txt"}`, false},
		{`"Variable":"$.s","StringMatches":"log-\\*.txt"`, `{"s":"log-*.txt"}`, true},
		{`"Variable":"$.s","StringMatches":"a\\\\b*"`, `{"s":"a\\bcd"}`, true},
		{`"Variable":"$.n","NumericEquals":1`, `{"n":1.0}`, true},
		{`"Variable":"$.n","NumericLessThan":1.5`, `{"n":1}`, true},
		{`"Variable":"$.n","NumericGreaterThanPath":"$.m"`, `{"n":3,"m":2}`, true},
		{`"Variable":"$.n","NumericLessThanEquals":1`, `{"n":"1"}`, false},
		{`"Variable":"$.b","BooleanEquals":true`, `{"b":true}`, true},
		{`"Variable":"$.b","BooleanEqualsPath":"$.c"`, `{"b":true,"c":false}`, false},
		{`"Variable":"$.t","TimestampLessThan":"2025-01-01T00:00:00Z"`, `{"t":"2024-12-31T23:59:59Z"}`, true},
		{`"Variable":"$.t","TimestampEquals":"2025-01-01T00:00:00Z"`, `{"t":"2025-01-01T01:00:00+01:00"}`, true},
		{`"Variable":"$.t","TimestampGreaterThan":"2025-01-01T00:00:00Z"`, `{"t":"not a time"}`, false},
		{`"Variable":"$.x","IsPresent":false`, `{}`, true},
		{`"Variable":"$.x","IsNull":true`, `{"x":null}`, true},
		{`"Variable":"$.x","IsNumeric":true`, `{"x":"1"}`, false},
		{`"Variable":"$.x","IsString":true`, `{"x":"1"}`, true},
		{`"Variable":"$.x","IsBoolean":false`, `{"x":1}`, true},
		{`"Variable":"$.x","IsTimestamp":true`, `{"x":"2025-01-01T00:00:00.123Z"}`, true},
		{`"And":[{"Variable":"$.n","NumericGreaterThanEquals":20},{"Variable":"$.n","NumericLessThan":30}]`, `{"n":22}`, true},
		{`"Or":[{"Variable":"$.n","NumericEquals":1},{"Variable":"$.n","NumericEquals":2}]`, `{"n":3}`, false},
		{`"Not":{"Variable":"$.s","StringEquals":"Private"}`, `{"s":"Private"}`, false},
		{`"Variable":"$$.Execution.Input.s","StringEquals":"a"`, `{"s":"a"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{%s,"Next":"Yes"}],"Default":"No"},
				"Yes":{"Type":"Pass","Result":"yes","End":true},"No":{"Type":"Pass","Result":"no","End":true}}}`, tt.rule)
			exec := mustRun(t, def, tt.input, Options{})
			want := `"no"`
			if tt.match {
				want = `"yes"`
			}
			if string(exec.Output) != want {
				t.Fatalf("got %s %s (%s %s), want %s", exec.Status, exec.Output, exec.Error, exec.Cause, want)
			}
		})
	}
}

func TestChoiceWithoutMatchOrDefaultFails(t *testing.T) {
	def := `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":1,"Next":"Y"}]},"Y":{"Type":"Succeed"}}}`
	exec := mustRun(t, def, `{"n":2}`, Options{})
	if exec.Status != StatusFailed || exec.Error != ErrNoChoiceMatched {
		t.Fatalf("got %s %s", exec.Status, exec.Error)
	}
	if got := types(exec); got != "ExecutionStarted ChoiceStateEntered ExecutionFailed" {
		t.Fatalf("events %s", got)
	}
}

func TestFailStatePaths(t *testing.T) {
	def := `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"States.Format('code {}', $.c)"}}}`
	exec := mustRun(t, def, `{"e":"Custom.Error","c":42}`, Options{})
	if exec.Status != StatusFailed || exec.Error != "Custom.Error" || exec.Cause != "code 42" {
		t.Fatalf("got %s %q %q", exec.Status, exec.Error, exec.Cause)
	}
	empty := mustRun(t, `{"StartAt":"F","States":{"F":{"Type":"Fail"}}}`, `{}`, Options{})
	d := empty.Events()[len(empty.Events())-1].ExecutionFailedEventDetails
	if empty.Error != "" || empty.Cause != "" || d == nil || d.Error != "" || d.Cause != "" {
		t.Fatalf("a Fail state without Error and Cause: %q %q %+v", empty.Error, empty.Cause, d)
	}
}

func TestCatchErrorOutputHasNullsForMissingErrorAndCause(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
		"Parameters":{"QueueUrl":"q","MessageBody":{"token.$":"$$.Task.Token"}},
		"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}`
	var token string
	res := fnResolver(func(req *TaskRequest) (TaskResult, error) {
		token = req.TaskToken
		return TaskResult{Submitted: json.RawMessage(`{"MessageId":"m"}`), Err: &TaskError{}}, nil
	})
	exec := mustRun(t, def, `{}`, Options{Resolver: res})
	if string(exec.Output) != `{"err":{"Error":null,"Cause":null}}` {
		t.Fatalf("output %s", exec.Output)
	}
	if got := types(exec); got != "ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSubmitted TaskFailed TaskStateExited PassStateEntered PassStateExited ExecutionSucceeded" {
		t.Fatalf("events %s", got)
	}
	params := eventsOf(exec, EventTaskScheduled)[0].TaskScheduledEventDetails.Parameters.String()
	if token == "" || !strings.Contains(params, token) {
		t.Fatalf("token %q not in parameters %s", token, params)
	}
}

func TestVariablesAssignAndScopes(t *testing.T) {
	def := `{"StartAt":"A","States":{
		"A":{"Type":"Pass","Assign":{"x":1,"y.$":"$.v"},"Next":"B"},
		"B":{"Type":"Pass","Assign":{"x":2,"old.$":"$x"},"Parameters":{"seenX.$":"$x"},"OutputPath":"$","Next":"P"},
		"P":{"Type":"Parallel","Branches":[{"StartAt":"In","States":{"In":{"Type":"Pass","Assign":{"x":99},"Parameters":{"seen.$":"$x"},"End":true}}}],
			"ResultPath":"$.p","Next":"C"},
		"C":{"Type":"Pass","Parameters":{"x.$":"$x","old.$":"$old","y.$":"$y","p.$":"$.p","b.$":"$.seenX"},"End":true}}}`
	exec := mustRun(t, def, `{"v":"vv"}`, Options{})
	// B's Parameters see x as it was when B was entered; a branch's assignments stay in the branch.
	if string(exec.Output) != `{"x":2,"old":1,"y":"vv","p":[{"seen":2}],"b":1}` {
		t.Fatalf("output %s (%s %s)", exec.Output, exec.Error, exec.Cause)
	}
	b := eventsOf(exec, "PassStateExited")[1].StateExitedEventDetails
	if b.AssignedVariables["x"] != "2" || b.AssignedVariables["old"] != "1" {
		t.Fatalf("assigned %v", b.AssignedVariables)
	}
}

func TestContextObject(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Parameters":{"ctx.$":"$$"},
		"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1}],"End":true}}}`
	var seen []string
	res := fnResolver(func(req *TaskRequest) (TaskResult, error) {
		seen = append(seen, string(req.Input()))
		if len(seen) == 1 {
			return TaskResult{Err: &TaskError{Error: "E"}}, nil
		}
		return TaskResult{Output: json.RawMessage(`{}`)}, nil
	})
	mustRun(t, def, `{"in":1}`, Options{Resolver: res, StateMachineName: "sm", ExecutionName: "ex"})
	want := `{"ctx":{"Execution":{"Id":"arn:aws:states:us-east-1:123456789012:execution:sm:ex","Input":{"in":1},"StartTime":"2025-01-02T03:04:05.000Z","Name":"ex","RoleArn":"arn:aws:iam::123456789012:role/StepFunctionsLocal","RedriveCount":0},"StateMachine":{"Id":"arn:aws:states:us-east-1:123456789012:stateMachine:sm","Name":"sm"},"State":{"Name":"T","EnteredTime":"2025-01-02T03:04:05.000Z","RetryCount":%d}}}`
	if len(seen) != 2 || seen[0] != fmt.Sprintf(want, 0) || seen[1] != fmt.Sprintf(want, 1) {
		t.Fatalf("context objects:\n%s\nwant\n%s", strings.Join(seen, "\n"), fmt.Sprintf(want, 0))
	}
}

func TestRunsAreReproducibleForASeed(t *testing.T) {
	def := `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"id.$":"States.UUID()","n.$":"States.MathRandom(0, 1000000)"},"End":true}}}`
	eng := mustEngine(t, def, Options{Seed: 42})
	a, _ := eng.Run(context.Background(), nil)
	b, _ := eng.Run(context.Background(), nil)
	c, _ := mustEngine(t, def, Options{Seed: 43}).Run(context.Background(), nil)
	if string(a.Output) != string(b.Output) || a.Name != b.Name {
		t.Fatalf("same seed: %s %s / %s %s", a.Output, a.Name, b.Output, b.Name)
	}
	if string(a.Output) == string(c.Output) {
		t.Fatalf("other seed, same output %s", a.Output)
	}
	ja, _ := json.Marshal(a.Events())
	jb, _ := json.Marshal(b.Events())
	if string(ja) != string(jb) {
		t.Fatal("same seed, different histories")
	}
}

func TestHistoryUsesTheAPIShapes(t *testing.T) {
	def := `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`
	exec := mustRun(t, def, `{"a":1}`, Options{RoleArn: "arn:aws:iam::1:role/r"})
	b, err := json.Marshal(exec.Events())
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"id":1,"previousEventId":0,"type":"ExecutionStarted","timestamp":"2025-01-02T03:04:05Z","executionStartedEventDetails":{"input":"{\"a\":1}","inputDetails":{"truncated":false},"roleArn":"arn:aws:iam::1:role/r"}},` +
		`{"id":2,"previousEventId":0,"type":"PassStateEntered","timestamp":"2025-01-02T03:04:05Z","stateEnteredEventDetails":{"name":"P","input":"{\"a\":1}","inputDetails":{"truncated":false}}},` +
		`{"id":3,"previousEventId":2,"type":"PassStateExited","timestamp":"2025-01-02T03:04:05Z","stateExitedEventDetails":{"name":"P","output":"{\"a\":1}","outputDetails":{"truncated":false}}},` +
		`{"id":4,"previousEventId":3,"type":"ExecutionSucceeded","timestamp":"2025-01-02T03:04:05Z","executionSucceededEventDetails":{"output":"{\"a\":1}","outputDetails":{"truncated":false}}}]`
	if string(b) != want {
		t.Fatalf("history\n%s\nwant\n%s", b, want)
	}
	var back []HistoryEvent
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b2) != want {
		t.Fatalf("history does not read back:\n%s", b2)
	}
}

func TestHistoryResolverReplaysARun(t *testing.T) {
	def, err := readTestdata("bench.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	eng := benchEngine(t)
	first, err := eng.Run(context.Background(), []byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(first.Events())
	var recorded []HistoryEvent
	if err := json.Unmarshal(b, &recorded); err != nil {
		t.Fatal(err)
	}
	sm, _ := Parse(def)
	replay, err := NewEngine(sm, Options{Resolver: NewHistoryResolver(recorded), Seed: 1, StartTime: first.StartTime})
	if err != nil {
		t.Fatal(err)
	}
	second, err := replay.Run(context.Background(), []byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(second.Events())
	if string(b) != string(b2) {
		t.Fatalf("replay differs:\n%s\n%s", b, b2)
	}
	// A changed definition that calls a task more often than recorded is reported, not invented.
	sm.States[1].(*Task).Retry = nil
	sm.States[1].(*Task).Resource = "arn:aws:lambda:us-east-1:123456789012:function:other"
	changed, _ := NewEngine(sm, Options{Resolver: NewHistoryResolver(recorded[:6])})
	if _, err := changed.Run(context.Background(), []byte(`{"x":1}`)); !errors.Is(err, ErrResolver) {
		t.Fatalf("err %v, want ErrResolver", err)
	}
}

func TestBadInputIsATypedError(t *testing.T) {
	eng := mustEngine(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, Options{})
	_, err := eng.Run(context.Background(), []byte(`{"a":`))
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err %v, want *InputError", err)
	}
}

func TestResolverErrorsStopTheRun(t *testing.T) {
	boom := errors.New("connection refused")
	eng := mustEngine(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}`,
		Options{Resolver: fnResolver(func(*TaskRequest) (TaskResult, error) { return TaskResult{}, boom })})
	exec, err := eng.Run(context.Background(), nil)
	if !errors.Is(err, ErrResolver) || !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if exec.Status != StatusAborted {
		t.Fatalf("status %s", exec.Status)
	}
	noResolver := mustEngine(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}`, Options{})
	if _, err := noResolver.Run(context.Background(), nil); !errors.Is(err, ErrResolver) {
		t.Fatalf("without a resolver: %v", err)
	}
}

func TestHistoryLimitStopsEndlessLoops(t *testing.T) {
	def := `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}`
	exec := mustRun(t, def, `{}`, Options{MaxEvents: 100})
	if exec.Status != StatusFailed || exec.Error != ErrRuntime || len(exec.Events()) != 100 {
		t.Fatalf("got %s %s with %d events", exec.Status, exec.Error, len(exec.Events()))
	}
}

func TestPanickingFunctionBecomesItsErrorType(t *testing.T) {
	fns := NewFunctions()
	fns.HandleValue("f", func(context.Context, any) (any, error) { panic("boom") })
	exec := mustRun(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}`, `{}`, Options{Resolver: fns})
	if exec.Status != StatusFailed || exec.Error != "string" || exec.Cause != `{"errorMessage":"boom","errorType":"string"}` {
		t.Fatalf("got %s %q %q", exec.Status, exec.Error, exec.Cause)
	}
}

func TestOnStateReportsProgress(t *testing.T) {
	def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"Next":"M"},
		"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"Next":"F"},
		"F":{"Type":"Fail","Error":"E"}}}`
	var mu sync.Mutex
	var lines []string
	mustRun(t, def, `[1,2]`, Options{OnState: func(e StateEvent) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf("%d %s %s %s %v %s", e.Phase, e.Scope, e.Type, e.State, e.Duration, e.Error))
	}})
	want := []string{"0  Wait W 0s ", "1  Wait W 5s ", "0  Map M 0s ", "0 M[0] Pass I 0s ", "1 M[0] Pass I 0s ",
		"0 M[1] Pass I 0s ", "1 M[1] Pass I 0s ", "1  Map M 0s ", "0  Fail F 0s ", "2  Fail F 0s E"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("progress\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestRealTimeMode(t *testing.T) {
	def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
		{"StartAt":"W1","States":{"W1":{"Type":"Wait","Seconds":1,"End":true}}},
		{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:slow","TimeoutSeconds":1,
			"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"Timed"}],"End":true},"Timed":{"Type":"Pass","Result":"timed out","End":true}}},
		{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:fast","End":true}}},"End":true}}}]}}}`
	fns := NewFunctions()
	fns.HandleValue("slow", func(ctx context.Context, in any) (any, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return "late", nil
		}
	})
	fns.HandleValue("fast", func(_ context.Context, in any) (any, error) { return in, nil })
	start := time.Now()
	exec, err := mustEngine(t, def, Options{Resolver: fns, RealTime: true}).Run(context.Background(), []byte(`[1,2,3]`))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if exec.Status != StatusSucceeded || string(exec.Output) != `[[1,2,3],"timed out",[1,2,3]]` {
		t.Fatalf("got %s %s (%s %s)", exec.Status, exec.Output, exec.Error, exec.Cause)
	}
	// The branches ran concurrently: about 1s, not 2s.
	if took < time.Second || took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
}

// TestMaxDelayCapsWaitsAndBackOff: with MaxDelay, a 60 s Wait and 30 s retry back-off each really wait only
// the cap, so the run finishes well inside a deadline it could not meet otherwise, with the same path.
func TestMaxDelayCapsWaitsAndBackOff(t *testing.T) {
	def := `{"StartAt":"W","States":{
		"W":{"Type":"Wait","Seconds":60,"Next":"T"},
		"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:flaky","Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":30,"MaxAttempts":2}],"End":true}}}`
	fns := NewFunctions()
	calls := 0
	fns.HandleValue("flaky", func(context.Context, any) (any, error) {
		calls++
		if calls == 1 {
			return nil, messages.InvokeResponse_Error{Type: "Flaky", Message: "first attempt"}
		}
		return "done", nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exec, err := mustEngine(t, def, Options{Resolver: fns, RealTime: true, MaxDelay: 20 * time.Millisecond}).Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if exec.Status != StatusSucceeded || string(exec.Output) != `"done"` || calls != 2 {
		t.Fatalf("got %s %s after %d calls (%s %s)", exec.Status, exec.Output, calls, exec.Error, exec.Cause)
	}
	var entered, exited time.Time
	for _, e := range exec.Events() {
		switch e.Type {
		case "WaitStateEntered":
			entered = e.Timestamp
		case "WaitStateExited":
			exited = e.Timestamp
		}
	}
	if d := exited.Sub(entered); d < 20*time.Millisecond || d >= 60*time.Second {
		t.Fatalf("the Wait state lasted %v in the history, want the 20ms cap", d)
	}
}

func TestRealTimeCancellation(t *testing.T) {
	eng := mustEngine(t, `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}`, Options{RealTime: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	exec, err := eng.Run(ctx, nil)
	if !errors.Is(err, context.DeadlineExceeded) || exec.Status != StatusAborted {
		t.Fatalf("got %v %v", err, exec)
	}
}

// TestReplayingThousandsOfExecutionsIsAUnitTest replays 2,000 recorded executions of the benchmark definition,
// as the replay of a month of production histories would, and checks each against its recording.
func TestReplayingThousandsOfExecutionsIsAUnitTest(t *testing.T) {
	const n = 2000
	eng := benchEngine(t)
	type recording struct {
		input  []byte
		events []HistoryEvent
		output string
	}
	recs := make([]recording, 0, 10)
	for i := 0; i < 10; i++ {
		in := []byte(fmt.Sprintf(`{"request":"r%d"}`, i))
		exec, err := eng.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(exec.Events())
		var evs []HistoryEvent
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, recording{in, evs, string(exec.Output)})
	}
	def, _ := readTestdata("bench.asl.json")
	sm, _ := Parse(def)
	replayers := make([]*Engine, len(recs))
	for i, r := range recs {
		e, err := NewEngine(sm, Options{Resolver: NewHistoryResolver(r.events), Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		replayers[i] = e
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		r := recs[i%len(recs)]
		exec, err := replayers[i%len(recs)].Run(context.Background(), r.input)
		if err != nil || string(exec.Output) != r.output || len(exec.Events()) != len(r.events) {
			t.Fatalf("replay %d: %v %s", i, err, exec.Output)
		}
	}
	t.Logf("replayed %d executions in %v", n, time.Since(start))
}

func TestAnEngineRunsConcurrently(t *testing.T) {
	eng := benchEngine(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				exec, err := eng.Run(context.Background(), []byte(`{"request":"r"}`))
				if err != nil || exec.Status != StatusSucceeded || len(exec.Events()) != 105 {
					errs <- fmt.Errorf("%v %v", err, exec)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
