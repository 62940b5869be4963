package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// benchEngine compiles testdata/bench.asl.json (12 states: Retry, Catch, Choice, a 3-branch Parallel, a 10-item
// Map) with in-process task handlers that work on decoded values, as the handlers of a JavaScript engine get
// objects.
func benchEngine(tb testing.TB) *Engine {
	tb.Helper()
	return benchEngineWith(tb, Options{Seed: 1})
}

// benchEngineWith is benchEngine with opts (the handlers are set as Resolver).
func benchEngineWith(tb testing.TB, opts Options) *Engine {
	tb.Helper()
	def, err := os.ReadFile("testdata/bench.asl.json")
	if err != nil {
		tb.Fatal(err)
	}
	sm, err := Parse(def)
	if err != nil {
		tb.Fatal(err)
	}
	fns := NewFunctions()
	fns.HandleValue("validate", func(_ context.Context, in any) (any, error) {
		o := value.NewObject(1)
		o.Set("ok", true)
		return o, nil
	})
	fns.HandleValue("branch", func(_ context.Context, in any) (any, error) {
		return in, nil
	})
	fns.HandleValue("double", func(_ context.Context, in any) (any, error) {
		v, _ := in.(*value.Object).Get("value")
		n, _ := v.(value.Number).Int64()
		return value.Int(2 * n), nil
	})
	opts.Resolver = fns
	eng, err := NewEngine(sm, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return eng
}

func TestBenchmarkDefinitionRuns(t *testing.T) {
	eng := benchEngine(t)
	exec, err := eng.Run(context.Background(), []byte(`{"request":"r1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if exec.Status != StatusSucceeded {
		t.Fatalf("status %s: %s %s", exec.Status, exec.Error, exec.Cause)
	}
	want := `{"count":10,"fanout":[{"branch":"A","n":5},{"branch":"B","count":10},{"branch":"C","n":5}],"message":"processed 10 items"}`
	if string(exec.Output) != want {
		t.Fatalf("output %s, want %s", exec.Output, want)
	}
	if n := len(exec.Events()); n != 105 {
		t.Errorf("%d events, want 105", n)
	}
}

// An engine reuses an execution's threads and state runs for its next run (see recycle): the history and output
// of an earlier run, built lazily, must not change.
func TestLaterRunsLeaveEarlierHistoriesIntact(t *testing.T) {
	opts := Options{Seed: 1, StartTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	eng := benchEngineWith(t, opts)
	ctx := context.Background()
	first, err := eng.Run(ctx, []byte(`{"request":"first"}`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := eng.Run(ctx, []byte(fmt.Sprintf(`{"request":"later-%d","extra":[%d]}`, i, i))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := json.Marshal(first.Events())
	if err != nil {
		t.Fatal(err)
	}
	alone, err := benchEngineWith(t, opts).Run(ctx, []byte(`{"request":"first"}`))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(alone.Events())
	if string(got) != string(want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("history changed by later runs, from byte %d:\n got %.300s\nwant %.300s", i, got[i:], want[i:])
	}
	if string(first.Output) != string(alone.Output) {
		t.Fatalf("output %s, want %s", first.Output, alone.Output)
	}
}

// BenchmarkExecution runs the benchmark definition; executions/s is the figure to compare with other engines.
func BenchmarkExecution(b *testing.B) {
	eng := benchEngine(b)
	input := []byte(`{"request":"r1"}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		exec, err := eng.Run(ctx, input)
		if err != nil || exec.Status != StatusSucceeded {
			b.Fatalf("%v %v", err, exec)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "executions/s")
}

func readTestdata(name string) ([]byte, error) { return os.ReadFile("testdata/" + name) }
