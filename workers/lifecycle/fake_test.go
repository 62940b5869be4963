package lifecycle

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// fakeAutoScaling stands in for the two lifecycle operations moto cannot
// serve (they answer HTTP 500 there). It keeps the lifecycle actions that are
// pending, so completing one twice behaves as Auto Scaling does: the second
// call finds no active action.
type fakeAutoScaling struct {
	mu sync.Mutex
	// pending holds the active actions by token.
	pending map[string]bool
	// retain is the group's TerminateHookAbandon retention action.
	retain astypes.RetentionAction
	// err, when set, is returned by every call instead of the behaviour.
	err         error
	describeErr error

	completes  []autoscaling.CompleteLifecycleActionInput
	heartbeats []autoscaling.RecordLifecycleActionHeartbeatInput
	describes  int
}

func newFake(tokens ...string) *fakeAutoScaling {
	f := &fakeAutoScaling{pending: map[string]bool{}}
	for _, t := range tokens {
		f.pending[t] = true
	}
	return f
}

func (f *fakeAutoScaling) CompleteLifecycleAction(_ context.Context, in *autoscaling.CompleteLifecycleActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.completes = append(f.completes, *in)
	if f.err != nil {
		return nil, f.err
	}
	token := aws.ToString(in.LifecycleActionToken)
	if !f.pending[token] {
		return nil, notActiveError("token " + token)
	}
	delete(f.pending, token)
	return &autoscaling.CompleteLifecycleActionOutput{}, nil
}

func (f *fakeAutoScaling) RecordLifecycleActionHeartbeat(_ context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, _ ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heartbeats = append(f.heartbeats, *in)
	if f.err != nil {
		return nil, f.err
	}
	token := aws.ToString(in.LifecycleActionToken)
	if !f.pending[token] {
		return nil, notActiveError("token " + token)
	}
	return &autoscaling.RecordLifecycleActionHeartbeatOutput{}, nil
}

func (f *fakeAutoScaling) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes++
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, name := range in.AutoScalingGroupNames {
		g := astypes.AutoScalingGroup{AutoScalingGroupName: aws.String(name)}
		if f.retain != "" {
			g.InstanceLifecyclePolicy = &astypes.InstanceLifecyclePolicy{
				RetentionTriggers: &astypes.RetentionTriggers{TerminateHookAbandon: f.retain},
			}
		}
		out.AutoScalingGroups = append(out.AutoScalingGroups, g)
	}
	return out, nil
}
