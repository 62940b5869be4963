// Package proc holds what the sandbox's servers and child processes share:
// where the project's tool scripts put binaries, a free loopback port, and
// the tail of a child's output for error messages.
package proc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// BinDir is where the project's tool scripts (tools/*/build.sh) put
// binaries: ${CPWARDEN_CACHE:-$HOME/.cache/cpwarden}/bin.
func BinDir() string {
	if d := os.Getenv("CPWARDEN_CACHE"); d != "" {
		return filepath.Join(d, "bin")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "cpwarden", "bin")
	}
	return filepath.Join(home, ".cache", "cpwarden", "bin")
}

// FreePort asks the kernel for a free TCP port on ip (a loopback address).
// The port is released before the caller binds it; another process could
// take it in between, which callers handle by failing or retrying.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("no free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Tail keeps the last Max bytes written to it, so a child that fails to
// start can be reported with what it printed last. Safe for concurrent use.
type Tail struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.Max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
