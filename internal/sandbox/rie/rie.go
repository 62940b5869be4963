// Package rie runs a Lambda binary (the cpwarden bootstrap, or any
// provided.al2023 runtime) under the AWS Lambda Runtime Interface Emulator on
// loopback, and invokes it as the Lambda service would: same Runtime API, same
// environment handling, same cold start, same error documents.
//
// One Function is one emulator process serving one execution environment, as
// one Lambda function with a concurrency of one. Several Functions can run at
// once: each gets its own two loopback ports (the invoke endpoint and the
// Runtime API, which the emulator would otherwise put on 127.0.0.1:9001 for
// all of them).
//
// A typical use:
//
//	f, err := rie.Start(ctx, rie.Options{Bootstrap: bin, Handler: "backup", Env: env, Output: w})
//	if err != nil { ... }
//	defer f.Stop()
//	out, err := f.Invoke(ctx, []byte(`{"ClusterName":"demo"}`))
//	var fe *rie.FunctionError
//	if errors.As(err, &fe) { ... fe.Type is the ASL error name ... }
package rie

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

// EnvBinary names the environment variable that overrides where the emulator
// is found.
const EnvBinary = "CPWARDEN_RIE"

// InstallHint says how to get the emulator where it is missing.
const InstallHint = "tools/rie/build.sh (make tools) installs it"

// ErrNotInstalled means no aws-lambda-rie executable was found.
var ErrNotInstalled = errors.New("aws-lambda-rie not found; " + InstallHint)

// Binary returns the emulator executable: $CPWARDEN_RIE, then the cache
// directory (CacheDir), then $PATH. The error wraps ErrNotInstalled when none
// exists.
func Binary() (string, error) {
	return proc.FindBinary(EnvBinary, "aws-lambda-rie", true, ErrNotInstalled)
}

// Options configure Start.
type Options struct {
	// Bootstrap is the Lambda binary to run. Required.
	Bootstrap string
	// Handler is the function's Handler setting, the runtime's _HANDLER.
	Handler string
	// FunctionName is AWS_LAMBDA_FUNCTION_NAME and the name in the invoked
	// function ARN the runtime sees (the EMF FunctionName dimension); empty
	// means Handler, or "function" when Handler is empty too.
	FunctionName string
	// Env is the function's environment, as the Lambda console's
	// environment variables plus whatever AWS would set (AWS_REGION,
	// credentials). The caller's own environment is not inherited, so a
	// developer's AWS profile or proxy settings never leak into a run.
	Env map[string]string
	// Timeout is the function timeout; zero means 300 s (the emulator's
	// default). Lambda counts it in whole seconds, so it is rounded up.
	Timeout time.Duration
	// MemoryMiB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE; zero means 128.
	MemoryMiB int
	// Dir is the working directory of the emulator and the function; empty
	// means the caller's.
	Dir string
	// Output receives, line by line, everything the emulator and the
	// function print: the function's stdout and stderr (EMF documents,
	// logs), the emulator's START/END/REPORT lines and its own log. Each
	// line is one Write call, so a writer shared by several Functions
	// (emf.LockedWriter, os.Stdout) keeps lines whole. Nil discards.
	Output io.Writer
	// StartTimeout bounds the wait for the emulator to listen; zero means
	// 15 s.
	StartTimeout time.Duration
	// Emulator is the aws-lambda-rie executable; empty means Binary().
	Emulator string
}

// Function is a running emulator serving one Lambda binary.
type Function struct {
	// URL is the emulator's base URL, http://127.0.0.1:<port>; invocations
	// go to URL + InvokePath.
	URL string
	// RuntimeAPI is the Runtime API address the function polls
	// (AWS_LAMBDA_RUNTIME_API), 127.0.0.1:<port>.
	RuntimeAPI string

	name   string
	proc   *proc.Process
	out    *lines
	client *http.Client

	mu      sync.Mutex // one invocation at a time, as in one execution environment
	pending string     // request ID of an invocation abandoned by its caller
}

// InvokePath is the emulator's invoke endpoint, relative to Function.URL.
const InvokePath = "/2015-03-31/functions/function/invocations"

// startAttempts bounds the retries when a picked port was taken by someone
// else between picking and binding.
const startAttempts = 3

// Start launches the emulator on two free loopback ports and returns once it
// accepts invocations. The function itself starts (its cold start) on the
// first Invoke, as on Lambda.
func Start(ctx context.Context, opts Options) (*Function, error) {
	if opts.Bootstrap == "" {
		return nil, errors.New("rie: Options.Bootstrap is required")
	}
	if _, err := os.Stat(opts.Bootstrap); err != nil {
		return nil, fmt.Errorf("rie: bootstrap: %w", err)
	}
	if opts.Emulator == "" {
		p, err := Binary()
		if err != nil {
			return nil, err
		}
		opts.Emulator = p
	}
	var errs []error
	for range startAttempts {
		f, err := start(ctx, opts)
		if err == nil {
			return f, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !errors.Is(err, errAddrInUse) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

var errAddrInUse = errors.New("address already in use")

func start(ctx context.Context, opts Options) (*Function, error) {
	// Another process can take a port before the emulator binds it, which
	// Start handles by retrying.
	ports, err := proc.FreePorts("127.0.0.1", 2)
	if err != nil {
		return nil, fmt.Errorf("rie: pick ports: %w", err)
	}
	invokeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	runtimeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))

	bootstrap, err := filepath.Abs(opts.Bootstrap)
	if err != nil {
		return nil, err
	}
	// Both addresses are explicit: the emulator's defaults are 0.0.0.0:8080
	// for invocations and 127.0.0.1:9001 for the Runtime API, one network
	// exposure and one port every instance would fight over. The log level
	// is explicit too, or the emulator would take the function's LOG_LEVEL.
	//
	// The emulator's stdout and stderr, which the function inherits as its
	// own, share one pipe (proc.Start): their relative order is kept, so an
	// invocation's log lines come before its REPORT line. Its own process
	// group keeps a terminal's Ctrl-C from reaching it: the caller gets it
	// and stops the emulator cleanly. SIGTERM goes to the emulator alone,
	// which stops the runtime (a group of its own); once the emulator is
	// gone, the runtime notices its Runtime API is, and exits, releasing
	// the pipe.
	out := newLines(opts.Output)
	p, err := proc.Start(proc.Spec{
		Name: "rie: aws-lambda-rie",
		Path: opts.Emulator,
		Args: []string{
			"--log-level", "info",
			"--runtime-interface-emulator-address", invokeAddr,
			"--runtime-api-address", runtimeAddr,
			bootstrap,
		},
		Dir:            opts.Dir,
		Env:            environ(opts),
		Output:         out,
		TailBytes:      8192,
		TermLeaderOnly: true,
	})
	if err != nil {
		return nil, err
	}
	f := &Function{
		URL:        "http://" + invokeAddr,
		RuntimeAPI: runtimeAddr,
		name:       functionName(opts),
		proc:       p,
		out:        out,
		// No overall timeout: the function's own timeout bounds an
		// invocation, and the caller's context bounds the wait.
		client: &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}},
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	if err := p.WaitReady(ctx, timeout, 2*time.Millisecond, f.listening(invokeAddr, runtimeAddr)); err != nil {
		_ = f.Stop()
		if errors.Is(err, proc.ErrExited) && strings.Contains(p.Tail(), "address already in use") {
			return nil, fmt.Errorf("rie: emulator could not bind %s and %s: %w", invokeAddr, runtimeAddr, errAddrInUse)
		}
		return nil, err
	}
	return f, nil
}

func functionName(opts Options) string {
	switch {
	case opts.FunctionName != "":
		return opts.FunctionName
	case opts.Handler != "":
		return opts.Handler
	}
	return "function"
}

// environ is the emulator's environment, which it passes on to the function.
func environ(opts Options) []string {
	env := map[string]string{}
	for k, v := range opts.Env {
		env[k] = v
	}
	timeout := 300
	if opts.Timeout > 0 {
		timeout = int((opts.Timeout + time.Second - 1) / time.Second)
	}
	mem := 128
	if opts.MemoryMiB > 0 {
		mem = opts.MemoryMiB
	}
	env["AWS_LAMBDA_FUNCTION_NAME"] = functionName(opts)
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(timeout)
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(mem)
	if opts.Handler != "" {
		env["_HANDLER"] = opts.Handler
	}
	// The variable switches the emulator to its Lambda Managed Instances
	// mode (a different API); a function environment never needs it here.
	delete(env, "AWS_LAMBDA_MAX_CONCURRENCY")
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// listening is the emulator's readiness check: both addresses accept
// connections, and the emulator is still alive a moment later (a listener
// that answered might be another process's, and ours then fails to bind).
func (f *Function) listening(addrs ...string) func(context.Context) error {
	var d net.Dialer
	return func(ctx context.Context) error {
		for _, a := range addrs {
			dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			c, err := d.DialContext(dctx, "tcp", a)
			cancel()
			if err != nil {
				return err
			}
			c.Close()
		}
		select {
		case <-f.proc.Exited():
			return errors.New("exited after its addresses answered")
		case <-time.After(20 * time.Millisecond):
			return nil
		}
	}
}

// FunctionError is a failed invocation as the Lambda service reports it:
// the function's error document. Type is the errorType (for cpwarden's
// workers, the ASL error name).
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
	// Payload is the error document as the emulator returned it: what Step
	// Functions records as the task failure's cause.
	Payload []byte `json:"-"`
}

func (e *FunctionError) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// Error types of failures the emulator reports without an error document,
// named as the Lambda service names them.
const (
	// ErrorTypeExit: the runtime process exited (during init without
	// reporting an init error, or during an invocation).
	ErrorTypeExit = "Runtime.ExitError"
	// ErrorTypeTimeout: the invocation ran past the function timeout.
	ErrorTypeTimeout = "Sandbox.Timedout"
)

// reportWait bounds the wait, after the emulator answered, for the
// invocation's last output line to come through the pipe.
const reportWait = 5 * time.Second

// Invoke runs one invocation and returns the function's response payload.
// A function error (a handled error, a panic, an init failure, a timeout)
// is a *FunctionError; any other error means the emulator could not be
// reached or misbehaved. Calls are serialised: one execution environment
// runs one invocation at a time.
//
// When Invoke returns, every line the invocation printed (its EMF documents
// included) has been written to Options.Output.
//
// Cancelling ctx abandons the wait, not the invocation: the emulator runs it
// to its end or its timeout, and the next Invoke waits for that first.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending != "" {
		if err := f.out.wait(ctx, f.pending, f.proc.Exited(), 0); err != nil {
			return nil, fmt.Errorf("rie: %s: an abandoned invocation is still running: %w", f.name, err)
		}
		f.pending = ""
	}
	id := requestID()
	f.out.expect(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+InvokePath, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	// The emulator uses the caller's request ID: it is how this invocation's
	// REPORT line is recognised.
	req.Header.Set("X-Amzn-RequestId", id)
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			f.pending = id
		} else {
			f.out.forget(id)
		}
		select {
		case <-f.proc.Exited():
			return nil, fmt.Errorf("rie: %s: emulator exited (%v): %w", f.name, f.proc.ExitErr(), err)
		default:
		}
		return nil, fmt.Errorf("rie: invoke %s: %w", f.name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		f.pending = id
		return nil, fmt.Errorf("rie: invoke %s: reading the response: %w", f.name, err)
	}
	// The emulator prints the invocation's REPORT line, or its failure, just
	// before it answers; wait for the pipe to deliver it, so the caller sees
	// all of the invocation's output.
	_ = f.out.wait(ctx, id, f.proc.Exited(), reportWait)
	f.out.forget(id)
	return result(resp.StatusCode, body)
}

// result turns the emulator's answer into Invoke's.
func result(status int, body []byte) ([]byte, error) {
	switch status {
	case http.StatusOK:
		if fe := errorDocument(body); fe != nil {
			return nil, fe
		}
		// A timeout is answered 200 with a plain-text message.
		if msg := string(bytes.TrimSpace(body)); strings.HasPrefix(msg, "Task timed out after") {
			return nil, &FunctionError{Type: ErrorTypeTimeout, Message: msg, Payload: body}
		}
		return body, nil
	case http.StatusBadGateway:
		// A runtime that panicked, exited, or failed its init: the error
		// document when the runtime reported one, else nothing.
		if fe := errorDocument(body); fe != nil {
			return nil, fe
		}
		fe := &FunctionError{Type: ErrorTypeExit, Message: "the runtime process exited without reporting an error (its output says why)"}
		fe.Payload, _ = json.Marshal(fe)
		return nil, fe
	}
	return nil, fmt.Errorf("rie: emulator answered %d: %s", status, bytes.TrimSpace(body))
}

// errorDocument recognises a function error document: a JSON object with
// errorType and errorMessage and nothing but stackTrace and requestId
// besides. A handled error comes back with status 200 like a result; no
// cpwarden worker result has that shape.
func errorDocument(body []byte) *FunctionError {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	if _, ok := m["errorType"]; !ok {
		return nil
	}
	if _, ok := m["errorMessage"]; !ok {
		return nil
	}
	for k := range m {
		switch k {
		case "errorType", "errorMessage", "stackTrace", "requestId":
		default:
			return nil
		}
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) != nil {
		return nil
	}
	fe.Payload = bytes.TrimSpace(body)
	return &fe
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Reports returns the REPORT lines printed so far, one per finished
// invocation, oldest first.
func (f *Function) Reports() []Report { return f.out.reports() }

// Inits returns the runtime inits so far, oldest first: the first is the
// cold start. (The emulator also prints an "Init Duration" in the first
// REPORT line, but it measures only the hand-off of the init request, about
// 0.05 ms; the init itself is what it logs as INIT REPORT.)
func (f *Function) Inits() []Init { return f.out.inits() }

// Exited is closed when the emulator process has exited.
func (f *Function) Exited() <-chan struct{} { return f.proc.Exited() }

// Tail is the end of the emulator's and the function's output, for error
// messages.
func (f *Function) Tail() string { return f.proc.Tail() }

// Stop stops the emulator, which stops the function (SIGKILL to its
// runtime), and waits for both: its error says the function's runtime kept
// its output open after the emulator stopped. It is safe to call more than
// once.
func (f *Function) Stop() error {
	err := f.proc.Stop()
	f.client.CloseIdleConnections()
	return err
}
