package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/internal/local/scenario"
	"github.com/cpwarden/cpwarden/internal/sandbox"
)

// demoFlags are `cpwarden demo`'s flags.
type demoFlags struct {
	inProcess                     bool
	historyDir, workerLog, emfOut string
}

func newDemoCmd() *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run every workflow end to end on the embedded sandbox (what `make demo` runs)",
		Long: "Starts the sandbox on loopback (3-member etcd with TLS, kube-apiserver, S3 store, moto), then: a backup; " +
			"the lifecycle of a terminated control-plane instance whose drain a PodDisruptionBudget first blocks, then " +
			"allows; health probes while two etcd members are down, until recovery is triggered, then the restore and " +
			"ClusterRecovered. Every Task runs the real Lambda binary under the Runtime Interface Emulator (or the same " +
			"workers in process with --in-process). Prints each step and a table of every metric emitted; --emf-out " +
			"writes the EMF documents themselves, raw, one per line. Builds what it needs on first use.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.inProcess, "in-process", false, "run the workers in this process instead of the bootstrap under the Runtime Interface Emulator")
	fl.StringVar(&f.historyDir, "history-dir", "", "write each execution's history (GetExecutionHistory JSON) into this directory, for `cpwarden replay`")
	fl.StringVar(&f.workerLog, "worker-log", "", "write the workers' logs to this file (default: discarded)")
	fl.StringVar(&f.emfOut, "emf-out", "", emfFlagUsage)
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, f *demoFlags) error {
	start := time.Now()
	fmt.Fprintln(out, "cpwarden demo: every workflow, end to end, on an embedded control plane (loopback only)")
	logw, closeLog, err := openLog(f.workerLog)
	if err != nil {
		return err
	}
	defer closeLog()
	emfw, err := createEMFOut(f.emfOut)
	if err != nil {
		return err
	}
	defer emfw.Close(io.Discard)
	env, err := startLocal(ctx, out, localOptions{inProcess: f.inProcess, log: logw, timeouts: scenario.Timeouts})
	if err != nil {
		return err
	}
	defer env.Close()
	sb := env.sandbox
	fmt.Fprintf(out, "cluster %q: instances", sb.ClusterName)
	for _, in := range sb.Instances {
		fmt.Fprintf(out, " %s (%s)", in.ID, in.PrivateIP)
	}
	fmt.Fprintf(out, "; sandbox ready after %s\n", time.Since(start).Round(100*time.Millisecond))

	res, err := scenario.Run(ctx, scenario.Options{Sandbox: sb, Workers: env.workers, Out: out})
	if res != nil {
		if herr := writeDemoFiles(out, f, res.Executions, emfw); herr != nil && err == nil {
			err = herr
		}
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	fmt.Fprintln(out, "\nWhere things stand:")
	if err := demoState(ctx, out, sb, res); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nMetrics emitted (decoded from the EMF lines the workers printed, as CloudWatch extracts them):")
	if err := runner.MetricsTable(out, res.Metrics); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndemo finished in %s (workers: %s)\n", time.Since(start).Round(100*time.Millisecond), env.workers.Mode)
	return nil
}

// writeDemoFiles writes what the flags ask for of the executions that ran:
// their histories and their EMF documents, in order.
func writeDemoFiles(out io.Writer, f *demoFlags, execs []scenario.Execution, emfw *emfOut) error {
	if f.historyDir != "" {
		if err := writeHistories(out, f.historyDir, execs); err != nil {
			return err
		}
	}
	for _, e := range execs {
		if err := emfw.Write(e.EMF); err != nil {
			return err
		}
	}
	return emfw.Close(out)
}

// demoState prints what the scenario left behind, read from the systems
// themselves.
func demoState(ctx context.Context, out io.Writer, sb *sandbox.Sandbox, res *scenario.Result) error {
	cli, err := sb.Etcd.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("etcd member list: %w", err)
	}
	var members []string
	for _, m := range ml.Members {
		members = append(members, m.Name)
	}
	fmt.Fprintf(out, "  etcd members:     %s (%s removed)\n", strings.Join(members, ", "), res.Departed.NodeName())

	g, err := sb.AutoScaling().DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{sb.Group}})
	if err != nil || len(g.AutoScalingGroups) == 0 {
		return fmt.Errorf("describe group: %v", err)
	}
	var insts []string
	for _, i := range g.AutoScalingGroups[0].Instances {
		insts = append(insts, aws.ToString(i.InstanceId)+" "+string(i.LifecycleState))
	}
	fmt.Fprintf(out, "  Auto Scaling:     %s: %s\n", sb.Group, strings.Join(insts, ", "))

	admin, err := sb.Admin()
	if err != nil {
		return err
	}
	node, err := admin.CoreV1().Nodes().Get(ctx, res.Departed.NodeName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	pods, err := admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node.Name})
	if err != nil {
		return err
	}
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Namespace+"/"+p.Name)
	}
	fmt.Fprintf(out, "  Kubernetes:       node %s unschedulable=%t; pods left on it: %s (DaemonSet and static pods stay)\n",
		node.Name, node.Spec.Unschedulable, strings.Join(left, ", "))

	objs, err := sb.S3Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(sb.Bucket), Prefix: aws.String(sb.Prefix)})
	if err != nil {
		return err
	}
	for _, o := range objs.Contents {
		h, err := sb.S3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(sb.Bucket), Key: o.Key})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  S3 backup:        s3://%s/%s %d bytes revision=%s hash=%s sha256=%.12s…\n", sb.Bucket, aws.ToString(o.Key),
			aws.ToInt64(o.Size), h.Metadata["revision"], h.Metadata["hash"], h.Metadata["sha256"])
	}
	params, err := scenario.RecoveryParameters(ctx, sb)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  SSM /%s/...:  failure-count=%s restore-mode=%s restore-backup=%s initialized=%s restore-triggered-at=%s\n",
		sb.ClusterName, params["failure-count"], params["restore-mode"], params["restore-backup"], params["initialized"], params["restore-triggered-at"])
	return nil
}

func writeHistories(out io.Writer, dir string, execs []scenario.Execution) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, e := range execs {
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s.json", i+1, e.Workflow))
		if err := writeHistoryFile(path, e.Events); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "histories: %d files in %s (cpwarden replay --history <file>)\n", len(execs), dir)
	return nil
}
