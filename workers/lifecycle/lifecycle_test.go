package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
)

const (
	group = "cp-asg"
	hook  = "cpwarden-terminate"
	token = "6f0d1c2b-0000-4000-8000-000000000001"
	inst  = "i-0123456789abcdef0"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// notActiveError is the error the SDK returns for Auto Scaling's answer to an
// action that is no longer pending (see TestClassifiesRealSDKErrors, which
// proves the SDK produces exactly this from the wire response).
func notActiveError(what string) error {
	return &smithy.GenericAPIError{Code: "ValidationError", Message: "No active Lifecycle Action found with " + what}
}

func testHook() Hook {
	return Hook{AutoScalingGroupName: group, LifecycleHookName: hook, LifecycleActionToken: token, EC2InstanceID: inst}
}

func newTestWorker(api AutoScaling, now time.Time) *Worker {
	return New(Config{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, Deps{API: api})
}

// runComplete runs Complete under the EMF step middleware, as the bootstrap
// does, and returns the metrics the step emitted.
func runComplete(t *testing.T, w *Worker, in CompleteIn) (CompleteOut, error, []emf.Record) {
	t.Helper()
	var lines bytes.Buffer
	// The step name and namespace of workers.CompleteLifecycle, which this
	// in-package test cannot import (package workers imports this one).
	step := emf.Step("CompleteLifecycle", "K8sCluster/EtcdLifecycle", w.Complete, emf.WithWriter(&lines), emf.WithDimension("ClusterName", "test"))
	out, err := step(context.Background(), in)
	records, derr := emf.DecodeAll(bytes.NewReader(lines.Bytes()))
	if derr != nil {
		t.Fatalf("decode EMF: %v\n%s", derr, lines.String())
	}
	return out, err, records
}

func metric(records []emf.Record, name string) (emf.Record, bool) {
	for _, r := range records {
		if aws.ToString(r.Datum.MetricName) == name {
			return r, true
		}
	}
	return emf.Record{}, false
}

func TestCompleteContinueCompletesAndEmitsDuration(t *testing.T) {
	api := newFake(token)
	w := newTestWorker(api, t0.Add(95*time.Second+250*time.Millisecond))
	in := CompleteIn{Hook: testHook(), LifecycleActionResult: Continue, ExecutionStartTime: "2025-06-01T12:00:00.000Z"}

	out, err, records := runComplete(t, w, in)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if out.AlreadyCompleted || out.LifecycleActionResult != Continue || out.EC2InstanceID != inst {
		t.Fatalf("out = %+v", out)
	}
	if len(api.completes) != 1 {
		t.Fatalf("CompleteLifecycleAction calls = %d, want 1", len(api.completes))
	}
	c := api.completes[0]
	if aws.ToString(c.AutoScalingGroupName) != group || aws.ToString(c.LifecycleHookName) != hook ||
		aws.ToString(c.LifecycleActionToken) != token || aws.ToString(c.InstanceId) != inst ||
		aws.ToString(c.LifecycleActionResult) != Continue {
		t.Fatalf("call = %+v", c)
	}
	if api.describes != 0 {
		t.Fatalf("CONTINUE described the group %d times; only ABANDON needs the retention policy", api.describes)
	}
	if out.LifecycleDurationMilliseconds != 95250 {
		t.Fatalf("LifecycleDurationMilliseconds = %v, want 95250", out.LifecycleDurationMilliseconds)
	}
	r, ok := metric(records, MetricLifecycleHandlerDuration)
	if !ok {
		t.Fatalf("no %s metric in %+v", MetricLifecycleHandlerDuration, records)
	}
	if r.Namespace != "K8sCluster/EtcdLifecycle" || r.Datum.Unit != cwtypes.StandardUnitMilliseconds ||
		r.Datum.Value == nil || math.Abs(*r.Datum.Value-95250) > 1e-9 {
		t.Fatalf("metric = %s %+v", r.Namespace, r.Datum)
	}
}

func TestCompleteTreatsNoActiveActionAsDone(t *testing.T) {
	api := newFake() // nothing pending: someone completed it already
	w := newTestWorker(api, t0.Add(time.Minute))
	out, err, records := runComplete(t, w, CompleteIn{Hook: testHook(), LifecycleActionResult: Continue, ExecutionStartTime: t0.Format(time.RFC3339)})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if !out.AlreadyCompleted {
		t.Fatalf("AlreadyCompleted = false, want true: %+v", out)
	}
	// The execution still ends on its success path, so its duration counts.
	if _, ok := metric(records, MetricLifecycleHandlerDuration); !ok {
		t.Fatal("no LifecycleHandlerDuration on an already-completed CONTINUE")
	}
}

func TestCompleteTwiceIsHarmless(t *testing.T) {
	// Step Functions may retry a step that did complete (e.g. the response
	// was lost); the second call must succeed too.
	api := newFake(token)
	w := newTestWorker(api, t0)
	in := CompleteIn{Hook: testHook(), LifecycleActionResult: Continue}
	first, err := w.Complete(context.Background(), in)
	if err != nil || first.AlreadyCompleted {
		t.Fatalf("first = %+v, %v", first, err)
	}
	second, err := w.Complete(context.Background(), in)
	if err != nil || !second.AlreadyCompleted {
		t.Fatalf("second = %+v, %v", second, err)
	}
}

func TestCompleteAbandonReportsRetention(t *testing.T) {
	tests := []struct {
		name        string
		retain      astypes.RetentionAction
		describeErr error
		want        *bool
	}{
		{name: "group retains on abandon", retain: astypes.RetentionActionRetain, want: aws.Bool(true)},
		{name: "group terminates on abandon", retain: astypes.RetentionActionTerminate, want: aws.Bool(false)},
		{name: "group has no lifecycle policy", want: aws.Bool(false)},
		{name: "describe fails: unknown, still success", describeErr: errors.New("boom"), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFake(token)
			api.retain, api.describeErr = tt.retain, tt.describeErr
			w := newTestWorker(api, t0.Add(time.Hour))
			out, err, records := runComplete(t, w, CompleteIn{Hook: testHook(), LifecycleActionResult: Abandon, ExecutionStartTime: t0.Format(time.RFC3339)})
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if aws.ToString(api.completes[0].LifecycleActionResult) != Abandon {
				t.Fatalf("sent %q, want ABANDON", aws.ToString(api.completes[0].LifecycleActionResult))
			}
			if (out.InstanceRetained == nil) != (tt.want == nil) || (tt.want != nil && *out.InstanceRetained != *tt.want) {
				t.Fatalf("InstanceRetained = %v, want %v", ptr(out.InstanceRetained), ptr(tt.want))
			}
			// ABANDON is the failure path: no LifecycleHandlerDuration.
			if _, ok := metric(records, MetricLifecycleHandlerDuration); ok {
				t.Fatal("LifecycleHandlerDuration emitted on the failure path")
			}
		})
	}
}

func ptr(b *bool) any {
	if b == nil {
		return "<nil>"
	}
	return *b
}

func TestBadInputIsInputInvalidAndCallsNothing(t *testing.T) {
	good := CompleteIn{Hook: testHook(), LifecycleActionResult: Continue}
	tests := []struct {
		name string
		edit func(*CompleteIn)
	}{
		{name: "missing group", edit: func(in *CompleteIn) { in.AutoScalingGroupName = "" }},
		{name: "missing hook", edit: func(in *CompleteIn) { in.LifecycleHookName = " " }},
		{name: "neither token nor instance", edit: func(in *CompleteIn) { in.LifecycleActionToken, in.EC2InstanceID = "", "" }},
		{name: "unknown result", edit: func(in *CompleteIn) { in.LifecycleActionResult = "continue" }},
		{name: "missing result", edit: func(in *CompleteIn) { in.LifecycleActionResult = "" }},
		{name: "start time not RFC 3339", edit: func(in *CompleteIn) { in.ExecutionStartTime = "yesterday" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFake(token)
			in := good
			tt.edit(&in)
			_, err := newTestWorker(api, t0).Complete(context.Background(), in)
			if !faults.Is(err, faults.InputInvalid) {
				t.Fatalf("err = %v (%s), want %s", err, faults.Name(err), faults.InputInvalid)
			}
			if len(api.completes) != 0 {
				t.Fatal("called CompleteLifecycleAction with invalid input")
			}
		})
	}
	t.Run("heartbeat missing hook", func(t *testing.T) {
		api := newFake(token)
		h := testHook()
		h.LifecycleHookName = ""
		_, err := newTestWorker(api, t0).Heartbeat(context.Background(), HeartbeatIn{Hook: h})
		if !faults.Is(err, faults.InputInvalid) || len(api.heartbeats) != 0 {
			t.Fatalf("err = %v, calls = %d", err, len(api.heartbeats))
		}
	})
}

func TestHeartbeat(t *testing.T) {
	tests := []struct {
		name     string
		pending  bool
		apiErr   error
		wantName string
	}{
		{name: "pending action is extended", pending: true},
		{name: "finished action is Lifecycle.NotActive", pending: false, wantName: faults.LifecycleNotActive},
		{name: "throttled is AWS.Throttled", pending: true, apiErr: &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}, wantName: faults.AWSThrottled},
		{name: "contention is AWS.Throttled", pending: true, apiErr: &astypes.ResourceContentionFault{Message: aws.String("busy")}, wantName: faults.AWSThrottled},
		{name: "unknown hook is Input.Invalid", pending: true, apiErr: &smithy.GenericAPIError{Code: "ValidationError", Message: "No Lifecycle Hook found"}, wantName: faults.InputInvalid},
		{name: "access denied is AWS.AccessDenied", pending: true, apiErr: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}, wantName: faults.AWSAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFake()
			if tt.pending {
				api.pending[token] = true
			}
			api.err = tt.apiErr
			out, err := newTestWorker(api, t0).Heartbeat(context.Background(), HeartbeatIn{Hook: testHook()})
			if got := faults.Name(err); got != tt.wantName {
				t.Fatalf("error name = %q (%v), want %q", got, err, tt.wantName)
			}
			if len(api.heartbeats) != 1 {
				t.Fatalf("heartbeat calls = %d, want 1", len(api.heartbeats))
			}
			if err == nil && (out.RecordedAt != t0.Format(time.RFC3339Nano) || out.EC2InstanceID != inst) {
				t.Fatalf("out = %+v", out)
			}
		})
	}
}

func TestCompleteClassifiesFailures(t *testing.T) {
	tests := []struct {
		name   string
		apiErr error
		want   string
	}{
		{name: "throttling", apiErr: &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}, want: faults.AWSThrottled},
		{name: "bad token format", apiErr: &smithy.GenericAPIError{Code: "ValidationError", Message: "1 validation error detected"}, want: faults.InputInvalid},
		{name: "unknown", apiErr: errors.New("socket closed by a bug"), want: faults.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFake(token)
			api.err = tt.apiErr
			_, err := newTestWorker(api, t0).Complete(context.Background(), CompleteIn{Hook: testHook(), LifecycleActionResult: Continue})
			if faults.Name(err) != tt.want {
				t.Fatalf("error name = %q (%v), want %q", faults.Name(err), err, tt.want)
			}
			if !errors.Is(err, tt.apiErr) {
				t.Fatalf("classified error lost its cause: %v", err)
			}
		})
	}
}

func TestUnconfiguredWorkerFailsCleanly(t *testing.T) {
	var w Worker
	if _, err := w.Complete(context.Background(), CompleteIn{Hook: testHook(), LifecycleActionResult: Continue}); err == nil {
		t.Fatal("Complete without a client succeeded")
	}
	if _, err := w.Heartbeat(context.Background(), HeartbeatIn{Hook: testHook()}); err == nil {
		t.Fatal("Heartbeat without a client succeeded")
	}
}
