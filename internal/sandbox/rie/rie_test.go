package rie_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/sandbox/rie"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
)

// fnBinary is the test function (testdata/fn), built once per test binary.
var fnBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rie-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	fnBinary, err = rie.Build(ctx, rie.BuildOptions{Package: "./testdata/fn", Output: filepath.Join(dir, "fn")})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func start(t *testing.T, opts rie.Options) (*rie.Function, *testnet.Buffer) {
	t.Helper()
	out := &testnet.Buffer{}
	opts.Bootstrap = fnBinary
	if opts.Output == nil {
		opts.Output = out
	}
	return sandboxtest.Function(t, opts), out
}

func invoke(t *testing.T, f *rie.Function, payload string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return f.Invoke(ctx, []byte(payload))
}

func TestInvokeReturnsThePayloadAndTheOutputBeforeReturning(t *testing.T) {
	f, out := start(t, rie.Options{Handler: "echo"})
	got, err := invoke(t, f, `{"echo":{"a":1},"print":["line-one","{\"k\":2}"]}`)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if string(got) != `{"a":1}` {
		t.Fatalf("payload = %s, want {\"a\":1}", got)
	}
	// No waiting: Invoke returns after the invocation's output is through.
	text := out.String()
	for _, want := range []string{"line-one\n", "{\"k\":2}\n", "REPORT RequestId: "} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "line-one") > strings.Index(text, "REPORT RequestId: ") {
		t.Fatalf("the function's line came after the REPORT line:\n%s", text)
	}
	reps := f.Reports()
	if len(reps) != 1 || reps[0].RequestID == "" || reps[0].Duration <= 0 {
		t.Fatalf("Reports = %+v, want one with a request ID and a duration", reps)
	}
	inits := f.Inits()
	if len(inits) != 1 || inits[0].Phase != "init" || inits[0].Status != "success" || inits[0].Duration <= 0 {
		t.Fatalf("Inits = %+v, want one successful cold init with a duration", inits)
	}

	// A warm invocation: no second init.
	if _, err := invoke(t, f, `{"echo":2}`); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Inits()); n != 1 {
		t.Fatalf("warm invocation re-initialised the runtime (%d inits)", n)
	}
	if n := len(f.Reports()); n != 2 {
		t.Fatalf("%d reports after two invocations", n)
	}
}

func TestFunctionErrorsComeBackTyped(t *testing.T) {
	f, out := start(t, rie.Options{Handler: "errors", Timeout: time.Second})
	cases := []struct {
		name     string
		payload  string
		wantType string
		wantMsg  string
	}{
		{"an InvokeResponse_Error keeps its type", `{"error":{"errorType":"Etcd.QuorumAtRisk","errorMessage":"2 of 3 healthy"}}`, "Etcd.QuorumAtRisk", "2 of 3 healthy"},
		{"another error is named by its Go type", `{"plain":"boom"}`, "errorString", "boom"},
		{"a panic is reported and the runtime restarts", `{"panic":"oops"}`, "string", "oops"},
		{"a timeout is Sandbox.Timedout", `{"sleepMs":3000}`, rie.ErrorTypeTimeout, "Task timed out after 1.00 seconds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := invoke(t, f, c.payload)
			var fe *rie.FunctionError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FunctionError", err)
			}
			if fe.Type != c.wantType || fe.Message != c.wantMsg {
				t.Fatalf("got %s / %q, want %s / %q", fe.Type, fe.Message, c.wantType, c.wantMsg)
			}
			if len(fe.Payload) == 0 {
				t.Fatal("no error payload")
			}
			// The environment still serves invocations afterwards.
			got, err := invoke(t, f, `{"echo":"after"}`)
			if err != nil || string(got) != `"after"` {
				t.Fatalf("next invocation: %s, %v\n%s", got, err, out)
			}
		})
	}
}

func TestResultThatLooksLikeAnErrorOnlyInPartIsAResult(t *testing.T) {
	f, _ := start(t, rie.Options{})
	payload := `{"echo":{"errorType":"x","errorMessage":"y","Other":1}}`
	got, err := invoke(t, f, payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if !strings.Contains(string(got), `"Other":1`) {
		t.Fatalf("payload = %s", got)
	}
}

func TestInitFailure(t *testing.T) {
	cases := []struct {
		name, mode, wantType, wantOutput string
	}{
		{"a runtime that reports its init error", "report", "Runtime.InitError", "fn: CLUSTER_NAME: required"},
		{"a runtime that just exits", "exit", rie.ErrorTypeExit, "fn: init failed on purpose"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, out := start(t, rie.Options{Env: map[string]string{"FAIL_INIT": c.mode}})
			for i := range 2 { // Lambda retries the init at the next invocation
				_, err := invoke(t, f, `{}`)
				var fe *rie.FunctionError
				if !errors.As(err, &fe) || fe.Type != c.wantType {
					t.Fatalf("invocation %d: err = %v, want a %s function error", i, err, c.wantType)
				}
			}
			if !strings.Contains(out.String(), c.wantOutput) {
				t.Fatalf("the function's stderr is not in the output:\n%s", out)
			}
			inits := f.Inits()
			if len(inits) == 0 || inits[0].Status != "error" {
				t.Fatalf("Inits = %+v, want a failed first init", inits)
			}
		})
	}
}

func TestEnvironmentIsExactlyWhatWasGiven(t *testing.T) {
	t.Setenv("CPWARDEN_RIE_TEST_LEAK", "from-the-caller")
	f, _ := start(t, rie.Options{
		Handler:      "health-probe",
		FunctionName: "cpwarden-demo-health-probe",
		Env:          map[string]string{"CLUSTER_NAME": "demo", "AWS_LAMBDA_MAX_CONCURRENCY": "4"},
	})
	got, err := invoke(t, f, `{"env":["_HANDLER","CLUSTER_NAME","AWS_LAMBDA_FUNCTION_NAME","AWS_LAMBDA_RUNTIME_API","CPWARDEN_RIE_TEST_LEAK","AWS_LAMBDA_MAX_CONCURRENCY","HOME"]}`)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(got, &env); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"_HANDLER":                   "health-probe",
		"CLUSTER_NAME":               "demo",
		"AWS_LAMBDA_FUNCTION_NAME":   "cpwarden-demo-health-probe",
		"AWS_LAMBDA_RUNTIME_API":     f.RuntimeAPI,
		"CPWARDEN_RIE_TEST_LEAK":     nil,
		"AWS_LAMBDA_MAX_CONCURRENCY": nil,
		"HOME":                       nil,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %v, want %v", k, env[k], v)
		}
	}
	if !strings.HasPrefix(f.RuntimeAPI, "127.0.0.1:") || f.RuntimeAPI == "127.0.0.1:9001" {
		t.Errorf("Runtime API at %s, want a loopback port of its own", f.RuntimeAPI)
	}
}

// TestEmulatorListensOnLoopbackOnly reads the emulator's listening sockets
// from /proc: the invoke endpoint and the Runtime API, both on 127.0.0.1.
func TestEmulatorListensOnLoopbackOnly(t *testing.T) {
	f, _ := start(t, rie.Options{})
	if _, err := invoke(t, f, `{"echo":1}`); err != nil { // the Runtime API is in use now
		t.Fatal(err)
	}
	pid, err := emulatorPID(f)
	if err != nil {
		t.Fatal(err)
	}
	listening, err := listeningSockets(pid)
	if err != nil {
		t.Skipf("cannot read the sockets of pid %d: %v", pid, err)
	}
	if len(listening) != 2 {
		t.Fatalf("emulator listens on %v, want exactly the invoke endpoint and the Runtime API", listening)
	}
	for _, a := range listening {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("emulator listens on %s: not loopback", a)
		}
	}
}

func TestSeveralFunctionsRunAtOnce(t *testing.T) {
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	fs := make([]*rie.Function, n)
	for i := range n {
		wg.Go(func() {
			f, err := rie.Start(t.Context(), rie.Options{Bootstrap: fnBinary, Handler: "h" + strconv.Itoa(i)})
			if err != nil {
				errs[i] = err
				return
			}
			fs[i] = f
			got, err := f.Invoke(t.Context(), []byte(`{"env":["_HANDLER"]}`))
			if err == nil && !strings.Contains(string(got), `"_HANDLER":"h`+strconv.Itoa(i)+`"`) {
				err = fmt.Errorf("function %d answered %s", i, got)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, f := range fs {
		if f != nil {
			defer f.Stop()
		}
	}
	for i, err := range errs {
		if errors.Is(err, rie.ErrNotInstalled) {
			sandboxtest.Require(t, err, "start the functions")
		}
		if err != nil {
			t.Errorf("function %d: %v", i, err)
		}
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if f == nil {
			continue
		}
		for _, a := range []string{f.URL, f.RuntimeAPI} {
			if seen[a] {
				t.Errorf("address %s used twice", a)
			}
			seen[a] = true
		}
	}
}

func TestConcurrentInvokesAreSerialised(t *testing.T) {
	f, _ := start(t, rie.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			got, err := invoke(t, f, `{"echo":`+strconv.Itoa(i)+`,"sleepMs":20}`)
			if err == nil && string(got) != strconv.Itoa(i) {
				err = fmt.Errorf("invocation %d got %s", i, got)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(f.Reports()); n != 6 {
		t.Fatalf("%d reports for 6 invocations", n)
	}
}

func TestAbandonedInvocationIsWaitedForByTheNext(t *testing.T) {
	f, _ := start(t, rie.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Invoke(ctx, []byte(`{"sleepMs":700,"echo":"slow"}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	got, err := invoke(t, f, `{"echo":"next"}`)
	if err != nil || string(got) != `"next"` {
		t.Fatalf("next invocation: %s, %v", got, err)
	}
}

func TestStopStopsTheFunction(t *testing.T) {
	f, _ := start(t, rie.Options{})
	got, err := invoke(t, f, `{"env":[]}`)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Pid int }
	if err := json.Unmarshal(got, &v); err != nil || v.Pid == 0 {
		t.Fatalf("no pid in %s", got)
	}
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Exited():
	default:
		t.Fatal("emulator still running after Stop")
	}
	if err := syscall.Kill(v.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("function process %d still exists after Stop (kill 0: %v)", v.Pid, err)
	}
	if err := f.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestEMFLinesOfSharedOutputStayWhole(t *testing.T) {
	var buf testnet.Buffer
	shared := emf.LockedWriter(&buf)
	long := `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"d","P":"` + strings.Repeat("x", 200_000) + `","M":1}`
	payload, _ := json.Marshal(map[string]any{"print": []string{long}})
	var fs []*rie.Function
	for range 2 {
		fs = append(fs, sandboxtest.Function(t, rie.Options{Bootstrap: fnBinary, Output: shared}))
	}
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(func() {
			if _, err := f.Invoke(t.Context(), payload); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	recs, err := emf.DecodeAll(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("decode the shared output: %v", err)
	}
	if len(recs) != 2 {
		t.Fatalf("decoded %d records from two whole EMF lines", len(recs))
	}
}

func TestStartWithoutBootstrapFails(t *testing.T) {
	if _, err := rie.Start(t.Context(), rie.Options{}); err == nil {
		t.Fatal("no error without a bootstrap")
	}
	if _, err := rie.Start(t.Context(), rie.Options{Bootstrap: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("no error for a missing bootstrap")
	}
}

// emulatorPID finds the emulator process by the invoke port it was given on
// its command line.
func emulatorPID(f *rie.Function) (int, error) {
	addr := strings.TrimPrefix(f.URL, "http://")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if a == "--runtime-interface-emulator-address" && i+1 < len(args) && args[i+1] == addr {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process with --runtime-interface-emulator-address %s", addr)
}

// listeningSockets returns the local addresses of pid's listening TCP
// sockets (IPv4 and IPv6), from its file descriptors and /proc/net/tcp*.
func listeningSockets(pid int) ([]string, error) {
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		fh, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "net", table))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			out = append(out, decodeAddr(f[1]))
		}
		fh.Close()
	}
	return out, nil
}

// decodeAddr turns /proc/net/tcp's "0100007F:1F90" into "127.0.0.1:8080".
func decodeAddr(s string) string {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, _ := strconv.ParseUint(hexPort, 16, 16)
	var ip net.IP
	for i := len(hexIP); i >= 8; i -= 8 { // 32-bit words, little-endian each
		w, _ := strconv.ParseUint(hexIP[i-8:i], 16, 32)
		ip = append(net.IP{byte(w), byte(w >> 8), byte(w >> 16), byte(w >> 24)}, ip...)
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}
