package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/internal/sandbox"
	"github.com/cpwarden/cpwarden/statemachines"
)

// runFlags are `cpwarden run`'s flags.
type runFlags struct {
	input       string
	useSandbox  bool
	inProcess   bool
	history     string
	virtualTime bool
	logFile     string
	emfOut      string
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
			"GetExecutionHistory JSON (what `cpwarden replay` reads); --emf-out writes the EMF documents themselves, " +
			"raw, one per line, as CloudWatch Logs would receive them.\n\n" +
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
	fl.StringVar(&f.emfOut, "emf-out", "", emfFlagUsage)
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
	emfw, err := createEMFOut(f.emfOut)
	if err != nil {
		return err
	}
	defer emfw.Close(io.Discard)

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
	if res != nil {
		if werr := emfw.Write(res.EMF); werr != nil {
			return werr
		}
	}
	if cerr := emfw.Close(out); cerr != nil {
		return cerr
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
