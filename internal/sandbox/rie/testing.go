package rie

import "github.com/cpwarden/cpwarden/internal/sandbox/proc"

// StartT starts a Function for a test and stops it when the test ends, or
// skips the test when the emulator is not installed.
//
// Deprecated: use sandboxtest.Function; this stays until the tests under
// workers/ have switched.
func StartT(t proc.TB, opts Options) *Function {
	t.Helper()
	f, err := Start(t.Context(), opts)
	proc.SkipOrFail(t, err, "start the function under the emulator", ErrNotInstalled)
	t.Cleanup(func() { _ = f.Stop() })
	return f
}
