// Package scenario is the story `cpwarden demo` tells and the end-to-end
// test checks, run against a sandbox with real workers:
//
//  1. backup: snapshot etcd to S3, restore-test it, apply retention;
//  2. lifecycle: Auto Scaling terminates a control-plane instance; the drain
//     is blocked by a PodDisruptionBudget until a replica is added elsewhere,
//     then the node is drained; the removal of its etcd member is refused
//     while another member is down (the quorum projection), and done once
//     that member is back; the lifecycle action is completed;
//  3. health: a healthy probe; then the two remaining etcd members stop,
//     probes count the failures until recovery is triggered from the backup
//     (a scheduled backup during the outage fails, leaving nothing behind);
//     the members come back (the restore), the next probe reports the
//     cluster recovered.
//
// Along the way every metric of docs/contracts.md is emitted at least once.
package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/internal/local/workerset"
	"github.com/cpwarden/cpwarden/internal/sandbox"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// DrainTimeout is the drain function's timeout in the scenario. The drain
// budgets itself from it (minus a 5 s reserve), so a drain blocked by a
// budget reports Drain.Incomplete after a few seconds instead of the
// deployed two minutes.
const DrainTimeout = 12 * time.Second

// MaxDelay caps every Wait state and retry back-off of the scenario's
// runs: the lifecycle workflow waits a minute before asking etcd again,
// which in a demo is only waiting. The paths and the workers' calls are
// those of the deployed definitions. It cannot be much shorter: etcd
// refuses membership changes until a restarted peer has been connected for
// 5 s (strict reconfiguration check), so a shorter wait for quorum would
// find the removal refused a second time.
const MaxDelay = 10 * time.Second

// Timeouts are the function timeouts of the scenario: the template's, but
// DrainTimeout for the drain.
func Timeouts(h workers.Handler) time.Duration {
	if h == workers.Drain {
		return DrainTimeout
	}
	return time.Duration(statemachines.TimingOf(h).LambdaTimeoutSeconds) * time.Second
}

// Options configure Run.
type Options struct {
	Sandbox *sandbox.Sandbox
	Workers *workerset.Set
	// Out receives the story; nil discards it.
	Out io.Writer
	// MaxProbes bounds the failing probes before Run gives up waiting for
	// recovery to be triggered; 0 means RecoveryThreshold + 2.
	MaxProbes int
}

// Execution is one workflow run of the scenario.
type Execution struct {
	Workflow string
	Title    string
	*runner.Result
}

// Result is what happened.
type Result struct {
	Executions []Execution
	// Departed is the instance the lifecycle workflow took away;
	// AddedReplica the pod added to unblock its drain.
	Departed     sandbox.Instance
	AddedReplica string
	// Stopped are the etcd members stopped for the health scenario.
	Stopped []string
	// BackupKey is the published backup.
	BackupKey string
	// Metrics are every run's metrics, in order.
	Metrics []emf.Record
}

// Run runs the scenario. It returns an error when a step could not run or
// ended otherwise than the story says.
func Run(ctx context.Context, opts Options) (*Result, error) {
	sb, out := opts.Sandbox, opts.Out
	if out == nil {
		out = io.Discard
	}
	maxProbes := opts.MaxProbes
	if maxProbes == 0 {
		maxProbes = sandbox.RecoveryThreshold + 2
	}
	res := &Result{}
	run := func(wf statemachines.Workflow, title string, input any, expect string, onState func(asl.StateEvent)) (*runner.Result, error) {
		in, err := json.Marshal(input)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "\n▶ %s workflow: %s\n", wf.Name, title)
		r, err := runner.Run(ctx, runner.Options{
			Workflow: wf, Cluster: sb.ClusterName, Input: in,
			Resolver: opts.Workers.Resolver(), Metrics: opts.Workers.Metrics,
			Progress: out, OnState: onState, MaxDelay: MaxDelay,
		})
		if r != nil {
			res.Executions = append(res.Executions, Execution{Workflow: wf.Name, Title: title, Result: r})
			res.Metrics = append(res.Metrics, r.Metrics...)
		}
		if err != nil {
			return r, fmt.Errorf("%s workflow: %w", wf.Name, err)
		}
		e := r.Execution
		fmt.Fprintf(out, "  → %s in %s", e.Status, r.Wall.Round(100*time.Millisecond))
		if e.Status != asl.StatusSucceeded {
			fmt.Fprintf(out, ": %s", e.Error)
		}
		fmt.Fprintln(out)
		if e.Status != expect {
			return r, fmt.Errorf("%s workflow %s (%s: %s), want %s", wf.Name, e.Status, e.Error, e.Cause, expect)
		}
		return r, nil
	}

	// 1. Backup.
	b, err := run(statemachines.Backup(), "snapshot etcd to S3, restore-test it, apply retention", scheduledEvent(), asl.StatusSucceeded, nil)
	if err != nil {
		return res, err
	}
	var bout struct {
		Verify struct {
			Key      string
			Revision int64
			Size     int64
			Keys     int
		}
	}
	if err := json.Unmarshal(b.Execution.Output, &bout); err != nil {
		return res, fmt.Errorf("backup output: %w", err)
	}
	res.BackupKey = bout.Verify.Key
	fmt.Fprintf(out, "  backup s3://%s/%s: %d bytes, revision %d, %d keys restored in a throwaway data dir\n",
		sb.Bucket, bout.Verify.Key, bout.Verify.Size, bout.Verify.Revision, bout.Verify.Keys)

	// 2. Lifecycle: the first instance goes; the budget of the blocking app
	// lets its drain finish only once a replica runs elsewhere.
	res.Departed = sb.Instances[0]
	scaleOn := sb.Instances[2].NodeName()
	ev, err := sb.BeginTermination(res.Departed.ID)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\nAuto Scaling terminates %s (node and etcd member %s); its terminate hook holds it in Terminating:Wait.\n",
		res.Departed.ID, res.Departed.NodeName())
	fmt.Fprintf(out, "PodDisruptionBudget %s/%s (minAvailable 2, 2 replicas) allows no eviction yet.\n", sandbox.AppsNamespace, sandbox.BlockingApp)
	// While the workflow runs, the world moves: a replica is added when
	// the drain is found blocked, and a second member goes down just before
	// the removal and comes back while the workflow waits for quorum.
	other := sb.Instances[1]
	var hookErr error
	var scaled, stopped, restarted bool
	_, err = run(statemachines.Lifecycle(), "drain the node, remove the etcd member, complete the lifecycle action", ev, asl.StatusSucceeded, func(e asl.StateEvent) {
		if e.Phase != asl.PhaseEntered || hookErr != nil {
			return
		}
		switch {
		case e.State == "HeartbeatDuringDrain" && !scaled:
			scaled = true
			fmt.Fprintf(out, "    … the drain ran out of budget with %s/%s left; the workflow heartbeats the hook and drains again.\n", sandbox.AppsNamespace, sandbox.BlockingApp)
			fmt.Fprintf(out, "    … meanwhile %s is scaled up: a third replica starts on %s, so the budget allows one eviction.\n", sandbox.BlockingApp, scaleOn)
			res.AddedReplica, hookErr = sb.AddReplica(ctx, sandbox.AppsNamespace, sandbox.BlockingApp, scaleOn)
		case e.State == "HeartbeatAfterDrain" && !stopped:
			stopped = true
			fmt.Fprintf(out, "    … the node is drained. Just then etcd on %s goes down (a reboot): removing a member now would leave 1 healthy voter of 2.\n", other.NodeName())
			hookErr = sb.StopMembers(other.NodeName())
		case e.State == "WaitForQuorum" && !restarted:
			restarted = true
			fmt.Fprintf(out, "    … cpwarden refused the removal (Etcd.QuorumAtRisk). %s comes back while the workflow waits to ask etcd again (%ds deployed, %s here).\n",
				other.NodeName(), statemachines.QuorumWaitSeconds, MaxDelay)
			hookErr = sb.RestartMembers(ctx, other.NodeName())
		}
	})
	if err == nil {
		err = hookErr
	}
	if err != nil {
		return res, err
	}
	if !scaled || !restarted {
		return res, fmt.Errorf("lifecycle: the drain was blocked: %t, the removal refused: %t; the story wants both", scaled, restarted)
	}
	if done := sb.CompletedLifecycleActions(); len(done) > 0 {
		c := done[len(done)-1]
		fmt.Fprintf(out, "  lifecycle action %s with %d heartbeat(s); Auto Scaling terminated %s.\n", c.Result, c.Heartbeats, c.InstanceID)
	}

	// 3. Health.
	probe := func(title string) (*runner.Result, string, error) {
		r, err := run(statemachines.Health(), title, scheduledEvent(), asl.StatusSucceeded, nil)
		if err != nil {
			return r, "", err
		}
		var o struct{ Probe health }
		_ = json.Unmarshal(r.Execution.Output, &o)
		fmt.Fprintf(out, "  probe: %d/%d voters healthy, %d healthy control-plane instances, %d consecutive failures → %s\n",
			o.Probe.HealthyVoters, o.Probe.Voters, o.Probe.HealthyInstances, o.Probe.ConsecutiveFailures, o.Probe.Action)
		return r, o.Probe.Action, nil
	}
	if _, _, err := probe("a healthy control plane"); err != nil {
		return res, err
	}
	for _, in := range sb.Instances[1:] {
		res.Stopped = append(res.Stopped, in.NodeName())
	}
	if err := sb.StopMembers(res.Stopped...); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\netcd members %v stop: the cluster has lost quorum. Recovery starts after %d consecutive failed probes.\n",
		res.Stopped, sandbox.RecoveryThreshold)
	triggered := false
	for i := 1; i <= maxProbes && !triggered; i++ {
		_, action, err := probe(fmt.Sprintf("probe %d with quorum lost", i))
		if err != nil {
			return res, err
		}
		triggered = action == statemachines.ActionTriggerRecovery
		if i == 1 {
			// The scheduled backup comes round during the outage.
			if _, err := run(statemachines.Backup(), "the scheduled backup, during the outage", scheduledEvent(), asl.StatusFailed, nil); err != nil {
				return res, err
			}
			fmt.Fprintln(out, "  no member answers: the backup fails (BackupFailure) and leaves nothing in S3; the last verified backup stands.")
		}
	}
	if !triggered {
		return res, fmt.Errorf("health: no recovery after %d failed probes", maxProbes)
	}
	params, err := RecoveryParameters(ctx, sb)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "  restore-mode=%s restore-backup=%s: the instance bootstrap restores from that backup.\n",
		params["restore-mode"], params["restore-backup"])

	// The restore: the members come back and the restoring node marks the
	// cluster initialized, as the instance bootstrap does when done.
	if err := sb.RestartMembers(ctx, res.Stopped...); err != nil {
		return res, err
	}
	if _, err := sb.SSM().PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/" + sb.ClusterName + "/cluster/initialized"), Value: aws.String("true"),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
	}); err != nil {
		return res, err
	}
	fmt.Fprintln(out, "\nThe restore is done: etcd is back and the restoring node set initialized=true.")
	_, action, err := probe("the control plane after the restore")
	if err != nil {
		return res, err
	}
	if action != statemachines.ActionReportRecovered {
		return res, fmt.Errorf("health: the probe after the restore asked for %q, want %s", action, statemachines.ActionReportRecovered)
	}
	return res, nil
}

// health is the part of the probe's output the story tells.
type health struct {
	Action              string
	Voters              int
	HealthyVoters       int
	HealthyInstances    int
	ConsecutiveFailures int
}

// scheduledEvent is the EventBridge scheduled event that starts the backup
// and health workflows.
func scheduledEvent() map[string]any {
	return map[string]any{
		"version": "0", "id": "00000000-0000-0000-0000-000000000000",
		"detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
		"time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1",
		"resources": []string{"arn:aws:events:us-east-1:123456789012:rule/cpwarden-schedule"},
		"detail":    map[string]any{},
	}
}

// RecoveryParameters reads the cluster's recovery parameters (docs/contracts.md)
// by their last path segment: failure-count, restore-mode, restore-backup,
// restore-triggered-at, initialized.
func RecoveryParameters(ctx context.Context, sb *sandbox.Sandbox) (map[string]string, error) {
	c := "/" + sb.ClusterName
	names := []string{c + "/health/failure-count", c + "/cluster/restore-mode", c + "/cluster/restore-backup",
		c + "/cluster/restore-triggered-at", c + "/cluster/initialized"}
	out, err := sb.SSM().GetParameters(ctx, &ssm.GetParametersInput{Names: names})
	if err != nil {
		return nil, fmt.Errorf("read recovery parameters: %w", err)
	}
	m := map[string]string{}
	for _, p := range out.Parameters {
		n := aws.ToString(p.Name)
		for i := len(n) - 1; i >= 0; i-- {
			if n[i] == '/' {
				n = n[i+1:]
				break
			}
		}
		m[n] = aws.ToString(p.Value)
	}
	return m, nil
}
