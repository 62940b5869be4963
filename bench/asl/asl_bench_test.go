// Package aslbench measures the executions per second of cpwarden's States Language engine (internal/asl) on
// internal/asl/testdata/bench.asl.json, the figure run.sh compares with aws-local-stepfunctions running the same
// definition with the same task handlers (bench.mjs).
package aslbench

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

const definitionFile = "../../internal/asl/testdata/bench.asl.json"

// wantOutput is the execution's output; bench.mjs checks aws-local-stepfunctions produces the same, so that both
// engines do the same work.
const wantOutput = `{"count":10,"fanout":[{"branch":"A","n":5},{"branch":"B","count":10},{"branch":"C","n":5}],"message":"processed 10 items"}`

// engine compiles the benchmark definition (12 states: Retry, Catch, Choice, a 3-branch Parallel, a 10-item Map)
// with in-process task handlers that take and return decoded values, as aws-local-stepfunctions' local handlers
// take and return JavaScript objects.
func engine(tb testing.TB) *asl.Engine {
	tb.Helper()
	def, err := os.ReadFile(definitionFile)
	if err != nil {
		tb.Fatal(err)
	}
	if err := asl.Validate(def); err != nil {
		tb.Fatal(err)
	}
	sm, err := asl.Parse(def)
	if err != nil {
		tb.Fatal(err)
	}
	fns := asl.NewFunctions()
	fns.HandleValue("validate", func(context.Context, any) (any, error) {
		o := value.NewObject(1)
		o.Set("ok", true)
		return o, nil
	})
	fns.HandleValue("branch", func(_ context.Context, in any) (any, error) { return in, nil })
	fns.HandleValue("double", func(_ context.Context, in any) (any, error) {
		obj, _ := in.(*value.Object)
		v, _ := obj.Get("value")
		n, _ := v.(value.Number).Int64()
		return value.Int(2 * n), nil
	})
	eng, err := asl.NewEngine(sm, asl.Options{Resolver: fns, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return eng
}

var input = []byte(`{"request":"r1"}`)

func TestBenchmarkDefinitionSucceeds(t *testing.T) {
	exec, err := engine(t).Run(context.Background(), input)
	if err != nil {
		t.Fatal(err)
	}
	if exec.Status != asl.StatusSucceeded || string(exec.Output) != wantOutput {
		t.Fatalf("status %s, output %s (error %q %q), want SUCCEEDED with %s", exec.Status, exec.Output, exec.Error, exec.Cause, wantOutput)
	}
}

// BenchmarkExecution runs one execution per iteration, sequentially, as bench.mjs does. It reports executions
// per wall-clock second and per CPU second of the whole process (garbage collector included): on a machine shared
// with other work the CPU figure is the steadier one, and bench.mjs reports the same pair.
func BenchmarkExecution(b *testing.B) {
	eng := engine(b)
	ctx := context.Background()
	runtime.GC()
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		exec, err := eng.Run(ctx, input)
		if err != nil {
			b.Fatal(err)
		}
		if exec.Status != asl.StatusSucceeded {
			b.Fatalf("status %s: %s %s", exec.Status, exec.Error, exec.Cause)
		}
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "executions/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "executions/cpu-s")
	}
}
