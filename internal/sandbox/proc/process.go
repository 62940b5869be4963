package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Spec says how to run a child process.
type Spec struct {
	// Name names the process in errors ("moto_server").
	Name string
	// Path and Args are the executable and its arguments (without the
	// program name).
	Path string
	Args []string
	// Dir is the working directory; empty means the caller's.
	Dir string
	// Env is the environment; nil means the caller's.
	Env []string
	// Output receives the process's stdout and stderr, through one pipe so
	// their order is kept; nil discards them. It is written from one
	// goroutine.
	Output io.Writer
	// TailBytes is how much of the output Tail keeps; zero means 4096.
	TailBytes int
	// Grace is how long Stop waits after SIGTERM before it sends SIGKILL
	// to the process group; zero means 5s.
	Grace time.Duration
	// TermLeaderOnly sends Stop's SIGTERM to the process alone rather than
	// to its process group: for a process that stops children of its own
	// (which have groups of their own) when it is asked to.
	TermLeaderOnly bool
}

// Process is a running child process. It runs in a process group of its
// own, so Stop reaches whatever it spawns, and it is killed when the thread
// that started it exits (Pdeathsig): in a Go program, when the caller dies
// without stopping it.
type Process struct {
	spec   Spec
	cmd    *exec.Cmd
	tail   *Tail
	exited chan struct{} // closed when the process has exited
	copied chan struct{} // closed when its output is fully copied

	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// copyWait bounds the wait, after the process exited, for the rest of its
// output: a child that inherited the pipe can hold it open.
const copyWait = 5 * time.Second

// Start starts the process. It does not wait for it to be ready: see
// WaitReady.
func Start(spec Spec) (*Process, error) {
	if spec.TailBytes == 0 {
		spec.TailBytes = 4096
	}
	if spec.Grace == 0 {
		spec.Grace = 5 * time.Second
	}
	out := spec.Output
	if out == nil {
		out = io.Discard
	}
	p := &Process{
		spec:   spec,
		tail:   &Tail{Max: spec.TailBytes},
		exited: make(chan struct{}),
		copied: make(chan struct{}),
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A pipe of our own rather than exec's: Wait would otherwise also wait
	// for every child that inherited it, and exited would mean "exited and
	// all its children closed their output".
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("%s: start %s: %w", spec.Name, spec.Path, err)
	}
	w.Close()
	p.cmd = cmd
	go func() {
		_, _ = io.Copy(io.MultiWriter(out, p.tail), r)
		if f, ok := out.(interface{ Flush() }); ok {
			f.Flush()
		}
		r.Close()
		close(p.copied)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process's ID (and its process group's).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is what waiting for the process returned; valid once Exited is
// closed.
func (p *Process) ExitErr() error { return p.waitErr }

// Tail is the end of the process's output, for error messages.
func (p *Process) Tail() string { return p.tail.String() }

// ErrExited means the process exited before it was ready.
var ErrExited = errors.New("exited before it was ready")

// WaitReady calls ready every interval until it returns nil, and returns
// nil then. It returns an error wrapping ErrExited (with the process's
// output) when the process exits first, and one wrapping ctx's error (with
// ready's last error and the output) when ctx ends or timeout passes.
// Nothing sleeps: each wait is on the process, ctx or the next tick.
func (p *Process) WaitReady(ctx context.Context, timeout, interval time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		last := ready(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-p.exited:
			select {
			case <-p.copied:
			case <-time.After(copyWait):
			}
			return fmt.Errorf("%s %w (%v); output:\n%s", p.spec.Name, ErrExited, p.waitErr, p.Tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v (%v): %w; output:\n%s", p.spec.Name, timeout, last, ctx.Err(), p.Tail())
		case <-tick.C:
		}
	}
}

// Stop asks the process to stop (SIGTERM), kills its process group after
// Spec.Grace, and waits for it to exit and for its output to be copied. It
// is safe to call more than once and from several goroutines; each call
// returns the first call's error, which says output was still held open
// copyWait after the process exited.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		pid := p.cmd.Process.Pid
		if p.spec.TermLeaderOnly {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		} else {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
		}
		select {
		case <-p.exited:
		case <-time.After(p.spec.Grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.exited
		}
		select {
		case <-p.copied:
		case <-time.After(copyWait):
			p.stopErr = fmt.Errorf("%s: its output was still open %v after it exited", p.spec.Name, copyWait)
		}
	})
	return p.stopErr
}

// HTTPReady is a readiness check for WaitReady: a GET of url with client
// that answers status (any status when status is 0).
func HTTPReady(client *http.Client, url string, status int) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if status != 0 && resp.StatusCode != status {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return nil
	}
}
