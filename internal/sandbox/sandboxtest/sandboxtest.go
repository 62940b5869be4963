// Package sandboxtest holds the test fixtures of the sandbox's backends, so
// that test packages stop rebuilding them: moto_server, a kube-apiserver on
// its own etcd and a Lambda binary under the Runtime Interface Emulator,
// started for one test or shared by a package's tests; an Auto Scaling
// group seeded in moto; loopback addresses that refuse or never answer; a
// buffer safe for concurrent writers.
//
// A test whose backend's tool is not installed is skipped, with the
// command that installs it (see proc.SkipOrFail); any other failure to
// start fails it. Import this package from tests only.
package sandboxtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
	"github.com/cpwarden/cpwarden/internal/sandbox/rie"
)

// Require ends the test when err is not nil: a skip when err says a tool
// is missing (moto_server, kube-apiserver, aws-lambda-rie; a
// sandbox.ErrMissingTool wraps one of them), a failure otherwise. what
// says what was being started.
func Require(t testing.TB, err error, what string) {
	t.Helper()
	proc.SkipOrFail(t, err, what, moto.ErrNotInstalled, kubeapi.ErrNotBuilt, rie.ErrNotInstalled)
}

// Stopper is what Shared stops: a backend, or a test environment built
// on one.
type Stopper interface{ Stop() error }

// Backend is what the fixtures start and stop: moto.Server, kubeapi.Local,
// rie.Function.
type Backend interface {
	Stopper
	// Tail is the end of the backend's output, logged when a test fails.
	Tail() string
}

// StartMoto starts moto_server with the defaults.
func StartMoto(ctx context.Context) (*moto.Server, error) { return moto.Start(ctx, moto.Options{}) }

// StartKube starts an API server on an etcd of its own, with the defaults.
func StartKube(ctx context.Context) (*kubeapi.Local, error) {
	return kubeapi.StartLocal(ctx, kubeapi.Options{})
}

// Moto starts moto_server for the test and stops it when the test ends.
func Moto(t testing.TB) *moto.Server {
	t.Helper()
	return startFor(t, "moto_server", StartMoto)
}

// Kube starts an API server on an etcd of its own for the test and stops
// both when the test ends. opts.Etcd is ignored.
func Kube(t testing.TB, opts kubeapi.Options) *kubeapi.Local {
	t.Helper()
	return startFor(t, "kube-apiserver", func(ctx context.Context) (*kubeapi.Local, error) { return kubeapi.StartLocal(ctx, opts) })
}

// Function starts a Lambda binary under the emulator for the test and stops
// it when the test ends.
func Function(t testing.TB, opts rie.Options) *rie.Function {
	t.Helper()
	return startFor(t, "the function under the emulator", func(ctx context.Context) (*rie.Function, error) { return rie.Start(ctx, opts) })
}

// startFor starts a backend for the test (see Require for a failed start)
// and stops it when the test ends, logging the end of its output when the
// test failed.
func startFor[T Backend](t testing.TB, what string, start func(context.Context) (T, error)) T {
	t.Helper()
	b, err := start(t.Context())
	Require(t, err, "start "+what)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output (last lines):\n%s", what, b.Tail())
		}
		if err := b.Stop(); err != nil {
			t.Logf("stop %s: %v", what, err)
		}
	})
	return b
}

// Shared is a backend that the tests of a package share, because starting
// one costs seconds: the first Get starts it, TestMain stops it.
//
//	var motoSrv sandboxtest.Shared[*moto.Server]
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		motoSrv.Stop()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) { srv := motoSrv.Get(t, sandboxtest.StartMoto) ... }
type Shared[T Stopper] struct {
	once    sync.Once
	v       T
	err     error
	started bool
}

// sharedStartTimeout bounds the start of a shared backend; it outlives the
// test that starts it, so the test's context cannot bound it.
const sharedStartTimeout = 2 * time.Minute

// Get returns the backend, starting it with start on the first call. A
// failed start skips (a missing tool) or fails every test that asks.
func (s *Shared[T]) Get(t testing.TB, start func(context.Context) (T, error)) T {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
		defer cancel()
		s.v, s.err = start(ctx)
		s.started = s.err == nil
	})
	Require(t, s.err, "start the shared backend")
	return s.v
}

// Stop stops the backend if a Get started it.
func (s *Shared[T]) Stop() error {
	if !s.started {
		return nil
	}
	return s.v.Stop()
}
