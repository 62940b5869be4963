package lifecycle

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// MetricLifecycleHandlerDuration is the business metric (docs/contracts.md) for
// the whole lifecycle execution, emitted by Complete on the success path.
const MetricLifecycleHandlerDuration = "LifecycleHandlerDuration"

// CompleteIn is the input of the complete-lifecycle step.
type CompleteIn struct {
	Hook
	// LifecycleActionResult is CONTINUE (node drained, member removed) or
	// ABANDON (the workflow failed).
	LifecycleActionResult string `json:"LifecycleActionResult"`
	// ExecutionStartTime is the workflow's $$.Execution.StartTime (RFC 3339).
	// On CONTINUE, LifecycleHandlerDuration is measured from it: the worker
	// is the last step of the execution, so this is the only place that
	// sees both ends. Empty means no duration metric (a completion run by
	// hand, outside a workflow).
	ExecutionStartTime string `json:"ExecutionStartTime,omitempty"`
}

// CompleteOut reports what happened to the lifecycle action.
type CompleteOut struct {
	EC2InstanceID         string `json:"EC2InstanceId,omitempty"`
	LifecycleActionResult string `json:"LifecycleActionResult"`
	// AlreadyCompleted is true when Auto Scaling had no active action left
	// to complete: an operator, another execution or the hook's timeout
	// finished it first. The instance's fate was decided by whoever did.
	AlreadyCompleted bool `json:"AlreadyCompleted"`
	// InstanceRetained is set on ABANDON only: whether the group's instance
	// lifecycle policy retains instances whose terminate hook is abandoned.
	// False means ABANDON terminated the instance anyway (the Auto Scaling
	// default). Absent when the group could not be described.
	InstanceRetained *bool `json:"InstanceRetained,omitempty"`
	// LifecycleDurationMilliseconds is the LifecycleHandlerDuration value
	// emitted, when one was.
	LifecycleDurationMilliseconds float64 `json:"LifecycleDurationMilliseconds,omitempty"`
}

// Complete calls CompleteLifecycleAction with the requested result. A
// missing active action counts as success (AlreadyCompleted). On CONTINUE
// with an execution start time it emits LifecycleHandlerDuration.
func (w *Worker) Complete(ctx context.Context, in CompleteIn) (CompleteOut, error) {
	if err := w.ready(); err != nil {
		return CompleteOut{}, err
	}
	start, err := validateComplete(in)
	if err != nil {
		return CompleteOut{}, err
	}
	out := CompleteOut{EC2InstanceID: in.EC2InstanceID, LifecycleActionResult: in.LifecycleActionResult}

	_, err = w.api.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(in.AutoScalingGroupName),
		LifecycleHookName:     aws.String(in.LifecycleHookName),
		LifecycleActionResult: aws.String(in.LifecycleActionResult),
		LifecycleActionToken:  optional(in.LifecycleActionToken),
		InstanceId:            optional(in.EC2InstanceID),
	})
	switch err = classify(err, "complete lifecycle action"); {
	case err == nil:
	case faults.Is(err, faults.LifecycleNotActive):
		// Someone finished it first; our goal (the action is no longer
		// pending) holds, and retrying would only get the same answer.
		out.AlreadyCompleted = true
		w.log.InfoContext(ctx, "lifecycle action already completed",
			"group", in.AutoScalingGroupName, "instance", in.EC2InstanceID, "detail", err.Error())
	default:
		return CompleteOut{}, err
	}

	if in.LifecycleActionResult == Abandon {
		out.InstanceRetained = w.retainsOnAbandon(ctx, in.AutoScalingGroupName)
		if out.InstanceRetained != nil && !*out.InstanceRetained {
			w.log.WarnContext(ctx, "ABANDON on a terminate hook terminates the instance anyway: set the group's instance lifecycle policy (RetentionTriggers.TerminateHookAbandon=retain) to keep it for inspection",
				"group", in.AutoScalingGroupName, "instance", in.EC2InstanceID)
		}
		return out, nil
	}

	if !start.IsZero() {
		d := w.now().Sub(start)
		if d < 0 {
			d = 0 // clock skew between Step Functions and Lambda; never report negative time
		}
		out.LifecycleDurationMilliseconds = float64(d) / float64(time.Millisecond)
		if err := emf.FromContext(ctx).PutMetric(MetricLifecycleHandlerDuration, out.LifecycleDurationMilliseconds, cwtypes.StandardUnitMilliseconds); err != nil {
			// Metrics never change a worker's result.
			w.log.WarnContext(ctx, "emit LifecycleHandlerDuration", "error", err)
		}
	}
	return out, nil
}

func validateComplete(in CompleteIn) (time.Time, error) {
	if err := in.Hook.validate(); err != nil {
		return time.Time{}, err
	}
	if in.LifecycleActionResult != Continue && in.LifecycleActionResult != Abandon {
		return time.Time{}, faults.New(faults.InputInvalid,
			"lifecycle action: LifecycleActionResult must be %s or %s, got %q", Continue, Abandon, in.LifecycleActionResult)
	}
	if in.ExecutionStartTime == "" {
		return time.Time{}, nil
	}
	start, err := time.Parse(time.RFC3339Nano, in.ExecutionStartTime)
	if err != nil {
		return time.Time{}, faults.New(faults.InputInvalid,
			"lifecycle action: ExecutionStartTime must be an RFC 3339 time such as $$.Execution.StartTime: %w", err)
	}
	return start, nil
}

// retainsOnAbandon reports whether group keeps instances whose terminate hook
// is abandoned, or nil when that cannot be told. It never fails the step: the
// action is already completed, and the answer is information for the
// operator reading the execution's output.
func (w *Worker) retainsOnAbandon(ctx context.Context, group string) *bool {
	res, err := w.api.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{group},
	})
	if err != nil {
		w.log.WarnContext(ctx, "describe group for its retention policy", "group", group, "error", err)
		return nil
	}
	for _, g := range res.AutoScalingGroups {
		if aws.ToString(g.AutoScalingGroupName) != group {
			continue
		}
		retained := g.InstanceLifecyclePolicy != nil && g.InstanceLifecyclePolicy.RetentionTriggers != nil &&
			g.InstanceLifecyclePolicy.RetentionTriggers.TerminateHookAbandon == astypes.RetentionActionRetain
		return &retained
	}
	w.log.WarnContext(ctx, "group not found while checking its retention policy", "group", group)
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
