package rie

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

// BootstrapPackage is the import path of cpwarden's Lambda binary.
const BootstrapPackage = "github.com/cpwarden/cpwarden/workers/bootstrap"

// BuildFlags returns the go build flags of every bootstrap build, local or
// for AWS (`make package` uses the same with GOARCH=arm64): no symbol tables,
// no local paths, and aws-lambda-go without its legacy RPC mode. With
// CGO_ENABLED=0 (which Build sets) the binary is static, as provided.al2023
// wants. Local runs use the same flags so that they run the binary AWS runs;
// the price is a build cache of its own (CGO_ENABLED=0 and -trimpath change
// every package's build ID), compiled once per machine.
func BuildFlags() []string {
	return []string{"-trimpath", "-ldflags=-s -w", "-tags", "lambda.norpc"}
}

// BuildOptions configure Build. The zero value builds the bootstrap for this
// machine's architecture into the cache directory.
type BuildOptions struct {
	// Package is the main package to build; empty means BootstrapPackage.
	Package string
	// Output is the binary's path; empty means
	// proc.BinDir()/bootstrap-linux-<GOARCH>.
	Output string
	// GOARCH is the target architecture; empty means this machine's (the
	// emulator runs the binary here). The OS is always linux.
	GOARCH string
	// Dir is where go runs: a directory inside the module that holds
	// Package. Empty means the current directory.
	Dir string
	// Log receives go's output (compile progress, errors); nil keeps it for
	// the error message only.
	Log io.Writer
}

// Build compiles a Lambda binary for linux and returns its path. A binary already up to date is not relinked, so calling Build from
// every test that needs the bootstrap costs a few seconds once the build
// cache is warm (the first build compiles every dependency: minutes). Concurrent Builds of the same output are safe: each builds
// into a file of its own and renames it into place.
func Build(ctx context.Context, opts BuildOptions) (string, error) {
	if opts.Package == "" {
		opts.Package = BootstrapPackage
	}
	if opts.GOARCH == "" {
		opts.GOARCH = runtime.GOARCH
	}
	if opts.Output == "" {
		opts.Output = filepath.Join(proc.BinDir(), "bootstrap-linux-"+opts.GOARCH)
	}
	out, err := filepath.Abs(opts.Output)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return "", err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	// Start from a copy of the previous binary: go compares its build ID
	// with the one it would produce and skips the link when they match.
	if prev, err := os.Open(out); err == nil {
		_, _ = io.Copy(tmp, prev)
		prev.Close()
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}

	args := append([]string{"build"}, BuildFlags()...)
	args = append(args, "-o", tmpName, opts.Package)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+opts.GOARCH, "GOFLAGS=-buildvcs=false")
	var msgs bytes.Buffer
	var sink io.Writer = &msgs
	if opts.Log != nil {
		sink = io.MultiWriter(&msgs, opts.Log)
	}
	cmd.Stdout, cmd.Stderr = sink, sink
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("rie: go %s: %w\n%s", strings.Join(args, " "), err, msgs.String())
	}
	if err := os.Chmod(tmpName, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmpName, out); err != nil {
		return "", err
	}
	return out, nil
}

// goTool is the go command: go test puts its own toolchain first on PATH, so
// tests build with the Go that runs them.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
