package health

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cpwarden/cpwarden/internal/awsfault"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// classifyAWS classifies an AWS error once (internal/awsfault): throttling
// and transient failures are AWS.Throttled, retried by the workflow.
func classifyAWS(err error, op string) error { return awsfault.Wrap(err, "health: "+op) }

// inService lists the group's InService instances with their private
// addresses (names only: nothing dials them).
func (w *Worker) inService(ctx context.Context) ([]etcdconn.Instance, error) {
	d := etcdconn.ASGDiscovery{Group: w.cfg.AutoScalingGroup, ASG: w.deps.ASG, EC2: w.deps.EC2}
	all, err := d.Instances(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(i etcdconn.Instance) bool { return !i.InService() }), nil
}

// matches reports whether m is the etcd member of instance i: kubeadm
// names a member after its node, which is the instance's private DNS name
// (or its first label), and the member's peer URL carries its private IP.
func matches(i etcdconn.Instance, m MemberHealth) bool {
	short, _, _ := strings.Cut(i.PrivateDNSName, ".")
	if m.Name != "" && i.PrivateDNSName != "" && (strings.EqualFold(m.Name, i.PrivateDNSName) || strings.EqualFold(m.Name, short)) {
		return true
	}
	return i.PrivateIP != "" && slices.Contains(m.peerHosts, i.PrivateIP)
}

// Parameter names (docs/contracts.md).
func paramFailureCount(cluster string) string { return "/" + cluster + "/health/failure-count" }
func paramRestoreMode(cluster string) string  { return "/" + cluster + "/cluster/restore-mode" }
func paramRestoreBackup(cluster string) string {
	return "/" + cluster + "/cluster/restore-backup"
}
func paramTriggeredAt(cluster string) string { return "/" + cluster + "/cluster/restore-triggered-at" }
func paramInitialized(cluster string) string { return "/" + cluster + "/cluster/initialized" }

// state is the recovery state kept in Parameter Store. Missing parameters
// read as their zero values: a cluster that never failed has none.
type state struct {
	failures      int
	restoreMode   bool
	initialized   bool
	restoreBackup string
	triggeredAt   time.Time
}

func (w *Worker) readState(ctx context.Context) (state, error) {
	c := w.cfg.ClusterName
	out, err := w.deps.SSM.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{
		paramFailureCount(c), paramRestoreMode(c), paramRestoreBackup(c), paramTriggeredAt(c), paramInitialized(c),
	}})
	if err != nil {
		return state{}, classifyAWS(err, "read recovery parameters")
	}
	var st state
	for _, p := range out.Parameters {
		v := strings.TrimSpace(aws.ToString(p.Value))
		switch aws.ToString(p.Name) {
		case paramFailureCount(c):
			// A count someone mangled by hand restarts from zero rather
			// than failing every probe.
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				st.failures = n
			}
		case paramRestoreMode(c):
			st.restoreMode = strings.EqualFold(v, "true")
		case paramInitialized(c):
			st.initialized = strings.EqualFold(v, "true")
		case paramRestoreBackup(c):
			st.restoreBackup = v
		case paramTriggeredAt(c):
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				st.triggeredAt = t
			}
		}
	}
	return st, nil
}

func (w *Worker) put(ctx context.Context, name, value string) error {
	_, err := w.deps.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name:      aws.String(name),
		Value:     aws.String(value),
		Type:      ssmtypes.ParameterTypeString,
		Overwrite: aws.Bool(true),
	})
	return classifyAWS(err, "write "+name)
}

// Backup metadata key whose presence marks a verified backup (docs/contracts.md;
// workers/backup publishes a backup only after restoring it, with this key).
const metaSHA256 = "sha256"

// maxHeads bounds the HeadObject calls spent looking for a verified backup
// among the newest keys.
const maxHeads = 20

const keyTimeLayout = "20060102-150405"

// latestVerifiedBackup returns the key of the newest backup, by the time in
// its key, across all pages of the listing, that carries the sha256
// metadata; "" when there is none.
func (w *Worker) latestVerifiedBackup(ctx context.Context) (string, error) {
	if w.cfg.Bucket == "" {
		return "", faults.New(faults.InputInvalid, "health: no backup bucket configured")
	}
	prefix := w.cfg.Prefix + w.cfg.ClusterName + "/etcd-snapshot-"
	type backup struct {
		key string
		at  time.Time
	}
	var backups []backup
	list := &s3.ListObjectsV2Input{Bucket: aws.String(w.cfg.Bucket), Prefix: aws.String(prefix)}
	if w.cfg.ListPageSize > 0 {
		list.MaxKeys = aws.Int32(w.cfg.ListPageSize)
	}
	p := s3.NewListObjectsV2Paginator(w.deps.S3, list)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", classifyAWS(err, fmt.Sprintf("list s3://%s/%s", w.cfg.Bucket, prefix))
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			stamp, ok := strings.CutSuffix(strings.TrimPrefix(key, prefix), ".db")
			if !ok {
				continue
			}
			if t, err := time.Parse(keyTimeLayout, stamp); err == nil {
				backups = append(backups, backup{key, t})
			}
		}
	}
	slices.SortFunc(backups, func(a, b backup) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.key, a.key)
	})
	for i, b := range backups {
		if i == maxHeads {
			break
		}
		h, err := w.deps.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(b.key)})
		if err != nil {
			return "", classifyAWS(err, "head s3://"+w.cfg.Bucket+"/"+b.key)
		}
		if h.Metadata[metaSHA256] != "" {
			return b.key, nil
		}
	}
	return "", nil
}
