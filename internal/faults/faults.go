// Package faults classifies worker errors once, as the ASL error names that
// Step Functions Retry and Catch rules match on (see docs/contracts.md).
//
// A worker returns a *faults.Error; the Lambda bootstrap turns it into the
// errorType the Lambda service reports, and the local engine does the same, so
// a definition's Retry/Catch behaves identically in AWS and in replay.
package faults

import (
	"errors"
	"fmt"
)

// ASL error names returned by workers. They are a contract: alarms, Retry and
// Catch rules, and operators depend on them.
const (
	InputInvalid    = "Input.Invalid"
	KubeUnavailable = "Kube.Unavailable"
	EtcdUnavailable = "Etcd.Unavailable"
	AWSThrottled    = "AWS.Throttled"
	// AWSAccessDenied is an AWS API refusing the function's credentials or
	// permissions (internal/awsfault). It has a name of its own rather than
	// Input.Invalid because the fix is the function's IAM role, not the
	// event or the stack's parameters; like Input.Invalid it is not retried.
	AWSAccessDenied   = "AWS.AccessDenied"
	DrainIncomplete   = "Drain.Incomplete"
	EtcdQuorumAtRisk  = "Etcd.QuorumAtRisk"
	EtcdUnsafeRemoval = "Etcd.UnsafeRemoval"
	// EtcdLearnerJoining is a removal refused because a learner other than
	// the departing member is joining (kubeadm's learner mode during an
	// instance refresh): the membership is mid-change. Unlike
	// Etcd.UnsafeRemoval it passes by itself once the learner is promoted
	// (or removed), so the lifecycle workflow waits and tries again, as it
	// does on Etcd.QuorumAtRisk.
	EtcdLearnerJoining = "Etcd.LearnerJoining"
	// EtcdClusterMismatch is a removal (or identification) refused because
	// the etcd endpoints answered with different cluster IDs, or with a
	// cluster ID other than the one the input pins (ClusterId): after a
	// restore, or with a stale endpoint list, a member of another cluster
	// would otherwise be asked about the departing member, and its "not a
	// member" taken as already removed. Retrying does not fix it; the
	// endpoints (or the pinned ID) do.
	EtcdClusterMismatch = "Etcd.ClusterMismatch"
	BackupCorrupt       = "Backup.Corrupt"
	LifecycleNotActive  = "Lifecycle.NotActive"
	// Internal is the name of an error no worker classified: a bug or an
	// unexpected dependency failure. It is not retried by our definitions.
	Internal = "Worker.Internal"
)

// Error is a classified worker error: Name is the ASL error name, Err the
// description an operator reads in the execution history's cause.
type Error struct {
	Name string
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Name
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a formatted message. A %w verb in format wraps
// its argument, as with fmt.Errorf.
func New(name, format string, args ...any) *Error {
	return &Error{Name: name, Err: fmt.Errorf(format, args...)}
}

// Wrap classifies err under name, with msg as context. Wrap of nil is nil.
func Wrap(name string, err error, msg string) error {
	if err == nil {
		return nil
	}
	return &Error{Name: name, Err: fmt.Errorf("%s: %w", msg, err)}
}

// Name returns the ASL error name of err: the outermost *Error's name in its
// chain, or Internal when err was never classified. Name of nil is "".
func Name(err error) string {
	if err == nil {
		return ""
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Name
	}
	return Internal
}

// Is reports whether err is classified as name.
func Is(err error, name string) bool { return err != nil && Name(err) == name }
