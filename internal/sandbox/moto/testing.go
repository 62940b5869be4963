package moto

import (
	"context"
	"errors"
)

// TB is the part of testing.TB that StartT uses; declaring it here keeps the
// testing package out of the sandbox binary.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Context() context.Context
}

// StartT starts a server for a test and stops it when the test ends. A test
// on a machine without moto_server is skipped, with the command that
// installs it; CI installs it, so CI runs the test.
func StartT(t TB) *Server {
	t.Helper()
	s, err := Start(t.Context(), Options{})
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("moto_server not installed: %s", InstallHint)
	}
	if err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}
