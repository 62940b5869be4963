package backup_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers/backup"
)

// The shared cluster gets at least 12 MiB of values once, so snapshots span
// several 5 MiB parts and failures can strike mid-upload.
func fillOnce(t *testing.T, e *env) {
	t.Helper()
	cli, err := e.c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, err := cli.Status(t.Context(), e.c.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	if st.DbSize < 12<<20 {
		if _, err := e.c.Fill(t.Context(), "/bulk/", 12<<20, 256<<10); err != nil {
			t.Fatal(err)
		}
	}
}

// failPart2 answers every attempt at part 2 with a 500, after reading it.
func failPart2(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<Error><Code>InternalError</Code><Message>injected</Message></Error>")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// cutPart2 reads a little of every attempt at part 2, then drops the TCP
// connection, as a network failure mid-stream does.
func cutPart2(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
			_, _ = io.CopyN(io.Discard, r.Body, 64<<10)
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		h.ServeHTTP(w, r)
	})
}

// brokenStream makes the snapshot stream fail, or corrupts one byte, after
// a number of bytes.
type brokenStream struct {
	backup.Etcd
	after   int64
	corrupt bool
}

func (b brokenStream) SnapshotWithVersion(ctx context.Context) (*clientv3.SnapshotResponse, error) {
	resp, err := b.Etcd.SnapshotWithVersion(ctx)
	if err != nil {
		return nil, err
	}
	resp.Snapshot = &faultyReader{ReadCloser: resp.Snapshot, left: b.after, corrupt: b.corrupt}
	return resp, nil
}

type faultyReader struct {
	io.ReadCloser
	left    int64
	corrupt bool
	done    atomic.Bool
}

func (f *faultyReader) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.done.Load() {
		return n, err
	}
	if int64(n) > f.left {
		f.done.Store(true)
		if !f.corrupt {
			return int(f.left), io.ErrUnexpectedEOF
		}
		p[f.left] ^= 0xff
		return n, err
	}
	f.left -= int64(n)
	return n, err
}

type wrapDialer struct {
	backup.Dialer
	wrap func(backup.Etcd) backup.Etcd
}

func (d wrapDialer) Dial(ctx context.Context, eps []string) (backup.Etcd, error) {
	e, err := d.Dialer.Dial(ctx, eps)
	if err != nil {
		return nil, err
	}
	return d.wrap(e), nil
}

func withEtcd(wrap func(backup.Etcd) backup.Etcd) envOption {
	return func(_ *backup.Config, d *backup.Deps) { d.Dialer = wrapDialer{Dialer: d.Dialer, wrap: wrap} }
}

func TestFailedBackupLeavesNoObject(t *testing.T) {
	tests := []struct {
		name string
		wrap func(http.Handler) http.Handler
		etcd func(backup.Etcd) backup.Etcd
		want string
	}{
		{"a part upload fails", failPart2, nil, faults.AWSThrottled},
		{"the connection to S3 is cut mid-part", cutPart2, nil, faults.AWSThrottled},
		{"the etcd stream breaks", nil, func(e backup.Etcd) backup.Etcd { return brokenStream{Etcd: e, after: 7 << 20} }, faults.EtcdUnavailable},
		{"a byte is corrupted in flight", nil, func(e backup.Etcd) backup.Etcd { return brokenStream{Etcd: e, after: 9 << 20, corrupt: true} }, faults.BackupCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []envOption
			if tt.etcd != nil {
				opts = append(opts, withEtcd(tt.etcd))
			}
			e := newEnv(t, tt.wrap, opts...)
			fillOnce(t, e)
			for i := range 2 {
				_, err := e.backup(t.Context(), backup.In{ClusterName: cluster})
				if !faults.Is(err, tt.want) {
					t.Fatalf("call %d: err = %s %v, want %s", i+1, faults.Name(err), err, tt.want)
				}
			}
			if keys := e.keys(t); len(keys) != 0 {
				t.Fatalf("objects after failed backups: %v", keys)
			}
			if n := e.openUploads(t); n != 0 {
				t.Fatalf("%d multipart uploads left open, want all aborted", n)
			}
			if got := e.metric(t, backup.MetricFailure); got != 2 {
				t.Errorf("BackupFailure = %v, want 2", got)
			}
			if got := e.metric(t, backup.MetricSuccess); got != 0 {
				t.Errorf("BackupSuccess = %v after failures", got)
			}
		})
	}
}

func TestVerifyRejectsCorruptBackups(t *testing.T) {
	e := newEnv(t, nil)
	good, err := e.backup(t.Context(), backup.In{ClusterName: cluster})
	if err != nil {
		t.Fatal(err)
	}
	body, meta := e.get(t, good.StagingKey)
	flipped := append([]byte(nil), body...)
	flipped[len(flipped)/2] ^= 0x01
	// Same damage, digest recomputed: only the recorded SHA-256 can tell.
	resealed := append([]byte(nil), flipped...)
	sum := sha256.Sum256(resealed[:len(resealed)-32])
	copy(resealed[len(resealed)-32:], sum[:])
	// Not an etcd database at all, with a valid digest.
	garbage := make([]byte, 4096+32)
	for i := range garbage[:4096] {
		garbage[i] = byte(i * 7)
	}
	gsum := sha256.Sum256(garbage[:4096])
	copy(garbage[4096:], gsum[:])

	tests := []struct {
		name    string
		body    []byte
		sha     string
		publish bool
	}{
		{"a flipped byte", flipped, "", false},
		{"truncated", body[:len(body)-1000], "", false},
		{"resealed after damage, staged", resealed, good.SHA256, false},
		{"resealed after damage, published", resealed, "", true},
		{"not a database", garbage, "", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := backup.VerifyIn{ClusterName: cluster, Key: backup.Key(prefix, cluster, e.now.Add(time.Duration(i+1)*time.Minute)), SHA256: tt.sha}
			if tt.publish {
				m := map[string]string{"sha256": good.SHA256, "member": meta["member"]}
				e.put(t, in.Key, tt.body, m)
			} else {
				in.StagingKey = prefix + ".cpwarden-staging/" + cluster + "/corrupt-" + strconv.Itoa(i) + ".db"
				e.put(t, in.StagingKey, tt.body, meta)
			}
			for range 2 {
				if _, err := e.verify(t.Context(), in); !faults.Is(err, faults.BackupCorrupt) {
					t.Fatalf("err = %s %v, want Backup.Corrupt", faults.Name(err), err)
				}
			}
			if !tt.publish {
				for _, k := range e.keys(t) {
					if k == in.Key {
						t.Fatal("a corrupt snapshot was published")
					}
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	unreachable := newEnv(t, nil, func(_ *backup.Config, d *backup.Deps) { d.Peers = etcdconn.StaticPeers{"https://127.0.0.1:1"} })
	noBucket := newEnv(t, nil, func(c *backup.Config, _ *backup.Deps) { c.Bucket = "missing-bucket" })
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"backup without cluster", func() error { _, err := e.backup(ctx, backup.In{}); return err }, faults.InputInvalid},
		{"backup with a path in the cluster name", func() error { _, err := e.backup(ctx, backup.In{ClusterName: "../x"}); return err }, faults.InputInvalid},
		{"backup with unreachable endpoints", func() error {
			_, err := unreachable.backup(ctx, backup.In{ClusterName: cluster})
			// The message names the endpoints no member answered on.
			if err != nil && !strings.Contains(err.Error(), "https://127.0.0.1:1") {
				return errors.New("the message does not name the endpoint: " + err.Error())
			}
			return err
		}, faults.EtcdUnavailable},
		{"backup into a missing bucket", func() error { _, err := noBucket.backup(ctx, backup.In{ClusterName: cluster}); return err }, faults.InputInvalid},
		{"verify a key of another cluster", func() error {
			_, err := e.verify(ctx, backup.VerifyIn{ClusterName: cluster, Key: backup.Key(prefix, "other", e.now)})
			return err
		}, faults.InputInvalid},
		{"verify a missing backup", func() error {
			_, err := e.verify(ctx, backup.VerifyIn{ClusterName: cluster, Key: backup.Key(prefix, cluster, e.now)})
			return err
		}, faults.InputInvalid},
		{"prune with negative retention", func() error {
			_, err := e.prune(ctx, backup.PruneIn{ClusterName: cluster, Retention: &backup.Retention{Newest: -1}})
			return err
		}, faults.InputInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !faults.Is(err, tt.want) {
				t.Fatalf("err = %s %v, want %s", faults.Name(err), err, tt.want)
			}
		})
	}
	for _, env := range []*env{e, unreachable, noBucket} {
		if keys := env.keys(t); env != noBucket && len(keys) != 0 {
			t.Fatalf("bad input left objects: %v", keys)
		}
	}
}
