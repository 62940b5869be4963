package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// LifecycleAction is one pending lifecycle action of the stand-in: what Auto
// Scaling holds while a terminate hook waits for CompleteLifecycleAction.
type LifecycleAction struct {
	Group      string
	Hook       string
	Token      string
	InstanceID string
	Started    time.Time
	// Heartbeats counts the RecordLifecycleActionHeartbeat calls accepted.
	Heartbeats int
}

// LifecycleCompletion records a CompleteLifecycleAction the stand-in accepted.
type LifecycleCompletion struct {
	LifecycleAction
	Result    string // CONTINUE or ABANDON
	Completed time.Time
}

// lifecycleStandIn is a reverse proxy in front of moto_server that answers
// the two Auto Scaling calls moto 5.2 fails with HTTP 500
// (CompleteLifecycleAction and RecordLifecycleActionHeartbeat) and forwards
// every other request unchanged. It speaks the awsquery protocol the SDK
// uses for Auto Scaling, so the lifecycle worker's real client and its error
// classification run as against AWS.
type lifecycleStandIn struct {
	upstream http.Handler
	// onComplete runs after an action is completed, before the answer: Auto
	// Scaling then terminates the instance (ABANDON on a terminate hook
	// terminates it too, unless the group retains it).
	onComplete func(ctx context.Context, c LifecycleCompletion) error
	log        *slog.Logger

	mu        sync.Mutex
	actions   map[string]*LifecycleAction // by token
	completed []LifecycleCompletion
}

func newLifecycleStandIn(upstream *url.URL, onComplete func(context.Context, LifecycleCompletion) error, log *slog.Logger) *lifecycleStandIn {
	p := httputil.NewSingleHostReverseProxy(upstream)
	// Loopback only: never a proxy from the environment.
	p.Transport = &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return &lifecycleStandIn{upstream: p, onComplete: onComplete, log: log, actions: map[string]*LifecycleAction{}}
}

// begin registers a pending action, as Auto Scaling does when the terminate
// hook of instance fires, and returns it.
func (s *lifecycleStandIn) begin(group, hook, instanceID string) LifecycleAction {
	a := &LifecycleAction{Group: group, Hook: hook, Token: newToken(), InstanceID: instanceID, Started: time.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actions[a.Token] = a
	return *a
}

// pending returns the actions not yet completed.
func (s *lifecycleStandIn) pending() []LifecycleAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LifecycleAction
	for _, a := range s.actions {
		out = append(out, *a)
	}
	return out
}

// completions returns the completed actions in completion order.
func (s *lifecycleStandIn) completions() []LifecycleCompletion {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LifecycleCompletion(nil), s.completed...)
}

// maxQueryBody bounds the form body read: Auto Scaling requests are small.
const maxQueryBody = 1 << 20

func (s *lifecycleStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.upstream.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxQueryBody))
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		form = nil // not ours to judge: moto answers it
	}
	switch form.Get("Action") {
	case "CompleteLifecycleAction":
		s.complete(w, r, form)
	case "RecordLifecycleActionHeartbeat":
		s.heartbeat(w, form)
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		s.upstream.ServeHTTP(w, r)
	}
}

// find returns the pending action a request names, by token or by
// instance, with the group and hook it must match; nil and the message Auto
// Scaling gives when there is none.
func (s *lifecycleStandIn) find(form url.Values) (*LifecycleAction, string) {
	group, hook := form.Get("AutoScalingGroupName"), form.Get("LifecycleHookName")
	token, instance := form.Get("LifecycleActionToken"), form.Get("InstanceId")
	var a *LifecycleAction
	if token != "" {
		a = s.actions[token]
	} else {
		for _, x := range s.actions {
			if x.InstanceID == instance {
				a = x
				break
			}
		}
	}
	if a != nil && a.Group == group && a.Hook == hook && (instance == "" || instance == a.InstanceID) {
		return a, ""
	}
	if token != "" {
		return nil, "No active Lifecycle Action found with token " + token
	}
	return nil, "No active Lifecycle Action found with instance ID " + instance
}

func (s *lifecycleStandIn) complete(w http.ResponseWriter, r *http.Request, form url.Values) {
	if missing := missingParams(form, "AutoScalingGroupName", "LifecycleHookName", "LifecycleActionResult"); missing != "" {
		writeQueryError(w, http.StatusBadRequest, "ValidationError", missing)
		return
	}
	result := form.Get("LifecycleActionResult")
	if result != "CONTINUE" && result != "ABANDON" {
		writeQueryError(w, http.StatusBadRequest, "ValidationError", "Valid values for LifecycleActionResult are CONTINUE and ABANDON, got "+result)
		return
	}
	s.mu.Lock()
	a, msg := s.find(form)
	if a == nil {
		s.mu.Unlock()
		writeQueryError(w, http.StatusBadRequest, "ValidationError", msg)
		return
	}
	delete(s.actions, a.Token)
	c := LifecycleCompletion{LifecycleAction: *a, Result: result, Completed: time.Now().UTC()}
	s.completed = append(s.completed, c)
	s.mu.Unlock()
	if s.onComplete != nil {
		if err := s.onComplete(r.Context(), c); err != nil {
			// The action is complete either way, as in AWS, where the
			// termination that follows is asynchronous; say what failed.
			s.log.Error("lifecycle stand-in: after completion", "instance", a.InstanceID, "err", err)
		}
	}
	writeQueryResult(w, "CompleteLifecycleAction")
}

func (s *lifecycleStandIn) heartbeat(w http.ResponseWriter, form url.Values) {
	if missing := missingParams(form, "AutoScalingGroupName", "LifecycleHookName"); missing != "" {
		writeQueryError(w, http.StatusBadRequest, "ValidationError", missing)
		return
	}
	s.mu.Lock()
	a, msg := s.find(form)
	if a != nil {
		a.Heartbeats++
	}
	s.mu.Unlock()
	if a == nil {
		writeQueryError(w, http.StatusBadRequest, "ValidationError", msg)
		return
	}
	writeQueryResult(w, "RecordLifecycleActionHeartbeat")
}

func missingParams(form url.Values, names ...string) string {
	for _, n := range names {
		if form.Get(n) == "" {
			return "1 validation error detected: Value null at '" + strings.ToLower(n[:1]) + n[1:] + "' failed to satisfy constraint: Member must not be null"
		}
	}
	return ""
}

const autoScalingXMLNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

// writeQueryResult writes an empty awsquery result for action, as Auto
// Scaling answers both calls.
func writeQueryResult(w http.ResponseWriter, action string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	fmt.Fprintf(w, `<%[1]sResponse xmlns="%[2]s"><%[1]sResult/><ResponseMetadata><RequestId>%[3]s</RequestId></ResponseMetadata></%[1]sResponse>`,
		action, autoScalingXMLNS, newRequestID())
}

// writeQueryError writes an awsquery error document, which the SDK turns
// into a smithy.APIError with code and message.
func writeQueryError(w http.ResponseWriter, status int, code, message string) {
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(message))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		autoScalingXMLNS, code, msg.String(), newRequestID())
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newRequestID() string { return newToken() }

// serveLoopback serves h on a random port of 127.0.0.1 until Close.
type loopbackServer struct {
	URL  string
	srv  *http.Server
	done chan struct{}
}

func serveLoopback(h http.Handler) (*loopbackServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	s := &loopbackServer{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("sandbox: loopback server stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *loopbackServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}
