package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateChecksOurWorkflowsAndFiles(t *testing.T) {
	out, err := execute(t, newValidateCmd())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"lifecycle: ok", "backup: ok", "health: ok", "template: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	golden := filepath.Join("..", "..", "statemachines", "testdata", "health.asl.json")
	if out, err := execute(t, newValidateCmd(), golden); err != nil {
		t.Fatalf("the golden health definition is invalid: %v\n%s", err, out)
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.asl.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), `"Next": "Decide"`, `"Next": "Nowhere"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = execute(t, newValidateCmd(), bad)
	if err == nil || !strings.Contains(out, "INVALID") || !strings.Contains(out, "Nowhere") {
		t.Fatalf("a dangling Next passed (%v):\n%s", err, out)
	}

	// Placeholders are substituted as CloudFormation does: one without a
	// value is an error, as at deploy time, unless --substitute gives it.
	foreign := filepath.Join(t.TempDir(), "foreign.asl.json")
	if err := os.WriteFile(foreign, []byte(strings.Replace(string(b), "${HealthProbeFunctionArn}", "${MyProbeArn}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = execute(t, newValidateCmd(), foreign)
	if err == nil || !strings.Contains(out, "INVALID") || !strings.Contains(out, "MyProbeArn") || !strings.Contains(out, "--substitute") {
		t.Fatalf("a placeholder without a value passed (%v):\n%s", err, out)
	}
	arn := "arn:aws:lambda:eu-west-1:123456789012:function:my-probe"
	if out, err := execute(t, newValidateCmd(), "--substitute", "MyProbeArn="+arn, foreign); err != nil || !strings.Contains(out, "foreign.asl.json: ok") {
		t.Fatalf("--substitute MyProbeArn=...: %v\n%s", err, out)
	}
}
