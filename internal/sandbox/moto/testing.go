package moto

import "github.com/cpwarden/cpwarden/internal/sandbox/proc"

// StartT starts a server for a test and stops it when the test ends, or
// skips the test when moto_server is not installed.
//
// Deprecated: use sandboxtest.Moto; this stays until the tests under
// workers/ have switched.
func StartT(t proc.TB) *Server {
	t.Helper()
	s, err := Start(t.Context(), Options{})
	proc.SkipOrFail(t, err, "start moto_server", ErrNotInstalled)
	t.Cleanup(func() { _ = s.Stop() })
	return s
}
