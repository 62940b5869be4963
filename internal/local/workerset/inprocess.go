package workerset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/function"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// InProcess builds every worker in this process with function.Build, from
// the same environment each deployed function gets (handlerEnv): the
// defaults, the validation and the worker construction are the bootstrap's.
// Secrets are read at each function's first invocation, as in Lambda.
func InProcess(ctx context.Context, cfg Config) (*Set, error) {
	if err := check(cfg.Settings); err != nil {
		return nil, err
	}
	out := NewOutput(cfg.Log)
	log := slog.New(slog.NewTextHandler(out, nil))
	r := &registrar{fns: asl.NewFunctions(), out: out, cfg: cfg}
	var errs []error
	for _, h := range workers.All {
		env := handlerEnv(cfg.Settings, h)
		env[function.HandlerVar] = string(h)
		env["AWS_LAMBDA_FUNCTION_NAME"] = FunctionName(h)
		fc, err := function.LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			continue
		}
		handler, err := function.Build(fc, function.Options{
			AWS: cfg.AWS, S3: cfg.S3,
			Log: log.With("handler", string(h)),
			// One container per function: its first invocation is the cold
			// start.
			Container: emf.NewContainerFromEnv(func(k string) string { return env[k] }),
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			continue
		}
		register(r, h, handler)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("workerset: %w", err)
	}
	return &Set{Mode: "in-process", resolver: r.fns, out: out}, nil
}

type registrar struct {
	fns *asl.Functions
	out *Output
	cfg Config
}

// timedOut is the error type Lambda reports for an invocation that ran past
// the function's timeout.
const timedOut = "Sandbox.Timedout"

// register makes handler handler h's function, with what Lambda adds around
// an invocation: the Lambda context (request ID, function ARN), the
// function's timeout as the deadline, and at the timeout a Sandbox.Timedout
// error with nothing printed (the invocation's EMF documents are held until
// it ends and dropped then).
func register(r *registrar, h workers.Handler, handler lambda.Handler) {
	timeout := r.cfg.timeout(h)
	r.fns.Handle(FunctionName(h), func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		ctx, cancel := withDeadline(ctx, timeout)
		defer cancel()
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
			AwsRequestID:       newRequestID(),
			InvokedFunctionArn: statemachines.LocalResource(h),
		})
		var docs bytes.Buffer
		out, err := handler.Invoke(function.WithMetricsWriter(ctx, &docs), payload)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, messages.InvokeResponse_Error{Type: timedOut, Message: fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())}
		}
		_, _ = r.out.Write(docs.Bytes())
		if err != nil {
			return nil, err
		}
		return out, nil
	})
}
