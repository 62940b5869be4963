package lifecycle

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// HeartbeatIn is the input of the lifecycle-heartbeat step.
type HeartbeatIn struct {
	Hook
}

// HeartbeatOut reports a recorded heartbeat.
type HeartbeatOut struct {
	EC2InstanceID string `json:"EC2InstanceId,omitempty"`
	// RecordedAt is when the heartbeat was accepted (RFC 3339, UTC): the hook's
	// heartbeat timeout restarts from about then.
	RecordedAt string `json:"RecordedAt"`
}

// Heartbeat calls RecordLifecycleActionHeartbeat so the instance stays in its
// wait state while the workflow drains or waits for quorum. When no action is
// active any more it fails with Lifecycle.NotActive: unlike Complete, a
// heartbeat on a finished action did not do what the caller wanted (the
// instance is already going), and the workflow has to know.
func (w *Worker) Heartbeat(ctx context.Context, in HeartbeatIn) (HeartbeatOut, error) {
	if err := w.ready(); err != nil {
		return HeartbeatOut{}, err
	}
	if err := in.Hook.validate(); err != nil {
		return HeartbeatOut{}, err
	}
	_, err := w.api.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
		AutoScalingGroupName: aws.String(in.AutoScalingGroupName),
		LifecycleHookName:    aws.String(in.LifecycleHookName),
		LifecycleActionToken: optional(in.LifecycleActionToken),
		InstanceId:           optional(in.EC2InstanceID),
	})
	if err := classify(err, "record lifecycle action heartbeat"); err != nil {
		return HeartbeatOut{}, err
	}
	return HeartbeatOut{EC2InstanceID: in.EC2InstanceID, RecordedAt: w.now().UTC().Format(time.RFC3339Nano)}, nil
}
