package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/sandbox"
	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/internal/sandbox/rie"
	"github.com/cpwarden/cpwarden/internal/sandbox/runner"
	"github.com/cpwarden/cpwarden/internal/sandbox/workerset"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// runFlags are `cpwarden run`'s flags.
type runFlags struct {
	input       string
	useSandbox  bool
	inProcess   bool
	history     string
	virtualTime bool
	logFile     string
	settings    map[envnames.Var]*string
}

func newRunCmd() *cobra.Command {
	f := &runFlags{settings: map[envnames.Var]*string{}}
	cmd := &cobra.Command{
		Use:   "run <workflow>",
		Short: "Run a workflow locally against the embedded sandbox or a real cluster",
		Long: "Runs the generated definition of a workflow (lifecycle, backup, health) in cpwarden's States Language " +
			"engine. Each Task state invokes the real Lambda binary under the Runtime Interface Emulator, or the " +
			"same workers in this process with --in-process. Prints one line per state with its duration and outcome, " +
			"then every EMF metric the workers emitted, decoded; --history writes the execution history as " +
			"GetExecutionHistory JSON (what `cpwarden replay` reads).\n\n" +
			"With --sandbox, everything runs against a sandbox started for the run (etcd, kube-apiserver, S3, moto); " +
			"without input, a lifecycle run terminates the sandbox's last control-plane instance and the scheduled " +
			"workflows get a scheduled event. Otherwise the workers are configured like the deployed functions: " +
			"the flags below (or the environment variables of the same names) and the AWS SDK's standard " +
			"environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorkflow(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.input, "input", "i", "", "execution input: a JSON file, or - for stdin")
	fl.BoolVar(&f.useSandbox, "sandbox", false, "start the embedded sandbox and run against it")
	fl.BoolVar(&f.inProcess, "in-process", false, "run the workers in this process instead of the bootstrap under the Runtime Interface Emulator")
	fl.StringVar(&f.history, "history", "", "write the execution history (GetExecutionHistory JSON) to this file")
	fl.BoolVar(&f.virtualTime, "virtual-time", false, "skip Wait states and retry back-off on a virtual clock instead of waiting")
	fl.StringVar(&f.logFile, "worker-log", "", "write the workers' logs to this file (default: discarded)")
	for _, v := range append(envnames.All, envnames.Local...) {
		f.settings[v] = fl.String(flagName(v), os.Getenv(string(v)), "the workers' "+string(v)+" (default $"+string(v)+")")
	}
	return cmd
}

// flagName is the flag of a setting: CONTROL_PLANE_ASG → control-plane-asg.
func flagName(v envnames.Var) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(string(v), "CPWARDEN_")), "_", "-")
}

func runWorkflow(ctx context.Context, out, errOut io.Writer, name string, f *runFlags) error {
	wf, ok := statemachines.ByName(name)
	if !ok {
		return fmt.Errorf("unknown workflow %q (known: %s)", name, workflowNames())
	}
	input, err := readInput(f.input)
	if err != nil {
		return err
	}
	logw, closeLog, err := openLog(f.logFile)
	if err != nil {
		return err
	}
	defer closeLog()

	var env *localEnv
	if f.useSandbox {
		env, err = startLocal(ctx, out, localOptions{inProcess: f.inProcess, log: logw})
	} else {
		env, err = startAgainst(ctx, out, f, logw)
	}
	if err != nil {
		return err
	}
	defer env.Close()

	cluster := env.settings[envnames.ClusterName]
	if len(input) == 0 {
		if input, err = defaultInput(wf, env.sandbox); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "running %s (%s) for cluster %s, workers %s\n", wf.Name, wf.Type, cluster, env.workers.Mode)
	res, err := runner.Run(ctx, runner.Options{
		Workflow: wf, Cluster: cluster, Input: input,
		Resolver: env.workers.Resolver(), Metrics: env.workers.Metrics,
		Progress: out, VirtualTime: f.virtualTime,
	})
	if res != nil && f.history != "" {
		if herr := writeHistoryFile(f.history, res.Events); herr != nil {
			return herr
		}
		fmt.Fprintf(out, "history: %s (%d events)\n", f.history, len(res.Events))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	if err := res.Summary(out); err != nil {
		return err
	}
	if res.Execution.Status != asl.StatusSucceeded {
		return fmt.Errorf("execution %s", strings.ToLower(res.Execution.Status))
	}
	return nil
}

func readInput(path string) (json.RawMessage, error) {
	var b []byte
	var err error
	switch path {
	case "":
		return nil, nil
	case "-":
		b, err = io.ReadAll(os.Stdin)
	default:
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("input %s is not JSON", path)
	}
	return b, nil
}

// defaultInput is the input of a run given none: a scheduled event, or for
// the lifecycle workflow in the sandbox the event of terminating its last
// control-plane instance (whose pods' budgets allow their eviction; the
// demo shows a blocked drain).
func defaultInput(wf statemachines.Workflow, sb *sandbox.Sandbox) (json.RawMessage, error) {
	if wf.Name == statemachines.Lifecycle().Name {
		if sb == nil {
			return nil, errors.New("the lifecycle workflow needs --input: an EC2 Instance-terminate Lifecycle Action event")
		}
		ev, err := sb.BeginTermination(sb.Instances[len(sb.Instances)-1].ID)
		if err != nil {
			return nil, err
		}
		return json.Marshal(ev)
	}
	return json.Marshal(map[string]any{
		"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
		"time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1", "detail": map[string]any{},
	})
}

func writeHistoryFile(path string, events []asl.HistoryEvent) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := runner.WriteHistory(f, events); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func openLog(path string) (io.Writer, func(), error) {
	if path == "" {
		return io.Discard, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil
}

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
