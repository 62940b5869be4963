// Package workers names the Lambda handlers cpwarden deploys and holds one
// spec per handler (spec.go): the single source for the function core (which
// picks a worker from _HANDLER and reads the variables the spec lists), the
// state machines (which name the function each Task invokes, with its
// timeout) and the CloudFormation template (one function per handler).
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

// All lists every handler in a stable order: the order of the spec table.
var All = handlers()

func handlers() []Handler {
	out := make([]Handler, len(specs))
	for i, s := range specs {
		out[i] = s.Handler
	}
	return out
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

// Namespace is the CloudWatch namespace of the handler's metrics
// (docs/contracts.md); "" for an unknown handler.
func (h Handler) Namespace() string {
	s, _ := SpecOf(h)
	return s.Namespace
}

// Valid reports whether h names a deployed handler.
func (h Handler) Valid() bool {
	_, ok := SpecOf(h)
	return ok
}
