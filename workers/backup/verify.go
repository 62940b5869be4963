package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// VerifyIn names the snapshot to verify: Backup's Out, or just ClusterName
// and Key to re-verify a published backup.
type VerifyIn struct {
	ClusterName string `json:"ClusterName"`
	Key         string `json:"Key"`
	// StagingKey, when set and still present, is verified and published
	// under Key.
	StagingKey string `json:"StagingKey,omitempty"`
	// SHA256 is the digest Backup saw streaming; when set it must match.
	SHA256 string `json:"Sha256,omitempty"`
}

// VerifyOut is what verification found.
type VerifyOut struct {
	ClusterName string `json:"ClusterName"`
	Bucket      string `json:"Bucket"`
	Key         string `json:"Key"`
	// Revision and Hash as etcdutl's snapshot status reports them (Hash is
	// the CRC-32C of every bucket, key and value, in hex).
	Revision int64  `json:"Revision"`
	Hash     string `json:"Hash"`
	// Size is the database size (without the digest), Keys the number of
	// live keys counted in the restored data dir.
	Size        int64  `json:"Size"`
	Keys        int    `json:"Keys"`
	SHA256      string `json:"Sha256"`
	Member      string `json:"Member"`
	EtcdVersion string `json:"EtcdVersion"`
	// Published: this call published the staged snapshot under Key.
	Published bool `json:"Published"`
}

// Verify downloads, checks and restores a snapshot, and publishes it when
// it was staged.
func (w *Worker) Verify(ctx context.Context, in VerifyIn) (VerifyOut, error) {
	out, err := w.verify(ctx, in)
	m := emf.FromContext(ctx)
	if err != nil {
		_ = m.PutMetric(MetricFailure, 1, types.StandardUnitCount)
		w.log.WarnContext(ctx, "etcd backup verification failed", "key", in.Key, "error", faults.Name(err), "cause", err)
		return out, err
	}
	_ = m.PutMetric(MetricSuccess, 1, types.StandardUnitCount)
	return out, nil
}

func (w *Worker) verify(ctx context.Context, in VerifyIn) (VerifyOut, error) {
	out := VerifyOut{ClusterName: in.ClusterName, Bucket: w.cfg.Bucket, Key: in.Key}
	if err := checkCluster(in.ClusterName); err != nil {
		return out, err
	}
	if _, ok := parseKey(w.cfg.Prefix, in.ClusterName, in.Key); !ok {
		return out, faults.New(faults.InputInvalid, "Key %q is not a backup key of cluster %s (%s)", in.Key, in.ClusterName, Key(w.cfg.Prefix, in.ClusterName, time.Unix(0, 0)))
	}
	if in.StagingKey != "" && !strings.HasPrefix(in.StagingKey, w.cfg.Prefix+".cpwarden-staging/"+in.ClusterName+"/") {
		return out, faults.New(faults.InputInvalid, "StagingKey %q is not a staging key of cluster %s", in.StagingKey, in.ClusterName)
	}
	src, staged := in.Key, false
	if in.StagingKey != "" {
		exists, err := w.exists(ctx, in.StagingKey)
		if err != nil {
			return out, err
		}
		// Gone: an earlier attempt published it and deleted the staging
		// object; verify the published backup instead.
		if exists {
			src, staged = in.StagingKey, true
		}
	}

	dir, err := os.MkdirTemp(w.cfg.TempDir, "cpwarden-verify-")
	if err != nil {
		return out, fmt.Errorf("verify: temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "snapshot.db")
	meta, digest, err := w.download(ctx, src, path)
	if err != nil {
		return out, err
	}
	out.SHA256 = digest
	if in.SHA256 != "" && in.SHA256 != digest {
		return out, faults.New(faults.BackupCorrupt, "s3://%s/%s has SHA-256 %s, the backup streamed %s", w.cfg.Bucket, src, digest, in.SHA256)
	}
	if v := meta[MetaSHA256]; v != "" && v != digest {
		return out, faults.New(faults.BackupCorrupt, "s3://%s/%s has SHA-256 %s, its metadata says %s", w.cfg.Bucket, src, digest, v)
	}
	out.Member, out.EtcdVersion = meta[MetaMember], meta[MetaEtcdVersion]

	mgr := snapshot.NewV3(zap.NewNop())
	st, err := mgr.Status(path)
	if err != nil {
		return out, faults.Wrap(faults.BackupCorrupt, err, "etcdutl snapshot status of s3://"+w.cfg.Bucket+"/"+src)
	}
	out.Revision, out.Hash, out.Size = st.Revision, fmt.Sprintf("%x", st.Hash), st.TotalSize
	restored := filepath.Join(dir, "restore")
	if err := mgr.Restore(snapshot.RestoreConfig{
		SnapshotPath:        path,
		Name:                "cpwarden-verify",
		OutputDataDir:       restored,
		PeerURLs:            []string{"http://127.0.0.1:2380"}, // written into the throwaway membership, never dialed
		InitialCluster:      "cpwarden-verify=http://127.0.0.1:2380",
		InitialClusterToken: "cpwarden-verify",
	}); err != nil {
		return out, faults.Wrap(faults.BackupCorrupt, err, "etcdutl snapshot restore of s3://"+w.cfg.Bucket+"/"+src)
	}
	rst, err := mgr.Status(filepath.Join(restored, "member", "snap", "db"))
	if err != nil {
		return out, faults.Wrap(faults.BackupCorrupt, err, "status of the restored data dir")
	}
	if rst.Revision != st.Revision || rst.TotalKey != st.TotalKey {
		return out, faults.New(faults.BackupCorrupt, "restored data dir has revision %d and %d keys, the snapshot %d and %d", rst.Revision, rst.TotalKey, st.Revision, st.TotalKey)
	}
	out.Keys = rst.TotalKey

	want := map[string]string{
		MetaHash:        out.Hash,
		MetaRevision:    strconv.FormatInt(out.Revision, 10),
		MetaSize:        strconv.FormatInt(out.Size, 10),
		MetaSHA256:      out.SHA256,
		MetaEtcdVersion: out.EtcdVersion,
		MetaMember:      out.Member,
	}
	if !staged {
		// A published backup must still say what it is.
		for _, k := range []string{MetaHash, MetaRevision, MetaSize} {
			if v, ok := meta[k]; ok && v != want[k] {
				return out, faults.New(faults.BackupCorrupt, "s3://%s/%s: metadata %s=%s, the snapshot says %s", w.cfg.Bucket, src, k, v, want[k])
			}
		}
		return out, nil
	}
	if err := w.publish(ctx, path, in.Key, want); err != nil {
		return out, err
	}
	out.Published = true
	if _, err := w.deps.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(in.StagingKey)}); err != nil {
		// Published all the same; Prune removes stale staging objects.
		w.log.WarnContext(ctx, "could not delete the staging object", "key", in.StagingKey, "error", err)
	}
	w.log.InfoContext(ctx, "published verified etcd backup", "key", in.Key, "revision", out.Revision, "keys", out.Keys)
	return out, nil
}

func (w *Worker) exists(ctx context.Context, key string) (bool, error) {
	_, err := w.deps.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(key)})
	if err == nil {
		return true, nil
	}
	var nf *s3types.NotFound
	var nk *s3types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nk) {
		return false, nil
	}
	return false, classifyS3(err, "head s3://"+w.cfg.Bucket+"/"+key)
}

// download writes the object to path and returns its metadata and the
// SHA-256 of its database bytes, after checking etcd's trailing digest.
func (w *Worker) download(ctx context.Context, key, path string) (map[string]string, string, error) {
	obj, err := w.deps.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		var nk *s3types.NoSuchKey
		if errors.As(err, &nk) {
			return nil, "", faults.New(faults.InputInvalid, "no backup at s3://%s/%s: run Backup again", w.cfg.Bucket, key)
		}
		return nil, "", classifyS3(err, "get s3://"+w.cfg.Bucket+"/"+key)
	}
	defer func() { _ = obj.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		return nil, "", fmt.Errorf("verify: %w", err)
	}
	defer func() { _ = f.Close() }()
	tr := newTrailerReader(obj.Body)
	if _, err := io.Copy(f, tr); err != nil {
		if faults.Is(err, faults.BackupCorrupt) {
			return nil, "", faults.Wrap(faults.BackupCorrupt, err, "s3://"+w.cfg.Bucket+"/"+key)
		}
		if tr.readErr != nil {
			return nil, "", classifyS3(err, "download s3://"+w.cfg.Bucket+"/"+key)
		}
		return nil, "", fmt.Errorf("verify: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, "", fmt.Errorf("verify: %w", err)
	}
	return obj.Metadata, tr.digest(), nil
}

// publish uploads the verified file under key with the full metadata. It
// uploads from the local file rather than copying the staged object
// server-side: CopyObject stops at 5 GiB and the file is here anyway.
func (w *Worker) publish(ctx context.Context, path, key string, meta map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer func() { _ = f.Close() }()
	_, err = w.up.UploadObject(ctx, &tm.UploadObjectInput{
		Bucket:      aws.String(w.cfg.Bucket),
		Key:         aws.String(key),
		Body:        f,
		ContentType: aws.String("application/octet-stream"),
		Metadata:    meta,
	})
	if err != nil {
		return classifyS3(err, "publish s3://"+w.cfg.Bucket+"/"+key+" (upload aborted)")
	}
	return nil
}
