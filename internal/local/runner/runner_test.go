package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// workersAnswering registers, for each handler, a worker wrapped in the EMF
// step middleware that answers from a script: JSON, or an error name.
func workersAnswering(script map[workers.Handler][]string, emfOut *bytes.Buffer) *asl.Functions {
	fns := asl.NewFunctions()
	for h, answers := range script {
		n := 0
		step := emf.Step(h.Step(), h.Namespace(), func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
			a := answers[min(n, len(answers)-1)]
			n++
			if !strings.HasPrefix(a, "{") {
				return nil, messages.InvokeResponse_Error{Type: a, Message: a}
			}
			_ = emf.FromContext(ctx).PutMetric("Answered", 1, types.StandardUnitCount)
			return json.RawMessage(a), nil
		}, emf.WithWriter(emfOut), emf.WithDimension("ClusterName", "c1"))
		fns.Handle(statemachines.LocalFunctionName(h), step)
	}
	return fns
}

func TestRunPrintsOneLinePerStateWithItsOutcome(t *testing.T) {
	var emfOut, progress bytes.Buffer
	fns := workersAnswering(map[workers.Handler][]string{workers.Backup: {"Etcd.Unavailable"}}, &emfOut)
	res, err := runner.Run(t.Context(), runner.Options{
		Workflow: statemachines.Backup(), Cluster: "c1", Resolver: fns, Progress: &progress, VirtualTime: true,
		Metrics: func() []byte { b := bytes.Clone(emfOut.Bytes()); emfOut.Reset(); return b },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Execution.Status != asl.StatusFailed || res.Execution.Error != "Etcd.Unavailable" {
		t.Fatalf("execution %s %s, want FAILED Etcd.Unavailable", res.Execution.Status, res.Execution.Error)
	}
	for _, line := range []string{
		`HasOverride\s+Choice\s+0ms\s+ok`,
		`Backup\s+Task\s+\S+\s+caught Etcd.Unavailable \(after retrying Etcd.Unavailable ×3\)`,
		`BackupFailed\s+Fail\s+\S+\s+FAILED Etcd.Unavailable: .*`,
	} {
		if !regexp.MustCompile(`(?m)^  ` + line + `$`).MatchString(progress.String()) {
			t.Errorf("progress lacks a line like %q:\n%s", line, progress.String())
		}
	}
	want := []string{"HasOverride", "NoOverride", "BuildRequest", "Backup", "BackupFailed"}
	if strings.Join(res.Path, ",") != strings.Join(want, ",") {
		t.Errorf("path %v, want %v", res.Path, want)
	}
	// Four attempts, each its step's failure with both dimension sets.
	failure := workers.Backup.Step() + "Failure"
	if n := len(emf.Find(res.Metrics, failure, "ClusterName", "FunctionName")); n != 4 {
		t.Errorf("%d %s datums, want 4 (one per attempt)", n, failure)
	}
	var table bytes.Buffer
	if err := res.Summary(&table); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`K8sCluster/EtcdBackup\s+` + failure + `\s+4\s+4\s+Count\s+\[ClusterName,FunctionName\] \[ClusterName\]`).MatchString(table.String()) {
		t.Errorf("summary:\n%s", table.String())
	}
}

func TestRunStampsTheHistoryWithTheExecutionsStart(t *testing.T) {
	var emfOut bytes.Buffer
	fns := workersAnswering(map[workers.Handler][]string{workers.HealthProbe: {`{"Action":"None"}`}}, &emfOut)
	res, err := runner.Run(t.Context(), runner.Options{Workflow: statemachines.Health(), Cluster: "c1", Resolver: fns})
	if err != nil {
		t.Fatal(err)
	}
	first := res.Events[0]
	if first.Type != asl.EventExecutionStarted || !first.Timestamp.Equal(res.Execution.StartTime) {
		t.Errorf("first event %s at %s, want ExecutionStarted at the execution's start %s", first.Type, first.Timestamp, res.Execution.StartTime)
	}
	var h bytes.Buffer
	if err := runner.WriteHistory(&h, res.Events); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Events []json.RawMessage }
	if err := json.Unmarshal(h.Bytes(), &doc); err != nil || len(doc.Events) != len(res.Events) {
		t.Errorf("history document with %d events (%v), want %d", len(doc.Events), err, len(res.Events))
	}
}

func TestRunNeedsAResolver(t *testing.T) {
	if _, err := runner.Run(t.Context(), runner.Options{Workflow: statemachines.Health(), Cluster: "c1"}); err == nil {
		t.Error("Run without a resolver succeeded")
	}
}
