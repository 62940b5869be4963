package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/s3store"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
	"github.com/cpwarden/cpwarden/workers/backup"
)

const (
	bucket  = "etcd-backups"
	prefix  = "backups/"
	cluster = "test-cluster"
)

// One etcd cluster serves every test of the package: starting one costs
// seconds under -race, and each test only adds keys under its own prefix.
// It starts on first use, so the benchmark's process does not carry it.
var shared struct {
	once sync.Once
	c    *etcdcluster.Cluster
	err  error
}

func sharedCluster(t *testing.T) *etcdcluster.Cluster {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// A long election timeout: no test here needs a failover, and a
		// loaded CI machine must not cause one.
		shared.c, shared.err = etcdcluster.Start(ctx, etcdcluster.Options{Names: []string{"cp-a", "cp-b", "cp-c"}, AddressOffset: 40, ElectionMs: 3000})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

func TestMain(m *testing.M) {
	if isBenchServer() {
		os.Exit(benchServer())
	}
	code := m.Run()
	if shared.c != nil {
		shared.c.Close()
	}
	os.Exit(code)
}

type env struct {
	c      *etcdcluster.Cluster
	store  *s3store.Store
	s3     *s3.Client
	w      *backup.Worker
	emf    *bytes.Buffer
	now    time.Time
	backup func(context.Context, backup.In) (backup.Out, error)
	verify func(context.Context, backup.VerifyIn) (backup.VerifyOut, error)
	prune  func(context.Context, backup.PruneIn) (backup.PruneOut, error)
}

type envOption func(*backup.Config, *backup.Deps)

func newEnv(t *testing.T, wrap func(http.Handler) http.Handler, opts ...envOption) *env {
	t.Helper()
	store, err := s3store.Start(t.Context(), s3store.Options{Buckets: []string{bucket}, Wrap: wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	c := sharedCluster(t)
	e := &env{c: c, store: store, emf: &bytes.Buffer{}, now: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)}
	e.s3 = store.Client(func(o *s3.Options) { o.RetryMaxAttempts = 2 })
	cfg := backup.Config{
		Bucket:      bucket,
		Prefix:      prefix,
		PartSize:    5 << 20,
		Concurrency: 2,
		// Generous: under -race on a busy machine a Status can be slow.
		StatusTimeout: 5 * time.Second,
		TempDir:       t.TempDir(),
		Retention:     backup.DefaultRetention(),
		Now:           func() time.Time { return e.now },
	}
	deps := backup.Deps{Peers: etcdconn.StaticPeers(c.Endpoints()), Dialer: etcdconn.As[backup.Etcd]{Dialer: etcdconn.Dialer{TLS: c.ClientTLS(), SnapshotBuffers: true}}, S3: e.s3}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	e.w = backup.New(cfg, deps)
	dims := []emf.StepOption{emf.WithWriter(e.emf), emf.WithDimension("ClusterName", cluster)}
	// Not "backup": the step middleware would emit BackupSuccess/Failure/
	// Duration itself, the names of the business metrics.
	e.backup = emf.Step("backup-take", backup.Namespace, e.w.Backup, dims...)
	e.verify = emf.Step("backup-verify", backup.Namespace, e.w.Verify, dims...)
	e.prune = emf.Step("backup-prune", backup.Namespace, e.w.Prune, dims...)
	return e
}

func (e *env) metric(t *testing.T, name string) float64 {
	t.Helper()
	recs, err := emf.DecodeAll(bytes.NewReader(e.emf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, r := range emf.Find(recs, name, "ClusterName") {
		if r.Namespace != backup.Namespace {
			t.Fatalf("%s in namespace %q", name, r.Namespace)
		}
		sum += r.Sum()
	}
	return sum
}

// keys lists every object key in the bucket.
func (e *env) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}

func (e *env) openUploads(t *testing.T) int {
	t.Helper()
	ups, err := e.s3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchUpload") { // gofakes3: no upload ever started in this bucket
			return 0
		}
		t.Fatal(err)
	}
	return len(ups.Uploads)
}

func (e *env) get(t *testing.T, key string) ([]byte, map[string]string) {
	t.Helper()
	obj, err := e.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, obj.Metadata
}

func (e *env) put(t *testing.T, key string, body []byte, meta map[string]string) {
	t.Helper()
	if _, err := e.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, c *etcdcluster.Cluster, prefix string, n int) {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i := range n {
		if _, err := cli.Put(t.Context(), fmt.Sprintf("%s%04d", prefix, i), strings.Repeat("v", i%97)); err != nil {
			t.Fatal(err)
		}
	}
	// Updates and deletes, so revisions and tombstones are in the snapshot.
	for i := 0; i < n; i += 3 {
		if _, err := cli.Put(t.Context(), fmt.Sprintf("%s%04d", prefix, i), "updated"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < n; i += 5 {
		if _, err := cli.Delete(t.Context(), fmt.Sprintf("%s%04d", prefix, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// restoreAndCompare restores a backup object with etcdutl, starts a real
// etcd on the restored data dir and compares every key with the source
// cluster at the snapshot's revision.
func restoreAndCompare(t *testing.T, e *env, key string, rev int64) {
	t.Helper()
	body, _ := e.get(t, key)
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	peer := "http://" + testnet.FreeAddr(t)
	client := "http://" + testnet.FreeAddr(t)
	data := filepath.Join(dir, "restored")
	if err := snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath: path, Name: "restored", OutputDataDir: data,
		PeerURLs: []string{peer}, InitialCluster: "restored=" + peer, InitialClusterToken: "restored",
	}); err != nil {
		t.Fatalf("restore %s: %v", key, err)
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "restored", data
	pu, _ := url.Parse(peer)
	cu, _ := url.Parse(client)
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.InitialCluster, cfg.InitialClusterToken = "restored="+peer, "restored"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	select {
	case <-srv.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		t.Fatal("restored etcd not ready")
	}
	restored, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	src, err := e.c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want, err := src.Get(t.Context(), "\x00", clientv3.WithFromKey(), clientv3.WithRev(rev))
	if err != nil {
		t.Fatal(err)
	}
	got, err := restored.Get(t.Context(), "\x00", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Revision != rev {
		t.Errorf("restored revision %d, want %d", got.Header.Revision, rev)
	}
	if len(got.Kvs) != len(want.Kvs) || len(got.Kvs) == 0 {
		t.Fatalf("restored %d keys, source had %d at revision %d", len(got.Kvs), len(want.Kvs), rev)
	}
	for i := range want.Kvs {
		w, g := want.Kvs[i], got.Kvs[i]
		if !bytes.Equal(w.Key, g.Key) || !bytes.Equal(w.Value, g.Value) || w.CreateRevision != g.CreateRevision || w.ModRevision != g.ModRevision || w.Version != g.Version {
			t.Fatalf("key %d differs: restored %q=%q (c%d m%d v%d), source %q=%q (c%d m%d v%d)", i,
				g.Key, g.Value, g.CreateRevision, g.ModRevision, g.Version, w.Key, w.Value, w.CreateRevision, w.ModRevision, w.Version)
		}
	}
}

func TestBackupVerifyPublishAndRestore(t *testing.T) {
	e := newEnv(t, nil)
	write(t, e.c, "/registry/pods/", 300)
	ctx := t.Context()

	var out backup.Out
	for i := range 2 { // Step Functions may run a step twice
		var err error
		if out, err = e.backup(ctx, backup.In{ClusterName: cluster}); err != nil {
			t.Fatalf("backup call %d: %v", i+1, err)
		}
	}
	if out.Key != prefix+cluster+"/etcd-snapshot-20260314-150926.db" {
		t.Errorf("key = %s", out.Key)
	}
	leader, err := e.c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Member == "" || out.Member == leader.Name {
		t.Errorf("snapshot taken from %q, want a follower (leader is %s)", out.Member, leader.Name)
	}
	if keys := e.keys(t); len(keys) != 1 || keys[0] != out.StagingKey {
		t.Fatalf("objects after Backup = %v, want only the staging object", keys)
	}
	staged, _ := e.get(t, out.StagingKey)
	if int64(len(staged)) != out.Bytes || fmt.Sprintf("%x", sha256.Sum256(staged[:len(staged)-32])) != out.SHA256 {
		t.Fatal("staged object does not match what Backup reported")
	}

	vin := backup.VerifyIn{ClusterName: cluster, Key: out.Key, StagingKey: out.StagingKey, SHA256: out.SHA256}
	first, err := e.verify(ctx, vin)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.verify(ctx, vin)
	if err != nil {
		t.Fatalf("second verify: %v", err)
	}
	if !first.Published || second.Published {
		t.Errorf("Published = %v then %v, want true then false", first.Published, second.Published)
	}
	if first.Revision == 0 || first.Keys == 0 || first.Hash == "" || first.Revision != second.Revision || first.Hash != second.Hash {
		t.Fatalf("verify results %+v / %+v", first, second)
	}
	if keys := e.keys(t); len(keys) != 1 || keys[0] != out.Key {
		t.Fatalf("objects after Verify = %v, want only %s", keys, out.Key)
	}
	body, meta := e.get(t, out.Key)
	st := statusOf(t, body)
	want := map[string]string{
		"hash":         fmt.Sprintf("%x", st.Hash),
		"revision":     strconv.FormatInt(st.Revision, 10),
		"size":         strconv.FormatInt(st.TotalSize, 10),
		"sha256":       out.SHA256,
		"etcd-version": out.EtcdVersion,
		"member":       out.Member,
	}
	for k, v := range want {
		if meta[k] != v || v == "" {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
		}
	}
	if !bytes.Equal(body, staged) {
		t.Error("published object differs from the staged one")
	}
	restoreAndCompare(t, e, out.Key, first.Revision)

	if got := e.metric(t, backup.MetricSuccess); got != 2 {
		t.Errorf("BackupSuccess = %v, want 2 (two verifications)", got)
	}
	if got := e.metric(t, backup.MetricSizeBytes); got != 2*float64(out.Bytes) {
		t.Errorf("BackupSizeBytes = %v, want 2×%d", got, out.Bytes)
	}
	recs, _ := emf.DecodeAll(bytes.NewReader(e.emf.Bytes()))
	if len(emf.Find(recs, backup.MetricDuration, "ClusterName")) != 2 {
		t.Error("BackupDuration not emitted for each attempt")
	}
}

func statusOf(t *testing.T, body []byte) snapshot.Status {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
