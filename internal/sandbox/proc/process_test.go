package proc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
)

func startSh(t *testing.T, script string, spec proc.Spec) *proc.Process {
	t.Helper()
	spec.Name, spec.Path, spec.Args = "sh", "/bin/sh", []string{"-c", script}
	p, err := proc.Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// TestWaitReadyWaitsForTheCheck: ready once the process has made its
// readiness visible, with its output copied to Spec.Output in order.
func TestWaitReadyWaitsForTheCheck(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ready")
	var out testnet.Buffer
	p := startSh(t, "echo one; echo two >&2; touch "+marker+"; exec sleep 60", proc.Spec{Output: &out})
	err := p.WaitReady(t.Context(), 10*time.Second, time.Millisecond, func(context.Context) error {
		_, err := os.Stat(marker)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "one\ntwo\n" {
		t.Fatalf("output %q, want both lines in order", got)
	}
	if p.Tail() != "one\ntwo\n" {
		t.Fatalf("tail %q", p.Tail())
	}
}

func TestWaitReadyReportsAnEarlyExitWithTheOutput(t *testing.T) {
	p := startSh(t, "echo cannot bind; exit 3", proc.Spec{})
	err := p.WaitReady(t.Context(), 10*time.Second, time.Millisecond, func(context.Context) error { return errors.New("not yet") })
	if !errors.Is(err, proc.ErrExited) || !strings.Contains(err.Error(), "cannot bind") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v, want ErrExited with the exit status and the output", err)
	}
}

func TestWaitReadyGivesUpAtTheTimeout(t *testing.T) {
	p := startSh(t, "exec sleep 60", proc.Spec{})
	err := p.WaitReady(t.Context(), 50*time.Millisecond, time.Millisecond, func(context.Context) error { return errors.New("no answer") })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("err = %v, want the deadline and the check's last error", err)
	}
}

// TestStopKillsWhatIgnoresSIGTERM: after the grace period the whole group
// is killed, children included; a second Stop returns at once.
func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	p := startSh(t, "trap '' TERM; sleep 60 & echo started; wait", proc.Spec{Grace: 50 * time.Millisecond})
	if err := p.WaitReady(t.Context(), 10*time.Second, time.Millisecond, func(context.Context) error {
		if p.Tail() == "" {
			return errors.New("no output yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The child sleep holds the output pipe too: Stop returning means the
	// group's kill reached it.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("still running after Stop")
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}
