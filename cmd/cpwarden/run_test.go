package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/envnames"
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
// --in-process --history`, then replays the written history with `cpwarden
// replay`.
func TestRunHealthInTheSandbox(t *testing.T) {
	history := filepath.Join(t.TempDir(), "health.json")
	out, err := runCLI(t, "run", "health", "--sandbox", "--in-process", "--history", history)
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
	rout, err := runCLI(t, "replay", "--history", history)
	if err != nil || !strings.Contains(rout, "no divergence") {
		t.Errorf("replay of the run's history: %v\n%s", err, rout)
	}
}
