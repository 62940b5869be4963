package rie

import (
	"context"
	"errors"
)

// TB is the part of testing.TB that StartT uses; declaring it here keeps the
// testing package out of the binaries that import this package.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Context() context.Context
}

// StartT starts a Function for a test and stops it when the test ends. A
// test on a machine without the emulator is skipped, with the command that
// installs it; CI installs it (make tools), so CI runs the test.
func StartT(t TB, opts Options) *Function {
	t.Helper()
	f, err := Start(t.Context(), opts)
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("aws-lambda-rie not installed: %s", InstallHint)
	}
	if err != nil {
		t.Fatalf("start the function under the emulator: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}
