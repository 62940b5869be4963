package statemachines

import (
	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/workers"
)

// withOverride is the opening of the scheduled workflows: the EventBridge
// scheduled event is ignored except for an optional "Override" object,
// which is {} when absent, at $.Override.
func withOverride(next string) []asl.State {
	return []asl.State{
		&asl.Choice{
			Name:    "HasOverride",
			Choices: []asl.ChoiceRule{{Variable: "$.Override", Op: asl.OpIsPresent, Value: true, Next: next}},
			Default: "NoOverride",
		},
		&asl.Pass{Name: "NoOverride", Result: map[string]any{}, ResultPath: asl.P("$.Override"), Next: next},
	}
}

// Backup is the scheduled backup workflow: Backup → Verify (which
// publishes the verified snapshot) → Prune. A
// failure of any step fails the execution with the worker's error (the
// ExecutionsFailed alarm and BackupFailure see it); pruning never runs after
// a failed or unverified backup.
func Backup() Workflow {
	return Workflow{
		Name: "backup", Type: TypeStandard, Policy: StandardRetry,
		Handlers: []workers.Handler{workers.Backup, workers.VerifyBackup, workers.PruneBackups},
		build:    backupDefinition,
	}
}

func backupDefinition(r Resolver) *asl.StateMachine {
	p := StandardRetry
	backup := task("Backup", workers.Backup, r, p)
	backup.InputPath = asl.P("$.Request.Value")
	backup.ResultPath = asl.P("$.Backup")
	backup.Catch = []asl.Catcher{catchAll("BackupFailed")}
	backup.Next = "Verify"

	verify := task("Verify", workers.VerifyBackup, r, p)
	verify.InputPath = asl.P("$.Backup")
	verify.ResultPath = asl.P("$.Verify")
	verify.Catch = []asl.Catcher{catchAll("BackupFailed")}
	verify.Next = "Prune"

	prune := task("Prune", workers.PruneBackups, r, p)
	// Prune runs only after a verified backup, and never deletes the newest
	// verified one.
	prune.Parameters = map[string]any{"ClusterName": clusterName}
	prune.ResultPath = asl.P("$.Prune")
	prune.Catch = []asl.Catcher{catchAll("BackupFailed")}
	prune.End = true

	// The backup worker's input is the override's fields (Endpoints, ...)
	// under the cluster's name, which the override cannot change.
	states := withOverride("BuildRequest")
	states = append(states,
		&asl.Pass{
			Name: "BuildRequest",
			Parameters: map[string]any{
				"Value.$": `States.JsonMerge($.Override, States.StringToJson('{"ClusterName":"` + clusterName + `"}'), false)`,
			},
			ResultPath: asl.P("$.Request"),
			Next:       "Backup",
		},
		backup, verify, prune, failWithCaught("BackupFailed"))
	return &asl.StateMachine{
		Comment: "cpwarden backup: snapshot etcd to S3, restore-test the snapshot, apply retention.",
		StartAt: "HasOverride",
		States:  states,
	}
}
