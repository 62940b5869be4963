package statemachines

import (
	"reflect"
	"slices"
	"testing"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

const scheduledEvent = `{"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2025-06-01T12:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/cpwarden"],"detail":{}}`

func TestBackupPaths(t *testing.T) {
	uploaded := map[string]any{"Key": "backups/prod/etcd-snapshot-20250601-120000.db", "Revision": 4711.0, "Size": 1048576.0}
	verified := map[string]any{"Key": "backups/prod/etcd-snapshot-20250601-120000.db", "Keys": 1234.0}
	pruned := map[string]any{"Deleted": 3.0, "Kept": 24.0}
	tests := []struct {
		name       string
		event      string
		scripts    map[workers.Handler][]outcome
		wantPath   []string
		wantStatus string
		wantError  string
		wantCalls  map[workers.Handler]int
	}{
		{
			name:       "backup, verify, prune",
			event:      scheduledEvent,
			scripts:    map[workers.Handler][]outcome{workers.Backup: {ok(uploaded)}, workers.VerifyBackup: {ok(verified)}, workers.PruneBackups: {ok(pruned)}},
			wantPath:   []string{"HasOverride", "NoOverride", "BuildRequest", "Backup", "Verify", "Prune"},
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Backup: 1, workers.VerifyBackup: 1, workers.PruneBackups: 1},
		},
		{
			name:       "an override reaches the backup worker",
			event:      `{"Override":{"Member":"etcd-b"}}`,
			scripts:    map[workers.Handler][]outcome{workers.Backup: {ok(uploaded)}},
			wantPath:   []string{"HasOverride", "BuildRequest", "Backup", "Verify", "Prune"},
			wantStatus: "SUCCEEDED",
			wantCalls:  map[workers.Handler]int{workers.Backup: 1, workers.VerifyBackup: 1, workers.PruneBackups: 1},
		},
		{
			name:       "a failed backup is neither verified nor pruned",
			event:      scheduledEvent,
			scripts:    map[workers.Handler][]outcome{workers.Backup: {fail(faults.Internal, "upload aborted")}},
			wantPath:   []string{"HasOverride", "NoOverride", "BuildRequest", "Backup", "BackupFailed"},
			wantStatus: "FAILED", wantError: faults.Internal,
			wantCalls: map[workers.Handler]int{workers.Backup: 1},
		},
		{
			name:       "etcd unavailable is retried, then fails",
			event:      scheduledEvent,
			scripts:    map[workers.Handler][]outcome{workers.Backup: {fail(faults.EtcdUnavailable, "no healthy member")}},
			wantPath:   []string{"HasOverride", "NoOverride", "BuildRequest", "Backup", "BackupFailed"},
			wantStatus: "FAILED", wantError: faults.EtcdUnavailable,
			wantCalls: map[workers.Handler]int{workers.Backup: 4},
		},
		{
			name:       "a corrupt backup is never pruned around",
			event:      scheduledEvent,
			scripts:    map[workers.Handler][]outcome{workers.Backup: {ok(uploaded)}, workers.VerifyBackup: {fail(faults.BackupCorrupt, "sha256 mismatch")}},
			wantPath:   []string{"HasOverride", "NoOverride", "BuildRequest", "Backup", "Verify", "BackupFailed"},
			wantStatus: "FAILED", wantError: faults.BackupCorrupt,
			wantCalls: map[workers.Handler]int{workers.Backup: 1, workers.VerifyBackup: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(tt.scripts)
			r := execute(t, Backup(), tt.event, f)
			if r.exec.Status != tt.wantStatus || r.exec.Error != tt.wantError {
				t.Fatalf("status %s error %q (%s), want %s %q", r.exec.Status, r.exec.Error, r.exec.Cause, tt.wantStatus, tt.wantError)
			}
			if !slices.Equal(r.path, tt.wantPath) {
				t.Fatalf("path\n got %v\nwant %v", r.path, tt.wantPath)
			}
			for _, h := range Backup().Handlers {
				if got := len(f.callsOf(h)); got != tt.wantCalls[h] {
					t.Errorf("%s called %d times, want %d", h, got, tt.wantCalls[h])
				}
			}
		})
	}
}

func TestBackupPassesResultsAlong(t *testing.T) {
	uploaded := map[string]any{"Key": "backups/prod/etcd-snapshot-20250601-120000.db", "Revision": 4711.0}
	verified := map[string]any{"Keys": 1234.0}
	pruned := map[string]any{"Deleted": 3.0}
	f := newFakes(map[workers.Handler][]outcome{workers.Backup: {ok(uploaded)}, workers.VerifyBackup: {ok(verified)}, workers.PruneBackups: {ok(pruned)}})
	r := execute(t, Backup(), `{"Override":{"Member":"etcd-b","ClusterName":"someone-else"}}`, f)
	if got := f.callsOf(workers.Backup)[0].Input; !reflect.DeepEqual(got, map[string]any{"Member": "etcd-b", "ClusterName": testCluster}) {
		t.Errorf("backup input %v", got)
	}
	if got := f.callsOf(workers.VerifyBackup)[0].Input; !reflect.DeepEqual(got, uploaded) {
		t.Errorf("verify input %v, want the backup's result", got)
	}
	if got := f.callsOf(workers.PruneBackups)[0].Input; !reflect.DeepEqual(got, map[string]any{"ClusterName": testCluster}) {
		t.Errorf("prune input %v", got)
	}
	for k, want := range map[string]any{"Backup": uploaded, "Verify": verified, "Prune": pruned} {
		if !reflect.DeepEqual(r.output[k], want) {
			t.Errorf("output %s = %v, want %v", k, r.output[k], want)
		}
	}
}
