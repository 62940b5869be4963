package asl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// Lambda semantics shared by the in-process and the Runtime Interface Emulator resolvers: a Lambda ARN resource
// gives the function the state's effective input and takes its result as the task result; the
// arn:aws:states:::lambda:invoke integration gives the function Parameters.Payload and wraps its result in the
// Lambda Invoke response (Payload, StatusCode, ...). A function error becomes the task error: its errorType is
// the error name, the error payload the cause.

type functionError struct {
	Type    string
	Payload string // the error document, as the cause
}

// lambdaPayload returns what the function of a Lambda task receives; ErrNotHandled for other tasks.
func lambdaPayload(req *TaskRequest) (any, error) {
	switch {
	case req.Kind == TaskLambda:
		return req.Value(), nil
	case req.Kind == TaskService && req.ResourceType == "lambda" && (req.Action == "invoke" || req.Action == "invoke.waitForTaskToken"):
		if req.Pattern == "waitForTaskToken" {
			return nil, fmt.Errorf("state %q: %s needs a callback (SendTaskSuccess) that a function resolver cannot give; mock this state", req.StateName, req.Resource)
		}
		if req.Function == "" {
			return nil, fmt.Errorf("state %q: lambda:invoke needs a FunctionName parameter", req.StateName)
		}
		if o, ok := req.Value().(*value.Object); ok {
			if p, ok := o.Get("Payload"); ok {
				return p, nil
			}
		}
		return value.NewObject(0), nil
	}
	return nil, ErrNotHandled
}

// lambdaResult turns a function's outcome into the task's: the result itself for a Lambda ARN, the Invoke
// response for lambda:invoke.
func lambdaResult(req *TaskRequest, out any, fe *functionError, requestID string) TaskResult {
	if fe != nil {
		return lambdaFailure(fe)
	}
	if req.Kind == TaskLambda {
		return TaskResult{Value: out}
	}
	return TaskResult{Value: invokeResponse(out, requestID)}
}

func lambdaFailure(fe *functionError) TaskResult {
	if fe == nil {
		return TaskResult{}
	}
	return TaskResult{Err: &TaskError{Error: fe.Type, Cause: fe.Payload}}
}

// invokeResponse is the result of the lambda:invoke integration: the Lambda Invoke API response.
func invokeResponse(payload any, requestID string) any {
	headers := value.NewObject(5)
	headers.Set("Connection", "keep-alive")
	headers.Set("Content-Type", "application/json")
	headers.Set("X-Amz-Executed-Version", "$LATEST")
	headers.Set("x-amzn-RequestId", requestID)
	all := value.NewObject(5)
	for i := 0; i < headers.Len(); i++ {
		all.Set(headers.Key(i), []any{headers.At(i)})
	}
	meta := value.NewObject(3)
	meta.Set("AllHttpHeaders", all)
	meta.Set("HttpHeaders", headers)
	meta.Set("HttpStatusCode", value.Number("200"))
	resp := value.NewObject(1)
	resp.Set("RequestId", requestID)
	o := value.NewObject(5)
	o.Set("ExecutedVersion", "$LATEST")
	o.Set("Payload", payload)
	o.Set("SdkHttpMetadata", meta)
	o.Set("SdkResponseMetadata", resp)
	o.Set("StatusCode", value.Number("200"))
	return o
}

// Handler is an in-process Lambda function on JSON, like a handler given to aws-lambda-go's lambda.Start.
type Handler func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error)

// ValueHandler is an in-process Lambda function on the value model (see package value): no JSON round trip,
// for tests and benchmarks that run many executions.
type ValueHandler func(ctx context.Context, payload any) (any, error)

// Func adapts a typed function, as aws-lambda-go does: the payload is decoded into In, the result encoded from
// Out.
func Func[In, Out any](f func(context.Context, In) (Out, error)) Handler {
	return func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		var in In
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, messages.InvokeResponse_Error{Type: "Runtime.UnmarshalError", Message: err.Error()}
		}
		out, err := f(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, messages.InvokeResponse_Error{Type: "Runtime.MarshalError", Message: err.Error()}
		}
		return b, nil
	}
}

// Functions resolves Lambda tasks (Lambda ARNs and lambda:invoke) to in-process functions by function name.
// A function's error becomes the task's error exactly as aws-lambda-go reports it: a
// messages.InvokeResponse_Error value keeps its Type; any other error is named by its Go type (pointer
// stripped, wrapping not looked through), and the cause is the JSON error document. A panic is reported as
// aws-lambda-go reports one. Requests for other resources, or unknown functions, are ErrNotHandled.
type Functions struct {
	mu sync.Mutex                              // serialises registrations
	m  atomic.Pointer[map[string]ValueHandler] // replaced on registration, so lookups take no lock
}

// NewFunctions returns an empty set of functions.
func NewFunctions() *Functions { return &Functions{} }

// Handle registers a JSON handler under a function name.
func (f *Functions) Handle(name string, h Handler) {
	f.HandleValue(name, func(ctx context.Context, payload any) (any, error) {
		out, err := h(ctx, value.Marshal(payload))
		if err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, nil
		}
		v, perr := value.Parse(out)
		if perr != nil {
			return nil, messages.InvokeResponse_Error{Type: "Runtime.MarshalError", Message: perr.Error()}
		}
		return v, nil
	})
}

// HandleValue registers a value handler under a function name.
func (f *Functions) HandleValue(name string, h ValueHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]ValueHandler{}
	if old := f.m.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[name] = h
	f.m.Store(&m)
}

// Invoke implements Resolver.
func (f *Functions) Invoke(ctx context.Context, req *TaskRequest) (TaskResult, error) {
	if req.Kind != TaskLambda && !(req.Kind == TaskService && req.ResourceType == "lambda") {
		return TaskResult{}, ErrNotHandled
	}
	var h ValueHandler
	ok := false
	if m := f.m.Load(); m != nil {
		h, ok = (*m)[req.Function]
	}
	if !ok {
		return TaskResult{}, fmt.Errorf("%w: no in-process function %q (state %q)", ErrNotHandled, req.Function, req.StateName)
	}
	payload, err := lambdaPayload(req)
	if err != nil {
		return TaskResult{}, err
	}
	out, fe := callHandler(ctx, h, payload)
	requestID := ""
	if req.Kind != TaskLambda {
		requestID = req.ExecutionArn + "/" + req.StateName
	}
	return lambdaResult(req, out, fe, requestID), nil
}

// callHandler runs an in-process function; its error or panic becomes a function error, named as
// aws-lambda-go names it.
func callHandler(ctx context.Context, h ValueHandler, payload any) (result any, fe *functionError) {
	defer func() {
		if p := recover(); p != nil {
			ive := messages.InvokeResponse_Error{Type: errorType(p), Message: fmt.Sprintf("%v", p)}
			result, fe = nil, &functionError{Type: ive.Type, Payload: errorDocument(ive)}
		}
	}()
	out, err := h(ctx, payload)
	if err != nil {
		ive := lambdaErrorResponse(err)
		return nil, &functionError{Type: ive.Type, Payload: errorDocument(ive)}
	}
	if !value.Valid(out) {
		v, err := value.FromGo(out)
		if err != nil {
			ive := messages.InvokeResponse_Error{Type: "Runtime.MarshalError", Message: err.Error()}
			return nil, &functionError{Type: ive.Type, Payload: errorDocument(ive)}
		}
		out = v
	}
	return out, nil
}

// lambdaErrorResponse is aws-lambda-go's (lambda/errors.go): an InvokeResponse_Error value is kept, anything
// else is named by the reflect name of its type, pointer stripped.
func lambdaErrorResponse(err error) messages.InvokeResponse_Error {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return ive
	}
	return messages.InvokeResponse_Error{Message: err.Error(), Type: errorType(err)}
}

// errorType is aws-lambda-go's getErrorType.
func errorType(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// errorDocument is the error payload the Lambda service passes on, as aws-lambda-go's safeMarshal writes it.
func errorDocument(ive messages.InvokeResponse_Error) string {
	b, err := json.Marshal(ive)
	if err != nil {
		b, _ = json.Marshal(messages.InvokeResponse_Error{Type: "Runtime.SerializationError", Message: err.Error()})
	}
	return string(b)
}

// RIE resolves Lambda tasks by invoking functions served by the AWS Lambda Runtime Interface Emulator:
// POST <endpoint>/2015-03-31/functions/function/invocations. Endpoints maps function names to base URLs
// ("http://127.0.0.1:9001"); the emulator answers a function error with an {"errorType", "errorMessage"}
// document (or the X-Amz-Function-Error header), which becomes the task error.
type RIE struct {
	Endpoints map[string]string
	Client    *http.Client // default: a client with no overall timeout (task timeouts come from the context)
}

// Invoke implements Resolver.
func (r *RIE) Invoke(ctx context.Context, req *TaskRequest) (TaskResult, error) {
	if req.Kind != TaskLambda && !(req.Kind == TaskService && req.ResourceType == "lambda") {
		return TaskResult{}, ErrNotHandled
	}
	endpoint, ok := r.Endpoints[req.Function]
	if !ok {
		return TaskResult{}, fmt.Errorf("%w: no emulator endpoint for function %q (state %q)", ErrNotHandled, req.Function, req.StateName)
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	payload, err := lambdaPayload(req)
	if err != nil {
		return TaskResult{}, err
	}
	start := time.Now()
	out, fe, requestID, err := r.call(ctx, client, endpoint, req.Function, payload)
	if err != nil {
		return TaskResult{}, err
	}
	res := lambdaResult(req, out, fe, requestID)
	res.Duration = time.Since(start)
	return res, nil
}

func (r *RIE) call(ctx context.Context, client *http.Client, endpoint, fn string, payload any) (any, *functionError, string, error) {
	url := strings.TrimSuffix(endpoint, "/") + "/2015-03-31/functions/function/invocations"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(value.Marshal(payload)))
	if err != nil {
		return nil, nil, "", err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, nil, "", fmt.Errorf("invoke %s at %s: %w", fn, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, "", fmt.Errorf("invoke %s: reading the response: %w", fn, err)
	}
	requestID := resp.Header.Get("X-Amzn-Requestid")
	if resp.StatusCode != http.StatusOK {
		return nil, nil, "", fmt.Errorf("invoke %s: the emulator answered %s: %s", fn, resp.Status, strings.TrimSpace(string(body)))
	}
	v, err := value.Parse(body)
	if err != nil {
		return nil, nil, "", fmt.Errorf("invoke %s: the function returned invalid JSON: %w", fn, err)
	}
	if t, ok := functionErrorType(v); ok || resp.Header.Get("X-Amz-Function-Error") != "" {
		return nil, &functionError{Type: t, Payload: string(bytes.TrimSpace(body))}, requestID, nil
	}
	return v, nil, requestID, nil
}

// functionErrorType recognises the error document of a failed function: an object with errorType and
// errorMessage, and nothing but requestId and stackTrace besides.
func functionErrorType(v any) (string, bool) {
	o, ok := v.(*value.Object)
	if !ok || !o.Has("errorType") || !o.Has("errorMessage") {
		return "", false
	}
	for _, k := range o.Keys() {
		switch k {
		case "errorType", "errorMessage", "requestId", "stackTrace":
		default:
			return "", false
		}
	}
	t, _ := o.Get("errorType")
	s, _ := t.(string)
	return s, true
}
