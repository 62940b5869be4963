package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/sandbox"
	"github.com/cpwarden/cpwarden/statemachines"
)

// TestDemoTellsTheStoryAndItsHistoriesReplay runs `cpwarden demo` with the
// workers in process (the end-to-end test in e2e/ runs the same scenario
// through the Lambda binary and checks every system), then replays each
// history it wrote and checks the EMF documents it wrote.
func TestDemoTellsTheStoryAndItsHistoriesReplay(t *testing.T) {
	dir := t.TempDir()
	emfFile := filepath.Join(t.TempDir(), "demo.emf.jsonl")
	out, err := runCLI(t, "demo", "--in-process", "--history-dir", dir, "--emf-out", emfFile)
	if errors.Is(err, sandbox.ErrMissingTool) {
		t.Skipf("the sandbox needs a tool: %v", err)
	}
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"caught Drain.Incomplete", "caught Etcd.QuorumAtRisk", "lifecycle action CONTINUE",
		"FAILED in", "→ TriggerRecovery", "→ ReportRecovered",
		"unschedulable=true", "restore-mode=false", "initialized=true",
		"ClusterRecovered", "AutoRecoveryTriggered", "QuorumRiskDetected", "BackupFailure", "LifecycleHandlerDuration",
		"demo finished in",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	recs := checkEMFFile(t, emfFile, out)
	for _, name := range []string{"ClusterRecovered", "AutoRecoveryTriggered", "QuorumRiskDetected", "BackupFailure", "LifecycleHandlerDuration"} {
		if len(emf.Find(recs, name, "ClusterName")) == 0 {
			t.Errorf("the EMF file has no %s by ClusterName", name)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) != 8 {
		t.Fatalf("history files %v (%v), want one per execution (8)", files, err)
	}
	for _, f := range files {
		rout, err := runCLI(t, "replay", "--history", f)
		if err != nil || !strings.Contains(rout, "no divergence") {
			t.Errorf("replay %s: %v\n%s", filepath.Base(f), err, rout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "02-lifecycle.json")); err != nil {
		t.Errorf("no lifecycle history: %v", err)
	}
}

// TestReadmeShowsTheCurrentWorkflows keeps the README's pictures of the
// workflows in step with their definitions.
func TestReadmeShowsTheCurrentWorkflows(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range statemachines.Workflows() {
		g := statemachines.Mermaid(w.Definition(statemachines.TemplateResource))
		if !strings.Contains(string(readme), "```mermaid\n"+g+"```") {
			t.Errorf("README.md's %s graph is stale: replace it with the output of `go run ./cmd/cpwarden graph %s --markdown`", w.Name, w.Name)
		}
	}
}
