package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// queryReply is one canned Auto Scaling answer in the awsquery protocol.
type queryReply struct {
	status int
	body   string
}

func errorReply(status int, code, message string) queryReply {
	return queryReply{status: status, body: fmt.Sprintf(`<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <Error>
    <Type>Sender</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>8d3a7c62-1f7e-4a4b-9e8e-0c1f8f0b2a11</RequestId>
</ErrorResponse>`, code, message)}
}

func okReply(action, result string) queryReply {
	return queryReply{status: 200, body: fmt.Sprintf(`<%[1]sResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <%[1]sResult>%[2]s</%[1]sResult>
  <ResponseMetadata><RequestId>5a1b7f0e-2f51-4c0b-8c55-9d8f3b0c7e12</RequestId></ResponseMetadata>
</%[1]sResponse>`, action, result)}
}

// queryServer answers Auto Scaling query-protocol requests on 127.0.0.1 with
// canned replies per Action and records the decoded forms it received.
type queryServer struct {
	mu      sync.Mutex
	replies map[string]queryReply
	forms   []url.Values
}

func (s *queryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, r.PostForm)
	reply, ok := s.replies[r.PostForm.Get("Action")]
	s.mu.Unlock()
	if !ok {
		reply = errorReply(400, "InvalidAction", "unexpected action "+r.PostForm.Get("Action"))
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(reply.status)
	_, _ = w.Write([]byte(reply.body))
}

// newSDKClient returns the real SDK client pointed at a loopback server
// answering with replies. Retries are off so each test sees one round trip;
// classification must hold for what the SDK returns after its own retries.
func newSDKClient(t *testing.T, replies map[string]queryReply) (*autoscaling.Client, *queryServer) {
	t.Helper()
	qs := &queryServer{replies: replies}
	srv := httptest.NewUnstartedServer(qs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	client := autoscaling.New(autoscaling.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       srv.Client(),
	})
	return client, qs
}

const notActiveMessage = "No active Lifecycle Action found with token " + token

func TestClassifiesRealSDKErrors(t *testing.T) {
	tests := []struct {
		name          string
		reply         queryReply
		wantComplete  string // error name from Complete; "" = success
		wantAlready   bool
		wantHeartbeat string
	}{
		{
			name:          "no active lifecycle action",
			reply:         errorReply(400, "ValidationError", notActiveMessage),
			wantAlready:   true,
			wantHeartbeat: faults.LifecycleNotActive,
		},
		{
			name:          "no active lifecycle action by instance id",
			reply:         errorReply(400, "ValidationError", "No active Lifecycle Action found with instance ID "+inst),
			wantAlready:   true,
			wantHeartbeat: faults.LifecycleNotActive,
		},
		{
			name:          "other validation error",
			reply:         errorReply(400, "ValidationError", "No Lifecycle Hook found for "+hook),
			wantComplete:  faults.InputInvalid,
			wantHeartbeat: faults.InputInvalid,
		},
		{
			name:          "throttling",
			reply:         errorReply(400, "Throttling", "Rate exceeded"),
			wantComplete:  faults.AWSThrottled,
			wantHeartbeat: faults.AWSThrottled,
		},
		{
			name:          "resource contention",
			reply:         errorReply(500, "ResourceContention", "You already have a pending update to an Auto Scaling resource."),
			wantComplete:  faults.AWSThrottled,
			wantHeartbeat: faults.AWSThrottled,
		},
		{
			name:          "access denied",
			reply:         errorReply(403, "AccessDenied", "User is not authorized to perform: autoscaling:CompleteLifecycleAction"),
			wantComplete:  faults.AWSAccessDenied,
			wantHeartbeat: faults.AWSAccessDenied,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := newSDKClient(t, map[string]queryReply{
				"CompleteLifecycleAction":        tt.reply,
				"RecordLifecycleActionHeartbeat": tt.reply,
			})
			w := newTestWorker(client, t0)
			out, err := w.Complete(context.Background(), CompleteIn{Hook: testHook(), LifecycleActionResult: Continue})
			if faults.Name(err) != tt.wantComplete {
				t.Fatalf("Complete error = %q (%v), want %q", faults.Name(err), err, tt.wantComplete)
			}
			if out.AlreadyCompleted != tt.wantAlready {
				t.Fatalf("AlreadyCompleted = %v, want %v", out.AlreadyCompleted, tt.wantAlready)
			}
			_, err = w.Heartbeat(context.Background(), HeartbeatIn{Hook: testHook()})
			if faults.Name(err) != tt.wantHeartbeat {
				t.Fatalf("Heartbeat error = %q (%v), want %q", faults.Name(err), err, tt.wantHeartbeat)
			}
		})
	}
}

// TestFakeErrorMatchesSDK ties the in-process fake to reality: the error it
// returns for a finished action has the type, code and message the SDK
// produces from Auto Scaling's response.
func TestFakeErrorMatchesSDK(t *testing.T) {
	client, _ := newSDKClient(t, map[string]queryReply{
		"RecordLifecycleActionHeartbeat": errorReply(400, "ValidationError", notActiveMessage),
	})
	_, err := client.RecordLifecycleActionHeartbeat(context.Background(), &autoscaling.RecordLifecycleActionHeartbeatInput{
		AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String(hook), LifecycleActionToken: aws.String(token),
	})
	var real *smithy.GenericAPIError
	if !errors.As(err, &real) {
		t.Fatalf("SDK error %T %v is not a *smithy.GenericAPIError", err, err)
	}
	var fake *smithy.GenericAPIError
	if !errors.As(notActiveError("token "+token), &fake) {
		t.Fatal("fake error is not a *smithy.GenericAPIError")
	}
	if real.Code != fake.Code || real.Message != fake.Message || real.Fault != fake.Fault {
		t.Fatalf("SDK error %#v, fake error %#v", real, fake)
	}
}

func TestSendsTheLifecycleActionOverTheWire(t *testing.T) {
	client, qs := newSDKClient(t, map[string]queryReply{
		"CompleteLifecycleAction":        okReply("CompleteLifecycleAction", ""),
		"RecordLifecycleActionHeartbeat": okReply("RecordLifecycleActionHeartbeat", ""),
		"DescribeAutoScalingGroups": okReply("DescribeAutoScalingGroups", `<AutoScalingGroups><member>
  <AutoScalingGroupName>`+group+`</AutoScalingGroupName>
  <InstanceLifecyclePolicy><RetentionTriggers><TerminateHookAbandon>retain</TerminateHookAbandon></RetentionTriggers></InstanceLifecyclePolicy>
</member></AutoScalingGroups>`),
	})
	w := newTestWorker(client, t0)
	if _, err := w.Heartbeat(context.Background(), HeartbeatIn{Hook: testHook()}); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	out, err := w.Complete(context.Background(), CompleteIn{Hook: testHook(), LifecycleActionResult: Abandon})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if out.InstanceRetained == nil || !*out.InstanceRetained {
		t.Fatalf("InstanceRetained = %v, want true from the group's policy", ptr(out.InstanceRetained))
	}
	want := []map[string]string{
		{"Action": "RecordLifecycleActionHeartbeat", "AutoScalingGroupName": group, "LifecycleHookName": hook, "LifecycleActionToken": token, "InstanceId": inst},
		{"Action": "CompleteLifecycleAction", "AutoScalingGroupName": group, "LifecycleHookName": hook, "LifecycleActionToken": token, "InstanceId": inst, "LifecycleActionResult": Abandon},
		{"Action": "DescribeAutoScalingGroups", "AutoScalingGroupNames.member.1": group},
	}
	if len(qs.forms) != len(want) {
		t.Fatalf("server saw %d requests, want %d: %v", len(qs.forms), len(want), qs.forms)
	}
	for i, fields := range want {
		for k, v := range fields {
			if got := qs.forms[i].Get(k); got != v {
				t.Errorf("request %d %s = %q, want %q (form %v)", i, k, got, v, qs.forms[i])
			}
		}
	}
}
