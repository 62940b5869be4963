package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// classifyAWS classifies an AWS error once: throttling and transient
// failures (which the SDK has already retried) are AWS.Throttled, retried by
// the workflow; anything else is Worker.Internal.
func classifyAWS(err error, op string) error {
	if err == nil {
		return nil
	}
	var fe *faults.Error
	if errors.As(err, &fe) {
		return err
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary ||
		errors.Is(err, context.DeadlineExceeded) {
		return faults.Wrap(faults.AWSThrottled, err, "health: "+op)
	}
	return faults.Wrap(faults.Internal, err, "health: "+op)
}

// Instance is a control-plane instance in service.
type Instance struct {
	ID             string
	PrivateIP      string
	PrivateDNSName string
}

// inService lists the group's InService instances with their private
// addresses (names only: nothing dials them).
func (w *Worker) inService(ctx context.Context) ([]Instance, error) {
	g, err := w.deps.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{w.cfg.AutoScalingGroup},
	})
	if err != nil {
		return nil, classifyAWS(err, "describe Auto Scaling group "+w.cfg.AutoScalingGroup)
	}
	if len(g.AutoScalingGroups) == 0 {
		return nil, faults.New(faults.InputInvalid, "health: Auto Scaling group %q not found: check the stack's group name", w.cfg.AutoScalingGroup)
	}
	var ids []string
	for _, i := range g.AutoScalingGroups[0].Instances {
		if i.LifecycleState == astypes.LifecycleStateInService {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var out []Instance
	p := ec2.NewDescribeInstancesPaginator(w.deps.EC2, &ec2.DescribeInstancesInput{InstanceIds: ids})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classifyAWS(err, "describe control-plane instances")
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				out = append(out, Instance{
					ID:             aws.ToString(i.InstanceId),
					PrivateIP:      aws.ToString(i.PrivateIpAddress),
					PrivateDNSName: aws.ToString(i.PrivateDnsName),
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// matches reports whether m is the etcd member of instance i: kubeadm
// names a member after its node, which is the instance's private DNS name
// (or its first label), and the member's peer URL carries its private IP.
func matches(i Instance, m MemberHealth) bool {
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
