package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

type drainError struct{ remaining int }

func (e drainError) Error() string { return fmt.Sprintf("%d pods left", e.remaining) }

type quorumError struct{}

func (*quorumError) Error() string { return "quorum at risk" }

func TestFunctionErrorsAreNamedAsAWSLambdaGoNamesThem(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		errorType  string
		errorCause string
	}{
		{"InvokeResponse_Error value keeps its type", messages.InvokeResponse_Error{Type: "Drain.Incomplete", Message: "3 pods left"},
			"Drain.Incomplete", `{"errorMessage":"3 pods left","errorType":"Drain.Incomplete"}`},
		{"a pointer to InvokeResponse_Error is named by its type", &messages.InvokeResponse_Error{Type: "Drain.Incomplete", Message: "m"},
			"InvokeResponse_Error", ``},
		{"value error type", drainError{3}, "drainError", `{"errorMessage":"3 pods left","errorType":"drainError"}`},
		{"pointer error type, pointer stripped", &quorumError{}, "quorumError", `{"errorMessage":"quorum at risk","errorType":"quorumError"}`},
		{"wrapping is not looked through", fmt.Errorf("drain: %w", drainError{1}), "wrapError", ``},
		{"errors.New", errors.New("plain"), "errorString", `{"errorMessage":"plain","errorType":"errorString"}`},
		{"HTML is escaped as encoding/json does", errors.New("<b>"), "errorString", `{"errorMessage":"\u003cb\u003e","errorType":"errorString"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fns := NewFunctions()
			fns.Handle("drain", func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, tt.err })
			exec := mustRun(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:drain","End":true}}}`, `{}`, Options{Resolver: fns})
			if exec.Status != StatusFailed || exec.Error != tt.errorType {
				t.Fatalf("got %s %q, want %q", exec.Status, exec.Error, tt.errorType)
			}
			if tt.errorCause != "" && exec.Cause != tt.errorCause {
				t.Fatalf("cause %s, want %s", exec.Cause, tt.errorCause)
			}
			if d := eventsOf(exec, EventLambdaFailed)[0].LambdaFunctionFailedEventDetails; d.Error != tt.errorType || d.Cause != exec.Cause {
				t.Fatalf("event %+v", d)
			}
		})
	}
}

func TestFuncDecodesAndEncodesLikeALambdaRuntime(t *testing.T) {
	type in struct {
		Node string `json:"node"`
	}
	type out struct {
		Drained bool   `json:"drained"`
		Node    string `json:"node"`
	}
	fns := NewFunctions()
	fns.Handle("drain", Func(func(_ context.Context, i in) (out, error) { return out{Drained: true, Node: i.Node}, nil }))
	def := `{"StartAt":"A","States":{
		"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:drain","ResultPath":"$.a","Next":"B"},
		"B":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"arn:aws:lambda:us-east-1:1:function:drain:live","Payload":{"node":"n2"}},"ResultSelector":{"p.$":"$.Payload","code.$":"$.StatusCode"},"ResultPath":"$.b","End":true}}}`
	exec := mustRun(t, def, `{"node":"n1"}`, Options{Resolver: fns})
	if string(exec.Output) != `{"node":"n1","a":{"drained":true,"node":"n1"},"b":{"p":{"drained":true,"node":"n2"},"code":200}}` {
		t.Fatalf("output %s (%s %s)", exec.Output, exec.Error, exec.Cause)
	}
	bad := mustRun(t, def, `{"node":7}`, Options{Resolver: fns})
	if bad.Error != "Runtime.UnmarshalError" {
		t.Fatalf("a payload that does not decode: %s %s", bad.Error, bad.Cause)
	}
}

func TestRIEInvokesTheEmulatorOverHTTP(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		paths = append(paths, r.Method+" "+r.URL.Path)
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		if in["fail"] == true {
			// The emulator answers a function error with the runtime's error document.
			fmt.Fprint(w, `{"errorMessage":"quorum at risk","errorType":"Etcd.QuorumAtRisk"}`)
			return
		}
		fmt.Fprintf(w, `{"echo":%s}`, body)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server is not on loopback: %s", srv.URL)
	}
	rie := &RIE{Endpoints: map[string]string{"member": srv.URL}}
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:member",
		"Catch":[{"ErrorEquals":["Etcd.QuorumAtRisk"],"ResultPath":"$.err","Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}`
	ok := mustRun(t, def, `{"x":1}`, Options{Resolver: rie})
	if string(ok.Output) != `{"echo":{"x":1}}` {
		t.Fatalf("output %s (%s %s)", ok.Output, ok.Error, ok.Cause)
	}
	failed := mustRun(t, def, `{"fail":true}`, Options{Resolver: rie})
	if string(failed.Output) != `{"fail":true,"err":{"Error":"Etcd.QuorumAtRisk","Cause":"{\"errorMessage\":\"quorum at risk\",\"errorType\":\"Etcd.QuorumAtRisk\"}"}}` {
		t.Fatalf("output %s", failed.Output)
	}
	if len(paths) != 2 || paths[0] != "POST /2015-03-31/functions/function/invocations" {
		t.Fatalf("requests %v", paths)
	}
	srv.Close()
	_, err := mustEngine(t, def, Options{Resolver: rie}).Run(context.Background(), []byte(`{}`))
	if !errors.Is(err, ErrResolver) {
		t.Fatalf("an unreachable emulator: %v", err)
	}
}

const mockConfig = `{
  "StateMachines": {"Lifecycle": {"TestCases": {
    "HappyPath": {"Drain": "DrainOK", "Notify": "NotifyOK"},
    "RetryPath": {"Drain": "DrainFlaky", "Notify": "NotifyOK"}}}},
  "MockedResponses": {
    "DrainOK": {"0": {"Return": {"StatusCode": 200, "Payload": {"drained": true}}}},
    "DrainFlaky": {"0": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "try again"}},
                   "1-2": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"}},
                   "3": {"Return": {"StatusCode": 200, "Payload": {"drained": true}}}},
    "NotifyOK": {"0": {"Return": {"MessageId": "m-1"}}}}}`

func TestMockConfigFile(t *testing.T) {
	cfg, err := ParseMockConfig([]byte(mockConfig))
	if err != nil {
		t.Fatal(err)
	}
	def := `{"StartAt":"Drain","States":{
		"Drain":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"drain"},
			"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1,"MaxAttempts":3}],"ResultSelector":{"d.$":"$.Payload.drained"},"ResultPath":"$.drain","Next":"Notify"},
		"Notify":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","Parameters":{"TopicArn":"t","Message":"done"},"ResultPath":"$.notify","End":true}}}`
	for _, tc := range []struct {
		name     string
		attempts int
	}{{"HappyPath", 1}, {"RetryPath", 4}} {
		res, err := cfg.Resolver("Lifecycle", tc.name)
		if err != nil {
			t.Fatal(err)
		}
		exec := mustRun(t, def, `{}`, Options{Resolver: res})
		if string(exec.Output) != `{"drain":{"d":true},"notify":{"MessageId":"m-1"}}` {
			t.Fatalf("%s: %s %s (%s %s)", tc.name, exec.Status, exec.Output, exec.Error, exec.Cause)
		}
		if n := len(eventsOf(exec, EventTaskScheduled)); n != tc.attempts+1 {
			t.Fatalf("%s: %d tasks scheduled", tc.name, n)
		}
	}
	unmocked := mustEngine(t, `{"StartAt":"X","States":{"X":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}}`,
		Options{Resolver: mustResolver(t, cfg, "Lifecycle", "HappyPath")})
	if _, err := unmocked.Run(context.Background(), nil); !errors.Is(err, ErrNotHandled) {
		t.Fatalf("an unmocked state: %v", err)
	}
}

func mustResolver(t *testing.T, cfg *MockConfig, sm, tc string) Resolver {
	r, err := cfg.Resolver(sm, tc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMockConfigFileErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{`{"MockedResponses":{"R":{"x":{"Return":1}}}}`, `invocation key "x"`},
		{`{"MockedResponses":{"R":{"2-1":{"Return":1}}}}`, `is not a range n-m with n <= m`},
		{`{"MockedResponses":{"R":{"0-2":{"Return":1},"2":{"Return":2}}}}`, `overlap`},
		{`{"MockedResponses":{"R":{"0":{"Return":1,"Throw":{"Error":"E"}}}}}`, `exactly one of Return and Throw`},
		{`{"StateMachines":{"S":{"TestCases":{"T":{"A":"Missing"}}}}}`, `no mocked response "Missing"`},
		{`{"Unknown":1}`, `unknown field`},
	}
	for _, tt := range tests {
		if _, err := ParseMockConfig([]byte(tt.cfg)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestChainFallsThroughUnhandledTasks(t *testing.T) {
	fns := NewFunctions()
	fns.HandleValue("a", func(context.Context, any) (any, error) { return "from a", nil })
	other := ResolverFunc(func(_ context.Context, req *TaskRequest) (TaskResult, error) {
		return TaskResult{Value: "from chain for " + req.Function}, nil
	})
	def := `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:a","ResultPath":"$.a","Next":"B"},
		"B":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:b","ResultPath":"$.b","End":true}}}`
	exec := mustRun(t, def, `{}`, Options{Resolver: Chain(fns, other)})
	if string(exec.Output) != `{"a":"from a","b":"from chain for b"}` {
		t.Fatalf("output %s", exec.Output)
	}
	_, err := mustEngine(t, def, Options{Resolver: Chain(fns)}).Run(context.Background(), nil)
	if !errors.Is(err, ErrNotHandled) {
		t.Fatalf("nothing handles b: %v", err)
	}
}

func TestTaskRequestDescribesTheResource(t *testing.T) {
	tests := []struct {
		resource string
		params   string
		want     string
	}{
		{"arn:aws:lambda:eu-west-1:123:function:drain:prod", ``, "kind=0 type= action= pattern= fn=drain"},
		{"arn:aws:states:::lambda:invoke", `,"Parameters":{"FunctionName":"arn:aws:lambda:eu-west-1:123:function:member:v2"}`, "kind=1 type=lambda action=invoke pattern= fn=member"},
		{"arn:aws:states:::sqs:sendMessage.waitForTaskToken", `,"Parameters":{"QueueUrl":"q"}`, "kind=1 type=sqs action=sendMessage.waitForTaskToken pattern=waitForTaskToken fn="},
		{"arn:aws:states:::states:startExecution.sync:2", ``, "kind=1 type=states action=startExecution.sync:2 pattern=sync:2 fn="},
		{"arn:aws:states:::aws-sdk:s3:getObject", ``, "kind=1 type=aws-sdk:s3 action=getObject pattern= fn="},
		{"arn:aws:states:us-east-1:123:activity:approve", ``, "kind=2 type= action= pattern= fn="},
	}
	for _, tt := range tests {
		var got string
		res := fnResolver(func(req *TaskRequest) (TaskResult, error) {
			got = fmt.Sprintf("kind=%d type=%s action=%s pattern=%s fn=%s", req.Kind, req.ResourceType, req.Action, req.Pattern, req.Function)
			return TaskResult{Value: value.NewObject(0)}, nil
		})
		mustRun(t, fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":%q%s,"End":true}}}`, tt.resource, tt.params), `{}`, Options{Resolver: res})
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.resource, got, tt.want)
		}
	}
}
