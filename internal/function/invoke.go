package function

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

// invoker is a lambda.Handler made of a function on raw payloads.
type invoker func(ctx context.Context, payload []byte) ([]byte, error)

func (f invoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) { return f(ctx, payload) }

// binder is what every handler of a function shares: its logger, its EMF
// options, where its documents go.
type binder struct {
	log     *slog.Logger
	steps   []emf.StepOption
	metrics io.Writer
}

func newBinder(cluster string, o Options) binder {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	container := o.Container
	if container == nil {
		container = emf.NewContainer()
	}
	return binder{log: log, metrics: o.Metrics, steps: []emf.StepOption{
		emf.WithDimension("ClusterName", cluster),
		emf.WithContainer(container),
		emf.WithSlog(log),
	}}
}

// Bind makes fn handler h's Lambda handler exactly as Build does for the
// real workers (decoding, EMF step, error naming, panics), for cluster: a
// runner's tests use it to check their handling of what a handler returns.
func Bind[In, Out any](cluster string, h workers.Handler, o Options, fn func(context.Context, In) (Out, error)) lambda.Handler {
	return bind(newBinder(cluster, o), h, fn)
}

type metricsKey struct{}

// WithMetricsWriter makes the invocation run with ctx print its EMF
// documents to w instead of Options.Metrics. A local runner uses it to hold
// an invocation's documents until the invocation ends, so that it can drop
// those of one that ran past its timeout: Lambda stops such a function
// before it prints anything more.
func WithMetricsWriter(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, metricsKey{}, w)
}

// bind turns a worker function into the function's Lambda handler:
//
//   - the payload is decoded inside the step, so malformed input is an
//     Input.Invalid failure with its metrics like any other;
//   - emf.Step prints the step metrics and the worker's business metrics;
//   - a worker error leaves as the errorType Step Functions matches on: the
//     ASL name faults gives it (aws-lambda-go would otherwise report the Go
//     type's name, "Error"), converted here and nowhere else;
//   - a panic is reported as Worker.Internal and ends the process, as
//     aws-lambda-go does with panics, since its state is now unknown.
func bind[In, Out any](b binder, h workers.Handler, fn func(context.Context, In) (Out, error)) lambda.Handler {
	log := b.log
	decoded := func(ctx context.Context, payload []byte) (Out, error) {
		var in In
		if err := decode(payload, &in); err != nil {
			var zero Out
			return zero, faults.New(faults.InputInvalid, "%s: the input is not the JSON this step takes: %v", h, err)
		}
		return fn(ctx, in)
	}
	stepTo := func(w io.Writer) func(context.Context, []byte) (Out, error) {
		return emf.Step(h.Step(), h.Namespace(), decoded, append(slices.Clip(b.steps), emf.WithWriter(w))...)
	}
	metrics := b.metrics
	if metrics == nil {
		metrics = os.Stdout
	}
	defaultStep := stepTo(metrics)
	return invoker(func(ctx context.Context, payload []byte) (resp []byte, err error) {
		step := defaultStep
		if w, ok := ctx.Value(metricsKey{}).(io.Writer); ok {
			step = stepTo(w)
		}
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "worker panicked", "handler", h, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp, err = nil, messages.InvokeResponse_Error{
					Type:       faults.Internal,
					Message:    fmt.Sprintf("%s: panic: %v", h, p),
					ShouldExit: true,
				}
			}
		}()
		out, err := step(ctx, payload)
		if err != nil {
			return nil, lambdaError(err)
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, lambdaError(faults.Wrap(faults.Internal, err, string(h)+": encode the output"))
		}
		return b, nil
	})
}

// decode reads a payload into in. An empty payload (an invocation by hand
// without one) or JSON null is the zero input; unknown fields are ignored,
// since a state machine passes the whole event to some steps.
func decode(payload []byte, in any) error {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return nil
	}
	return json.Unmarshal(payload, in)
}

// lambdaError is the error document of a failed invocation: the ASL error
// name as errorType, the message as errorMessage.
func lambdaError(err error) error {
	return messages.InvokeResponse_Error{Type: faults.Name(err), Message: err.Error()}
}
