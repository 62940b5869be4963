package proc

import (
	"context"
	"errors"
)

// TB is the part of testing.TB that test helpers of the sandbox's packages
// use; declaring it here keeps the testing package out of the binaries
// that import them.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Context() context.Context
}

// SkipOrFail ends a test whose backend did not start: it is skipped when
// err wraps one of missing (a tool that is not installed; the error names
// the command that installs it), and fails otherwise. A nil err does
// nothing.
//
// Skipping is the policy everywhere, CI included: make test (which .ci/run
// calls) checks or builds every tool before it runs the tests, so a skip
// there cannot hide a missing install step; make test-go skips freely.
func SkipOrFail(t TB, err error, what string, missing ...error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, m := range missing {
		if errors.Is(err, m) {
			t.Skipf("%s: %v", what, err)
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}
