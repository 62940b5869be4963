package statemachines

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

const instance = "i-0123456789abcdef0"

func terminateEvent(mutate func(detail map[string]any)) string {
	detail := map[string]any{
		"LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
		"AutoScalingGroupName": "prod-cp",
		"LifecycleHookName":    "cpwarden-terminate",
		"EC2InstanceId":        instance,
		"LifecycleTransition":  TransitionTerminating,
		"NotificationMetadata": "",
		"Origin":               "AutoScalingGroup",
		"Destination":          "EC2",
	}
	if mutate != nil {
		mutate(detail)
	}
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "12345678-1234-1234-1234-123456789012",
		"detail-type": "EC2 Instance-terminate Lifecycle Action", "source": "aws.autoscaling",
		"account": "123456789012", "time": "2025-06-01T12:00:00Z", "region": "us-east-1",
		"resources": []string{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/prod-cp"},
		"detail":    detail,
	})
	return string(b)
}

var hookFields = map[string]any{
	"AutoScalingGroupName": "prod-cp",
	"LifecycleHookName":    "cpwarden-terminate",
	"LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
	"EC2InstanceId":        instance,
}

func withFields(extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range hookFields {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func repeat(s []string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, s...)
	}
	return out
}

func TestLifecyclePaths(t *testing.T) {
	drained := ok(map[string]any{"NodeName": "ip-10-0-1-23.ec2.internal", "Evicted": 12})
	removed := ok(map[string]any{"MemberID": "8e9e05c52164694d", "AlreadyRemoved": false})
	completed := ok(map[string]any{"LifecycleActionResult": "CONTINUE", "AlreadyCompleted": false})
	incomplete := fail(faults.DrainIncomplete, "3 pods left: default/web-0 (PDB web)")
	atRisk := fail(faults.EtcdQuorumAtRisk, "1 of 2 remaining voters healthy")
	learnerJoining := fail(faults.EtcdLearnerJoining, "learner cp-d (8211f1d0f64f3269) is joining the cluster")
	start := []string{"ClassifyEvent", "CheckTransition", "Prepare"}
	tail := []string{"Drain", "HeartbeatAfterDrain", "RemoveMember", "Complete"}
	drainLoop := []string{"Drain", "CountDrainRound", "DrainDeadline", "HeartbeatDuringDrain"}
	quorumLoop := []string{"RemoveMember", "CountQuorumRound", "QuorumDeadline", "WaitForQuorum", "HeartbeatDuringQuorumWait"}
	abandoned := []string{"Abandon", "Failed"}

	tests := []struct {
		name       string
		event      string
		scripts    map[workers.Handler][]outcome
		wantPath   []string
		wantStatus string
		wantError  string
		wantCalls  map[workers.Handler]int
		wantResult string // LifecycleActionResult of the last complete-lifecycle call
	}{
		{
			name:       "happy path",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.Drain: {drained}, workers.RemoveMember: {removed}, workers.CompleteLifecycle: {completed}},
			wantPath:   append(slices.Clone(start), tail...),
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: 1, workers.RemoveMember: 1, workers.CompleteLifecycle: 1},
			wantResult: "CONTINUE",
		},
		{
			name:       "drain incomplete loops with heartbeats until drained",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.Drain: {incomplete, incomplete, drained}},
			wantPath:   concat(start, repeat(drainLoop, 2), tail),
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Drain: 3, workers.LifecycleHeartbeat: 3, workers.RemoveMember: 1, workers.CompleteLifecycle: 1},
			wantResult: "CONTINUE",
		},
		{
			name:       "drain incomplete until the deadline abandons",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.Drain: {incomplete}},
			wantPath:   concat(start, repeat(drainLoop, MaxDrainRounds-1), []string{"Drain", "CountDrainRound", "DrainDeadline", "DrainTimedOut"}, abandoned),
			wantStatus: "FAILED", wantError: faults.DrainIncomplete,
			wantCalls:  map[workers.Handler]int{workers.Drain: MaxDrainRounds, workers.LifecycleHeartbeat: MaxDrainRounds - 1, workers.RemoveMember: 0, workers.CompleteLifecycle: 1},
			wantResult: "ABANDON",
		},
		{
			name:       "quorum at risk waits with heartbeats until removal is safe",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.RemoveMember: {atRisk, atRisk, removed}},
			wantPath:   concat(start, []string{"Drain", "HeartbeatAfterDrain"}, repeat(quorumLoop, 2), []string{"RemoveMember", "Complete"}),
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: 3, workers.RemoveMember: 3, workers.CompleteLifecycle: 1},
			wantResult: "CONTINUE",
		},
		{
			name:       "quorum at risk until the deadline abandons",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.RemoveMember: {atRisk}},
			wantPath:   concat(start, []string{"Drain", "HeartbeatAfterDrain"}, repeat(quorumLoop, MaxQuorumRounds-1), []string{"RemoveMember", "CountQuorumRound", "QuorumDeadline", "QuorumTimedOut"}, abandoned),
			wantStatus: "FAILED", wantError: faults.EtcdQuorumAtRisk,
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: MaxQuorumRounds, workers.RemoveMember: MaxQuorumRounds, workers.CompleteLifecycle: 1},
			wantResult: "ABANDON",
		},
		{
			name:       "a joining learner waits with heartbeats like a quorum risk until it is promoted",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.RemoveMember: {learnerJoining, atRisk, learnerJoining, removed}},
			wantPath:   concat(start, []string{"Drain", "HeartbeatAfterDrain"}, repeat(quorumLoop, 3), []string{"RemoveMember", "Complete"}),
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: 4, workers.RemoveMember: 4, workers.CompleteLifecycle: 1},
			wantResult: "CONTINUE",
		},
		{
			name:       "a learner joining until the deadline abandons with its own name",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.RemoveMember: {learnerJoining}},
			wantPath:   concat(start, []string{"Drain", "HeartbeatAfterDrain"}, repeat(quorumLoop, MaxQuorumRounds-1), []string{"RemoveMember", "CountQuorumRound", "QuorumDeadline", "QuorumTimedOut"}, abandoned),
			wantStatus: "FAILED", wantError: faults.EtcdLearnerJoining,
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: MaxQuorumRounds, workers.RemoveMember: MaxQuorumRounds, workers.CompleteLifecycle: 1},
			wantResult: "ABANDON",
		},
		{
			name:  "transient errors are retried in place",
			event: terminateEvent(nil),
			scripts: map[workers.Handler][]outcome{
				workers.Drain:             {fail(faults.KubeUnavailable, "apiserver: connection refused"), fail("Lambda.ServiceException", "service error"), drained},
				workers.RemoveMember:      {fail(faults.EtcdUnavailable, "context deadline exceeded"), removed},
				workers.CompleteLifecycle: {fail(faults.AWSThrottled, "Rate exceeded"), fail("Lambda.TooManyRequestsException", "throttled"), completed},
			},
			wantPath:   append(slices.Clone(start), tail...),
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Drain: 3, workers.LifecycleHeartbeat: 1, workers.RemoveMember: 2, workers.CompleteLifecycle: 3},
			wantResult: "CONTINUE",
		},
		{
			name:       "transient errors past the retries abandon",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.RemoveMember: {fail(faults.EtcdUnavailable, "no member answers")}},
			wantPath:   concat(start, []string{"Drain", "HeartbeatAfterDrain", "RemoveMember"}, abandoned),
			wantStatus: "FAILED", wantError: faults.EtcdUnavailable,
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: 1, workers.RemoveMember: 4, workers.CompleteLifecycle: 1},
			wantResult: "ABANDON",
		},
		{
			name:       "invalid input is never retried",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.Drain: {fail(faults.InputInvalid, "EC2InstanceId: not an instance id")}},
			wantPath:   concat(start, []string{"Drain"}, abandoned),
			wantStatus: "FAILED", wantError: faults.InputInvalid,
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.CompleteLifecycle: 1},
			wantResult: "ABANDON",
		},
		{
			name:       "unsafe removal abandons",
			event:      terminateEvent(nil),
			scripts:    map[workers.Handler][]outcome{workers.RemoveMember: {fail(faults.EtcdUnsafeRemoval, "last member")}},
			wantPath:   concat(start, []string{"Drain", "HeartbeatAfterDrain", "RemoveMember"}, abandoned),
			wantStatus: "FAILED", wantError: faults.EtcdUnsafeRemoval,
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: 1, workers.RemoveMember: 1, workers.CompleteLifecycle: 1},
			wantResult: "ABANDON",
		},
		{
			name:  "a failed abandon still fails with the original error",
			event: terminateEvent(nil),
			scripts: map[workers.Handler][]outcome{
				workers.RemoveMember:      {fail(faults.EtcdUnsafeRemoval, "last member")},
				workers.CompleteLifecycle: {fail(faults.Internal, "AccessDenied")},
			},
			wantPath:   concat(start, []string{"Drain", "HeartbeatAfterDrain", "RemoveMember"}, abandoned),
			wantStatus: "FAILED", wantError: faults.EtcdUnsafeRemoval,
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: 1, workers.RemoveMember: 1, workers.CompleteLifecycle: 1},
			wantResult: "ABANDON",
		},
		{
			name:  "a finished action stops the drain and still removes the member",
			event: terminateEvent(nil),
			scripts: map[workers.Handler][]outcome{
				workers.Drain:              {incomplete},
				workers.LifecycleHeartbeat: {fail(faults.LifecycleNotActive, "No active Lifecycle Action found")},
				workers.CompleteLifecycle:  {ok(map[string]any{"LifecycleActionResult": "CONTINUE", "AlreadyCompleted": true})},
			},
			wantPath:   concat(start, drainLoop, []string{"RemoveMember", "Complete"}),
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Drain: 1, workers.LifecycleHeartbeat: 1, workers.RemoveMember: 1, workers.CompleteLifecycle: 1},
			wantResult: "CONTINUE",
		},
		{
			name:       "test notification in the event detail is ignored",
			event:      terminateEvent(func(d map[string]any) { d["LifecycleTransition"] = TransitionTestNotification }),
			wantPath:   []string{"ClassifyEvent", "CheckTransition", "IgnoreTestNotification"},
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{},
		},
		{
			name:       "SNS-shaped test notification is ignored",
			event:      `{"AccountId":"123456789012","RequestId":"r-1","AutoScalingGroupARN":"arn","AutoScalingGroupName":"prod-cp","Service":"AWS Auto Scaling","Event":"autoscaling:TEST_NOTIFICATION","Time":"2025-06-01T12:00:00Z"}`,
			wantPath:   []string{"ClassifyEvent", "CheckTestEvent", "IgnoreTestNotification"},
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{},
		},
		{
			name:       "an event without a token is rejected",
			event:      terminateEvent(func(d map[string]any) { delete(d, "LifecycleActionToken") }),
			wantPath:   []string{"ClassifyEvent", "CheckTransition", "RejectEvent"},
			wantStatus: "FAILED", wantError: faults.InputInvalid,
			wantCalls: map[workers.Handler]int{},
		},
		{
			name:       "a launch transition is rejected",
			event:      terminateEvent(func(d map[string]any) { d["LifecycleTransition"] = "autoscaling:EC2_INSTANCE_LAUNCHING" }),
			wantPath:   []string{"ClassifyEvent", "CheckTransition", "RejectEvent"},
			wantStatus: "FAILED", wantError: faults.InputInvalid,
			wantCalls: map[workers.Handler]int{},
		},
		{
			name:       "an unrelated document is rejected",
			event:      `{"hello":"world"}`,
			wantPath:   []string{"ClassifyEvent", "RejectEvent"},
			wantStatus: "FAILED", wantError: faults.InputInvalid,
			wantCalls: map[workers.Handler]int{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(tt.scripts)
			r := execute(t, Lifecycle(), tt.event, f)
			if r.exec.Status != tt.wantStatus || r.exec.Error != tt.wantError {
				t.Fatalf("status %s error %q (%s), want %s %q", r.exec.Status, r.exec.Error, r.exec.Cause, tt.wantStatus, tt.wantError)
			}
			if !slices.Equal(r.path, tt.wantPath) {
				t.Fatalf("path\n got %v\nwant %v", r.path, tt.wantPath)
			}
			for _, h := range Lifecycle().Handlers {
				if got := len(f.callsOf(h)); got != tt.wantCalls[h] {
					t.Errorf("%s called %d times, want %d", h, got, tt.wantCalls[h])
				}
			}
			if tt.wantResult != "" {
				cs := f.callsOf(workers.CompleteLifecycle)
				if got := cs[len(cs)-1].Input["LifecycleActionResult"]; got != tt.wantResult {
					t.Errorf("completed with %v, want %s", got, tt.wantResult)
				}
			}
		})
	}
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestLifecycleSendsTheWorkersTheirInputs pins the payload of each call
// and the final output of a successful run.
func TestLifecycleSendsTheWorkersTheirInputs(t *testing.T) {
	f := newFakes(map[workers.Handler][]outcome{
		workers.Drain:             {ok(map[string]any{"NodeName": "ip-10-0-1-23"})},
		workers.RemoveMember:      {ok(map[string]any{"MemberID": "8e9e05c52164694d"})},
		workers.CompleteLifecycle: {ok(map[string]any{"LifecycleActionResult": "CONTINUE", "AlreadyCompleted": false})},
	})
	r := execute(t, Lifecycle(), terminateEvent(nil), f)
	if r.exec.Status != "SUCCEEDED" {
		t.Fatalf("status %s %s %s", r.exec.Status, r.exec.Error, r.exec.Cause)
	}
	want := map[workers.Handler]map[string]any{
		workers.Drain:              {"EC2InstanceId": instance},
		workers.LifecycleHeartbeat: withFields(nil),
		workers.RemoveMember:       {"ClusterName": testCluster, "InstanceId": instance},
		workers.CompleteLifecycle: withFields(map[string]any{
			"LifecycleActionResult": "CONTINUE",
			"ExecutionStartTime":    r.exec.StartTime.UTC().Format("2006-01-02T15:04:05.000Z"),
		}),
	}
	for h, in := range want {
		cs := f.callsOf(h)
		if len(cs) != 1 || !reflect.DeepEqual(cs[0].Input, in) {
			t.Errorf("%s input\n got %v\nwant %v", h, cs, in)
		}
	}
	if got := r.output["Complete"]; !reflect.DeepEqual(got, map[string]any{"LifecycleActionResult": "CONTINUE", "AlreadyCompleted": false}) {
		t.Errorf("output Complete = %v", got)
	}
	if got := r.output["Hook"]; !reflect.DeepEqual(got, hookFields) {
		t.Errorf("output Hook = %v", got)
	}
	if got := r.output["RemoveMember"]; !reflect.DeepEqual(got, map[string]any{"MemberID": "8e9e05c52164694d"}) {
		t.Errorf("output RemoveMember = %v", got)
	}
}

// TestLifecycleFailureCarriesTheWorkersCause: the execution's error is the
// worker's, so alarms and operators see why.
func TestLifecycleFailureCarriesTheWorkersCause(t *testing.T) {
	f := newFakes(map[workers.Handler][]outcome{workers.Drain: {fail(faults.DrainIncomplete, "3 pods left: default/web-0 (PDB web)")}})
	r := execute(t, Lifecycle(), terminateEvent(nil), f)
	if r.exec.Error != faults.DrainIncomplete || !strings.Contains(r.exec.Cause, "default/web-0") {
		t.Fatalf("error %q cause %q", r.exec.Error, r.exec.Cause)
	}
	abandon := f.callsOf(workers.CompleteLifecycle)
	if len(abandon) != 1 || !reflect.DeepEqual(abandon[0].Input, withFields(map[string]any{"LifecycleActionResult": "ABANDON"})) {
		t.Fatalf("abandon call = %v", abandon)
	}
}
