// Package lifecycle finishes and extends the Auto Scaling lifecycle action of
// a departing control-plane instance: CompleteLifecycleAction once the node is
// drained and its etcd member removed (CONTINUE, or ABANDON on the failure
// path), and RecordLifecycleActionHeartbeat while the workflow still works.
//
// "No active lifecycle action" means the action is already finished (by an
// operator, a concurrent execution, or the hook's timeout): Complete treats it
// as success and says so in its output; Heartbeat reports it as
// Lifecycle.NotActive so the workflow can stop extending a hook that is gone.
package lifecycle

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// AutoScaling is the part of the Auto Scaling API the worker uses; the SDK's
// *autoscaling.Client satisfies it.
type AutoScaling interface {
	CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
	RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, optFns ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error)
	// DescribeAutoScalingGroups tells, on ABANDON, whether the group keeps
	// the instance (instance lifecycle policy "retain" on abandon) or
	// terminates it anyway, which is what ABANDON does on a terminate hook
	// by default.
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
}

// The results CompleteLifecycleAction accepts.
const (
	Continue = "CONTINUE"
	Abandon  = "ABANDON"
)

// Worker completes and heartbeats lifecycle actions. The zero value is not
// usable: API is required.
type Worker struct {
	// API is the Auto Scaling client.
	API AutoScaling
	// Now is the clock LifecycleHandlerDuration is measured with; nil means
	// time.Now.
	Now func() time.Time
	// Log receives the worker's diagnostics; nil means slog.Default().
	Log *slog.Logger
}

// New returns a Worker over api with the real clock and the default logger.
func New(api AutoScaling) *Worker { return &Worker{API: api} }

// Hook identifies one lifecycle action, with the field names of the
// EventBridge "EC2 Instance-terminate Lifecycle Action" event's detail, so a
// state machine can pass the detail's fields through unchanged.
type Hook struct {
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	LifecycleHookName    string `json:"LifecycleHookName"`
	// LifecycleActionToken identifies the action; when empty, the action is
	// addressed by EC2InstanceId.
	LifecycleActionToken string `json:"LifecycleActionToken,omitempty"`
	EC2InstanceID        string `json:"EC2InstanceId,omitempty"`
}

func (h Hook) validate() error {
	var missing []string
	if strings.TrimSpace(h.AutoScalingGroupName) == "" {
		missing = append(missing, "AutoScalingGroupName")
	}
	if strings.TrimSpace(h.LifecycleHookName) == "" {
		missing = append(missing, "LifecycleHookName")
	}
	if h.LifecycleActionToken == "" && h.EC2InstanceID == "" {
		missing = append(missing, "LifecycleActionToken or EC2InstanceId")
	}
	if len(missing) > 0 {
		return faults.New(faults.InputInvalid, "lifecycle action: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}

func (w *Worker) ready() error {
	if w == nil || w.API == nil {
		return faults.New(faults.Internal, "lifecycle worker: no Auto Scaling client configured")
	}
	return nil
}
