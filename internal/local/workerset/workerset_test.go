package workerset

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/function"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

func TestOutputKeepsEMFDocumentsAndPassesLogsOn(t *testing.T) {
	var log bytes.Buffer
	o := NewOutput(&log)
	doc := `{"_aws":{"Timestamp":1764205137000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["ClusterName"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"ClusterName":"c","M":1}`
	for _, w := range []string{
		doc + "\n",
		`{"time":"2026-11-27T00:00:00Z","level":"INFO","msg":"not a metric","_aws_note":"x"}` + "\n",
		"START RequestId: 1 Version: $LATEST\nplain log line\n" + doc + "\n",
	} {
		if n, err := o.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	recs, err := emf.DecodeAll(bytes.NewReader(o.Take()))
	if err != nil || len(recs) != 2 {
		t.Errorf("kept %d metric datums (%v), want the 2 documents' 2", len(recs), err)
	}
	if len(o.Take()) != 0 {
		t.Error("Take did not forget what it returned")
	}
	if got := log.String(); strings.Contains(got, `"_aws":`) || !strings.Contains(got, "plain log line") || !strings.Contains(got, "not a metric") {
		t.Errorf("log got:\n%s", got)
	}
}

func TestHandlerEnvHoldsWhatTheTemplateSetsAndTheLocalVariables(t *testing.T) {
	settings := map[envnames.Var]string{}
	for _, v := range append(envnames.All, envnames.Local...) {
		settings[v] = "value-of-" + string(v)
	}
	for _, h := range workers.All {
		env := handlerEnv(settings, h)
		want := append(workers.EnvOf(h), envnames.Local...)
		if len(env) != len(want) {
			t.Errorf("%s gets %d variables, want %d", h, len(env), len(want))
		}
		for _, v := range want {
			if env[string(v)] != settings[v] {
				t.Errorf("%s: %s = %q", h, v, env[string(v)])
			}
		}
	}
	if _, ok := handlerEnv(settings, workers.Drain)[string(envnames.BackupBucket)]; ok {
		t.Error("the drain function gets the backup bucket")
	}
}

func TestInProcessFunctionsFailAsTheLambdaBinaryDoes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fn      func(context.Context, struct{ Wait int }) (struct{}, error)
		payload string
		want    string
	}{
		{"a classified error keeps its ASL name", func(context.Context, struct{ Wait int }) (struct{}, error) {
			return struct{}{}, faults.New(faults.EtcdQuorumAtRisk, "2 of 3 healthy")
		}, `{}`, faults.EtcdQuorumAtRisk},
		{"an unclassified error is Worker.Internal", func(context.Context, struct{ Wait int }) (struct{}, error) {
			return struct{}{}, context.Canceled
		}, `{}`, faults.Internal},
		{"malformed input is Input.Invalid", func(context.Context, struct{ Wait int }) (struct{}, error) {
			return struct{}{}, nil
		}, `{"Wait":"soon"}`, faults.InputInvalid},
		{"running past the timeout is Sandbox.Timedout", func(ctx context.Context, in struct{ Wait int }) (struct{}, error) {
			<-ctx.Done()
			return struct{}{}, nil
		}, `{"Wait":1}`, timedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &registrar{fns: asl.NewFunctions(), out: NewOutput(nil),
				cfg: Config{Timeout: func(workers.Handler) time.Duration { return 50 * time.Millisecond }}}
			env := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": FunctionName(workers.Drain)}
			register(r, workers.Drain, function.Bind("c1", workers.Drain, function.Options{
				Log:       slog.New(slog.DiscardHandler),
				Container: emf.NewContainerFromEnv(func(k string) string { return env[k] }),
			}, tc.fn))
			sm, err := asl.Parse([]byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + statemachines.LocalResource(workers.Drain) + `","End":true}}}`))
			if err != nil {
				t.Fatal(err)
			}
			eng, err := asl.NewEngine(sm, asl.Options{Resolver: r.fns})
			if err != nil {
				t.Fatal(err)
			}
			exec, err := eng.Run(t.Context(), json.RawMessage(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if exec.Status != asl.StatusFailed || exec.Error != tc.want {
				t.Errorf("execution %s %s (%s), want FAILED %s", exec.Status, exec.Error, exec.Cause, tc.want)
			}
			recs, err := emf.DecodeAll(bytes.NewReader(r.out.Take()))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == timedOut {
				// Lambda stopped the function before it printed.
				if len(recs) != 0 {
					t.Errorf("a timed-out invocation printed %v", recs)
				}
				return
			}
			// The step's failure was counted under the function's name.
			found := emf.Find(recs, workers.Drain.Step()+"Failure", "ClusterName", "FunctionName")
			if len(found) != 1 {
				t.Fatalf("failure metric %v, want one", found)
			}
			if fn, _ := found[0].Dimension("FunctionName"); fn != FunctionName(workers.Drain) {
				t.Errorf("failure metric %v, want one with FunctionName %s", found, FunctionName(workers.Drain))
			}
		})
	}
}
