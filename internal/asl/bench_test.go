package asl

import (
	"context"
	"os"
	"testing"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// benchEngine compiles testdata/bench.asl.json (12 states: Retry, Catch, Choice, a 3-branch Parallel, a 10-item
// Map) with in-process task handlers that work on decoded values, as the handlers of a JavaScript engine get
// objects.
func benchEngine(tb testing.TB) *Engine {
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
	eng, err := NewEngine(sm, Options{Resolver: fns, Seed: 1})
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
