package health

import (
	"context"
	"strconv"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/emf"
)

// TriggerIn is the input of TriggerRecovery: the probe's output, of which
// only ConsecutiveFailures is read (for the log).
type TriggerIn struct {
	ConsecutiveFailures int `json:"ConsecutiveFailures,omitempty"`
}

// TriggerOut says whether a recovery started, and from which backup.
type TriggerOut struct {
	Triggered   bool   `json:"Triggered"`
	BackupKey   string `json:"BackupKey,omitempty"`
	TriggeredAt string `json:"TriggeredAt,omitempty"`
	// Reason says why no recovery started.
	Reason string `json:"Reason,omitempty"`
}

// TriggerRecovery puts the cluster in restore mode from the newest verified
// backup. It checks the policy again against Parameter Store, so a repeated
// or stale invocation never starts a second restore: restore mode already
// set, too few consecutive failures, or a recovery within the cool-down all
// leave things as they are. Without a verified backup nothing starts.
//
// The parameters are written so that a reader never sees restore mode
// with a stale backup or a stale initialized=true: initialized=false first,
// then the backup and the time, restore-mode=true last.
func (w *Worker) TriggerRecovery(ctx context.Context, in TriggerIn) (TriggerOut, error) {
	if err := w.ready(w.deps.SSM, w.deps.S3); err != nil {
		return TriggerOut{}, err
	}
	st, err := w.readState(ctx)
	if err != nil {
		return TriggerOut{}, err
	}
	now := w.now().UTC()
	switch {
	case st.restoreMode:
		return TriggerOut{Reason: "restore already in progress from " + st.restoreBackup}, nil
	case st.failures < w.cfg.threshold():
		return TriggerOut{Reason: "only " + strconv.Itoa(st.failures) + " consecutive failed probes"}, nil
	case !st.triggeredAt.IsZero() && now.Sub(st.triggeredAt) < w.cfg.coolDown():
		return TriggerOut{Reason: "last recovery at " + st.triggeredAt.Format(time.RFC3339) + " is within the cool-down"}, nil
	}
	key, err := w.latestVerifiedBackup(ctx)
	if err != nil {
		return TriggerOut{}, err
	}
	if key == "" {
		w.log.ErrorContext(ctx, "quorum lost but no verified backup to restore from: recover by hand",
			"cluster", w.cfg.ClusterName, "bucket", w.cfg.Bucket, "prefix", w.cfg.Prefix, "failures", st.failures)
		return TriggerOut{Reason: "no verified backup"}, nil
	}
	c := w.cfg.ClusterName
	at := now.Format(time.RFC3339)
	for _, p := range [][2]string{
		{paramInitialized(c), "false"},
		{paramRestoreBackup(c), key},
		{paramTriggeredAt(c), at},
		{paramRestoreMode(c), "true"},
	} {
		if err := w.put(ctx, p[0], p[1]); err != nil {
			return TriggerOut{}, err
		}
	}
	_ = emf.FromContext(ctx).PutMetric(MetricRecoveryTriggered, 1, cwtypes.StandardUnitCount)
	w.log.WarnContext(ctx, "automatic recovery triggered", "cluster", c, "backup", key,
		"failures", st.failures, "probeFailures", in.ConsecutiveFailures)
	return TriggerOut{Triggered: true, BackupKey: key, TriggeredAt: at}, nil
}

// RecoveredIn is the input of ReportRecovered: the probe's output, of which
// PreviousFailures is read.
type RecoveredIn struct {
	PreviousFailures int `json:"PreviousFailures"`
}

// RecoveredOut reports what ReportRecovered did.
type RecoveredOut struct {
	// Recovered is true when health came back after failed probes
	// (ClusterRecovered was emitted).
	Recovered bool `json:"Recovered"`
	// RestoreModeCleared is true when restore mode was set and the
	// restoring node had set initialized=true.
	RestoreModeCleared bool `json:"RestoreModeCleared"`
	// RestorePending is true when restore mode stays set because the
	// restoring node has not set initialized=true yet.
	RestorePending bool `json:"RestorePending"`
}

// ReportRecovered records that quorum is back. Restore mode is cleared
// only after the restoring node has set initialized=true: a cluster that
// looks healthy while the restore is still running (the old members came
// back, or the new one is half-way) must not have its restore cancelled.
func (w *Worker) ReportRecovered(ctx context.Context, in RecoveredIn) (RecoveredOut, error) {
	if err := w.ready(w.deps.SSM); err != nil {
		return RecoveredOut{}, err
	}
	st, err := w.readState(ctx)
	if err != nil {
		return RecoveredOut{}, err
	}
	var out RecoveredOut
	if st.restoreMode {
		if st.initialized {
			if err := w.put(ctx, paramRestoreMode(w.cfg.ClusterName), "false"); err != nil {
				return out, err
			}
			out.RestoreModeCleared = true
		} else {
			out.RestorePending = true
		}
	}
	if in.PreviousFailures > 0 {
		out.Recovered = true
		_ = emf.FromContext(ctx).PutMetric(MetricClusterRecovered, 1, cwtypes.StandardUnitCount)
	}
	w.log.InfoContext(ctx, "control plane healthy", "cluster", w.cfg.ClusterName, "afterFailures", in.PreviousFailures,
		"restoreModeCleared", out.RestoreModeCleared, "restorePending", out.RestorePending)
	return out, nil
}
