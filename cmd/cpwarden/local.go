package main

// The local environment of `run`, `demo` and `replay --live`: a sandbox
// started for the run, or the workers configured against a real cluster.

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/local/workerset"
	"github.com/cpwarden/cpwarden/internal/sandbox"
	"github.com/cpwarden/cpwarden/workers"
)

// localEnv is where a run's workers run and what they run against.
type localEnv struct {
	sandbox  *sandbox.Sandbox // nil against a real cluster
	workers  *workerset.Set
	settings map[envnames.Var]string
}

func (e *localEnv) Close() {
	if e.workers != nil {
		_ = e.workers.Close()
	}
	if e.sandbox != nil {
		e.sandbox.Close()
	}
}

type localOptions struct {
	inProcess bool
	log       io.Writer
	timeouts  func(workers.Handler) time.Duration
}

// startLocal builds what is missing (kube-apiserver, the emulator), starts
// a sandbox and its workers.
func startLocal(ctx context.Context, out io.Writer, o localOptions) (*localEnv, error) {
	if err := ensureTools(ctx, out, !o.inProcess); err != nil {
		return nil, err
	}
	fmt.Fprintln(out, "starting the sandbox (loopback only):")
	sb, err := sandbox.Start(ctx, sandbox.Options{Progress: out})
	if err != nil {
		return nil, err
	}
	env := &localEnv{sandbox: sb, settings: sb.Settings()}
	cfg := workerset.Config{
		Settings: env.settings, Timeout: o.timeouts, Log: o.log,
		AWS: sb.AWSConfig(), S3: sb.S3Config(), AWSEnv: sb.AWSEnv(),
	}
	if err := env.startWorkers(ctx, out, cfg, o.inProcess); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

func (e *localEnv) startWorkers(ctx context.Context, out io.Writer, cfg workerset.Config, inProcess bool) error {
	t := time.Now()
	var err error
	if inProcess {
		e.workers, err = workerset.InProcess(ctx, cfg)
	} else {
		fmt.Fprintln(out, "  building the bootstrap (go build, cached after the first time)…")
		cfg.BuildLog = prefixed(out, "  | ")
		if root, err := moduleRoot(); err == nil {
			cfg.Dir = root
		}
		e.workers, err = workerset.Lambda(ctx, cfg)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  up  %-66s %5.1fs\n", "workers: "+e.workers.Mode, time.Since(t).Seconds())
	return nil
}

// startAgainst configures the workers from flags and the environment, for a
// run against a real cluster.
func startAgainst(ctx context.Context, out io.Writer, f *runFlags, log io.Writer) (*localEnv, error) {
	settings := map[envnames.Var]string{}
	for v, p := range f.settings {
		settings[v] = *p
	}
	if settings[envnames.ClusterName] == "" {
		return nil, fmt.Errorf("--%s (or $%s) is required without --sandbox", flagName(envnames.ClusterName), envnames.ClusterName)
	}
	env := &localEnv{settings: settings}
	cfg := workerset.Config{Settings: settings, Log: log, AWSEnv: awsEnviron()}
	if f.inProcess {
		ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
		if err != nil {
			return nil, fmt.Errorf("AWS SDK configuration: %w", err)
		}
		cfg.AWS = ac
	} else if err := ensureTools(ctx, out, true); err != nil {
		return nil, err
	}
	if err := env.startWorkers(ctx, out, cfg, f.inProcess); err != nil {
		return nil, err
	}
	return env, nil
}

// awsEnviron is the AWS SDK's part of this process's environment, which the
// functions under the emulator get (they inherit nothing else).
func awsEnviron() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") && !strings.HasPrefix(k, "AWS_LAMBDA_") {
			m[k] = v
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		m["HOME"] = home // shared config and credentials files
	}
	return m
}
