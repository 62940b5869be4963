package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/spf13/cobra"

	"github.com/cpwarden/cpwarden/internal/emf"
)

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Show what cpwarden emits (today: the EMF metrics of one backup step)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEMFDemo(cmd.Context(), cmd.OutOrStdout())
		},
	}
}

// backupResult is what the demo's stand-in backup step returns.
type backupResult struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// runEMFDemo runs one step through the EMF middleware, prints the exact line
// CloudWatch Logs would receive, then decodes it back into the metric datums
// CloudWatch would extract. It touches no etcd, Kubernetes or AWS: it shows
// the metrics library only, and says so.
func runEMFDemo(ctx context.Context, out io.Writer) error {
	fmt.Fprintln(out, "cpwarden demo (metrics only): the embedded sandbox with etcd, Kubernetes and S3 is not built yet.")
	fmt.Fprintln(out, "This runs a stand-in Backup step (no real snapshot) through the EMF step middleware and shows")
	fmt.Fprintln(out, "the line a Lambda would write to CloudWatch Logs, and the metrics CloudWatch would extract from it.")
	fmt.Fprintln(out)

	var lines bytes.Buffer
	step := emf.Step("Backup", "K8sCluster/EtcdBackup",
		func(ctx context.Context, _ struct{}) (backupResult, error) {
			// BackupSuccess, BackupFailure and BackupDuration are the Backup step's
			// own metrics; the worker adds the size (the Powertools example's value).
			if err := emf.FromContext(ctx).PutMetric("BackupSizeBytes", 52428800, types.StandardUnitBytes); err != nil {
				return backupResult{}, err
			}
			return backupResult{Key: "backups/demo/etcd-snapshot-" + time.Now().UTC().Format("20060102-150405") + ".db", Size: 52428800}, nil
		},
		emf.WithWriter(&lines),
		emf.WithDimension("ClusterName", "demo"),
	)
	res, err := step(ctx, struct{}{})
	if err != nil {
		return fmt.Errorf("stand-in backup step: %w", err)
	}
	fmt.Fprintf(out, "step result: key=%s size=%d\n\n", res.Key, res.Size)
	fmt.Fprintln(out, "EMF line(s) written to stdout by the Lambda:")
	fmt.Fprint(out, lines.String())
	fmt.Fprintln(out)

	records, err := emf.DecodeAll(bytes.NewReader(lines.Bytes()))
	if err != nil {
		return fmt.Errorf("decode the EMF we just wrote: %w", err)
	}
	fmt.Fprintln(out, "Metrics CloudWatch extracts from it:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tMETRIC\tVALUE\tUNIT\tDIMENSIONS")
	for _, r := range records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Namespace, deref(r.Datum.MetricName), values(r.Datum), r.Datum.Unit, dims(r.Datum.Dimensions))
	}
	return tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func values(d types.MetricDatum) string {
	if d.Value != nil {
		return strconv.FormatFloat(*d.Value, 'f', -1, 64)
	}
	parts := make([]string, len(d.Values))
	for i, v := range d.Values {
		parts[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

func dims(ds []types.Dimension) string {
	var b bytes.Buffer
	for i, d := range ds {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%s", deref(d.Name), deref(d.Value))
	}
	return b.String()
}
