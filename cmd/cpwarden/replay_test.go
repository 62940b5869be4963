package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// runCLI runs the CLI with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// recordHealth writes the history of a health execution for cluster c1
// whose probe asks for recovery, run with scripted workers.
func recordHealth(t *testing.T) string {
	t.Helper()
	sm, err := runner.Deployed(statemachines.Health(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	fns := asl.NewFunctions()
	answer := map[workers.Handler]string{
		workers.HealthProbe:     `{"ClusterName":"c1","Action":"TriggerRecovery","ConsecutiveFailures":3}`,
		workers.TriggerRecovery: `{"Triggered":true,"BackupKey":"b/c1/etcd-snapshot-20261127-000000.db"}`,
		workers.ReportRecovered: "",
	}
	for h, a := range answer {
		fns.Handle(statemachines.LocalFunctionName(h), func(context.Context, json.RawMessage) (json.RawMessage, error) {
			if a == "" {
				return nil, messages.InvokeResponse_Error{Type: "Worker.Internal", Message: "not expected"}
			}
			return json.RawMessage(a), nil
		})
	}
	eng, err := asl.NewEngine(sm, asl.Options{Resolver: fns, StartTime: time.Date(2026, 11, 27, 1, 2, 3, 456_789_000, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := eng.Run(t.Context(), json.RawMessage(`{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "health.json")
	if err := writeHistoryFile(path, exec.Events()); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReplayCommandFindsNoDivergenceAgainstTheCurrentDefinition(t *testing.T) {
	out, err := runCLI(t, "replay", "--history", recordHealth(t))
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	for _, want := range []string{`(health workflow, cluster "c1"`, "TriggerRecovery", "no divergence"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestReplayCommandFailsAtTheStateAChangedDefinitionLeaves(t *testing.T) {
	history := recordHealth(t)
	def, err := runCLI(t, "definitions", "health")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(def, `"StringEquals": "TriggerRecovery"`, `"StringEquals": "Restore"`, 1)
	if changed == def {
		t.Fatal("the health definition has no TriggerRecovery rule to change")
	}
	file := filepath.Join(t.TempDir(), "health.asl.json")
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "replay", "--history", history, "--definition", file)
	if !errors.Is(err, errDiverged) {
		t.Fatalf("replay against a changed definition: %v, want errDiverged\n%s", err, out)
	}
	if !strings.Contains(out, "path differs at step 5 (Done)") || !strings.Contains(out, "recorded: entered TriggerRecovery") {
		t.Errorf("output does not name the divergence:\n%s", out)
	}
}

func TestReplayCommandRefusesBadArguments(t *testing.T) {
	history := recordHealth(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"replay"}, "one of --history and --execution-arn"},
		{"two sources", []string{"replay", "--history", history, "--execution-arn", "arn:aws:states:us-east-1:1:execution:a:b"}, "one of --history"},
		{"unknown workflow", []string{"replay", "--history", history, "--workflow", "nope"}, `unknown workflow "nope"`},
		{"the wrong workflow", []string{"replay", "--history", history, "--workflow", "backup"}, "path differs at step 3"},
		{"missing file", []string{"replay", "--history", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, tc.args...)
			if err == nil || !strings.Contains(out+err.Error(), tc.want) {
				t.Errorf("err %v, output:\n%s\nwant an error mentioning %q", err, out, tc.want)
			}
		})
	}
}
