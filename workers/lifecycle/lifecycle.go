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
	"github.com/cpwarden/cpwarden/internal/workeropt"
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

// Config holds the worker's settings. The zero value is the production one.
type Config struct {
	// Now is the clock LifecycleHandlerDuration is measured with; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives the worker's diagnostics; nil discards them.
	Logger *slog.Logger
}

// Deps are the worker's clients. API, the Auto Scaling client, is
// required.
type Deps struct {
	API AutoScaling
}

// Worker completes and heartbeats lifecycle actions. Create it with New.
type Worker struct {
	api AutoScaling
	now func() time.Time
	log *slog.Logger
}

// New returns a Worker.
func New(cfg Config, deps Deps) *Worker {
	return &Worker{api: deps.API, now: workeropt.Clock(cfg.Now), log: workeropt.Logger(cfg.Logger)}
}

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

func (w *Worker) ready() error {
	if w == nil || w.api == nil {
		return faults.New(faults.Internal, "lifecycle worker: no Auto Scaling client configured")
	}
	return nil
}
