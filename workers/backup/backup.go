// Package backup takes, verifies and prunes etcd backups in S3.
//
// Three worker functions, one per step of the backup workflow:
//
//   - Backup streams Maintenance.Snapshot from a healthy member (a follower
//     when one is healthy) into an S3 multipart upload through the transfer
//     manager, with SHA-256 part checksums, no local file and bounded memory.
//     It checks the SHA-256 trailer etcd appends while the bytes stream; any
//     failure (etcd, S3, a trailer mismatch) aborts the multipart upload. The
//     snapshot lands under a staging key, never under a backup key.
//   - Verify downloads a snapshot to a temporary directory, checks its
//     SHA-256, reads revision, hash and size with etcdutl's snapshot status,
//     restores it with etcdutl into a throwaway data dir and counts the keys.
//     A staged snapshot that passes is then published under its backup key
//     (<prefix><cluster>/etcd-snapshot-YYYYMMDD-HHMMSS.db) with the metadata
//     of docs/contracts.md, and the staging object is deleted. A corrupt snapshot
//     fails with Backup.Corrupt and is never published.
//   - Prune applies retention to the published backups.
//
// Why two steps publish instead of one: the contract's metadata (hash,
// revision, size, sha256) describes the whole snapshot, so it is known only
// after the last byte, while S3 fixes an object's metadata when the upload
// starts; and etcdutl reads revision and hash from a bolt file, which the
// streaming step must not write. So the streaming step stages, and the step
// that has the file anyway publishes. A consequence worth knowing: every
// object under the backup prefix has been restored once, so "the newest
// backup" is always "the newest verified backup".
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/workeropt"
)

// Namespace is the CloudWatch namespace of this worker's metrics.
const Namespace = "K8sCluster/EtcdBackup"

// Business metrics (docs/contracts.md).
const (
	MetricSuccess   = "BackupSuccess"
	MetricFailure   = "BackupFailure"
	MetricDuration  = "BackupDuration"
	MetricSizeBytes = "BackupSizeBytes"
)

// Object metadata keys (docs/contracts.md). The first three are read by the
// older system's restore scripts.
const (
	MetaHash        = "hash"
	MetaRevision    = "revision"
	MetaSize        = "size"
	MetaSHA256      = "sha256"
	MetaEtcdVersion = "etcd-version"
	MetaMember      = "member"
)

// Etcd is what the worker uses of an etcd client. *clientv3.Client
// satisfies it.
type Etcd interface {
	Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error)
	AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error)
	SnapshotWithVersion(ctx context.Context) (*clientv3.SnapshotResponse, error)
	MemberList(ctx context.Context, opts ...clientv3.OpOption) (*clientv3.MemberListResponse, error)
	Close() error
}

// Dialer connects to etcd members at the given client URLs.
type Dialer interface {
	Dial(ctx context.Context, endpoints []string) (Etcd, error)
}

// Peers lists the client URLs of the etcd members (etcdconn.ASGDiscovery and
// etcdconn.StaticPeers satisfy it).
type Peers interface {
	Peers(ctx context.Context) ([]string, error)
}

// S3 is what the worker uses of the S3 client: the transfer manager's needs
// plus deletion. *s3.Client satisfies it.
type S3 interface {
	tm.S3APIClient
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// The real client: etcdconn.As[Etcd] over an etcdconn.Dialer with
// SnapshotBuffers set is a Dialer.
var _ Etcd = (*etcdconn.Client)(nil)

// Defaults of Config.PartSize and Config.Concurrency: memory for parts is
// about (DefaultConcurrency+2) × DefaultPartSize, 20 MiB. The transfer
// manager holds the first part, plus a pool of Concurrency+1 part buffers
// that it allocates afresh for every upload, so the Go heap peaks near
// twice that before a collection. 5 MiB is S3's minimum part size; with
// 10,000 parts it still allows 48 GiB snapshots, far above etcd's 8 GiB
// quota limit. In BenchmarkBackupStreaming 8 MiB parts were no faster and
// cost about 20 MiB more peak RSS, and one part in flight instead of two
// was a little slower: the snapshot stream, not the upload, is the slower
// stage.
const (
	DefaultPartSize    = 5 << 20
	DefaultConcurrency = 2
)

// Config holds the worker's settings.
type Config struct {
	// Bucket receives the backups. Required.
	Bucket string
	// Prefix is prepended to every key, e.g. "etcd-backups/". May be empty.
	Prefix string
	// PartSize is the multipart part size; 0 means DefaultPartSize (S3's
	// minimum is 5 MiB). Memory use is about (Concurrency+2) × PartSize.
	PartSize int64
	// Concurrency is the number of parts in flight; 0 means
	// DefaultConcurrency.
	Concurrency int
	// StatusTimeout bounds each member's Status probe; 0 means 2 s.
	StatusTimeout time.Duration
	// TempDir holds Verify's download and restore; empty means os.TempDir().
	// It needs about twice the snapshot size free.
	TempDir string
	// Retention is Prune's policy; the zero Retention means
	// DefaultRetention() (a policy that keeps nothing but the newest
	// backup is Retention{Newest: 1}).
	Retention Retention
	// StagingMaxAge: Prune deletes staged snapshots older than this (a
	// Backup whose Verify never ran); 0 means 24 h.
	StagingMaxAge time.Duration
	// Now is the clock for key names and retention; nil means time.Now.
	Now func() time.Time
	// Logger receives progress logs; nil discards them.
	Logger *slog.Logger
}

// Deps are the worker's dependencies.
type Deps struct {
	Peers  Peers
	Dialer Dialer
	S3     S3
}

// Worker takes, verifies and prunes backups. Create it with New.
type Worker struct {
	cfg  Config
	deps Deps
	up   *tm.Client
	log  *slog.Logger
}

// New returns a Worker.
func New(cfg Config, deps Deps) *Worker {
	cfg.PartSize = workeropt.Positive(cfg.PartSize, DefaultPartSize)
	cfg.Concurrency = workeropt.Positive(cfg.Concurrency, DefaultConcurrency)
	cfg.StatusTimeout = workeropt.Positive(cfg.StatusTimeout, 2*time.Second)
	cfg.StagingMaxAge = workeropt.Positive(cfg.StagingMaxAge, 24*time.Hour)
	if cfg.Retention == (Retention{}) {
		cfg.Retention = DefaultRetention()
	}
	cfg.Now = workeropt.Clock(cfg.Now)
	log := workeropt.Logger(cfg.Logger)
	up := tm.New(deps.S3, func(o *tm.Options) {
		o.PartSizeBytes = cfg.PartSize
		// The first part is read whole before the upload starts: keep it
		// one part long so it is not a second, larger buffer.
		o.MultipartUploadThreshold = cfg.PartSize
		o.Concurrency = cfg.Concurrency
		o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmSha256
		// Abort with a fresh context: a failure is often a cancelled one.
		o.FailTimeout = 30 * time.Second
	})
	return &Worker{cfg: cfg, deps: deps, up: up, log: log}
}

// In is the input of Backup; the scheduled event's optional override object.
type In struct {
	ClusterName string `json:"ClusterName"`
	// Endpoints, when set, replaces discovery.
	Endpoints []string `json:"Endpoints,omitempty"`
}

// Out is the result of Backup and the input of Verify.
type Out struct {
	ClusterName string `json:"ClusterName"`
	Bucket      string `json:"Bucket"`
	// Key is where Verify publishes the snapshot.
	Key string `json:"Key"`
	// StagingKey holds the snapshot until Verify publishes it.
	StagingKey string `json:"StagingKey"`
	// Member is the name of the member the snapshot came from.
	Member      string `json:"Member"`
	EtcdVersion string `json:"EtcdVersion"`
	// SHA256 is the hex digest etcd appended (of the database bytes).
	SHA256 string `json:"Sha256"`
	// Bytes is the object size: the database plus the 32-byte digest.
	Bytes      int64 `json:"Bytes"`
	DurationMs int64 `json:"DurationMs"`
}

var clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func checkCluster(name string) error {
	if !clusterNamePattern.MatchString(name) {
		return faults.New(faults.InputInvalid, "ClusterName %q must be 1-128 letters, digits, '-', '_' or '.', not starting with a symbol", name)
	}
	return nil
}

// DefaultPrefix is the template's default key prefix of the backups, before
// <cluster>/. A Config's empty Prefix means no prefix: the function core
// gives an unset BACKUP_PREFIX this value instead.
const DefaultPrefix = "backups/"

const keyTimeLayout = "20060102-150405"

// Key returns the backup key of a snapshot taken at t (docs/contracts.md).
func Key(prefix, cluster string, t time.Time) string {
	return prefix + cluster + "/etcd-snapshot-" + t.UTC().Format(keyTimeLayout) + ".db"
}

// stagingKey keeps staged snapshots out of the backup prefix, where restore
// scripts look: cluster names cannot start with '.'.
func stagingKey(prefix, cluster string, t time.Time) string {
	return prefix + ".cpwarden-staging/" + cluster + "/etcd-snapshot-" + t.UTC().Format(keyTimeLayout) + ".db"
}

// Backup streams a snapshot to the staging key.
func (w *Worker) Backup(ctx context.Context, in In) (Out, error) {
	start := time.Now()
	out, err := w.backup(ctx, in)
	out.DurationMs = time.Since(start).Milliseconds()
	m := emf.FromContext(ctx)
	_ = m.PutMetric(MetricDuration, float64(out.DurationMs), types.StandardUnitMilliseconds)
	if err != nil {
		_ = m.PutMetric(MetricFailure, 1, types.StandardUnitCount)
		w.log.WarnContext(ctx, "etcd backup failed", "cluster", in.ClusterName, "error", faults.Name(err), "cause", err)
		return out, err
	}
	_ = m.PutMetric(MetricSizeBytes, float64(out.Bytes), types.StandardUnitBytes)
	return out, nil
}

func (w *Worker) backup(ctx context.Context, in In) (Out, error) {
	out := Out{ClusterName: in.ClusterName, Bucket: w.cfg.Bucket}
	if err := checkCluster(in.ClusterName); err != nil {
		return out, err
	}
	if w.cfg.Bucket == "" {
		return out, faults.New(faults.InputInvalid, "no backup bucket configured")
	}
	endpoints := in.Endpoints
	if len(endpoints) == 0 {
		var err error
		if endpoints, err = w.deps.Peers.Peers(ctx); err != nil {
			return out, err
		}
	}
	if len(endpoints) == 0 {
		return out, faults.New(faults.EtcdUnavailable, "no etcd endpoint found: check the control-plane Auto Scaling group or pass Endpoints")
	}
	src, err := w.pickSource(ctx, endpoints)
	if err != nil {
		return out, err
	}
	out.Member, out.EtcdVersion = src.name, src.version

	cli, err := w.deps.Dialer.Dial(ctx, []string{src.endpoint})
	if err != nil {
		return out, faults.Wrap(faults.EtcdUnavailable, err, "dial "+src.endpoint)
	}
	defer func() { _ = cli.Close() }()
	// The snapshot stream dies with this context; cancelling it on any
	// return stops etcd from sending.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snap, err := cli.SnapshotWithVersion(sctx)
	if err != nil {
		return out, faults.Wrap(faults.EtcdUnavailable, err, "open snapshot stream from "+src.name)
	}
	defer func() { _ = snap.Snapshot.Close() }()
	if out.EtcdVersion == "" {
		out.EtcdVersion = snap.Version
	}

	now := w.cfg.Now()
	out.Key = Key(w.cfg.Prefix, in.ClusterName, now)
	out.StagingKey = stagingKey(w.cfg.Prefix, in.ClusterName, now)
	body := newTrailerReader(snap.Snapshot)
	_, err = w.up.UploadObject(ctx, &tm.UploadObjectInput{
		Bucket:      aws.String(w.cfg.Bucket),
		Key:         aws.String(out.StagingKey),
		Body:        body,
		ContentType: aws.String("application/octet-stream"),
		Metadata:    map[string]string{MetaMember: out.Member, MetaEtcdVersion: out.EtcdVersion},
	})
	if err != nil {
		var corrupt *faults.Error
		if errors.As(err, &corrupt) && corrupt.Name == faults.BackupCorrupt {
			return out, corrupt
		}
		if body.readErr != nil {
			return out, faults.Wrap(faults.EtcdUnavailable, body.readErr, "snapshot stream from "+src.name+" broke (upload aborted)")
		}
		return out, classifyS3(err, "upload snapshot to s3://"+w.cfg.Bucket+"/"+out.StagingKey+" (upload aborted)")
	}
	out.SHA256, out.Bytes = body.digest(), body.total
	w.log.InfoContext(ctx, "staged etcd snapshot", "member", out.Member, "key", out.StagingKey, "bytes", out.Bytes)
	return out, nil
}

type source struct {
	endpoint, name, version string
}

// pickSource chooses a healthy member to snapshot, a follower when one is
// healthy (a snapshot loads the member; the leader has enough to do), the
// most caught-up one first.
func (w *Worker) pickSource(ctx context.Context, endpoints []string) (source, error) {
	cli, err := w.deps.Dialer.Dial(ctx, endpoints)
	if err != nil {
		return source{}, faults.Wrap(faults.EtcdUnavailable, err, "dial etcd")
	}
	defer func() { _ = cli.Close() }()
	type cand struct {
		source
		st *clientv3.StatusResponse
	}
	cands := make([]*cand, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, w.cfg.StatusTimeout)
			defer cancel()
			if st, err := cli.Status(sctx, ep); err == nil && st.Header != nil && st.Leader != 0 && len(st.Errors) == 0 && !st.IsLearner {
				cands[i] = &cand{source: source{endpoint: ep, version: st.Version}, st: st}
			}
		})
	}
	// The alarms are listed while the members answer; when none does, the
	// answer is that, not the alarm call's time-out.
	actx, cancel := context.WithTimeout(ctx, 2*w.cfg.StatusTimeout)
	defer cancel()
	var alarms *clientv3.AlarmResponse
	var alarmErr error
	alarmsDone := make(chan struct{})
	go func() {
		defer close(alarmsDone)
		alarms, alarmErr = cli.AlarmList(actx)
	}()
	wg.Wait()
	if !slices.ContainsFunc(cands, func(c *cand) bool { return c != nil }) {
		cancel()
		<-alarmsDone
		return source{}, faults.New(faults.EtcdUnavailable, "no etcd member among %v answered a status request within %s", endpoints, w.cfg.StatusTimeout)
	}
	<-alarmsDone
	if alarmErr != nil {
		return source{}, faults.Wrap(faults.EtcdUnavailable, alarmErr, "list etcd alarms")
	}
	alarmed := map[uint64]bool{}
	for _, a := range alarms.Alarms {
		if a.Alarm == pb.AlarmType_CORRUPT {
			// A corrupt member's snapshot is worthless. NOSPACE does not
			// harm a snapshot, so it does not disqualify a member.
			alarmed[a.MemberID] = true
		}
	}
	cands = slices.DeleteFunc(cands, func(c *cand) bool { return c == nil || alarmed[c.st.Header.MemberId] })
	if len(cands) == 0 {
		return source{}, faults.New(faults.EtcdUnavailable, "no healthy etcd member among %v to take a snapshot from", endpoints)
	}
	slices.SortFunc(cands, func(a, b *cand) int {
		af, bf := a.st.Leader != a.st.Header.MemberId, b.st.Leader != b.st.Header.MemberId
		if af != bf {
			if af {
				return -1
			}
			return 1
		}
		if a.st.RaftAppliedIndex != b.st.RaftAppliedIndex {
			if a.st.RaftAppliedIndex > b.st.RaftAppliedIndex {
				return -1
			}
			return 1
		}
		return strings.Compare(a.endpoint, b.endpoint)
	})
	best := cands[0]
	// Status does not carry the member name: ask the membership.
	lctx, lcancel := context.WithTimeout(ctx, 2*w.cfg.StatusTimeout)
	defer lcancel()
	best.name = fmt.Sprintf("%x", best.st.Header.MemberId)
	if resp, err := cli.MemberList(lctx); err == nil {
		for _, m := range resp.Members {
			if m.ID == best.st.Header.MemberId && m.Name != "" {
				best.name = m.Name
			}
		}
	}
	return best.source, nil
}
