package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/internal/sandbox"
)

func TestFlagNamesFollowTheVariables(t *testing.T) {
	for _, tc := range []struct {
		v    envnames.Var
		want string
	}{
		{envnames.ControlPlaneASG, "control-plane-asg"},
		{envnames.EtcdTLSSecretARN, "etcd-tls-secret-arn"},
		{envnames.LocalS3PathStyle, "local-s3-path-style"},
	} {
		if got := flagName(tc.v); got != tc.want {
			t.Errorf("flagName(%s) = %q, want %q", tc.v, got, tc.want)
		}
	}
	// Every setting has a flag.
	cmd := newRunCmd()
	for _, v := range append(envnames.All, envnames.Local...) {
		if cmd.Flags().Lookup(flagName(v)) == nil {
			t.Errorf("no flag for %s", v)
		}
	}
}

func TestRunRefusesWhatItCannotRun(t *testing.T) {
	t.Setenv(string(envnames.ClusterName), "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown workflow", []string{"run", "deploy"}, `unknown workflow "deploy"`},
		{"no cluster", []string{"run", "health", "--in-process"}, "--cluster-name"},
		{"input that is not JSON", []string{"run", "health", "--input", "run_test.go"}, "is not JSON"},
		{"an --emf-out it cannot write", []string{"run", "health", "--sandbox", "--emf-out", filepath.Join("no-such-dir", "emf.jsonl")}, "--emf-out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v (output %s), want one mentioning %q", err, out, tc.want)
			}
		})
	}
}

// TestRunHealthInTheSandbox runs `cpwarden run health --sandbox
// --in-process --history --emf-out`, checks the EMF file, then replays the
// written history with `cpwarden replay`.
func TestRunHealthInTheSandbox(t *testing.T) {
	dir := t.TempDir()
	history, emfFile := filepath.Join(dir, "health.json"), filepath.Join(dir, "health.emf.jsonl")
	out, err := runCLI(t, "run", "health", "--sandbox", "--in-process", "--history", history, "--emf-out", emfFile)
	if errors.Is(err, sandbox.ErrMissingTool) {
		t.Skipf("the sandbox needs a tool: %v", err)
	}
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	// One line per state, with its duration and outcome.
	for _, state := range []string{"HasOverride", "NoOverride", "Probe", "Decide", "Done"} {
		if !regexp.MustCompile(`(?m)^  ` + state + `\s+\w+\s+\d+(ms|\.\ds)\s+ok$`).MatchString(out) {
			t.Errorf("no progress line for %s:\n%s", state, out)
		}
	}
	// The summary decodes the metrics the probe emitted.
	for _, want := range []string{"SUCCEEDED", "K8sCluster/Health", "HealthyControlPlaneInstances", "3", "ConsecutiveHealthFailures",
		"[ClusterName,FunctionName] [ClusterName]", "cpwarden-local-health-probe", "history: " + history} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`HealthyControlPlaneInstances\s+3\s+1\s+Count`).MatchString(out) {
		t.Errorf("the probe did not count 3 healthy control-plane instances:\n%s", out)
	}
	recs := checkEMFFile(t, emfFile, out)
	if got := emf.Find(recs, "HealthyControlPlaneInstances", "ClusterName", "FunctionName"); len(got) != 1 || got[0].Sum() != 3 {
		t.Errorf("the EMF file's HealthyControlPlaneInstances: %+v, want one sample of 3", got)
	}
	rout, err := runCLI(t, "replay", "--history", history)
	if err != nil || !strings.Contains(rout, "no divergence") {
		t.Errorf("replay of the run's history: %v\n%s", err, rout)
	}
}

// checkEMFFile checks a file --emf-out wrote, for a run whose output is
// out: one EMF document a line, each a JSON object with an _aws member
// that decodes as CloudWatch would extract it, and together exactly the
// metrics the run reported (the table out shows, rebuilt from the file).
// It returns the file's metrics.
func checkEMFFile(t *testing.T, path, out string) []emf.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("--emf-out: %v", err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("--emf-out file is empty or does not end in a newline (%d bytes)", len(b))
	}
	var recs []emf.Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20) // a document is at most 1 MB (CloudWatch's event limit is 1 MiB)
	lines := 0
	for sc.Scan() {
		lines++
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", lines, err, sc.Bytes())
		}
		var meta struct {
			Timestamp         int64
			CloudWatchMetrics []json.RawMessage
		}
		if err := json.Unmarshal(doc["_aws"], &meta); err != nil || meta.Timestamp == 0 || len(meta.CloudWatchMetrics) == 0 {
			t.Fatalf("line %d has no _aws metadata with a Timestamp and CloudWatchMetrics (%v):\n%s", lines, err, sc.Bytes())
		}
		r, err := emf.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d does not decode as EMF: %v\n%s", lines, err, sc.Bytes())
		}
		recs = append(recs, r...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "EMF: "+path+" ("+strconv.Itoa(lines)+" documents)") {
		t.Errorf("output does not name %s with its %d documents:\n%s", path, lines, out)
	}
	var table strings.Builder
	if err := runner.MetricsTable(&table, recs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, table.String()) {
		t.Errorf("the metrics of the EMF file:\n%s\nare not the metrics the run reported:\n%s", table.String(), out)
	}
	return recs
}
