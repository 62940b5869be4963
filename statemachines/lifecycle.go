package statemachines

import (
	"fmt"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

// Lifecycle event fields (docs/contracts.md, "Events in").
const (
	TransitionTerminating      = "autoscaling:EC2_INSTANCE_TERMINATING"
	TransitionTestNotification = "autoscaling:TEST_NOTIFICATION"
)

// Lifecycle is the workflow started by the control-plane group's "EC2
// Instance-terminate Lifecycle Action" event:
//
//	Drain ⟲ Heartbeat while Drain.Incomplete (at most MaxDrainRounds)
//	→ Heartbeat → RemoveMember ⟲ Wait + Heartbeat while Etcd.QuorumAtRisk
//	or Etcd.LearnerJoining (at most MaxQuorumRounds) → Complete(CONTINUE).
//
// Any failure left after the retries, and either loop running out of
// rounds, completes the action with ABANDON and fails the execution with
// the original error. A heartbeat that finds the action gone
// (Lifecycle.NotActive: an operator or the hook's timeout finished it) stops
// draining and goes on to remove the member: the instance is leaving either
// way, and its etcd member must not stay behind as a dead voter. Test
// notifications end successfully without doing anything.
func Lifecycle() Workflow {
	return Workflow{
		Name: "lifecycle", Type: TypeStandard, Policy: StandardRetry,
		Handlers: []workers.Handler{workers.Drain, workers.LifecycleHeartbeat, workers.RemoveMember, workers.CompleteLifecycle},
		build:    lifecycleDefinition,
	}
}

// hookParameters passes the lifecycle action's identity to a worker, with
// the event's field names (see workers/lifecycle.Hook).
func hookParameters(extra map[string]any) map[string]any {
	p := map[string]any{
		"AutoScalingGroupName.$": "$.Hook.AutoScalingGroupName",
		"LifecycleHookName.$":    "$.Hook.LifecycleHookName",
		"LifecycleActionToken.$": "$.Hook.LifecycleActionToken",
		"EC2InstanceId.$":        "$.Hook.EC2InstanceId",
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func lifecycleDefinition(r Resolver) *asl.StateMachine {
	p := StandardRetry
	heartbeat := func(name, next string) *asl.Task {
		t := task(name, workers.LifecycleHeartbeat, r, p)
		t.Parameters = hookParameters(nil)
		t.ResultPath = asl.P("$.Heartbeat")
		t.Catch = []asl.Catcher{
			{ErrorEquals: []string{faults.LifecycleNotActive}, ResultPath: asl.P("$.Heartbeat"), Next: "RemoveMember"},
			catchAll("Abandon"),
		}
		t.Next = next
		return t
	}
	present := func(path string) asl.ChoiceRule {
		return asl.ChoiceRule{Variable: path, Op: asl.OpIsPresent, Value: true}
	}
	count := func(name, loop, next string) *asl.Pass {
		other := map[string]string{"Drain": "Quorum", "Quorum": "Drain"}[loop]
		return &asl.Pass{
			Name: name,
			Parameters: map[string]any{
				loop + ".$":  fmt.Sprintf("States.MathAdd($.Rounds.%s, 1)", loop),
				other + ".$": "$.Rounds." + other,
			},
			ResultPath: asl.P("$.Rounds"),
			Next:       next,
		}
	}

	drain := task("Drain", workers.Drain, r, p)
	// The drain worker budgets each call from the Lambda's remaining time.
	drain.Parameters = map[string]any{"EC2InstanceId.$": "$.Hook.EC2InstanceId"}
	drain.ResultPath = asl.P("$.Drain")
	drain.Catch = []asl.Catcher{
		{ErrorEquals: []string{faults.DrainIncomplete}, ResultPath: asl.P("$.DrainIncomplete"), Next: "CountDrainRound"},
		catchAll("Abandon"),
	}
	drain.Next = "HeartbeatAfterDrain"

	remove := task("RemoveMember", workers.RemoveMember, r, p)
	remove.Parameters = map[string]any{"ClusterName": clusterName, "InstanceId.$": "$.Hook.EC2InstanceId"}
	remove.ResultPath = asl.P("$.RemoveMember")
	remove.Catch = []asl.Catcher{
		// A joining learner passes like a quorum risk: wait and try again.
		{ErrorEquals: []string{faults.EtcdQuorumAtRisk, faults.EtcdLearnerJoining}, ResultPath: asl.P("$.QuorumAtRisk"), Next: "CountQuorumRound"},
		catchAll("Abandon"),
	}
	remove.Next = "Complete"

	complete := task("Complete", workers.CompleteLifecycle, r, p)
	complete.Parameters = hookParameters(map[string]any{
		"LifecycleActionResult": "CONTINUE",
		// The worker emits LifecycleHandlerDuration from it.
		"ExecutionStartTime.$": "$$.Execution.StartTime",
	})
	complete.ResultPath = asl.P("$.Complete")
	complete.Catch = []asl.Catcher{catchAll("Abandon")}
	complete.End = true

	abandon := task("Abandon", workers.CompleteLifecycle, r, p)
	abandon.Parameters = hookParameters(map[string]any{"LifecycleActionResult": "ABANDON"})
	abandon.ResultPath = asl.P("$.Abandon")
	// If even ABANDON fails, the hook's DefaultResult applies at its
	// timeout; the execution still fails with the original error.
	abandon.Catch = []asl.Catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: asl.P("$.AbandonFailure"), Next: "Failed"}}
	abandon.Next = "Failed"

	return &asl.StateMachine{
		Comment: "cpwarden lifecycle: drain the departing control-plane node, remove its etcd member, complete the lifecycle action.",
		StartAt: "ClassifyEvent",
		States: []asl.State{
			&asl.Choice{
				Name: "ClassifyEvent",
				Choices: []asl.ChoiceRule{
					{Variable: "$.detail.LifecycleTransition", Op: asl.OpIsPresent, Value: true, Next: "CheckTransition"},
					// SNS/SQS-shaped test notifications carry "Event" at the top.
					{Variable: "$.Event", Op: asl.OpIsPresent, Value: true, Next: "CheckTestEvent"},
				},
				Default: "RejectEvent",
			},
			&asl.Choice{
				Name:    "CheckTestEvent",
				Choices: []asl.ChoiceRule{{Variable: "$.Event", Op: asl.OpStringEquals, Value: TransitionTestNotification, Next: "IgnoreTestNotification"}},
				Default: "RejectEvent",
			},
			&asl.Choice{
				Name: "CheckTransition",
				Choices: []asl.ChoiceRule{
					{Variable: "$.detail.LifecycleTransition", Op: asl.OpStringEquals, Value: TransitionTestNotification, Next: "IgnoreTestNotification"},
					{And: []asl.ChoiceRule{
						{Variable: "$.detail.LifecycleTransition", Op: asl.OpStringEquals, Value: TransitionTerminating},
						present("$.detail.AutoScalingGroupName"),
						present("$.detail.LifecycleHookName"),
						present("$.detail.LifecycleActionToken"),
						present("$.detail.EC2InstanceId"),
					}, Next: "Prepare"},
				},
				Default: "RejectEvent",
			},
			&asl.Pass{Name: "IgnoreTestNotification", Result: map[string]any{"Ignored": TransitionTestNotification}, End: true},
			&asl.Fail{
				Name:  "RejectEvent",
				Error: faults.InputInvalid,
				Cause: "expected an EC2 Instance-terminate Lifecycle Action event whose detail has LifecycleTransition " +
					TransitionTerminating + ", AutoScalingGroupName, LifecycleHookName, LifecycleActionToken and EC2InstanceId",
			},
			&asl.Pass{
				Name: "Prepare",
				Parameters: map[string]any{
					"Hook": map[string]any{
						"AutoScalingGroupName.$": "$.detail.AutoScalingGroupName",
						"LifecycleHookName.$":    "$.detail.LifecycleHookName",
						"LifecycleActionToken.$": "$.detail.LifecycleActionToken",
						"EC2InstanceId.$":        "$.detail.EC2InstanceId",
					},
					"Rounds": map[string]any{"Drain": 0, "Quorum": 0},
				},
				Next: "Drain",
			},
			drain,
			count("CountDrainRound", "Drain", "DrainDeadline"),
			&asl.Choice{
				Name:    "DrainDeadline",
				Choices: []asl.ChoiceRule{{Variable: "$.Rounds.Drain", Op: asl.OpNumericGreaterThanEquals, Value: MaxDrainRounds, Next: "DrainTimedOut"}},
				Default: "HeartbeatDuringDrain",
			},
			heartbeat("HeartbeatDuringDrain", "Drain"),
			&asl.Pass{
				Name:       "DrainTimedOut",
				Parameters: map[string]any{"Error": faults.DrainIncomplete, "Cause.$": "$.DrainIncomplete.Cause"},
				ResultPath: asl.P("$.Failure"),
				Next:       "Abandon",
			},
			heartbeat("HeartbeatAfterDrain", "RemoveMember"),
			remove,
			count("CountQuorumRound", "Quorum", "QuorumDeadline"),
			&asl.Choice{
				Name:    "QuorumDeadline",
				Choices: []asl.ChoiceRule{{Variable: "$.Rounds.Quorum", Op: asl.OpNumericGreaterThanEquals, Value: MaxQuorumRounds, Next: "QuorumTimedOut"}},
				Default: "WaitForQuorum",
			},
			&asl.Wait{Name: "WaitForQuorum", Seconds: asl.Int(QuorumWaitSeconds), Next: "HeartbeatDuringQuorumWait"},
			heartbeat("HeartbeatDuringQuorumWait", "RemoveMember"),
			&asl.Pass{
				Name: "QuorumTimedOut",
				// The last refusal's own name: Etcd.QuorumAtRisk or Etcd.LearnerJoining.
				Parameters: map[string]any{"Error.$": "$.QuorumAtRisk.Error", "Cause.$": "$.QuorumAtRisk.Cause"},
				ResultPath: asl.P("$.Failure"),
				Next:       "Abandon",
			},
			complete,
			abandon,
			failWithCaught("Failed"),
		},
	}
}
