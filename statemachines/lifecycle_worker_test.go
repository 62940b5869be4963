package statemachines

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/lifecycle"
)

// recordingASG is the part of Auto Scaling the lifecycle worker calls,
// recording what it receives.
type recordingASG struct {
	mu         sync.Mutex
	completes  []autoscaling.CompleteLifecycleActionInput
	heartbeats int
}

func (r *recordingASG) CompleteLifecycleAction(_ context.Context, in *autoscaling.CompleteLifecycleActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.completes = append(r.completes, *in)
	return &autoscaling.CompleteLifecycleActionOutput{}, nil
}

func (r *recordingASG) RecordLifecycleActionHeartbeat(context.Context, *autoscaling.RecordLifecycleActionHeartbeatInput, ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heartbeats++
	return &autoscaling.RecordLifecycleActionHeartbeatOutput{}, nil
}

func (r *recordingASG) DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return &autoscaling.DescribeAutoScalingGroupsOutput{}, nil
}

// asLambda reports a worker's classified error the way the bootstrap does:
// the ASL error name as the Lambda errorType.
func asLambda[In, Out any](f func(context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		out, err := f(ctx, in)
		if err != nil {
			return out, messages.InvokeResponse_Error{Type: faults.Name(err), Message: err.Error()}
		}
		return out, nil
	}
}

// TestLifecycleDrivesTheRealLifecycleWorker runs the workflow with the real
// complete and heartbeat workers in process: the Parameters the definition
// builds decode into their inputs, and the context object's start time is
// one the worker accepts.
func TestLifecycleDrivesTheRealLifecycleWorker(t *testing.T) {
	asg := &recordingASG{}
	w := lifecycle.New(lifecycle.Config{Now: func() time.Time { return startTime.Add(90 * time.Second) }}, lifecycle.Deps{API: asg})
	fns := asl.NewFunctions()
	fns.Handle(LocalFunctionName(workers.CompleteLifecycle), asl.Func(asLambda(w.Complete)))
	fns.Handle(LocalFunctionName(workers.LifecycleHeartbeat), asl.Func(asLambda(w.Heartbeat)))
	others := newFakes(map[workers.Handler][]outcome{workers.Drain: {fail(faults.DrainIncomplete, "1 pod left"), ok(map[string]any{})}})

	def, err := Lifecycle().Deployed(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := asl.Parse(def)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := asl.NewEngine(sm, asl.Options{Resolver: asl.Chain(fns, others), Seed: 3, StartTime: startTime})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := eng.Run(context.Background(), json.RawMessage(terminateEvent(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if exec.Status != "SUCCEEDED" {
		t.Fatalf("status %s: %s %s", exec.Status, exec.Error, exec.Cause)
	}
	if asg.heartbeats != 2 || len(asg.completes) != 1 {
		t.Fatalf("heartbeats %d, completes %d; want 2 and 1", asg.heartbeats, len(asg.completes))
	}
	c := asg.completes[0]
	if aws.ToString(c.LifecycleActionResult) != "CONTINUE" || aws.ToString(c.InstanceId) != instance ||
		aws.ToString(c.AutoScalingGroupName) != "prod-cp" || aws.ToString(c.LifecycleHookName) != "cpwarden-terminate" ||
		aws.ToString(c.LifecycleActionToken) != hookFields["LifecycleActionToken"] {
		t.Fatalf("CompleteLifecycleAction input %+v", c)
	}
	var out struct {
		Complete lifecycle.CompleteOut
	}
	if err := json.Unmarshal(exec.Output, &out); err != nil {
		t.Fatal(err)
	}
	// The virtual clock ran the execution; the worker measures from the
	// start time the definition passed it.
	if out.Complete.LifecycleDurationMilliseconds != 90000 {
		t.Fatalf("LifecycleDurationMilliseconds = %v, want 90000 (from $$.Execution.StartTime)", out.Complete.LifecycleDurationMilliseconds)
	}
	if out.Complete.LifecycleActionResult != "CONTINUE" || out.Complete.AlreadyCompleted {
		t.Fatalf("output %+v", out.Complete)
	}
}
