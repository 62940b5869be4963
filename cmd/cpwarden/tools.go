package main

// Building what a local run needs: the repository's tool scripts, run from
// the module's directory with their output shown.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/internal/sandbox/rie"
)

// ensureTools builds the kube-apiserver (and, for the Lambda binary, the
// emulator) when they are missing, showing the build's progress.
func ensureTools(ctx context.Context, out io.Writer, needRIE bool) error {
	if _, err := kubeapi.Binary(); errors.Is(err, kubeapi.ErrNotBuilt) {
		fmt.Fprintln(out, "kube-apiserver is not built yet: building it once from the Go module proxy (about 6 minutes on 2 cores)")
		if err := runScript(ctx, out, "tools/kube-apiserver/build.sh", "kube-apiserver"); err != nil {
			return err
		}
	}
	if needRIE {
		if _, err := rie.Binary(); errors.Is(err, rie.ErrNotInstalled) {
			fmt.Fprintln(out, "aws-lambda-rie is not installed yet: installing it from the Go module proxy")
			if err := runScript(ctx, out, "tools/rie/build.sh"); err != nil {
				return err
			}
		}
	}
	return nil
}

// runScript runs one of the repository's tool scripts, printing its output
// and, while it is silent, how long it has been running.
func runScript(ctx context.Context, out io.Writer, script string, args ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, script), args...)
	cmd.Dir = root
	w := prefixed(out, "  | ")
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%s: %w", script, err)
			}
			return nil
		case <-tick.C:
			fmt.Fprintf(out, "  … still building (%s)\n", time.Since(start).Round(time.Second))
		}
	}
}

// moduleRoot finds the cpwarden module's directory from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/cpwarden/cpwarden\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the cpwarden repository (its tool scripts build what the sandbox needs)")
		}
		dir = parent
	}
}

// prefixed writes each complete line to w with a prefix.
func prefixed(w io.Writer, prefix string) io.Writer { return &prefixWriter{w: w, prefix: prefix} }

type prefixWriter struct {
	w      io.Writer
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}
