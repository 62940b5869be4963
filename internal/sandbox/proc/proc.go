// Package proc holds what the sandbox's servers and child processes share:
// where the project's tool scripts put binaries and how a tool is found, a
// free loopback port, the tail of a child's output for error messages, and
// the one child-process type (Process: start, wait until ready, stop) that
// runs moto_server, kube-apiserver and the Lambda emulator.
package proc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
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

// FindBinary finds a tool's executable: the path in environment variable
// env when it is set, else BinDir()/name, else (with onPath) name on $PATH.
// Every error wraps notFound, the caller's "not installed" error.
func FindBinary(env, name string, onPath bool, notFound error) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w (%w)", env, p, err, notFound)
		}
		return p, nil
	}
	p := filepath.Join(BinDir(), name)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p, nil
	}
	if onPath {
		if lp, err := exec.LookPath(name); err == nil {
			return lp, nil
		}
	}
	return "", fmt.Errorf("%s: %w", p, notFound)
}

// FreePort asks the kernel for a free TCP port on ip (a loopback address).
// The port is released before the caller binds it; another process could
// take it in between, which callers handle by failing or retrying.
func FreePort(ip string) (int, error) {
	ports, err := FreePorts(ip, 1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts is FreePort for n distinct ports: they are held open together
// while picking.
func FreePorts(ip string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("no free port on %s: %w", ip, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
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
