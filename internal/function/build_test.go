package function

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/workers"
)

// setAWSEnv gives the SDK a region and credentials and nothing from the
// machine it runs on.
func setAWSEnv(t *testing.T, region string) {
	for k, v := range moto.ClientEnv("http://127.0.0.1:1") {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
}

func TestSetupBuildsEveryHandler(t *testing.T) {
	setAWSEnv(t, "eu-west-1")
	for _, h := range workers.All {
		t.Run(string(h), func(t *testing.T) {
			var logs bytes.Buffer
			fn, err := Setup(t.Context(), Process{LookupEnv: lookup(validEnv(h)), Stdout: io.Discard, Stderr: &logs})
			if err != nil {
				t.Fatalf("setup: %v", err)
			}
			if fn.Handler == nil || fn.Config.Handler != h {
				t.Fatalf("no handler for %s", h)
			}
			fn.Log.Info("ready")
			if !strings.Contains(logs.String(), `"handler":"`+string(h)+`"`) {
				t.Fatalf("logs do not say which function logged: %s", logs.String())
			}
		})
	}
}

func TestSetupNeedsARegion(t *testing.T) {
	setAWSEnv(t, "")
	_, err := Setup(t.Context(), Process{LookupEnv: lookup(validEnv(workers.CompleteLifecycle)), Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.HasPrefix(err.Error(), "AWS_REGION: required") {
		t.Fatalf("err = %v, want one naming AWS_REGION", err)
	}
}

func TestSetupFailsOnConfigBeforeAnythingElse(t *testing.T) {
	setAWSEnv(t, "")
	env := validEnv(workers.Drain)
	env["KUBE_SECRET_ARN"] = ""
	_, err := Setup(t.Context(), Process{LookupEnv: lookup(env), Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || err.Error() != "KUBE_SECRET_ARN: required" {
		t.Fatalf("err = %v, want the variable's error alone", err)
	}
}

// TestDrainGetsItsUnmanagedPodsPolicy: DRAIN_UNMANAGED_PODS reaches the
// drain worker's Config.
func TestDrainGetsItsUnmanagedPodsPolicy(t *testing.T) {
	for value, want := range map[string]bool{"refuse": false, "delete": true, "": false} {
		env := validEnv(workers.Drain)
		env["DRAIN_UNMANAGED_PODS"] = value
		cfg, err := LoadConfig(lookup(env))
		if err != nil {
			t.Fatalf("%q: %v", value, err)
		}
		if got := drainConfig(cfg, nil).DeleteUnmanagedPods; got != want {
			t.Errorf("DRAIN_UNMANAGED_PODS=%q: drain.Config.DeleteUnmanagedPods = %v, want %v", value, got, want)
		}
	}
}

// BenchmarkSetup is the bootstrap's own share of a cold start: reading the
// configuration and building the clients of the heaviest handler (package
// initialisation, the larger share, happens before main; see
// bench/coldstart).
func BenchmarkSetup(b *testing.B) {
	for k, v := range moto.ClientEnv("http://127.0.0.1:1") {
		b.Setenv(k, v)
	}
	env := lookup(validEnv(workers.HealthProbe))
	for b.Loop() {
		if _, err := Setup(b.Context(), Process{LookupEnv: env, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}
