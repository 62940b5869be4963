package asl

import (
	"errors"
	"fmt"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// Predefined error names of the States Language (States.*) that the engine raises or matches.
const (
	ErrAll                    = "States.ALL"
	ErrTaskFailed             = "States.TaskFailed"
	ErrTimeout                = "States.Timeout"
	ErrHeartbeatTimeout       = "States.HeartbeatTimeout"
	ErrRuntime                = "States.Runtime"
	ErrDataLimitExceeded      = "States.DataLimitExceeded"
	ErrNoChoiceMatched        = "States.NoChoiceMatched"
	ErrResultPathMatchFailure = "States.ResultPathMatchFailure"
	ErrParameterPathFailure   = "States.ParameterPathFailure"
	ErrIntrinsicFailure       = "States.IntrinsicFailure"
	ErrBranchFailed           = "States.BranchFailed"
	ErrPermissions            = "States.Permissions"
	ErrExceedToleratedFailure = "States.ExceedToleratedFailureThreshold"
	ErrItemReaderFailed       = "States.ItemReaderFailed"
	ErrResultWriterFailed     = "States.ResultWriterFailed"
	ErrQueryEvaluationError   = "States.QueryEvaluationError"
	ErrHTTPSocket             = "States.Http.Socket"
)

// failure is an error raised in a state: a task's error, a Fail state, a runtime error. Error and Cause may be
// absent (a Fail state with neither, a task failure the service reported without them): the error output a
// Catch passes on then holds null for them.
type failure struct {
	Error, Cause       string
	hasError, hasCause bool
	// terminal failures end the execution: no Retry or Catch applies (States.Runtime, as Step Functions does for
	// path and data-flow errors).
	terminal bool
	// timeout marks a States.Timeout raised by the engine (its error output carries an empty Cause).
	timeout bool
}

func newFailure(errName, cause string) *failure {
	return &failure{Error: errName, Cause: cause, hasError: true, hasCause: true}
}

// runtimeFailure is a terminal States.Runtime failure of the state entered at event enteredID.
func runtimeFailure(state string, enteredID int64, format string, a ...any) *failure {
	f := newFailure(ErrRuntime, fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). ", state, enteredID)+fmt.Sprintf(format, a...))
	f.terminal = true
	return f
}

// errorMatches reports whether a Retrier's or Catcher's ErrorEquals list matches an error name (possibly absent).
func errorMatches(errorEquals []string, f *failure) bool {
	for _, e := range errorEquals {
		switch {
		case f.hasError && e == f.Error:
			return true
		case e == ErrAll:
			// States.ALL matches every error but the terminal States.Runtime.
			if !(f.hasError && f.Error == ErrRuntime) {
				return true
			}
		case e == ErrTaskFailed:
			// States.TaskFailed matches any error but States.Timeout (and the terminal States.Runtime).
			if !f.hasError || (f.Error != ErrTimeout && f.Error != ErrRuntime) {
				return true
			}
		}
	}
	return false
}

// errorOutput is the {"Error": ..., "Cause": ...} object a Catch passes on.
func (f *failure) errorOutput() any {
	o := value.NewObject(2)
	if f.hasError {
		o.Set("Error", f.Error)
	} else {
		o.Set("Error", nil)
	}
	switch {
	case f.hasCause:
		o.Set("Cause", f.Cause)
	case f.timeout:
		o.Set("Cause", "")
	default:
		o.Set("Cause", nil)
	}
	return o
}

// InputError is an execution input that is not valid JSON (Step Functions rejects it with InvalidExecutionInput).
type InputError struct{ Err error }

func (e *InputError) Error() string { return "invalid execution input: " + e.Err.Error() }

func (e *InputError) Unwrap() error { return e.Err }

// ErrResolver wraps errors from a Resolver that is unable to provide a task's outcome (as opposed to a task that
// failed): the execution stops and Run returns the error.
var ErrResolver = errors.New("asl: task resolver failed")
