package emf

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Names of what the step middleware prints besides the step's own metrics.
const (
	DimensionFunctionName = "FunctionName"
	MetricColdStart       = "ColdStart"
	PropertyColdStart     = "ColdStart" // false on warm invocations; on a cold start the ColdStart metric (1) stands
	PropertyRequestID     = "RequestId"
	PropertyTraceID       = "TraceId"
	PropertyFunctionVer   = "FunctionVersion"
	PropertyError         = "Error"
	maxErrorProperty      = 1024
)

// Step wraps a typed handler so that every invocation prints one EMF document (more only past the EMF limits) with:
//   - <Name>Success (Count, 1) when h returns a nil error, or <Name>Failure (Count, 1) when it returns an error,
//     panics or exits its goroutine, with the error message in the Error property;
//   - <Name>Duration (Milliseconds);
//   - ColdStart (Count, 1) on the first invocation of the container (see Container);
//   - the properties RequestId, TraceId and FunctionVersion, when the Lambda context has them;
//   - whatever h added through FromContext(ctx).
//
// A step metric the handler recorded itself (a backup worker's BackupDuration in the Backup step) is not added again.
//
// Name is turned into PascalCase ("etcd-member" → "EtcdMember"). The dimension sets are the default dimensions
// (WithDimension, e.g. ClusterName) and the defaults plus FunctionName, which comes from the Lambda context, the
// AWS_LAMBDA_FUNCTION_NAME variable, or else is the step name. Without default dimensions the only set is
// [FunctionName].
//
// The document is flushed exactly once, after h returns or panics; a panic is then re-raised with its original
// value. Metrics never change the outcome: a failure to print is reported through log/slog and swallowed.
func Step[In, Out any](name, namespace string, h func(context.Context, In) (Out, error), opts ...StepOption) func(context.Context, In) (Out, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.container == nil {
		c.container = NewContainer()
	}
	if c.w == nil {
		c.w = os.Stdout
	} else {
		c.w = LockedWriter(c.w) // concurrent invocations of one step share the writer
	}
	nsErr := checkNamespace(namespace)
	if nsErr != nil {
		// Report once here rather than once per invocation.
		(&Logger{log: c.log}).report(nsErr)
		c.nsReported = true
	}
	prefix := pascal(name)
	success, failure, duration := prefix+"Success", prefix+"Failure", prefix+"Duration"

	return func(ctx context.Context, in In) (out Out, err error) {
		start := time.Now()
		inv := c.container.invocation(ctx, name)
		fn := Dimension{Name: DimensionFunctionName, Value: inv.functionName}
		if checkDimensionValue(fn.Name, fn.Value) != nil {
			fn.Value = "unknown" // a step name like "" must not cost the whole document its dimensions
		}
		var l *Logger
		if len(c.defaults) > 0 {
			l = newLogger(namespace, &c, nil, []Dimension{fn})
		} else {
			l = newLogger(namespace, &c, []Dimension{fn})
		}
		l.startInvocation(inv)
		ctx = NewContext(ctx, l)
		completed := false
		defer func() {
			r := recover()
			elapsed := time.Since(start)
			switch {
			case r != nil:
				l.putStepMetric(failure, 1, types.StandardUnitCount)
				_ = l.SetPropertyString(PropertyError, truncate(fmt.Sprint("panic: ", r), maxErrorProperty))
			case !completed:
				l.putStepMetric(failure, 1, types.StandardUnitCount)
				_ = l.SetPropertyString(PropertyError, "handler exited its goroutine (runtime.Goexit)")
			case err != nil:
				l.putStepMetric(failure, 1, types.StandardUnitCount)
				_ = l.SetPropertyString(PropertyError, truncate(err.Error(), maxErrorProperty))
			default:
				l.putStepMetric(success, 1, types.StandardUnitCount)
			}
			l.putStepMetric(duration, float64(elapsed)/float64(time.Millisecond), types.StandardUnitMilliseconds)
			_ = l.Flush() // reported by the logger; never changes the handler's result
			if r != nil {
				panic(r)
			}
		}()
		out, err = h(ctx, in)
		completed = true
		return out, err
	}
}

// putStepMetric records a step metric unless the handler already recorded a
// metric of that name: where a contract's business metric is also the step's
// own (the Backup step's BackupSuccess, BackupFailure and BackupDuration), the
// handler's value stands and nothing is counted twice.
func (l *Logger) putStepMetric(name string, value float64, unit types.StandardUnit) {
	l.mu.Lock()
	if l.find(name) >= 0 {
		l.mu.Unlock()
		return
	}
	if e := l.putMetric(name, value, unit, false); e != nil {
		_ = l.unlockReject(e)
		return
	}
	l.mu.Unlock()
}

// startInvocation records the Lambda properties of one step invocation.
func (l *Logger) startInvocation(inv invocation) {
	if inv.requestID != "" {
		_ = l.SetPropertyString(PropertyRequestID, inv.requestID)
	}
	if inv.traceID != "" {
		_ = l.SetPropertyString(PropertyTraceID, inv.traceID)
	}
	if inv.functionVersion != "" {
		_ = l.SetPropertyString(PropertyFunctionVer, inv.functionVersion)
	}
	if inv.coldStart {
		_ = l.PutMetric(MetricColdStart, 1, types.StandardUnitCount)
	} else {
		_ = l.SetPropertyBool(PropertyColdStart, false)
	}
}

// pascal turns "etcd-member", "etcd_member" or "etcd member" into "EtcdMember"; "NodeDrain" stays as it is.
func pascal(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch r {
		case '-', '_', ' ', '.':
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
