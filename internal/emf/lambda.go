package emf

import (
	"context"
	"os"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Container is what outlives one invocation in a Lambda execution environment: whether the next invocation is the
// cold start, and the function's name and version. Create one in main with NewContainer and give it to every Step
// with WithContainer. A Step without one creates its own when it is wrapped, which is right when main wraps one
// handler; tests get a fresh one per wrap, so no cold-start state leaks between them.
type Container struct {
	cold            atomic.Bool
	functionName    string
	functionVersion string
	getenv          func(string) string
}

// NewContainer reads the Lambda environment variables of this process.
func NewContainer() *Container { return NewContainerFromEnv(os.Getenv) }

// NewContainerFromEnv reads the Lambda environment through getenv (tests pass a map lookup). The first invocation is a
// cold start unless AWS_LAMBDA_INITIALIZATION_TYPE says the environment was initialised ahead of traffic
// (provisioned-concurrency, snap-start): then no invocation waited for the init and none reports ColdStart.
func NewContainerFromEnv(getenv func(string) string) *Container {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := &Container{
		getenv:          getenv,
		functionName:    getenv("AWS_LAMBDA_FUNCTION_NAME"),
		functionVersion: getenv("AWS_LAMBDA_FUNCTION_VERSION"),
	}
	switch getenv("AWS_LAMBDA_INITIALIZATION_TYPE") {
	case "provisioned-concurrency", "snap-start":
	default:
		c.cold.Store(true)
	}
	return c
}

// WithContainer shares one Container between steps (Step only; New ignores it).
func WithContainer(c *Container) Option { return func(cfg *config) { cfg.container = c } }

// invocation is what the step middleware prints about one invocation.
type invocation struct {
	requestID       string
	traceID         string
	functionName    string
	functionVersion string
	coldStart       bool
}

// traceContextKey is the string key aws-lambda-go stores the X-Ray trace header under.
const traceContextKey = "x-amzn-trace-id"

func (c *Container) invocation(ctx context.Context, stepName string) invocation {
	inv := invocation{functionVersion: c.functionVersion, coldStart: c.cold.CompareAndSwap(true, false)}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc != nil {
		inv.requestID = lc.AwsRequestID
		inv.functionName = functionFromARN(lc.InvokedFunctionArn)
	}
	if inv.functionName == "" {
		inv.functionName = c.functionName
	}
	if inv.functionName == "" {
		inv.functionName = stepName
	}
	// The context value is per invocation; the environment variable is shared by concurrent invocations (and
	// aws-lambda-go leaves it unset when an environment serves several at once), so it is only the fallback.
	trace, _ := ctx.Value(traceContextKey).(string)
	if trace == "" {
		trace = c.getenv("_X_AMZN_TRACE_ID")
	}
	inv.traceID = traceRoot(trace)
	return inv
}

// functionFromARN returns the function name of arn:aws:lambda:region:account:function:name[:qualifier].
func functionFromARN(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" {
		return parts[6]
	}
	return ""
}

// traceRoot extracts the trace id from an X-Ray header ("Root=1-abc-def;Parent=...;Sampled=1"): the Root is what the
// X-Ray console searches for.
func traceRoot(h string) string {
	for part := range strings.SplitSeq(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Root="); ok {
			return v
		}
	}
	return h
}
