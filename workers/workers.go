// Package workers names the Lambda handlers cpwarden deploys. The names are
// the single source for the bootstrap (which picks a worker from _HANDLER),
// the state machines (which name the function each Task invokes) and the
// CloudFormation template (one function per handler).
package workers

// Handler is the name of one Lambda entry point: the function's Handler
// setting and the key of its ARN in the state machines' definition
// substitutions.
type Handler string

// The handlers. Each is one worker operation with its own step metrics
// (<Step>Success, <Step>Failure, <Step>Duration, Step = Handler.Step()).
const (
	Drain              Handler = "drain"               // workers/drain: cordon and drain the departing node
	RemoveMember       Handler = "remove-member"       // workers/member: remove the departing etcd member
	CompleteLifecycle  Handler = "complete-lifecycle"  // workers/lifecycle: CompleteLifecycleAction
	LifecycleHeartbeat Handler = "lifecycle-heartbeat" // workers/lifecycle: RecordLifecycleActionHeartbeat
	Backup             Handler = "take-backup"         // workers/backup: stream a snapshot to S3 (see below)
	VerifyBackup       Handler = "verify-backup"       // workers/backup: restore-test a backup
	PruneBackups       Handler = "prune-backups"       // workers/backup: apply retention
	HealthProbe        Handler = "health-probe"        // workers/health: probe and decide
	TriggerRecovery    Handler = "trigger-recovery"    // workers/health: start a restore
	ReportRecovered    Handler = "report-recovered"    // workers/health: health is back
)

// The backup handler is "take-backup" (step TakeBackup), not "backup": a step
// named Backup would emit BackupSuccess for every upload, while the contract's
// BackupSuccess means uploaded and verified, which only verify-backup knows.

// All lists every handler in a stable order.
var All = []Handler{
	Drain, RemoveMember, CompleteLifecycle, LifecycleHeartbeat,
	Backup, VerifyBackup, PruneBackups,
	HealthProbe, TriggerRecovery, ReportRecovered,
}

// Step is the handler's name in PascalCase, the prefix of its step metrics:
// "remove-member" → "RemoveMember".
func (h Handler) Step() string {
	out := make([]byte, 0, len(h))
	upper := true
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == '-' {
			upper = true
			continue
		}
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		out = append(out, c)
	}
	return string(out)
}

// Namespace is the CloudWatch namespace of the handler's metrics (docs/contracts.md).
func (h Handler) Namespace() string {
	switch h {
	case Backup, VerifyBackup, PruneBackups:
		return "K8sCluster/EtcdBackup"
	case HealthProbe, TriggerRecovery, ReportRecovered:
		return "K8sCluster/Health"
	default:
		return "K8sCluster/EtcdLifecycle"
	}
}

// Valid reports whether h names a deployed handler.
func (h Handler) Valid() bool {
	for _, k := range All {
		if k == h {
			return true
		}
	}
	return false
}
