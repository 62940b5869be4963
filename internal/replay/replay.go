// Package replay re-runs an execution against the current definition of its
// workflow and says where the two part: the path (the states visited) or the
// data (what a state received, what it gave its worker, what it produced),
// and the outcome. The recorded history comes from a file (what `cpwarden
// run --history` or `aws stepfunctions get-execution-history` writes) or
// from AWS with the sfn API's GetExecutionHistory.
//
// By default every Task state gets the outcome recorded in the history, so a
// replay is deterministic and runs on a virtual clock in microseconds: a
// changed definition shows exactly where it would have sent a production
// execution elsewhere. Given a live resolver instead, the workers really run
// and only the path and the outcome are compared (live outputs differ in
// timestamps and keys by nature).
package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl"
)

// Kind classifies a divergence.
type Kind string

// The kinds of divergence, in the order a visit is compared.
const (
	// Path: a different state at this step, or one run went on where the
	// other stopped.
	Path Kind = "path"
	// Input: the state was entered with different input.
	Input Kind = "input"
	// TaskInput: the state gave its worker different input (Parameters,
	// InputPath).
	TaskInput Kind = "task input"
	// Output: the state left with different output (ResultSelector,
	// ResultPath, OutputPath).
	Output Kind = "output"
	// Outcome: the executions ended differently (status, error, output).
	Outcome Kind = "outcome"
)

// Divergence is one place where the replay differs from the recording.
type Divergence struct {
	Kind Kind
	// Step is the index of the state visit (0 is the first state entered).
	Step  int
	State string
	// Recorded and Replayed say what each side had there.
	Recorded, Replayed string
}

func (d Divergence) String() string {
	where := fmt.Sprintf("step %d (%s)", d.Step+1, d.State)
	if d.Kind == Outcome {
		where = "outcome"
	}
	return fmt.Sprintf("%s differs at %s:\n    recorded: %s\n    replayed: %s", d.Kind, where, d.Recorded, d.Replayed)
}

// Visit is one state visit read from a history.
type Visit struct {
	State  string
	Input  string
	Output string
	// TaskInputs is the input of every attempt of a Task state (several
	// with retries).
	TaskInputs []string
	// Errors is each failed attempt's error name.
	Errors []string
}

// Visits reads the state visits of a history, in order.
func Visits(events []asl.HistoryEvent) []Visit {
	var out []Visit
	open := map[string]int{} // state name → index of its last unfinished visit
	last := -1
	for _, e := range events {
		switch {
		case e.StateEnteredEventDetails != nil:
			d := e.StateEnteredEventDetails
			out = append(out, Visit{State: d.Name, Input: dataString(d.Input)})
			last = len(out) - 1
			open[d.Name] = last
		case e.StateExitedEventDetails != nil:
			d := e.StateExitedEventDetails
			if i, ok := open[d.Name]; ok {
				out[i].Output = dataString(d.Output)
				delete(open, d.Name)
			}
		case last < 0:
		case e.LambdaFunctionScheduledEventDetails != nil:
			out[last].TaskInputs = append(out[last].TaskInputs, dataString(e.LambdaFunctionScheduledEventDetails.Input))
		case e.TaskScheduledEventDetails != nil:
			out[last].TaskInputs = append(out[last].TaskInputs, dataString(e.TaskScheduledEventDetails.Parameters))
		case e.ActivityScheduledEventDetails != nil:
			out[last].TaskInputs = append(out[last].TaskInputs, dataString(e.ActivityScheduledEventDetails.Input))
		default:
			if name := failure(e); name != "" {
				out[last].Errors = append(out[last].Errors, name)
			}
		}
	}
	return out
}

func failure(e asl.HistoryEvent) string {
	for _, d := range []*asl.ErrorDetails{e.LambdaFunctionFailedEventDetails, e.LambdaFunctionTimedOutEventDetails,
		e.LambdaFunctionStartFailedDetails, e.ActivityFailedEventDetails, e.ActivityTimedOutEventDetails} {
		if d != nil {
			return d.Error
		}
	}
	for _, d := range []*asl.TaskErrorDetails{e.TaskFailedEventDetails, e.TaskTimedOutEventDetails, e.TaskStartFailedEventDetails} {
		if d != nil {
			return d.Error
		}
	}
	return ""
}

func dataString(d *asl.Data) string {
	if d == nil {
		return ""
	}
	return d.String()
}

// Options configure Run.
type Options struct {
	// Definition is the definition to replay against: the current one.
	Definition *asl.StateMachine
	// Live, when set, answers the Task states instead of the history (the
	// workers of a sandbox); the comparison is then of path and outcome
	// only, on the wall clock.
	Live asl.Resolver
	// ExecutionArn, when known, names the replayed execution as the
	// recorded one was named ($$.Execution.Id and Name).
	ExecutionArn string
	// OnState, when set, is called as the replay enters and leaves states.
	OnState func(asl.StateEvent)
}

// Report is a finished replay.
type Report struct {
	Recorded, Replayed []Visit
	// Divergences is empty when the replay matches the recording.
	Divergences []Divergence
	// Execution is the replayed execution (status ABORTED when the replay
	// asked for an outcome the recording does not have).
	Execution *asl.Execution
	// Recording is how the recorded execution ended.
	Recording Ending
}

// Ending is how an execution ended.
type Ending struct {
	Status, Error, Output string
}

// Diverged reports whether anything differs.
func (r *Report) Diverged() bool { return len(r.Divergences) > 0 }

// Run replays history against opts.Definition. The error is for a replay
// that could not run (no ExecutionStarted event, a definition that does not
// compile, a cancelled context); a replay that wanted an outcome the
// recording lacks is a divergence, not an error.
func Run(ctx context.Context, history []asl.HistoryEvent, opts Options) (*Report, error) {
	if opts.Definition == nil {
		return nil, errors.New("replay: no definition")
	}
	started, rec, err := recorded(history)
	if err != nil {
		return nil, err
	}
	resolver := opts.Live
	if resolver == nil {
		resolver = asl.NewHistoryResolver(history)
	}
	eo := asl.Options{
		Resolver: resolver, RealTime: opts.Live != nil, OnState: opts.OnState,
		// The recorded start, to the millisecond as the context object
		// shows it, so $$.Execution.StartTime is the recorded one.
		StartTime: started.Timestamp.Truncate(time.Millisecond),
	}
	if opts.ExecutionArn != "" {
		if sm, name, ok := splitExecutionArn(opts.ExecutionArn); ok {
			eo.StateMachineName, eo.ExecutionName = sm, name
		}
	}
	eng, err := asl.NewEngine(opts.Definition, eo)
	if err != nil {
		return nil, fmt.Errorf("replay: the definition does not compile: %w", err)
	}
	input := json.RawMessage(dataString(started.ExecutionStartedEventDetails.Input))
	exec, runErr := eng.Run(ctx, input)
	if runErr != nil && !errors.Is(runErr, asl.ErrResolver) {
		return nil, fmt.Errorf("replay: %w", runErr)
	}
	rep := &Report{Recorded: Visits(history), Execution: exec, Recording: rec}
	if exec != nil {
		rep.Replayed = Visits(exec.Events())
	}
	rep.Divergences = compare(rep, opts.Live == nil, runErr)
	return rep, nil
}

// recorded finds the ExecutionStarted event and how the execution ended.
func recorded(history []asl.HistoryEvent) (*asl.HistoryEvent, Ending, error) {
	var started *asl.HistoryEvent
	var end Ending
	for i := range history {
		e := &history[i]
		switch e.Type {
		case asl.EventExecutionStarted:
			started = e
		case asl.EventExecutionSucceeded:
			end = Ending{Status: asl.StatusSucceeded}
			if d := e.ExecutionSucceededEventDetails; d != nil {
				end.Output = dataString(d.Output)
			}
		case asl.EventExecutionFailed:
			end = Ending{Status: asl.StatusFailed}
			if d := e.ExecutionFailedEventDetails; d != nil {
				end.Error = d.Error
			}
		case asl.EventExecutionTimedOut:
			end = Ending{Status: asl.StatusTimedOut}
		case asl.EventExecutionAborted:
			end = Ending{Status: asl.StatusAborted}
		}
	}
	if started == nil || started.ExecutionStartedEventDetails == nil {
		return nil, end, errors.New("replay: the history has no ExecutionStarted event (was it fetched in reverse order, or truncated?)")
	}
	return started, end, nil
}

// splitExecutionArn returns the state machine and execution names of
// arn:aws:states:region:account:execution:stateMachine:name.
func splitExecutionArn(arn string) (string, string, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) < 8 || parts[0] != "arn" || parts[5] != "execution" && parts[5] != "express" {
		return "", "", false
	}
	return parts[6], parts[7], true
}

// compare lines up the visits and the endings.
func compare(rep *Report, data bool, runErr error) []Divergence {
	var out []Divergence
	rec, rpl := rep.Recorded, rep.Replayed
	n := min(len(rec), len(rpl))
	for i := 0; i < n; i++ {
		a, b := rec[i], rpl[i]
		if a.State != b.State {
			return append(out, Divergence{Kind: Path, Step: i, State: b.State,
				Recorded: "entered " + a.State, Replayed: "entered " + b.State})
		}
		if !data {
			continue
		}
		if !sameJSON(a.Input, b.Input) {
			out = append(out, Divergence{Kind: Input, Step: i, State: a.State, Recorded: a.Input, Replayed: b.Input})
		}
		if len(a.TaskInputs) != len(b.TaskInputs) {
			out = append(out, Divergence{Kind: TaskInput, Step: i, State: a.State,
				Recorded: fmt.Sprintf("%d attempts", len(a.TaskInputs)), Replayed: fmt.Sprintf("%d attempts", len(b.TaskInputs))})
		} else {
			for j := range a.TaskInputs {
				if !sameJSON(a.TaskInputs[j], b.TaskInputs[j]) {
					out = append(out, Divergence{Kind: TaskInput, Step: i, State: a.State, Recorded: a.TaskInputs[j], Replayed: b.TaskInputs[j]})
					break
				}
			}
		}
		if !sameJSON(a.Output, b.Output) {
			out = append(out, Divergence{Kind: Output, Step: i, State: a.State, Recorded: a.Output, Replayed: b.Output})
		}
	}
	switch {
	case len(rec) > n:
		state := rec[n].State
		why := "stopped"
		if runErr != nil {
			why = "stopped: " + runErr.Error()
		}
		return append(out, Divergence{Kind: Path, Step: n, State: state, Recorded: "entered " + state, Replayed: why})
	case len(rpl) > n:
		state := rpl[n].State
		return append(out, Divergence{Kind: Path, Step: n, State: state, Recorded: "ended (" + rep.Recording.Status + ")", Replayed: "entered " + state})
	}
	if runErr != nil {
		return append(out, Divergence{Kind: Outcome, Recorded: rep.Recording.Status, Replayed: "stopped: " + runErr.Error()})
	}
	e := rep.Execution
	got := Ending{Status: e.Status, Error: e.Error, Output: string(e.Output)}
	switch {
	case got.Status != rep.Recording.Status || got.Error != rep.Recording.Error:
		out = append(out, Divergence{Kind: Outcome, Recorded: rep.Recording.Status + " " + rep.Recording.Error, Replayed: got.Status + " " + got.Error})
	case data && got.Status == asl.StatusSucceeded && !sameJSON(got.Output, rep.Recording.Output):
		out = append(out, Divergence{Kind: Outcome, Recorded: "output " + rep.Recording.Output, Replayed: "output " + got.Output})
	}
	return out
}

// sameJSON compares two JSON texts as values: key order and number
// spelling do not matter.
func sameJSON(a, b string) bool {
	if a == b {
		return true
	}
	va, errA := decode(a)
	vb, errB := decode(b)
	if errA != nil || errB != nil {
		return false
	}
	return reflect.DeepEqual(normalize(va), normalize(vb))
}

func decode(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// normalize turns numbers into their float value, so 1 and 1.0 compare
// equal as they do in JSON.
func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
	}
	return v
}

// Load reads a history document: {"events": [...]} as GetExecutionHistory
// and `aws stepfunctions get-execution-history` return it (and `cpwarden
// run --history` writes it), or a bare array of events. Timestamps may be
// RFC 3339 strings or epoch seconds.
func Load(r io.Reader) ([]asl.HistoryEvent, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("replay: read history: %w", err)
	}
	b = bytes.TrimSpace(b)
	var raw []map[string]json.RawMessage
	if len(b) > 0 && b[0] == '[' {
		err = json.Unmarshal(b, &raw)
	} else {
		var doc struct {
			Events []map[string]json.RawMessage `json:"events"`
		}
		err = json.Unmarshal(b, &doc)
		raw = doc.Events
	}
	if err != nil {
		return nil, fmt.Errorf("replay: the history is not GetExecutionHistory JSON: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("replay: the history has no events")
	}
	events := make([]asl.HistoryEvent, len(raw))
	for i, m := range raw {
		// Epoch seconds are read from their decimal digits: through a
		// float64 the milliseconds of a 2020s timestamp come out a few
		// hundred nanoseconds short, one millisecond off once truncated.
		if ts, ok := m["timestamp"]; ok && len(ts) > 0 && ts[0] != '"' {
			t, err := epochSeconds(string(ts))
			if err != nil {
				return nil, fmt.Errorf("replay: event %d: timestamp %s: %w", i, ts, err)
			}
			m["timestamp"], _ = json.Marshal(t.Format(time.RFC3339Nano))
		}
		eb, _ := json.Marshal(m)
		if err := json.Unmarshal(eb, &events[i]); err != nil {
			return nil, fmt.Errorf("replay: event %d: %w", i, err)
		}
	}
	return events, nil
}

// epochSeconds parses "1764201537.711" exactly.
func epochSeconds(s string) (time.Time, error) {
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	var ns int64
	if frac != "" {
		if ns, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(sec, ns).UTC(), nil
}
