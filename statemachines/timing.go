package statemachines

import (
	"math"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

// Timing bounds one worker: its Lambda function's timeout and its Task
// state's TimeoutSeconds. The Task timeout is a little longer than the
// function's, so a slow worker ends as the Lambda timeout it really hit
// (Sandbox.Timedout) rather than as a Step Functions States.Timeout racing it.
type Timing struct {
	LambdaTimeoutSeconds int
	TaskTimeoutSeconds   int
}

// taskMargin is the Task timeout's head room over the Lambda timeout: the
// invoke round trip and a cold start's init.
const taskMargin = 5

// TimingOf returns h's timing, from its spec (workers.Spec.TimeoutSeconds);
// the zero Timing for an unknown handler.
func TimingOf(h workers.Handler) Timing {
	spec, ok := workers.SpecOf(h)
	if !ok {
		return Timing{}
	}
	return Timing{LambdaTimeoutSeconds: spec.TimeoutSeconds, TaskTimeoutSeconds: spec.TimeoutSeconds + taskMargin}
}

// RetryRule is one Retry entry of a Task state.
type RetryRule struct {
	ErrorEquals     []string
	IntervalSeconds int
	MaxAttempts     int
	BackoffRate     float64
	MaxDelaySeconds int
}

// worstDelaySeconds is the longest total back-off the rule can wait: with
// JitterStrategy FULL each delay is at most the un-jittered one, so the
// un-jittered sum bounds it.
func (r RetryRule) worstDelaySeconds() float64 {
	total := 0.0
	for k := 0; k < r.MaxAttempts; k++ {
		d := float64(r.IntervalSeconds) * math.Pow(r.BackoffRate, float64(k))
		if r.MaxDelaySeconds > 0 && d > float64(r.MaxDelaySeconds) {
			d = float64(r.MaxDelaySeconds)
		}
		total += d
	}
	return total
}

// LambdaServiceErrors are the errors the Lambda service itself raises on an
// invoke; AWS recommends retrying them on every Lambda Task.
var LambdaServiceErrors = []string{
	"Lambda.ServiceException",
	"Lambda.AWSLambdaException",
	"Lambda.SdkClientException",
	"Lambda.TooManyRequestsException",
}

// TransientErrors are our workers' transient error names: a dependency that
// may answer on the next try. Input.Invalid and the decisions
// (Drain.Incomplete, Etcd.QuorumAtRisk, ...) are deliberately not here.
var TransientErrors = []string{faults.KubeUnavailable, faults.EtcdUnavailable, faults.AWSThrottled}

// RetryPolicy is the Retry list of every Task of one workflow.
type RetryPolicy []RetryRule

// StandardRetry is the policy of the lifecycle and backup workflows: the Lambda
// service errors as the Step Functions console generates them (1 s, x2,
// 3 attempts, full jitter) and our transient errors a little slower, capped
// at 10 s.
var StandardRetry = RetryPolicy{
	{ErrorEquals: LambdaServiceErrors, IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2},
	{ErrorEquals: TransientErrors, IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2, MaxDelaySeconds: 10},
}

// ExpressRetry is the health workflow's policy: an Express execution lives at
// most 5 minutes, and the next probe is a minute away anyway.
var ExpressRetry = RetryPolicy{
	{ErrorEquals: LambdaServiceErrors, IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2},
	{ErrorEquals: TransientErrors, IntervalSeconds: 2, MaxAttempts: 1, BackoffRate: 2},
}

// WorstCaseSeconds bounds the time one Task state of handler h can take
// under policy p before it succeeds or fails for good.
//
// Each retrier counts its own attempts, so the state runs at most
// 1 + Σ MaxAttempts times; every attempt can last the Task timeout (a
// retried error may come at its very end: a Lambda.SdkClientException after
// the function ran, an Etcd.Unavailable after the last dial timed out); the
// waits between attempts add at most Σ worst back-off. For the StandardRetry
// policy:
//
//	attempts = 1 + 3 + 3 = 7, back-off ≤ (1+2+4) + (2+4+8) = 21 s
//	drain          7 × 125 + 21 =  896 s
//	remove-member  7 ×  65 + 21 =  476 s
//	heartbeat      7 ×  20 + 21 =  161 s
//	complete       7 ×  20 + 21 =  161 s
func WorstCaseSeconds(h workers.Handler, p RetryPolicy) float64 {
	t := TimingOf(h)
	attempts, delays := 1, 0.0
	for _, r := range p {
		attempts += r.MaxAttempts
		delays += r.worstDelaySeconds()
	}
	return float64(attempts*t.TaskTimeoutSeconds) + delays
}

// The lifecycle workflow's loops. Step Functions' JSONPath has no date
// arithmetic, so each loop's deadline is a bound on its rounds, and the
// deadline in seconds follows from the worst case of one round.
const (
	// MaxDrainRounds bounds Drain ⟲ Heartbeat: at most this many drain calls.
	MaxDrainRounds = 8
	// QuorumWaitSeconds is the pause before asking etcd again after
	// Etcd.QuorumAtRisk (a replacement member needs time to join).
	QuorumWaitSeconds = 60
	// MaxQuorumRounds bounds RemoveMember ⟲ Wait + Heartbeat.
	MaxQuorumRounds = 15
	// HookGlobalTimeoutSeconds is Auto Scaling's cap on a lifecycle
	// action, heartbeats or not: 48 hours (or 100 × the heartbeat timeout,
	// whichever is smaller).
	HookGlobalTimeoutSeconds = 48 * 3600
	// eventDeliverySeconds is the slack for EventBridge to start the
	// execution after the hook's timer started.
	eventDeliverySeconds = 60
)

// WorstHeartbeatGapSeconds bounds the time the lifecycle workflow can go
// without a successful heartbeat (or the final completion): the hook's
// heartbeat timeout must be longer, or Auto Scaling would apply its default
// result to an instance cpwarden is still working on. The segments between
// heartbeats are:
//
//	hook start → Drain → Heartbeat        60 + 896 + 161 = 1117 s
//	Heartbeat → Drain → Heartbeat              896 + 161 = 1057 s
//	Heartbeat → RemoveMember → Wait → Heartbeat
//	                                       476 + 60 + 161 =  697 s
//	Heartbeat → RemoveMember → Complete        476 + 161 =  637 s
//
// so the largest gap is 1117 s; the template's hook heartbeat timeout
// parameter has it as its minimum.
func WorstHeartbeatGapSeconds() float64 {
	drain := WorstCaseSeconds(workers.Drain, StandardRetry)
	hb := WorstCaseSeconds(workers.LifecycleHeartbeat, StandardRetry)
	rm := WorstCaseSeconds(workers.RemoveMember, StandardRetry)
	complete := WorstCaseSeconds(workers.CompleteLifecycle, StandardRetry)
	return max(
		eventDeliverySeconds+drain+hb,
		drain+hb,
		rm+QuorumWaitSeconds+hb,
		rm+complete,
	)
}

// WorstLifecycleSeconds bounds a whole lifecycle execution: every drain
// round, every quorum round, and the completion (or the abandon). It must
// stay under the hook's global timeout.
func WorstLifecycleSeconds() float64 {
	drain := WorstCaseSeconds(workers.Drain, StandardRetry)
	hb := WorstCaseSeconds(workers.LifecycleHeartbeat, StandardRetry)
	rm := WorstCaseSeconds(workers.RemoveMember, StandardRetry)
	complete := WorstCaseSeconds(workers.CompleteLifecycle, StandardRetry)
	return eventDeliverySeconds +
		MaxDrainRounds*(drain+hb) +
		MaxQuorumRounds*(rm+QuorumWaitSeconds+hb) +
		complete
}

// ExpressLimitSeconds is the longest an Express execution may run.
const ExpressLimitSeconds = 300

// WorstHealthSeconds bounds a health execution: the probe, then at most one
// of TriggerRecovery and ReportRecovered.
func WorstHealthSeconds() float64 {
	return WorstCaseSeconds(workers.HealthProbe, ExpressRetry) +
		max(WorstCaseSeconds(workers.TriggerRecovery, ExpressRetry), WorstCaseSeconds(workers.ReportRecovered, ExpressRetry))
}
