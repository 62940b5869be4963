package health_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/health"
)

// The newest verified backup is found by the time in its key across every
// page of the listing, ignoring objects that are not backups and other
// clusters' backups. Pages of 7 keys stand in for S3's 1,000, so the test
// lists six pages without writing thousands of objects.
func TestRecoveryPicksTheNewestVerifiedBackupAcrossPages(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 1, etcdcluster.Options{})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { cp.putBackup(t, base.Add(time.Duration(i)*time.Minute), true) })
	}
	wg.Wait()
	want := cp.putBackup(t, base.Add(2000*time.Minute), true)
	cp.putBackup(t, base.Add(3000*time.Minute), false) // newer but unverified
	client := cp.store.Client()
	for _, key := range []string{
		"etcd/" + cp.name + "/etcd-snapshot-latest.db",           // not a backup key
		"etcd/" + cp.name + "x/etcd-snapshot-20270101-000000.db", // another cluster
	} {
		if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Metadata: map[string]string{"sha256": "x"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	cp.setParam(t, "/health/failure-count", fmt.Sprint(3))
	cfg := cp.config()
	cfg.ListPageSize = 7
	w := health.New(cfg, cp.deps(nil, nil))
	res, err, _ := step(t, workers.TriggerRecovery, w.TriggerRecovery, health.TriggerIn{})
	if err != nil || !res.Triggered || res.BackupKey != want {
		t.Fatalf("TriggerRecovery = %+v, %v; want %s", res, err, want)
	}
}
