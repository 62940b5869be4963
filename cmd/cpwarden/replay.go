package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/replay"
	"github.com/cpwarden/cpwarden/statemachines"
)

type replayFlags struct {
	history, executionArn, workflow, cluster, definition string
	live, inProcess                                      bool
}

func newReplayCmd() *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay (--history file.json | --execution-arn ARN)",
		Short: "Re-run a recorded execution against the current definition and report where it diverges",
		Long: "Reads an execution history (a file written by `cpwarden run --history`, `cpwarden demo --history-dir` or " +
			"`aws stepfunctions get-execution-history`, or fetched from AWS with GetExecutionHistory given " +
			"--execution-arn), re-runs the workflow's current definition with every Task's outcome taken from the " +
			"history, and reports where the path (the states visited) or the data (a state's input, its worker's " +
			"input, its output) or the outcome diverge. Exits non-zero on any divergence.\n\n" +
			"The workflow is recognised from the states the history visits (or --workflow); the cluster name, which the " +
			"definitions pass to some workers, from the workers' inputs (or --cluster). --definition replays against a " +
			"definition file instead, its ${...} placeholders substituted as CloudFormation would. --live runs the " +
			"workers of a fresh sandbox instead of reading their outcomes, and compares path and outcome only.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReplay(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.history, "history", "", "history file (GetExecutionHistory JSON); - for stdin")
	fl.StringVar(&f.executionArn, "execution-arn", "", "fetch the history of this execution from AWS (GetExecutionHistory, all pages)")
	fl.StringVar(&f.workflow, "workflow", "", "the workflow (lifecycle, backup, health); default: recognised from the history")
	fl.StringVar(&f.cluster, "cluster", "", "the cluster name the definition is deployed with; default: read from the history")
	fl.StringVar(&f.definition, "definition", "", "replay against this definition file instead of the workflow's current definition")
	fl.BoolVar(&f.live, "live", false, "run the workers against a fresh sandbox instead of taking their outcomes from the history")
	fl.BoolVar(&f.inProcess, "in-process", false, "with --live: the workers in this process instead of the bootstrap under the emulator")
	return cmd
}

// errDiverged is the error of a replay that diverged: the report says where.
var errDiverged = errors.New("replay diverged from the recording")

func runReplay(ctx context.Context, out io.Writer, f *replayFlags) error {
	history, source, err := loadHistory(ctx, f)
	if err != nil {
		return err
	}
	wf, err := pickWorkflow(history, f.workflow)
	if err != nil {
		return err
	}
	cluster := f.cluster
	if cluster == "" {
		cluster = clusterOf(history)
	}
	def, what, err := replayDefinition(wf, cluster, f.definition)
	if err != nil {
		return err
	}
	opts := replay.Options{Definition: def, ExecutionArn: f.executionArn}
	if f.live {
		env, err := startLocal(ctx, out, localOptions{inProcess: f.inProcess})
		if err != nil {
			return err
		}
		defer env.Close()
		opts.Live = env.workers.Resolver()
		if env.settings[envnames.ClusterName] != cluster {
			fmt.Fprintf(out, "note: the sandbox's cluster is %q, the recording's %q: only path and outcome are compared\n", env.settings[envnames.ClusterName], cluster)
		}
	}
	fmt.Fprintf(out, "replaying %s (%s workflow, cluster %q, %d events) against %s\n", source, wf.Name, cluster, len(history), what)
	rep, err := replay.Run(ctx, history, opts)
	if err != nil {
		return err
	}
	printReplay(out, rep)
	if rep.Diverged() {
		return errDiverged
	}
	return nil
}

func loadHistory(ctx context.Context, f *replayFlags) ([]asl.HistoryEvent, string, error) {
	switch {
	case (f.history == "") == (f.executionArn == ""):
		return nil, "", errors.New("give one of --history and --execution-arn")
	case f.executionArn != "":
		ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
		if err != nil {
			return nil, "", fmt.Errorf("AWS SDK configuration: %w", err)
		}
		if region := arnRegion(f.executionArn); region != "" {
			ac.Region = region
		}
		h, err := replay.Fetch(ctx, sfn.NewFromConfig(ac), f.executionArn)
		return h, f.executionArn, err
	case f.history == "-":
		h, err := replay.Load(os.Stdin)
		return h, "stdin", err
	}
	file, err := os.Open(f.history)
	if err != nil {
		return nil, "", err
	}
	defer file.Close()
	h, err := replay.Load(file)
	return h, f.history, err
}

func arnRegion(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 3 && parts[0] == "arn" {
		return parts[3]
	}
	return ""
}

// pickWorkflow is the named workflow, or the one whose definition has every
// state the history entered.
func pickWorkflow(history []asl.HistoryEvent, name string) (statemachines.Workflow, error) {
	if name != "" {
		w, ok := statemachines.ByName(name)
		if !ok {
			return w, fmt.Errorf("unknown workflow %q (known: %s)", name, workflowNames())
		}
		return w, nil
	}
	var entered []string
	for _, v := range replay.Visits(history) {
		entered = append(entered, v.State)
	}
	var matches []statemachines.Workflow
	for _, w := range statemachines.Workflows() {
		def := w.Definition(statemachines.LocalResource)
		all := true
		for _, s := range entered {
			if def.State(s) == nil {
				all = false
				break
			}
		}
		if all {
			matches = append(matches, w)
		}
	}
	if len(matches) != 1 {
		return statemachines.Workflow{}, fmt.Errorf("cannot tell the workflow from the history's states (%d candidates): pass --workflow", len(matches))
	}
	return matches[0], nil
}

// clusterOf reads the cluster name from the first worker input that names
// it (the definitions pass it to the member, backup and health workers).
func clusterOf(history []asl.HistoryEvent) string {
	for _, v := range replay.Visits(history) {
		for _, in := range append([]string{v.Output}, v.TaskInputs...) {
			var m struct {
				ClusterName string
				Probe       struct{ ClusterName string }
			}
			if json.Unmarshal([]byte(in), &m) == nil {
				if m.ClusterName != "" {
					return m.ClusterName
				}
				if m.Probe.ClusterName != "" {
					return m.Probe.ClusterName
				}
			}
		}
	}
	return exampleCluster
}

func replayDefinition(wf statemachines.Workflow, cluster, file string) (*asl.StateMachine, string, error) {
	b, what := []byte(nil), "the current "+wf.Name+" definition"
	var err error
	if file != "" {
		if b, err = os.ReadFile(file); err != nil {
			return nil, "", err
		}
		if b, err = statemachines.Substitute(b, localSubstitutions(cluster, nil)); err != nil {
			return nil, "", fmt.Errorf("%s: %w", file, err)
		}
		what = file
	} else if b, err = wf.Deployed(cluster); err != nil {
		return nil, "", err
	}
	sm, err := asl.Parse(b)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	return sm, what, nil
}

func printReplay(out io.Writer, rep *replay.Report) {
	marks := map[int][]string{}
	for _, d := range rep.Divergences {
		if d.Kind != replay.Outcome {
			marks[d.Step] = append(marks[d.Step], string(d.Kind))
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tRECORDED\tREPLAYED\t")
	for i := 0; i < max(len(rep.Recorded), len(rep.Replayed)); i++ {
		a, b := "-", "-"
		if i < len(rep.Recorded) {
			a = rep.Recorded[i].State
		}
		if i < len(rep.Replayed) {
			b = rep.Replayed[i].State
		}
		mark := ""
		if m := marks[i]; len(m) > 0 {
			mark = "≠ " + strings.Join(m, ", ")
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", i+1, a, b, mark)
	}
	_ = tw.Flush()
	if !rep.Diverged() {
		fmt.Fprintf(out, "no divergence: same path, same data, same outcome (%s)\n", rep.Recording.Status)
		return
	}
	fmt.Fprintf(out, "%d divergence(s); the first:\n  %s\n", len(rep.Divergences), rep.Divergences[0])
	for _, d := range rep.Divergences[1:min(len(rep.Divergences), 6)] {
		fmt.Fprintf(out, "  then %s\n", d)
	}
}
