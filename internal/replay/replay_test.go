package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/replay"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// definition is workflow name's deployed definition for cluster "test".
func definition(t *testing.T, name string) *asl.StateMachine {
	t.Helper()
	w, ok := statemachines.ByName(name)
	if !ok {
		t.Fatalf("no workflow %s", name)
	}
	b, err := w.Deployed("test")
	if err != nil {
		t.Fatal(err)
	}
	sm, err := asl.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

// scripted answers each handler's invocations in order from a script: a
// JSON result, or an error name.
func scripted(script map[workers.Handler][]string) asl.Resolver {
	fns := asl.NewFunctions()
	for h, answers := range script {
		n := 0
		fns.Handle(statemachines.LocalFunctionName(h), func(_ context.Context, _ json.RawMessage) (json.RawMessage, error) {
			a := answers[min(n, len(answers)-1)]
			n++
			if !strings.HasPrefix(a, "{") {
				return nil, messages.InvokeResponse_Error{Type: a, Message: a + " (scripted)"}
			}
			return json.RawMessage(a), nil
		})
	}
	return fns
}

// record runs a definition once, as production would have, and returns its
// history.
func record(t *testing.T, sm *asl.StateMachine, input string, r asl.Resolver) []asl.HistoryEvent {
	t.Helper()
	eng, err := asl.NewEngine(sm, asl.Options{Resolver: r, Seed: 7, StartTime: time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := eng.Run(t.Context(), json.RawMessage(input))
	if err != nil {
		t.Fatal(err)
	}
	return exec.Events()
}

const lifecycleEvent = `{"detail-type":"EC2 Instance-terminate Lifecycle Action","source":"aws.autoscaling",
 "detail":{"LifecycleActionToken":"tok","AutoScalingGroupName":"cp","LifecycleHookName":"hook","EC2InstanceId":"i-0123456789abcdef0",
 "LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}}`

func lifecycleScript() map[workers.Handler][]string {
	return map[workers.Handler][]string{
		workers.Drain:              {faults("Drain.Incomplete"), `{"NodeName":"n1","PodsEvicted":3}`},
		workers.LifecycleHeartbeat: {`{"RecordedAt":"2026-11-20T10:00:05Z"}`},
		workers.RemoveMember:       {`{"Removed":true,"VotersAfter":2}`},
		workers.CompleteLifecycle:  {`{"LifecycleActionResult":"CONTINUE"}`},
	}
}

func faults(name string) string { return name }

func healthScript(action string) map[workers.Handler][]string {
	return map[workers.Handler][]string{
		workers.HealthProbe:     {`{"Action":"` + action + `","ConsecutiveFailures":3,"PreviousFailures":2}`},
		workers.TriggerRecovery: {`{"Triggered":true,"BackupKey":"k"}`},
		workers.ReportRecovered: {`{"Recovered":true}`},
	}
}

func TestReplayOfAnUnchangedDefinitionDoesNotDiverge(t *testing.T) {
	for _, tc := range []struct {
		name, workflow, input string
		script                map[workers.Handler][]string
	}{
		{"lifecycle with a blocked drain", "lifecycle", lifecycleEvent, lifecycleScript()},
		{"health triggering recovery", "health", `{}`, healthScript("TriggerRecovery")},
		{"health with nothing to do", "health", `{"Override":{}}`, healthScript("None")},
		{"backup failing", "backup", `{}`, map[workers.Handler][]string{workers.Backup: {"Backup.Corrupt"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm := definition(t, tc.workflow)
			history := record(t, sm, tc.input, scripted(tc.script))
			// Through the file format, as `cpwarden replay --history` reads it.
			var buf bytes.Buffer
			if err := json.NewEncoder(&buf).Encode(map[string]any{"events": history}); err != nil {
				t.Fatal(err)
			}
			loaded, err := replay.Load(&buf)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := replay.Run(t.Context(), loaded, replay.Options{Definition: definition(t, tc.workflow)})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Diverged() {
				t.Fatalf("replay diverged: %v", rep.Divergences)
			}
			if len(rep.Replayed) != len(rep.Recorded) || len(rep.Recorded) < 3 {
				t.Errorf("replayed %d visits of %d recorded", len(rep.Replayed), len(rep.Recorded))
			}
		})
	}
}

func TestReplayReportsWhereAChangedDefinitionDiverges(t *testing.T) {
	for _, tc := range []struct {
		name, workflow, input string
		script                map[workers.Handler][]string
		change                func(*asl.StateMachine)
		kind                  replay.Kind
		state                 string
		recorded, replayed    string // substrings of the divergence
		// then, when set, is the path divergence that follows.
		then string
	}{
		{
			name: "a Choice that routes elsewhere", workflow: "health", input: `{}`, script: healthScript("TriggerRecovery"),
			change: func(sm *asl.StateMachine) {
				sm.State("Decide").(*asl.Choice).Choices[0].Value = "StartRestore"
			},
			kind: replay.Path, state: "Done", recorded: "entered TriggerRecovery", replayed: "entered Done",
		},
		{
			name: "Parameters that give the worker other input", workflow: "lifecycle", input: lifecycleEvent, script: lifecycleScript(),
			change: func(sm *asl.StateMachine) {
				task := sm.State("RemoveMember").(*asl.Task)
				var params map[string]any
				if err := json.Unmarshal(task.Parameters.(json.RawMessage), &params); err != nil {
					panic(err)
				}
				params["NodeName.$"] = "$.Drain.NodeName"
				task.Parameters = params
			},
			kind: replay.TaskInput, state: "RemoveMember", recorded: `"InstanceId":"i-0123456789abcdef0"`, replayed: `"NodeName":"n1"`,
		},
		{
			name: "a Catch removed", workflow: "lifecycle", input: lifecycleEvent, script: lifecycleScript(),
			change: func(sm *asl.StateMachine) {
				d := sm.State("Drain").(*asl.Task)
				d.Catch = d.Catch[1:] // Drain.Incomplete now falls to the catch-all
			},
			// The catch-all puts the error elsewhere in the state's output,
			// then sends the execution to Abandon.
			kind: replay.Output, state: "Drain", recorded: `"DrainIncomplete":{"Error":"Drain.Incomplete"`, replayed: `"Failure":{"Error":"Drain.Incomplete"`,
			then: "Abandon",
		},
		{
			name: "a ResultPath that moves the result", workflow: "backup", input: `{}`,
			script: map[workers.Handler][]string{
				workers.Backup:       {`{"Key":"k","StagingKey":"s"}`},
				workers.VerifyBackup: {`{"Key":"k","Published":true}`},
				workers.PruneBackups: {`{"Kept":1}`},
			},
			change: func(sm *asl.StateMachine) {
				sm.State("Prune").(*asl.Task).ResultPath = asl.P("$.Retention")
			},
			kind: replay.Output, state: "Prune", recorded: `"Prune":`, replayed: `"Retention":`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			history := record(t, definition(t, tc.workflow), tc.input, scripted(tc.script))
			changed := definition(t, tc.workflow)
			tc.change(changed)
			rep, err := replay.Run(t.Context(), history, replay.Options{Definition: changed})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Diverged() {
				t.Fatal("replay of a changed definition reports no divergence")
			}
			first := rep.Divergences[0]
			if first.Kind != tc.kind || first.State != tc.state ||
				!strings.Contains(first.Recorded, tc.recorded) || !strings.Contains(first.Replayed, tc.replayed) {
				t.Errorf("first divergence:\n%v\nwant %s at %s, recorded ~%q, replayed ~%q", first, tc.kind, tc.state, tc.recorded, tc.replayed)
			}
			if tc.then != "" {
				last := rep.Divergences[len(rep.Divergences)-1]
				if last.Kind != replay.Path || last.State != tc.then || last.Step != first.Step+1 {
					t.Errorf("last divergence %v, want the path to %s right after %s", last, tc.then, tc.state)
				}
			}
			// The step is where the recording has the state the replay
			// left: every state before it agrees.
			for i := 0; i < first.Step; i++ {
				if rep.Recorded[i].State != rep.Replayed[i].State {
					t.Errorf("step %d differs before the reported divergence", i+1)
				}
			}
		})
	}
}

func TestLoadRefusesWhatIsNotAHistory(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{
		{"not JSON", "events:"},
		{"no events", `{"events":[]}`},
		{"a definition", `{"StartAt":"A","States":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := replay.Load(strings.NewReader(tc.doc)); err == nil {
				t.Error("Load accepted it")
			}
		})
	}
	if _, err := replay.Run(t.Context(), []asl.HistoryEvent{{ID: 1, Type: "PassStateEntered"}}, replay.Options{Definition: definition(t, "health")}); err == nil {
		t.Error("Run accepted a history without ExecutionStarted")
	}
}

// sfnServer speaks the Step Functions JSON protocol for GetExecutionHistory,
// serving events pageSize at a time, timestamps in epoch seconds as the API
// sends them.
func sfnServer(t *testing.T, arn string, events []asl.HistoryEvent, pageSize int) (*httptest.Server, *int) {
	t.Helper()
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if got := r.Header.Get("X-Amz-Target"); got != "AWSStepFunctions.GetExecutionHistory" {
			http.Error(w, "unexpected target "+got, http.StatusBadRequest)
			return
		}
		var in struct {
			ExecutionArn         string `json:"executionArn"`
			IncludeExecutionData *bool  `json:"includeExecutionData"`
			NextToken            string `json:"nextToken"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil || in.ExecutionArn != arn || in.IncludeExecutionData == nil || !*in.IncludeExecutionData {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"__type": "com.amazonaws.swf.service.v2.model#ExecutionDoesNotExist", "message": "Execution Does Not Exist: " + in.ExecutionArn,
			})
			return
		}
		start, _ := strconv.Atoi(in.NextToken)
		end := min(start+pageSize, len(events))
		var page []map[string]any
		for _, e := range events[start:end] {
			b, _ := json.Marshal(e)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			m["timestamp"] = float64(e.Timestamp.UnixMilli()) / 1000
			page = append(page, m)
		}
		out := map[string]any{"events": page}
		if end < len(events) {
			out["nextToken"] = strconv.Itoa(end)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestFetchReadsEveryPageInTheHistoryShapes(t *testing.T) {
	const arn = "arn:aws:states:us-east-1:123456789012:execution:cpwarden-test-lifecycle:run-1"
	history := record(t, definition(t, "lifecycle"), lifecycleEvent, scripted(lifecycleScript()))
	srv, calls := sfnServer(t, arn, history, 7)
	client := sfn.New(sfn.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	got, err := replay.Fetch(t.Context(), client, arn)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(history) {
		t.Fatalf("fetched %d events, want %d", len(got), len(history))
	}
	if want := (len(history) + 6) / 7; *calls != want {
		t.Errorf("%d requests, want one per page (%d)", *calls, want)
	}
	for i := range history {
		a, b := history[i], got[i]
		if a.ID != b.ID || a.PreviousEventID != b.PreviousEventID || a.Type != b.Type || !a.Timestamp.Truncate(time.Millisecond).Equal(b.Timestamp) {
			t.Fatalf("event %d: fetched %+v, want %+v", i, b, a)
		}
	}
	if !equalVisits(replay.Visits(history), replay.Visits(got)) {
		t.Errorf("fetched visits differ:\n%+v\n%+v", replay.Visits(got), replay.Visits(history))
	}
	rep, err := replay.Run(t.Context(), got, replay.Options{Definition: definition(t, "lifecycle"), ExecutionArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Diverged() {
		t.Errorf("replay of the fetched history diverged: %v", rep.Divergences)
	}
	if !strings.HasSuffix(rep.Execution.Arn, ":cpwarden-test-lifecycle:run-1") {
		t.Errorf("replayed execution %s is not named as the recorded one", rep.Execution.Arn)
	}
}

func TestFetchReportsTheAPIError(t *testing.T) {
	srv, _ := sfnServer(t, "arn:aws:states:us-east-1:123456789012:execution:sm:other", nil, 1)
	client := sfn.New(sfn.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	_, err := replay.Fetch(t.Context(), client, "arn:aws:states:us-east-1:123456789012:execution:sm:missing")
	var nf interface{ ErrorCode() string }
	if !errors.As(err, &nf) || nf.ErrorCode() != "ExecutionDoesNotExist" {
		t.Errorf("Fetch of an unknown execution: %v, want ExecutionDoesNotExist", err)
	}
}

func equalVisits(a, b []replay.Visit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.State != y.State || x.Input != y.Input || x.Output != y.Output || strings.Join(x.TaskInputs, "\x00") != strings.Join(y.TaskInputs, "\x00") {
			return false
		}
	}
	return true
}

func TestLoadReadsEpochSecondTimestampsToTheMillisecond(t *testing.T) {
	// The lifecycle passes $$.Execution.StartTime to its last worker: a
	// start read one millisecond off would show as a data divergence.
	sm := definition(t, "lifecycle")
	eng, err := asl.NewEngine(sm, asl.Options{Resolver: scripted(lifecycleScript()), StartTime: time.Date(2026, 11, 27, 0, 58, 57, 711_000_000, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := eng.Run(t.Context(), json.RawMessage(lifecycleEvent))
	if err != nil {
		t.Fatal(err)
	}
	// As older AWS CLIs print them: epoch seconds with milliseconds.
	var events []map[string]any
	for _, e := range exec.Events() {
		b, _ := json.Marshal(e)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		ms := e.Timestamp.UnixMilli()
		m["timestamp"] = json.Number(fmt.Sprintf("%d.%03d", ms/1000, ms%1000))
		events = append(events, m)
	}
	doc, _ := json.Marshal(map[string]any{"events": events})
	loaded, err := replay.Load(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded[0].Timestamp; !got.Equal(exec.StartTime.Truncate(time.Millisecond)) {
		t.Errorf("start read as %s, want %s", got.Format(time.RFC3339Nano), exec.StartTime.Format(time.RFC3339Nano))
	}
	rep, err := replay.Run(t.Context(), loaded, replay.Options{Definition: definition(t, "lifecycle")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Diverged() {
		t.Errorf("replay diverged: %v", rep.Divergences)
	}
}
