package asl

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// HistoryEvent is one event of an execution history, in the shape of the Step Functions GetExecutionHistory API
// (and of `aws stepfunctions get-execution-history` output), so that a local history and a production history
// can be compared event by event. Exactly one *EventDetails field is set, matching Type (some types have none).
type HistoryEvent struct {
	ID              int64     `json:"id"`
	PreviousEventID int64     `json:"previousEventId"`
	Type            string    `json:"type"`
	Timestamp       time.Time `json:"timestamp"`

	ActivityFailedEventDetails          *ErrorDetails                   `json:"activityFailedEventDetails,omitempty"`
	ActivityScheduleFailedEventDetails  *ErrorDetails                   `json:"activityScheduleFailedEventDetails,omitempty"`
	ActivityScheduledEventDetails       *ActivityScheduledEventDetails  `json:"activityScheduledEventDetails,omitempty"`
	ActivityStartedEventDetails         *ActivityStartedEventDetails    `json:"activityStartedEventDetails,omitempty"`
	ActivitySucceededEventDetails       *OutputDetails                  `json:"activitySucceededEventDetails,omitempty"`
	ActivityTimedOutEventDetails        *ErrorDetails                   `json:"activityTimedOutEventDetails,omitempty"`
	TaskFailedEventDetails              *TaskErrorDetails               `json:"taskFailedEventDetails,omitempty"`
	TaskScheduledEventDetails           *TaskScheduledEventDetails      `json:"taskScheduledEventDetails,omitempty"`
	TaskStartFailedEventDetails         *TaskErrorDetails               `json:"taskStartFailedEventDetails,omitempty"`
	TaskStartedEventDetails             *TaskResourceDetails            `json:"taskStartedEventDetails,omitempty"`
	TaskSubmitFailedEventDetails        *TaskErrorDetails               `json:"taskSubmitFailedEventDetails,omitempty"`
	TaskSubmittedEventDetails           *TaskOutputDetails              `json:"taskSubmittedEventDetails,omitempty"`
	TaskSucceededEventDetails           *TaskOutputDetails              `json:"taskSucceededEventDetails,omitempty"`
	TaskTimedOutEventDetails            *TaskErrorDetails               `json:"taskTimedOutEventDetails,omitempty"`
	ExecutionFailedEventDetails         *ErrorDetails                   `json:"executionFailedEventDetails,omitempty"`
	ExecutionStartedEventDetails        *ExecutionStartedEventDetails   `json:"executionStartedEventDetails,omitempty"`
	ExecutionSucceededEventDetails      *OutputDetails                  `json:"executionSucceededEventDetails,omitempty"`
	ExecutionAbortedEventDetails        *ErrorDetails                   `json:"executionAbortedEventDetails,omitempty"`
	ExecutionTimedOutEventDetails       *ErrorDetails                   `json:"executionTimedOutEventDetails,omitempty"`
	MapStateStartedEventDetails         *MapStateStartedEventDetails    `json:"mapStateStartedEventDetails,omitempty"`
	MapIterationStartedEventDetails     *MapIterationEventDetails       `json:"mapIterationStartedEventDetails,omitempty"`
	MapIterationSucceededEventDetails   *MapIterationEventDetails       `json:"mapIterationSucceededEventDetails,omitempty"`
	MapIterationFailedEventDetails      *MapIterationEventDetails       `json:"mapIterationFailedEventDetails,omitempty"`
	MapIterationAbortedEventDetails     *MapIterationEventDetails       `json:"mapIterationAbortedEventDetails,omitempty"`
	MapRunStartedEventDetails           *MapRunStartedEventDetails      `json:"mapRunStartedEventDetails,omitempty"`
	MapRunFailedEventDetails            *ErrorDetails                   `json:"mapRunFailedEventDetails,omitempty"`
	LambdaFunctionFailedEventDetails    *ErrorDetails                   `json:"lambdaFunctionFailedEventDetails,omitempty"`
	LambdaFunctionScheduleFailedDetails *ErrorDetails                   `json:"lambdaFunctionScheduleFailedEventDetails,omitempty"`
	LambdaFunctionScheduledEventDetails *LambdaFunctionScheduledDetails `json:"lambdaFunctionScheduledEventDetails,omitempty"`
	LambdaFunctionStartFailedDetails    *ErrorDetails                   `json:"lambdaFunctionStartFailedEventDetails,omitempty"`
	LambdaFunctionSucceededEventDetails *OutputDetails                  `json:"lambdaFunctionSucceededEventDetails,omitempty"`
	LambdaFunctionTimedOutEventDetails  *ErrorDetails                   `json:"lambdaFunctionTimedOutEventDetails,omitempty"`
	StateEnteredEventDetails            *StateEnteredEventDetails       `json:"stateEnteredEventDetails,omitempty"`
	StateExitedEventDetails             *StateExitedEventDetails        `json:"stateExitedEventDetails,omitempty"`
	EvaluationFailedEventDetails        *EvaluationFailedEventDetails   `json:"evaluationFailedEventDetails,omitempty"`
}

// History event types.
const (
	EventExecutionStarted       = "ExecutionStarted"
	EventExecutionSucceeded     = "ExecutionSucceeded"
	EventExecutionFailed        = "ExecutionFailed"
	EventExecutionAborted       = "ExecutionAborted"
	EventExecutionTimedOut      = "ExecutionTimedOut"
	EventTaskScheduled          = "TaskScheduled"
	EventTaskStarted            = "TaskStarted"
	EventTaskSubmitted          = "TaskSubmitted"
	EventTaskSucceeded          = "TaskSucceeded"
	EventTaskFailed             = "TaskFailed"
	EventTaskTimedOut           = "TaskTimedOut"
	EventTaskStartFailed        = "TaskStartFailed"
	EventTaskSubmitFailed       = "TaskSubmitFailed"
	EventLambdaScheduled        = "LambdaFunctionScheduled"
	EventLambdaStarted          = "LambdaFunctionStarted"
	EventLambdaSucceeded        = "LambdaFunctionSucceeded"
	EventLambdaFailed           = "LambdaFunctionFailed"
	EventLambdaTimedOut         = "LambdaFunctionTimedOut"
	EventLambdaScheduleFailed   = "LambdaFunctionScheduleFailed"
	EventLambdaStartFailed      = "LambdaFunctionStartFailed"
	EventActivityScheduled      = "ActivityScheduled"
	EventActivityStarted        = "ActivityStarted"
	EventActivitySucceeded      = "ActivitySucceeded"
	EventActivityFailed         = "ActivityFailed"
	EventActivityTimedOut       = "ActivityTimedOut"
	EventActivityScheduleFailed = "ActivityScheduleFailed"
	EventMapStateStarted        = "MapStateStarted"
	EventMapStateSucceeded      = "MapStateSucceeded"
	EventMapStateFailed         = "MapStateFailed"
	EventMapStateAborted        = "MapStateAborted"
	EventMapIterationStarted    = "MapIterationStarted"
	EventMapIterationSucceeded  = "MapIterationSucceeded"
	EventMapIterationFailed     = "MapIterationFailed"
	EventMapIterationAborted    = "MapIterationAborted"
	EventParallelStateStarted   = "ParallelStateStarted"
	EventParallelStateSucceeded = "ParallelStateSucceeded"
	EventParallelStateFailed    = "ParallelStateFailed"
	EventParallelStateAborted   = "ParallelStateAborted"
	EventWaitStateAborted       = "WaitStateAborted"
)

// Data is JSON text that events carry as a string (input, output, parameters). The engine keeps the value and
// serialises it only when the text is asked for, which keeps histories cheap; a parsed history keeps the text.
type Data struct {
	v any // a value of package value, or a dataText
}

// dataText is the JSON text of a Data read from a history.
type dataText struct{ s string }

// NewData returns Data holding JSON text.
func NewData(text string) Data { return Data{v: &dataText{text}} }

func valueData(v any) Data { return Data{v: v} }

// String returns the JSON text.
func (d Data) String() string {
	if t, ok := d.v.(*dataText); ok {
		return t.s
	}
	return value.String(d.v)
}

// Value returns the parsed JSON value (see package value).
func (d Data) Value() (any, error) {
	if t, ok := d.v.(*dataText); ok {
		return value.ParseString(t.s)
	}
	return d.v, nil
}

// MarshalJSON writes the JSON text as a JSON string, as the API does.
func (d Data) MarshalJSON() ([]byte, error) {
	return value.AppendString(nil, d.String()), nil
}

// UnmarshalJSON reads the JSON string the API returns.
func (d *Data) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("asl: event data must be a JSON string")
	}
	*d = NewData(s)
	return nil
}

// DataDetails is the inputDetails/outputDetails object.
type DataDetails struct {
	Truncated bool `json:"truncated"`
}

// ErrorDetails holds an error and a cause, either of which may be absent.
type ErrorDetails struct {
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// OutputDetails is the details of a *Succeeded event.
type OutputDetails struct {
	Output        *Data        `json:"output,omitempty"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// ExecutionStartedEventDetails is the details of ExecutionStarted.
type ExecutionStartedEventDetails struct {
	Input        *Data        `json:"input,omitempty"`
	InputDetails *DataDetails `json:"inputDetails,omitempty"`
	RoleArn      string       `json:"roleArn,omitempty"`
}

// StateEnteredEventDetails is the details of a *StateEntered event.
type StateEnteredEventDetails struct {
	Name         string       `json:"name"`
	Input        *Data        `json:"input,omitempty"`
	InputDetails *DataDetails `json:"inputDetails,omitempty"`
}

// StateExitedEventDetails is the details of a *StateExited event.
type StateExitedEventDetails struct {
	Name                     string            `json:"name"`
	Output                   *Data             `json:"output,omitempty"`
	OutputDetails            *DataDetails      `json:"outputDetails,omitempty"`
	AssignedVariables        map[string]string `json:"assignedVariables,omitempty"`
	AssignedVariablesDetails *DataDetails      `json:"assignedVariablesDetails,omitempty"`
}

// TaskCredentials is the taskCredentials of TaskScheduled.
type TaskCredentials struct {
	RoleArn string `json:"roleArn,omitempty"`
}

// TaskScheduledEventDetails is the details of TaskScheduled.
type TaskScheduledEventDetails struct {
	ResourceType       string           `json:"resourceType"`
	Resource           string           `json:"resource"`
	Region             string           `json:"region"`
	Parameters         *Data            `json:"parameters,omitempty"`
	TimeoutInSeconds   *int64           `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds *int64           `json:"heartbeatInSeconds,omitempty"`
	TaskCredentials    *TaskCredentials `json:"taskCredentials,omitempty"`
}

// TaskResourceDetails is the details of TaskStarted.
type TaskResourceDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
}

// TaskOutputDetails is the details of TaskSubmitted and TaskSucceeded.
type TaskOutputDetails struct {
	ResourceType  string       `json:"resourceType"`
	Resource      string       `json:"resource"`
	Output        *Data        `json:"output,omitempty"`
	OutputDetails *DataDetails `json:"outputDetails,omitempty"`
}

// TaskErrorDetails is the details of TaskFailed, TaskTimedOut, TaskStartFailed and TaskSubmitFailed.
type TaskErrorDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Error        string `json:"error,omitempty"`
	Cause        string `json:"cause,omitempty"`
}

// LambdaFunctionScheduledDetails is the details of LambdaFunctionScheduled.
type LambdaFunctionScheduledDetails struct {
	Resource         string           `json:"resource"`
	Input            *Data            `json:"input,omitempty"`
	InputDetails     *DataDetails     `json:"inputDetails,omitempty"`
	TimeoutInSeconds *int64           `json:"timeoutInSeconds,omitempty"`
	TaskCredentials  *TaskCredentials `json:"taskCredentials,omitempty"`
}

// ActivityScheduledEventDetails is the details of ActivityScheduled.
type ActivityScheduledEventDetails struct {
	Resource           string       `json:"resource"`
	Input              *Data        `json:"input,omitempty"`
	InputDetails       *DataDetails `json:"inputDetails,omitempty"`
	TimeoutInSeconds   *int64       `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds *int64       `json:"heartbeatInSeconds,omitempty"`
}

// ActivityStartedEventDetails is the details of ActivityStarted.
type ActivityStartedEventDetails struct {
	WorkerName string `json:"workerName,omitempty"`
}

// MapStateStartedEventDetails is the details of MapStateStarted.
type MapStateStartedEventDetails struct {
	Length int `json:"length"`
}

// MapIterationEventDetails is the details of the MapIteration* events.
type MapIterationEventDetails struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
}

// MapRunStartedEventDetails is the details of MapRunStarted.
type MapRunStartedEventDetails struct {
	MapRunArn string `json:"mapRunArn,omitempty"`
}

// EvaluationFailedEventDetails is the details of EvaluationFailed (JSONata).
type EvaluationFailedEventDetails struct {
	Error    string `json:"error,omitempty"`
	Cause    string `json:"cause,omitempty"`
	Location string `json:"location,omitempty"`
	State    string `json:"state"`
}

// record is an event as the engine stores it while running: the details pointer is shared with the
// HistoryEvent built from it, so building a history costs one slice.
type record struct {
	prev int64
	typ  string
	at   int64 // Unix nanoseconds
	det  any
}

// fill builds the event in e; id is its position in the history plus one (records are stored in id order, so
// the id is not kept).
func (r *record) fill(e *HistoryEvent, id int64) {
	*e = HistoryEvent{ID: id, PreviousEventID: r.prev, Type: r.typ, Timestamp: time.Unix(0, r.at).UTC()}
	if r.det == nil {
		return
	}
	d := reflect.ValueOf(r.det)
	i, ok := detailsByGoType[d.Type()]
	if !ok {
		i, ok = detailsByType[r.typ]
	}
	if f := reflect.ValueOf(e).Elem(); ok && f.Field(i).Type() == d.Type() {
		f.Field(i).Set(d)
	}
}

// details returns the details of the event's Type (the field the API names after it), or nil.
func (e *HistoryEvent) details() any {
	i, ok := detailsByType[e.Type]
	if !ok {
		return nil
	}
	if f := reflect.ValueOf(e).Elem().Field(i); !f.IsNil() {
		return f.Interface()
	}
	return nil
}

// The field of HistoryEvent that holds an event's details follows from the fields themselves: a details type
// that one field has (StateEnteredEventDetails, for every <Type>StateEntered event) goes there, the others
// (ErrorDetails, ...) go to the field the API names after the event type, <type>EventDetails.
var (
	detailsByGoType = map[reflect.Type]int{}
	detailsByType   = map[string]int{}
)

func init() {
	t := reflect.TypeOf(HistoryEvent{})
	fields := map[reflect.Type]int{}
	for i := 0; i < t.NumField(); i++ {
		name, isDetails := strings.CutSuffix(strings.TrimSuffix(t.Field(i).Tag.Get("json"), ",omitempty"), "EventDetails")
		if !isDetails {
			continue
		}
		detailsByType[strings.ToUpper(name[:1])+name[1:]] = i
		detailsByGoType[t.Field(i).Type] = i
		fields[t.Field(i).Type]++
	}
	for typ, n := range fields {
		if n > 1 {
			delete(detailsByGoType, typ)
		}
	}
}

// UnmarshalJSON reads an event as the API, the AWS CLI or this package writes it: the timestamp may be an
// RFC 3339 string or epoch seconds (anything else, such as a recording's placeholder, reads as the zero time).
func (e *HistoryEvent) UnmarshalJSON(b []byte) error {
	type plain HistoryEvent
	aux := struct {
		*plain
		Timestamp json.RawMessage `json:"timestamp"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.Timestamp = time.Time{}
	var s string
	var secs float64
	switch {
	case json.Unmarshal(aux.Timestamp, &s) == nil:
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			e.Timestamp = t
		}
	case json.Unmarshal(aux.Timestamp, &secs) == nil:
		whole := int64(secs)
		e.Timestamp = time.Unix(whole, int64((secs-float64(whole))*1e9)).UTC()
	}
	return nil
}
