// Package runner runs one of cpwarden's workflows locally, the way `cpwarden
// run` and the demo show it: the generated definition in internal/asl, Task
// states answered by a resolver (the real workers in process or under the
// Runtime Interface Emulator), one progress line per state with its
// duration and outcome, and at the end the execution's history (in the
// GetExecutionHistory shapes) and every EMF metric the workers emitted,
// decoded as CloudWatch would extract them.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/statemachines"
)

// Options configure Run.
type Options struct {
	// Workflow is run with Definition, or else with its deployed definition
	// for Cluster (Task resources statemachines.LocalResource).
	Workflow   statemachines.Workflow
	Definition *asl.StateMachine
	Cluster    string
	// Input is the execution input; empty means {}.
	Input json.RawMessage
	// Resolver answers the Task states. Required.
	Resolver asl.Resolver
	// Metrics returns the EMF documents the workers printed during the run
	// (and forgets them); nil means none are collected.
	Metrics func() []byte
	// Progress receives one line per state; nil discards them.
	Progress io.Writer
	// OnState is called as states are entered and left, after the progress
	// line: the demo changes the world between two states with it.
	OnState func(asl.StateEvent)
	// VirtualTime runs Wait states and retry back-off on a virtual clock
	// (no real waiting). The default is the wall clock: a live run.
	VirtualTime bool
	// MaxDelay caps each Wait state and retry back-off of a live run (see
	// asl.Options.MaxDelay); 0 waits as deployed.
	MaxDelay time.Duration
	// ExecutionName names the execution (default: the workflow's name, the
	// time and a random suffix).
	ExecutionName string
}

// Step is one state's visit, as the progress line shows it.
type Step struct {
	State    string
	Type     string
	Duration time.Duration
	// Outcome is "ok", "caught <Error>", "failed <Error>", or for a Task
	// retried along the way "ok after <Error> ×n".
	Outcome string
	// Attempts lists the error name of every failed attempt of a Task
	// visit, in order ("" for none).
	Attempts []string
}

// Result is a finished run.
type Result struct {
	Execution *asl.Execution
	Events    []asl.HistoryEvent
	// Path is the name of every state entered, in order.
	Path  []string
	Steps []Step
	// EMF is the raw documents; Metrics is them decoded.
	EMF     []byte
	Metrics []emf.Record
	Wall    time.Duration
}

// Run runs the workflow once. The error is for runs that could not finish
// (a resolver error, a cancelled context, undecodable metrics); a failed
// execution is a Result whose Execution.Status is FAILED.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Resolver == nil {
		return nil, errors.New("runner: no resolver")
	}
	def := opts.Definition
	if def == nil {
		var err error
		if def, err = Deployed(opts.Workflow, opts.Cluster); err != nil {
			return nil, err
		}
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	t := &tracker{out: progress, tasks: map[string][]string{}}
	name := opts.Workflow.Name
	if name == "" {
		name = "workflow"
	}
	// Every run its own name and its own retry jitter, as in Step
	// Functions (the engine's default seed would give every run the same).
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	execName := opts.ExecutionName
	if execName == "" {
		execName = fmt.Sprintf("%s-%s-%x", name, time.Now().UTC().Format("20060102T150405"), seed[:3])
	}
	eng, err := asl.NewEngine(def, asl.Options{
		Resolver:         t.wrap(opts.Resolver),
		RealTime:         !opts.VirtualTime,
		MaxDelay:         opts.MaxDelay,
		Seed:             binary.LittleEndian.Uint64(seed[:]),
		StateMachineName: "cpwarden-" + opts.Cluster + "-" + name,
		ExecutionName:    execName,
		OnState: func(ev asl.StateEvent) {
			t.observe(ev)
			if opts.OnState != nil {
				opts.OnState(ev)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("runner: compile %s: %w", name, err)
	}
	start := time.Now()
	exec, runErr := eng.Run(ctx, opts.Input)
	res := &Result{Execution: exec, Wall: time.Since(start)}
	t.mu.Lock()
	res.Steps = slices.Clone(t.steps)
	t.mu.Unlock()
	if exec != nil {
		res.Events = slices.Clone(exec.Events())
		// In Step Functions the ExecutionStarted event is stamped with the
		// execution's start, the $$.Execution.StartTime its states see; the
		// engine's wall-clock mode stamps it a moment later, which a
		// replay (starting from that event) would see as a different
		// StartTime.
		if len(res.Events) > 0 && res.Events[0].Type == asl.EventExecutionStarted {
			res.Events[0].Timestamp = exec.StartTime
		}
		for _, e := range res.Events {
			if e.StateEnteredEventDetails != nil {
				res.Path = append(res.Path, e.StateEnteredEventDetails.Name)
			}
		}
	}
	if opts.Metrics != nil {
		res.EMF = opts.Metrics()
		recs, err := emf.DecodeAll(strings.NewReader(string(res.EMF)))
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("runner: the workers printed invalid EMF: %w", err)
		}
		res.Metrics = recs
	}
	return res, runErr
}

// Deployed is workflow w's definition as deployed for cluster, with the
// local function ARNs.
func Deployed(w statemachines.Workflow, cluster string) (*asl.StateMachine, error) {
	b, err := w.Deployed(cluster)
	if err != nil {
		return nil, fmt.Errorf("runner: %s definition: %w", w.Name, err)
	}
	sm, err := asl.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("runner: parse %s definition: %w", w.Name, err)
	}
	return sm, nil
}

// tracker turns engine events and task attempts into progress lines.
type tracker struct {
	out   io.Writer
	mu    sync.Mutex
	tasks map[string][]string // state → error of each attempt since it was entered
	steps []Step
}

func (t *tracker) wrap(r asl.Resolver) asl.Resolver {
	return asl.ResolverFunc(func(ctx context.Context, req *asl.TaskRequest) (asl.TaskResult, error) {
		res, err := r.Invoke(ctx, req)
		if err == nil {
			e := ""
			if res.Err != nil {
				e = res.Err.Error
			}
			t.mu.Lock()
			t.tasks[req.StateName] = append(t.tasks[req.StateName], e)
			t.mu.Unlock()
		}
		return res, err
	})
}

func (t *tracker) observe(ev asl.StateEvent) {
	if ev.Scope != "" {
		return // no Map or Parallel in cpwarden's workflows; keep the top level
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Phase {
	case asl.PhaseEntered:
		delete(t.tasks, ev.State)
		return
	case asl.PhaseExited, asl.PhaseFailed:
	default:
		return
	}
	attempts := t.tasks[ev.State]
	delete(t.tasks, ev.State)
	s := Step{State: ev.State, Type: ev.Type, Duration: ev.Duration, Attempts: attempts}
	s.Outcome = outcome(ev, attempts)
	t.steps = append(t.steps, s)
	fmt.Fprintf(t.out, "  %-28s %-7s %8s  %s\n", ev.State, ev.Type, formatDuration(ev.Duration), s.Outcome)
}

func outcome(ev asl.StateEvent, attempts []string) string {
	if ev.Phase == asl.PhaseFailed {
		msg := "FAILED " + ev.Error
		if c := oneLine(ev.Cause, 100); c != "" {
			msg += ": " + c
		}
		return msg
	}
	if len(attempts) == 0 {
		return "ok"
	}
	last := attempts[len(attempts)-1]
	var earlier []string
	for _, a := range attempts[:len(attempts)-1] {
		if a != "" {
			earlier = append(earlier, a)
		}
	}
	msg := "ok"
	if last != "" {
		msg = "caught " + last
	}
	if len(earlier) > 0 {
		msg += " (after retrying " + summarize(earlier) + ")"
	}
	return msg
}

// summarize counts repeated names: "Etcd.Unavailable ×2, AWS.Throttled".
func summarize(names []string) string {
	var parts []string
	for i := 0; i < len(names); {
		j := i
		for j < len(names) && names[j] == names[i] {
			j++
		}
		p := names[i]
		if j-i > 1 {
			p += " ×" + strconv.Itoa(j-i)
		}
		parts = append(parts, p)
		i = j
	}
	return strings.Join(parts, ", ")
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "0ms"
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// Summary prints the execution's outcome and its metrics table.
func (r *Result) Summary(w io.Writer) error {
	e := r.Execution
	if e == nil {
		_, err := fmt.Fprintln(w, "no execution")
		return err
	}
	switch e.Status {
	case asl.StatusSucceeded:
		fmt.Fprintf(w, "execution %s: SUCCEEDED in %s (%d states, %d history events)\n", e.Name, formatDuration(r.Wall), len(r.Path), len(r.Events))
	default:
		fmt.Fprintf(w, "execution %s: %s %s: %s (after %s)\n", e.Name, e.Status, e.Error, oneLine(e.Cause, 200), formatDuration(r.Wall))
	}
	return MetricsTable(w, r.Metrics)
}

// MetricsTable prints metrics as CloudWatch would hold them: one row per
// namespace, metric and unit, with the sum and count of its samples, the
// functions that emitted it and the dimension sets it was emitted under
// (each sample is in every set, so the sum is taken from one).
func MetricsTable(w io.Writer, recs []emf.Record) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no metrics emitted")
		return err
	}
	type key struct{ ns, name, unit string }
	type row struct {
		sets  map[string]*[2]float64 // dimension names → sum, samples
		order []string
		fns   []string
	}
	rows := map[key]*row{}
	var keys []key
	for _, r := range recs {
		k := key{r.Namespace, r.Name(), string(r.Datum.Unit)}
		rw, ok := rows[k]
		if !ok {
			rw = &row{sets: map[string]*[2]float64{}}
			rows[k] = rw
			keys = append(keys, k)
		}
		set := "[" + strings.Join(r.DimensionNames(), ",") + "]"
		agg, ok := rw.sets[set]
		if !ok {
			agg = &[2]float64{}
			rw.sets[set] = agg
			rw.order = append(rw.order, set)
		}
		for _, v := range r.Samples() {
			agg[0] += v
			agg[1]++
		}
		if fn, ok := r.Dimension("FunctionName"); ok && !slices.Contains(rw.fns, fn) {
			rw.fns = append(rw.fns, fn)
		}
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		return strings.Compare(a.ns+"\x00"+a.name, b.ns+"\x00"+b.name)
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tMETRIC\tSUM\tSAMPLES\tUNIT\tDIMENSION SETS\tFUNCTIONS")
	for _, k := range keys {
		rw := rows[k]
		slices.Sort(rw.order)
		slices.Sort(rw.fns)
		agg := rw.sets[rw.order[0]]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", k.ns, k.name, formatValue(agg[0], types.StandardUnit(k.unit)), int(agg[1]), k.unit,
			strings.Join(rw.order, " "), strings.Join(rw.fns, ","))
	}
	return tw.Flush()
}

func formatValue(v float64, unit types.StandardUnit) string {
	if unit == types.StandardUnitMilliseconds {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// History is the JSON document `aws stepfunctions get-execution-history`
// prints, which `cpwarden replay --history` reads.
type History struct {
	Events []asl.HistoryEvent `json:"events"`
}

// WriteHistory writes events as a History document.
func WriteHistory(w io.Writer, events []asl.HistoryEvent) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(History{Events: events})
}
