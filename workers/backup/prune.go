package backup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// Retention says which backups Prune keeps. The newest backup is always
// kept, whatever the numbers.
type Retention struct {
	// Newest keeps the N newest backups.
	Newest int `json:"Newest"`
	// Hourly keeps the newest backup of each hour for the last Hourly
	// hours; Daily of each UTC day for Daily days; Weekly of each ISO week
	// for Weekly weeks.
	Hourly int `json:"Hourly"`
	Daily  int `json:"Daily"`
	Weekly int `json:"Weekly"`
}

// DefaultRetention is the template's retention (RETENTION_KEEP_LAST,
// RETENTION_HOURLY_HOURS, RETENTION_DAILY_DAYS, RETENTION_WEEKLY_WEEKS): the
// newest 24, one a day for a week and one a week for 8 weeks, for a backup
// every 15 minutes to an hour. It is Config.Retention's default.
func DefaultRetention() Retention { return Retention{Newest: 24, Hourly: 24, Daily: 7, Weekly: 8} }

func (r Retention) check() error {
	if r.Newest < 0 || r.Hourly < 0 || r.Daily < 0 || r.Weekly < 0 {
		return faults.New(faults.InputInvalid, "retention counts cannot be negative: %+v", r)
	}
	return nil
}

// Snapshot is a published backup: its key and the time in its name.
type Snapshot struct {
	Key  string
	Time time.Time
}

// Keep returns the keys r keeps among backups at now. It is pure: Prune
// deletes exactly the others.
func Keep(now time.Time, backups []Snapshot, r Retention) map[string]bool {
	sorted := slices.Clone(backups)
	slices.SortFunc(sorted, func(a, b Snapshot) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Key, a.Key)
	})
	keep := map[string]bool{}
	for i, b := range sorted {
		if i < max(r.Newest, 1) {
			keep[b.Key] = true
		}
	}
	// In each period keep the newest backup: walking newest first, the
	// first backup seen in a bucket is the one kept.
	period := func(window time.Duration, bucket func(time.Time) string) {
		seen := map[string]bool{}
		for _, b := range sorted {
			if now.Sub(b.Time) >= window {
				break
			}
			k := bucket(b.Time.UTC())
			if !seen[k] {
				seen[k] = true
				keep[b.Key] = true
			}
		}
	}
	period(time.Duration(r.Hourly)*time.Hour, func(t time.Time) string { return t.Format("2006010215") })
	period(time.Duration(r.Daily)*24*time.Hour, func(t time.Time) string { return t.Format("20060102") })
	period(time.Duration(r.Weekly)*7*24*time.Hour, func(t time.Time) string {
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-%02d", y, w)
	})
	return keep
}

// parseKey returns the time in a backup key, and whether key is one.
func parseKey(prefix, cluster, key string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(key, prefix+cluster+"/etcd-snapshot-")
	if !ok {
		return time.Time{}, false
	}
	stamp, ok := strings.CutSuffix(rest, ".db")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(keyTimeLayout, stamp)
	return t, err == nil
}

// PruneIn is the input of Prune.
type PruneIn struct {
	ClusterName string `json:"ClusterName"`
	// Retention overrides the configured policy.
	Retention *Retention `json:"Retention,omitempty"`
}

// PruneOut reports what Prune did.
type PruneOut struct {
	ClusterName string `json:"ClusterName"`
	Backups     int    `json:"Backups"`
	Kept        int    `json:"Kept"`
	Deleted     int    `json:"Deleted"`
	// DeletedKeys lists at most the first 50 (a Step Functions payload is
	// limited to 256 KB).
	DeletedKeys []string `json:"DeletedKeys,omitempty"`
	// Newest is the newest backup, never deleted.
	Newest         string `json:"Newest,omitempty"`
	StagingDeleted int    `json:"StagingDeleted"`
}

const maxReportedKeys = 50

// Prune deletes the published backups that the retention policy does not
// keep, and staged snapshots older than StagingMaxAge.
func (w *Worker) Prune(ctx context.Context, in PruneIn) (PruneOut, error) {
	out := PruneOut{ClusterName: in.ClusterName}
	if err := checkCluster(in.ClusterName); err != nil {
		return out, err
	}
	r := w.cfg.Retention
	if in.Retention != nil {
		r = *in.Retention
	}
	if err := r.check(); err != nil {
		return out, err
	}
	now := w.cfg.Now()
	objs, err := w.list(ctx, w.cfg.Prefix+in.ClusterName+"/etcd-snapshot-")
	if err != nil {
		return out, err
	}
	var backups []Snapshot
	for _, o := range objs {
		// Objects whose name does not parse are not ours to delete.
		if t, ok := parseKey(w.cfg.Prefix, in.ClusterName, aws.ToString(o.Key)); ok {
			backups = append(backups, Snapshot{Key: aws.ToString(o.Key), Time: t})
		}
	}
	out.Backups = len(backups)
	keep := Keep(now, backups, r)
	var doomed []string
	var newest Snapshot
	for _, b := range backups {
		if !keep[b.Key] {
			doomed = append(doomed, b.Key)
		}
		if b.Time.After(newest.Time) || (b.Time.Equal(newest.Time) && b.Key > newest.Key) {
			newest = b
		}
	}
	out.Newest = newest.Key
	out.Kept = len(backups) - len(doomed)
	if err := w.delete(ctx, doomed); err != nil {
		return out, err
	}
	out.Deleted = len(doomed)
	out.DeletedKeys = doomed[:min(len(doomed), maxReportedKeys)]

	staging, err := w.list(ctx, w.cfg.Prefix+".cpwarden-staging/"+in.ClusterName+"/")
	if err != nil {
		return out, err
	}
	var stale []string
	for _, o := range staging {
		if o.LastModified != nil && now.Sub(*o.LastModified) > w.cfg.StagingMaxAge {
			stale = append(stale, aws.ToString(o.Key))
		}
	}
	if err := w.delete(ctx, stale); err != nil {
		return out, err
	}
	out.StagingDeleted = len(stale)
	w.log.InfoContext(ctx, "pruned etcd backups", "cluster", in.ClusterName, "kept", out.Kept, "deleted", out.Deleted, "staging", out.StagingDeleted)
	return out, nil
}

func (w *Worker) list(ctx context.Context, prefix string) ([]s3types.Object, error) {
	var objs []s3types.Object
	p := s3.NewListObjectsV2Paginator(w.deps.S3, &s3.ListObjectsV2Input{Bucket: aws.String(w.cfg.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classifyS3(err, "list s3://"+w.cfg.Bucket+"/"+prefix)
		}
		objs = append(objs, page.Contents...)
	}
	return objs, nil
}

// delete removes keys in batches of 1,000, DeleteObjects' limit.
func (w *Worker) delete(ctx context.Context, keys []string) error {
	for batch := range slices.Chunk(keys, 1000) {
		ids := make([]s3types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = s3types.ObjectIdentifier{Key: aws.String(k)}
		}
		resp, err := w.deps.S3.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(w.cfg.Bucket),
			Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return classifyS3(err, "delete old backups")
		}
		if len(resp.Errors) > 0 {
			e := resp.Errors[0]
			return faults.New(faults.AWSThrottled, "delete old backups: %d of %d failed, first %s: %s %s",
				len(resp.Errors), len(batch), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	return nil
}
