// Package asl is a States Language (AWS Step Functions) engine that reproduces real executions: the model of a
// definition, its parser and writer, and an interpreter whose histories have the shapes of the
// GetExecutionHistory API, so that a local run and a production run compare event by event.
//
// Build or Parse a *StateMachine, compile it with NewEngine, and Run it:
//
//	sm, err := asl.Parse(definition)
//	fns := asl.NewFunctions()
//	fns.Handle("drain", asl.Func(drain.Run))
//	eng, err := asl.NewEngine(sm, asl.Options{Resolver: fns, Seed: 1})
//	exec, err := eng.Run(ctx, input)
//	// exec.Status, exec.Output, exec.Error, exec.Cause, exec.Events()
//
// Time is virtual by default: Wait states, retry back-off, task durations and timeouts move a simulated clock,
// so an execution that waits an hour runs in microseconds, and everything random (jitter, States.UUID,
// States.MathRandom, names, task tokens) comes from Options.Seed, so a run is reproducible. Options.RealTime
// runs on the wall clock instead, for live runs against real workers.
//
// Task states get their outcomes from a Resolver: in-process Go functions (Functions, with aws-lambda-go's
// error naming), functions under the Lambda Runtime Interface Emulator (RIE), a Step Functions Local mock file
// (MockConfig), or a recorded history (HistoryResolver), combined with Chain.
//
// JSONPath is the query language that runs; JSONata definitions parse and round-trip (their Arguments, Output,
// Assign and expression fields are kept) but NewEngine rejects them for now. Distributed Map's ItemReader,
// ItemBatcher and ResultWriter are kept in the model but do not run.
package asl
