package emf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

type backupIn struct{ Bucket string }
type backupOut struct{ Key string }

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

// lambdaCtx is what aws-lambda-go hands a handler.
func lambdaCtx(requestID, arn, trace string) context.Context {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID: requestID, InvokedFunctionArn: arn,
	})
	return context.WithValue(ctx, traceContextKey, trace) //nolint:staticcheck // the key aws-lambda-go uses
}

func rootMembers(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	must(t, json.Unmarshal(line, &m))
	return m
}

func TestStepSuccess(t *testing.T) {
	var buf bytes.Buffer
	c := NewContainerFromEnv(env(map[string]string{"AWS_LAMBDA_FUNCTION_VERSION": "7"}))
	h := Step("backup", "K8sCluster/EtcdBackup", func(ctx context.Context, in backupIn) (backupOut, error) {
		// Business metrics go into the same document.
		must(t, FromContext(ctx).PutMetric("BackupSizeBytes", 52428800, types.StandardUnitBytes))
		return backupOut{Key: in.Bucket + "/k"}, nil
	}, WithWriter(&buf), WithDimension("ClusterName", "prod"), WithContainer(c), WithSlog(quiet))

	ctx := lambdaCtx("req-1", "arn:aws:lambda:eu-west-1:123456789012:function:cpwarden-backup:live",
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	out, err := h(ctx, backupIn{Bucket: "b"})
	if err != nil || out.Key != "b/k" {
		t.Fatalf("handler result changed: %+v, %v", out, err)
	}
	lines, recs := checkOutput(t, buf.Bytes())
	if len(lines) != 1 {
		t.Fatalf("%d documents, want 1", len(lines))
	}
	for _, name := range []string{"BackupSuccess", "BackupDuration", "BackupSizeBytes", "ColdStart"} {
		for _, set := range [][]string{{"ClusterName"}, {"ClusterName", "FunctionName"}} {
			rs := Find(recs, name, set...)
			if len(rs) != 1 {
				t.Fatalf("%s%v: %d records, want 1", name, set, len(rs))
			}
			if v, _ := rs[0].Dimension("ClusterName"); v != "prod" {
				t.Fatalf("ClusterName = %q", v)
			}
			if v, ok := rs[0].Dimension("FunctionName"); ok && v != "cpwarden-backup" {
				t.Fatalf("FunctionName = %q, want the name from the ARN", v)
			}
			if rs[0].Namespace != "K8sCluster/EtcdBackup" {
				t.Fatalf("namespace %q", rs[0].Namespace)
			}
		}
	}
	if len(Find(recs, "BackupFailure")) != 0 {
		t.Fatal("failure metric on success")
	}
	if r := Find(recs, "BackupSuccess", "ClusterName")[0]; r.Sum() != 1 || r.Datum.Unit != types.StandardUnitCount {
		t.Fatalf("BackupSuccess = %v %s", r.Sum(), r.Datum.Unit)
	}
	if r := Find(recs, "BackupDuration", "ClusterName")[0]; r.Datum.Unit != types.StandardUnitMilliseconds || r.Sum() < 0 {
		t.Fatalf("BackupDuration = %v %s", r.Sum(), r.Datum.Unit)
	}
	root := rootMembers(t, lines[0])
	want := map[string]any{"RequestId": "req-1", "TraceId": "1-5759e988-bd862e3fe1be46a994272793", "FunctionVersion": "7"}
	for k, v := range want {
		if root[k] != v {
			t.Fatalf("property %s = %v, want %v", k, root[k], v)
		}
	}

	// The second invocation of the container is warm: no ColdStart metric, ColdStart=false property.
	buf.Reset()
	if _, err := h(ctx, backupIn{}); err != nil {
		t.Fatal(err)
	}
	lines, recs = checkOutput(t, buf.Bytes())
	if len(Find(recs, "ColdStart")) != 0 {
		t.Fatal("ColdStart metric on a warm invocation")
	}
	if root := rootMembers(t, lines[0]); root["ColdStart"] != false {
		t.Fatalf("ColdStart property = %v, want false", root["ColdStart"])
	}
}

func TestStepFailureKeepsTheHandlersError(t *testing.T) {
	var buf bytes.Buffer
	boom := errors.New("etcd unavailable")
	h := Step("Backup", "K8sCluster/EtcdBackup", func(ctx context.Context, in int) (int, error) {
		return in * 2, boom
	}, WithWriter(&buf), WithDimension("ClusterName", "prod"), WithSlog(quiet))
	out, err := h(context.Background(), 21)
	if err != boom || out != 42 {
		t.Fatalf("got %v, %v; want the handler's own 42, %v", out, err, boom)
	}
	lines, recs := checkOutput(t, buf.Bytes())
	if len(Find(recs, "BackupSuccess")) != 0 || len(Find(recs, "BackupFailure", "ClusterName")) != 1 {
		t.Fatalf("want only BackupFailure, got %+v", recs)
	}
	if len(Find(recs, "BackupDuration", "ClusterName")) != 1 {
		t.Fatal("no duration on failure")
	}
	if root := rootMembers(t, lines[0]); root["Error"] != "etcd unavailable" {
		t.Fatalf("Error property = %v", root["Error"])
	}
	// Outside Lambda the function name falls back to the step name.
	if v, _ := Find(recs, "BackupFailure", "ClusterName", "FunctionName")[0].Dimension("FunctionName"); v != "Backup" {
		t.Fatalf("FunctionName = %q, want the step name", v)
	}
}

func TestStepPanicFlushesThenRepanics(t *testing.T) {
	var w countingWriter
	type sentinel struct{ msg string }
	h := Step("drain", "K8sCluster/EtcdLifecycle", func(ctx context.Context, _ struct{}) (struct{}, error) {
		_ = FromContext(ctx).PutMetric("PodsEvicted", 3, types.StandardUnitCount)
		panic(sentinel{"kaboom"})
	}, WithWriter(&w), WithSlog(quiet))

	var recovered any
	func() {
		defer func() { recovered = recover() }()
		_, _ = h(context.Background(), struct{}{})
	}()
	if s, ok := recovered.(sentinel); !ok || s.msg != "kaboom" {
		t.Fatalf("re-panicked with %#v, want the original value", recovered)
	}
	if w.writes() != 1 {
		t.Fatalf("%d writes, want exactly one flush", w.writes())
	}
	lines, recs := checkOutput(t, w.bytes())
	if len(Find(recs, "DrainFailure")) != 1 || len(Find(recs, "PodsEvicted")) != 1 || len(Find(recs, "DrainSuccess")) != 0 {
		t.Fatalf("records after panic: %+v", recs)
	}
	if root := rootMembers(t, lines[0]); !strings.Contains(root["Error"].(string), "kaboom") {
		t.Fatalf("Error property = %v", root["Error"])
	}
}

func TestStepGoexitCountsAsFailure(t *testing.T) {
	var w countingWriter
	h := Step("Health", "K8sCluster/Health", func(context.Context, int) (int, error) {
		runtime.Goexit()
		return 0, nil
	}, WithWriter(&w), WithSlog(quiet))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h(context.Background(), 0)
	}()
	<-done
	_, recs := checkOutput(t, w.bytes())
	if len(Find(recs, "HealthFailure")) != 1 || len(Find(recs, "HealthSuccess")) != 0 {
		t.Fatalf("records after Goexit: %+v", recs)
	}
}

func TestStepFlushesExactlyOnce(t *testing.T) {
	for _, fail := range []bool{false, true} {
		var w countingWriter
		h := Step("Member", "K8sCluster/EtcdLifecycle", func(context.Context, int) (int, error) {
			if fail {
				return 0, errors.New("x")
			}
			return 1, nil
		}, WithWriter(&w), WithSlog(quiet))
		_, _ = h(context.Background(), 0)
		if w.writes() != 1 {
			t.Fatalf("fail=%v: %d writes, want 1", fail, w.writes())
		}
	}
}

func TestStepMetricsFailureNeverChangesTheResult(t *testing.T) {
	h := Step("Backup", "K8sCluster/EtcdBackup", func(ctx context.Context, in string) (string, error) {
		// Invalid business metrics are refused, not fatal.
		if err := FromContext(ctx).PutMetric("Bad", 0, "Kilograms"); err == nil {
			t.Error("invalid unit accepted")
		}
		return in + "!", nil
	}, WithWriter(&failingWriter{err: errors.New("stdout closed")}), WithSlog(quiet))
	out, err := h(context.Background(), "ok")
	if out != "ok!" || err != nil {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestStepWithInvalidNamespaceRunsTheHandlerAndReportsOnce(t *testing.T) {
	var buf bytes.Buffer
	rec := &recordingHandler{}
	calls := 0
	h := Step("Backup", "not a namespace!", func(context.Context, int) (int, error) {
		calls++
		return 1, nil
	}, WithWriter(&buf), WithSlog(slogNew(rec)))
	for range 3 {
		if out, err := h(context.Background(), 0); out != 1 || err != nil {
			t.Fatalf("got %v, %v", out, err)
		}
	}
	if calls != 3 || buf.Len() != 0 {
		t.Fatalf("calls=%d printed=%q", calls, buf.String())
	}
	if rec.count() != 1 {
		t.Fatalf("reported %d times, want once", rec.count())
	}
}

func TestStepWithoutDefaultDimensionsUsesFunctionNameAlone(t *testing.T) {
	var buf bytes.Buffer
	c := NewContainerFromEnv(env(map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "fn-from-env", "_X_AMZN_TRACE_ID": "Root=1-abc;Sampled=0"}))
	h := Step("Health", "K8sCluster/Health", func(context.Context, int) (int, error) { return 0, nil },
		WithWriter(&buf), WithContainer(c), WithSlog(quiet))
	_, _ = h(context.Background(), 0)
	lines, recs := checkOutput(t, buf.Bytes())
	for _, r := range recs {
		if v, _ := r.Dimension("FunctionName"); len(r.DimensionNames()) != 1 || v != "fn-from-env" {
			t.Fatalf("%s dimensions %v %q", r.Name(), r.DimensionNames(), v)
		}
	}
	if root := rootMembers(t, lines[0]); root["TraceId"] != "1-abc" {
		t.Fatalf("TraceId from the environment = %v", root["TraceId"])
	}
}

func TestColdStart(t *testing.T) {
	tests := []struct {
		initType string
		want     []bool // ColdStart metric on invocations 1..n
	}{
		{"", []bool{true, false, false}},
		{"on-demand", []bool{true, false, false}},
		{"provisioned-concurrency", []bool{false, false}},
		{"snap-start", []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run("init type "+tt.initType, func(t *testing.T) {
			c := NewContainerFromEnv(env(map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": tt.initType}))
			for i, want := range tt.want {
				var buf bytes.Buffer
				h := Step("Drain", "K8sCluster/EtcdLifecycle", func(context.Context, int) (int, error) { return 0, nil },
					WithWriter(&buf), WithContainer(c), WithSlog(quiet))
				_, _ = h(context.Background(), 0)
				lines, recs := checkOutput(t, buf.Bytes())
				got := len(Find(recs, "ColdStart")) > 0
				if got != want {
					t.Fatalf("invocation %d: ColdStart metric %v, want %v", i+1, got, want)
				}
				if root := rootMembers(t, lines[0]); !want && root["ColdStart"] != false {
					t.Fatalf("invocation %d: ColdStart property %v", i+1, root["ColdStart"])
				}
			}
		})
	}
}

func TestColdStartIsCountedOnceUnderConcurrency(t *testing.T) {
	c := NewContainerFromEnv(env(nil))
	w := &countingWriter{}
	h := Step("Health", "K8sCluster/Health", func(context.Context, int) (int, error) { return 0, nil },
		WithWriter(w), WithContainer(c), WithSlog(quiet))
	other := Step("Backup", "K8sCluster/EtcdBackup", func(context.Context, int) (int, error) { return 0, nil },
		WithWriter(w), WithContainer(c), WithSlog(quiet))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if i%2 == 0 {
				_, _ = h(context.Background(), 0)
			} else {
				_, _ = other(context.Background(), 0)
			}
		})
	}
	wg.Wait()
	_, recs := checkOutput(t, w.bytes())
	if n := len(Find(recs, "ColdStart")); n != 1 {
		t.Fatalf("%d ColdStart records for one container, want 1", n)
	}
}

func TestStepDurationMeasuresTheHandler(t *testing.T) {
	var buf bytes.Buffer
	h := Step("Backup", "K8sCluster/EtcdBackup", func(context.Context, int) (int, error) {
		time.Sleep(20 * time.Millisecond)
		return 0, nil
	}, WithWriter(&buf), WithSlog(quiet))
	_, _ = h(context.Background(), 0)
	_, recs := checkOutput(t, buf.Bytes())
	if d := Find(recs, "BackupDuration")[0].Sum(); d < 20 {
		t.Fatalf("BackupDuration = %v ms for a 20 ms handler", d)
	}
}

func TestPascal(t *testing.T) {
	for in, want := range map[string]string{
		"backup": "Backup", "NodeDrain": "NodeDrain", "etcd-member": "EtcdMember", "etcd_member removal": "EtcdMemberRemoval",
		"health.check": "HealthCheck", "": "", "--": "",
	} {
		if got := pascal(in); got != want {
			t.Errorf("pascal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTraceRootAndFunctionARN(t *testing.T) {
	if got := traceRoot("Root=1-a-b;Parent=c;Sampled=1"); got != "1-a-b" {
		t.Errorf("traceRoot = %q", got)
	}
	if got := traceRoot("opaque"); got != "opaque" {
		t.Errorf("traceRoot(opaque) = %q", got)
	}
	for arn, want := range map[string]string{
		"arn:aws:lambda:us-east-1:123456789012:function:my-fn":         "my-fn",
		"arn:aws:lambda:us-east-1:123456789012:function:my-fn:$LATEST": "my-fn",
		"arn:aws:s3:::bucket": "", "": "",
	} {
		if got := functionFromARN(arn); got != want {
			t.Errorf("functionFromARN(%q) = %q, want %q", arn, got, want)
		}
	}
}

// countingWriter records each Write call separately.
type countingWriter struct {
	mu     sync.Mutex
	chunks [][]byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chunks = append(w.chunks, bytes.Clone(p))
	return len(p), nil
}

func (w *countingWriter) writes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.chunks)
}

func (w *countingWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Join(w.chunks, nil)
}

func TestStepKeepsTheHandlersOwnStepMetric(t *testing.T) {
	tests := []struct {
		name    string
		fail    bool
		handler string // the step metric the handler records itself
		value   float64
	}{
		{"success counted by the handler", false, "BackupSuccess", 1},
		{"failure counted by the handler", true, "BackupFailure", 1},
		{"duration measured by the handler", false, "BackupDuration", 1234.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := Step("Backup", "K8sCluster/EtcdBackup", func(ctx context.Context, _ int) (int, error) {
				unit := types.StandardUnitCount
				if strings.HasSuffix(tt.handler, "Duration") {
					unit = types.StandardUnitMilliseconds
				}
				must(t, FromContext(ctx).PutMetric(tt.handler, tt.value, unit))
				if tt.fail {
					return 0, errors.New("upload aborted")
				}
				return 0, nil
			}, WithWriter(&buf), WithDimension("ClusterName", "prod"), WithSlog(quiet))
			_, _ = h(context.Background(), 0)
			_, recs := checkOutput(t, buf.Bytes())
			rs := Find(recs, tt.handler, "ClusterName")
			if len(rs) != 1 || len(rs[0].Samples()) != 1 || rs[0].Sum() != tt.value {
				t.Fatalf("%s: want exactly the handler's one value %v, got %+v", tt.handler, tt.value, rs)
			}
		})
	}
}
