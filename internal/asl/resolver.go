package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// Resolver gives a Task state its outcome: it runs the resource, looks it up in a mock file, or reads it from a
// recorded history. It returns an error only when it cannot tell the outcome (no handler, no recorded attempt,
// a broken connection to a local emulator); a task that failed is a TaskResult with Err set. Resolvers must be
// safe for concurrent use, and must not keep the pointer req once Invoke returns: the engine reuses the
// TaskRequest for the next attempt or state. The values read from it (Input, Iteration, ...) may be kept.
type Resolver interface {
	Invoke(ctx context.Context, req *TaskRequest) (TaskResult, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, req *TaskRequest) (TaskResult, error)

// Invoke calls f.
func (f ResolverFunc) Invoke(ctx context.Context, req *TaskRequest) (TaskResult, error) {
	return f(ctx, req)
}

// ErrNotHandled is what a resolver returns for a request it does not serve; Chain then asks the next one.
var ErrNotHandled = errors.New("asl: no resolver for this task")

// Chain asks each resolver in turn until one does not return ErrNotHandled.
func Chain(rs ...Resolver) Resolver {
	return ResolverFunc(func(ctx context.Context, req *TaskRequest) (TaskResult, error) {
		for _, r := range rs {
			res, err := r.Invoke(ctx, req)
			if !errors.Is(err, ErrNotHandled) {
				return res, err
			}
		}
		return TaskResult{}, fmt.Errorf("%w: %s (state %q)", ErrNotHandled, req.Resource, req.StateName)
	})
}

// TaskKind tells how Step Functions calls a resource, which decides the events of the task.
type TaskKind int

const (
	// TaskLambda is a Lambda function ARN as Resource: Lambda* events; the function gets the effective input.
	TaskLambda TaskKind = iota
	// TaskService is an arn:aws:states:::service:action integration (lambda:invoke, sqs:sendMessage, aws-sdk:*):
	// Task* events; the request is the effective Parameters.
	TaskService
	// TaskActivity is an activity ARN: Activity* events.
	TaskActivity
	// TaskOther is any other resource; it is run like a service integration.
	TaskOther
)

// TaskRequest is one attempt of a Task state.
type TaskRequest struct {
	StateName string
	Resource  string
	Kind      TaskKind
	// ResourceType and Action split a service integration's ARN: "lambda" and "invoke",
	// "sqs" and "sendMessage.waitForTaskToken", "aws-sdk:s3" and "getObject".
	ResourceType string
	Action       string
	// Pattern is the integration pattern: "", "waitForTaskToken", "sync" or "sync:2".
	Pattern string
	// Function is the Lambda function name: from a Lambda ARN resource, or from the FunctionName parameter of
	// lambda:invoke (an ARN there is reduced to its name).
	Function string
	// Attempt is $$.State.RetryCount: 0 for the first attempt, then 1, 2, ...
	Attempt int
	// Invocation counts the earlier invocations of this state (in this Map iteration) during this execution,
	// retries and loops included: 0, 1, 2, ... This is what Step Functions Local's mock responses index.
	Invocation int
	// ResourceInvocation counts the earlier invocations of this resource during this execution.
	ResourceInvocation int
	// Iteration holds the indexes of the Map iterations the state runs in, outermost first.
	Iteration []int
	// TaskToken is $$.Task.Token for .waitForTaskToken tasks.
	TaskToken string
	// Timeout and Heartbeat are the state's TimeoutSeconds and HeartbeatSeconds (0: none).
	Timeout, Heartbeat time.Duration
	// ExecutionArn identifies the run.
	ExecutionArn string

	input any
	once  sync.Once
	raw   json.RawMessage
}

// Input returns the task's input as JSON: the effective input of a Lambda ARN or activity, the effective
// Parameters of a service integration.
func (r *TaskRequest) Input() json.RawMessage {
	r.once.Do(func() { r.raw = value.Marshal(r.input) })
	return r.raw
}

// Value returns the task's input in the value model (see package value), without serialising it.
func (r *TaskRequest) Value() any { return r.input }

// TaskResult is the outcome of one attempt.
type TaskResult struct {
	// Output is the result as JSON. When it is nil, Value is the result (a value of package value, nil being
	// JSON null).
	Output json.RawMessage
	Value  any
	// Err is set when the task failed. An Error of States.Timeout or States.HeartbeatTimeout reports a timed-out
	// task (…TimedOut events).
	Err *TaskError
	// Submitted is the first response of a .waitForTaskToken or .sync task (the TaskSubmitted event); nil when
	// the task was not submitted (it failed first) or the pattern has no such step.
	Submitted json.RawMessage
	// Duration is how long the task ran; on the virtual clock, the time it advances. A Duration above the
	// state's TimeoutSeconds makes the task time out.
	Duration time.Duration
	// Heartbeats are the times (since the task started) the task sent heartbeats, for HeartbeatSeconds.
	Heartbeats []time.Duration
	// WorkerName is the activity worker's name (ActivityStarted).
	WorkerName string
}

// TaskError is a failed task's error name and cause; either may be empty (absent). It is a plain value, not a
// Go error: resolvers report task failures in TaskResult, and their own failures as errors.
type TaskError struct {
	Error string
	Cause string
}

func (r *TaskResult) value() (any, error) {
	if r.Output != nil {
		return value.Parse(r.Output)
	}
	if !value.Valid(r.Value) {
		return value.FromGo(r.Value)
	}
	return r.Value, nil
}

// functionName reduces a FunctionName parameter (a name, a partial or full ARN, maybe with an alias) to the
// function's name.
func functionName(s string) string {
	if i := strings.Index(s, ":function:"); i >= 0 {
		s = s[i+len(":function:"):]
		if j := strings.Index(s, ":"); j >= 0 {
			s = s[:j]
		}
	}
	return s
}
