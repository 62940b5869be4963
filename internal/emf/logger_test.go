package emf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func TestFlushPrintsOneDocumentInTheSpecifiedShape(t *testing.T) {
	var buf bytes.Buffer
	l := New("K8sCluster/EtcdBackup", WithWriter(&buf), WithClock(testClock), WithSlog(quiet),
		WithDimension("ClusterName", "prod"))
	must(t, l.PutDimensions())
	must(t, l.PutDimensions(Dimension{"FunctionName", "backup"}))
	must(t, l.PutMetric("BackupSuccess", 1, types.StandardUnitCount))
	must(t, l.PutMetric("BackupDuration", 1234.5, types.StandardUnitMilliseconds, HighResolution()))
	must(t, l.PutMetric("BackupSizeBytes", 52428800, types.StandardUnitBytes))
	must(t, l.SetProperty("RequestId", "r-1"))
	must(t, l.SetProperty("ColdStart", false))
	must(t, l.Flush())

	want := `{"_aws":{"Timestamp":1748779200000,"CloudWatchMetrics":[{"Namespace":"K8sCluster/EtcdBackup",` +
		`"Dimensions":[["ClusterName"],["ClusterName","FunctionName"]],"Metrics":[` +
		`{"Name":"BackupSuccess","Unit":"Count"},` +
		`{"Name":"BackupDuration","Unit":"Milliseconds","StorageResolution":1},` +
		`{"Name":"BackupSizeBytes","Unit":"Bytes"}]}]},` +
		`"ClusterName":"prod","FunctionName":"backup","BackupSuccess":1,"BackupDuration":1234.5,` +
		`"BackupSizeBytes":52428800,"RequestId":"r-1","ColdStart":false}` + "\n"
	if got := buf.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	checkOutput(t, buf.Bytes())
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFlushingNothingPrintsNothing(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf, WithDimension("ClusterName", "c"))
	must(t, l.SetProperty("p", 1))
	must(t, l.Flush())
	if buf.Len() != 0 {
		t.Fatalf("printed %q without metrics", buf.String())
	}
}

func TestFlushResetsMetricsPropertiesAndTimestampButKeepsDimensions(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf, WithDimension("ClusterName", "c"))
	must(t, l.PutMetric("A", 1, types.StandardUnitCount))
	must(t, l.SetProperty("p", "first"))
	must(t, l.SetTimestamp(testNow.Add(-time.Hour)))
	must(t, l.Flush())
	must(t, l.Flush())
	lines, recs := checkOutput(t, buf.Bytes())
	if len(lines) != 1 {
		t.Fatalf("second flush printed again: %d lines", len(lines))
	}
	if got := recs[0].Datum.Timestamp.UnixMilli(); got != testNow.Add(-time.Hour).UnixMilli() {
		t.Fatalf("timestamp %d, want the explicit one", got)
	}

	buf.Reset()
	must(t, l.PutMetric("B", 2, types.StandardUnitCount))
	must(t, l.Flush())
	lines, recs = checkOutput(t, buf.Bytes())
	if len(recs) != 1 || recs[0].Name() != "B" {
		t.Fatalf("after a flush got %+v, want only B", recs)
	}
	if v, _ := recs[0].Dimension("ClusterName"); v != "c" {
		t.Fatalf("dimension lost by flush: %q", v)
	}
	if got := recs[0].Datum.Timestamp.UnixMilli(); got != testNow.UnixMilli() {
		t.Fatalf("timestamp %d, want the clock's after reset", got)
	}
	if bytes.Contains(lines[0], []byte(`"first"`)) {
		t.Fatalf("property survived the flush: %s", lines[0])
	}
}

func TestTimestampThatAgedOutIsDroppedAtFlush(t *testing.T) {
	var buf bytes.Buffer
	now := testNow
	l := New("Test", WithWriter(&buf), WithSlog(quiet), WithClock(func() time.Time { return now }))
	must(t, l.SetTimestamp(now.Add(-MaxTimestampAge+time.Minute)))
	must(t, l.PutMetric("m", 1, types.StandardUnitCount))
	now = now.Add(2 * time.Minute)
	err := l.Flush()
	if ve := asValidation(t, err); ve.Field != FieldTimestamp {
		t.Fatalf("got %v, want a timestamp error", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("printed a document CloudWatch would drop: %s", buf.String())
	}
}

func TestSeveralValuesOfOneMetricPrintAsAnArray(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf)
	for _, v := range []float64{3, 1.5, 3} {
		must(t, l.PutMetric("Latency", v, types.StandardUnitMilliseconds))
	}
	must(t, l.Flush())
	lines, recs := checkOutput(t, buf.Bytes())
	if !bytes.Contains(lines[0], []byte(`"Latency":[3,1.5,3]`)) {
		t.Fatalf("values not printed as an array: %s", lines[0])
	}
	if len(recs) != 1 || recs[0].Datum.Value != nil || len(recs[0].Datum.Values) != 3 || recs[0].Sum() != 7.5 {
		t.Fatalf("decoded %+v", recs)
	}
}

func TestHighResolutionIsPrintedOnlyWhenAsked(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf)
	must(t, l.PutMetric("Hi", 1, types.StandardUnitCount, HighResolution()))
	must(t, l.PutMetric("Std", 1, types.StandardUnitCount))
	must(t, l.PutMetric("Opts", 1, types.StandardUnitCount, MetricOption{}))
	must(t, l.Flush())
	lines, recs := checkOutput(t, buf.Bytes())
	if n := bytes.Count(lines[0], []byte("StorageResolution")); n != 1 {
		t.Fatalf("StorageResolution printed %d times: %s", n, lines[0])
	}
	for _, r := range recs {
		hi := r.Datum.StorageResolution != nil && *r.Datum.StorageResolution == 1
		if hi != (r.Name() == "Hi") {
			t.Fatalf("%s: StorageResolution %v", r.Name(), r.Datum.StorageResolution)
		}
	}
}

func TestValuesRoundTripExactly(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1234.5, 52428800, 1e20, 1e21, 123456789e15, 1e-6, 1e-7,
		2.5e-100, -3.14159e100, 0x1p360, 0x1p-360, math.Nextafter(1, 2), 9007199254740993}
	var buf bytes.Buffer
	l := newTestLogger(&buf)
	for _, v := range values {
		must(t, l.PutMetric("v", v, types.StandardUnitNone))
	}
	must(t, l.Flush())
	_, recs := checkOutput(t, buf.Bytes())
	got := recs[0].Samples()
	for i, v := range values {
		if math.Float64bits(got[i]) != math.Float64bits(v) && !(v == 0 && got[i] == 0) {
			t.Errorf("value %d: printed %v, want %v", i, got[i], v)
		}
	}
	// The encoder must print what encoding/json prints, so readers see familiar numbers (52428800, not 5.24288e+07).
	for _, v := range values {
		want, _ := json.Marshal(v)
		if got := appendFloat(nil, v); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, encoding/json says %s", v, got, want)
		}
	}
}

func TestPropertiesEncodeAnyValueAsJSON(t *testing.T) {
	type nested struct {
		A []int `json:"a"`
		B string
	}
	props := []struct {
		key  string
		v    any
		want string // JSON of the decoded member
	}{
		{"string", `quo"te\back` + "\nline\x01\u2028", `"quo\"te\\back\nline\u0001\u2028"`},
		{"invalid utf8", "a\xffb", `"a\ufffdb"`},
		{"unicode", "zürich ✓", `"zürich ✓"`},
		{"bool", true, `true`},
		{"int", -42, `-42`},
		{"uint64", uint64(math.MaxUint64), `18446744073709551615`},
		{"float32", float32(0.1), `0.1`},
		{"float64", 1e21, `1e+21`},
		{"duration", 1500 * time.Millisecond, `1500000000`},
		{"error", errors.New("boom: \"x\""), `"boom: \"x\""`},
		{"nil", nil, `null`},
		{"struct", nested{A: []int{1}, B: "b"}, `{"a":[1],"B":"b"}`},
		{"map", map[string]int{"z": 1}, `{"z":1}`},
		{"raw", json.RawMessage(`{"k":[true,null]}`), `{"k":[true,null]}`},
		{"key with \"quotes\" ✓", 1, `1`},
	}
	var buf bytes.Buffer
	l := newTestLogger(&buf)
	for _, p := range props {
		must(t, l.SetProperty(p.key, p.v))
	}
	must(t, l.SetProperty("string", props[0].v)) // replacing keeps one member
	must(t, l.PutMetric("m", 1, types.StandardUnitCount))
	must(t, l.Flush())
	lines, _ := checkOutput(t, buf.Bytes())
	var root map[string]json.RawMessage
	if err := json.Unmarshal(lines[0], &root); err != nil {
		t.Fatal(err)
	}
	for _, p := range props {
		var got, want any
		if err := json.Unmarshal(root[p.key], &got); err != nil {
			t.Fatalf("%s: %v", p.key, err)
		}
		_ = json.Unmarshal([]byte(p.want), &want)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s: got %s, want %s", p.key, root[p.key], p.want)
		}
	}
	if n := bytes.Count(lines[0], []byte(`"string":`)); n != 1 {
		t.Fatalf("replaced property printed %d times", n)
	}
}

func TestReplacingAPropertyKeepsTheOthersIntact(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf)
	must(t, l.SetProperty("a", "1"))
	must(t, l.SetProperty("b", "22"))
	must(t, l.SetProperty("c", "333"))
	must(t, l.SetProperty("a", "4444"))
	must(t, l.SetProperty("b", "5"))
	must(t, l.PutMetric("m", 1, types.StandardUnitCount))
	must(t, l.Flush())
	lines, _ := checkOutput(t, buf.Bytes())
	if !bytes.HasSuffix(lines[0], []byte(`,"c":"333","a":"4444","b":"5"}`)) {
		t.Fatalf("properties garbled: %s", lines[0])
	}
}

func TestDimensionSets(t *testing.T) {
	cluster := WithDimension("ClusterName", "c")
	tests := []struct {
		name string
		opts []Option
		ops  func(l *Logger) error
		want [][]string
	}{
		{name: "no dimensions", want: [][]string{{}}},
		{name: "defaults only", opts: []Option{cluster}, want: [][]string{{"ClusterName"}}},
		{name: "one added set replaces the default set", opts: []Option{cluster},
			ops:  func(l *Logger) error { return l.PutDimensions(Dimension{"FunctionName", "f"}) },
			want: [][]string{{"ClusterName", "FunctionName"}}},
		{name: "empty set keeps the defaults alone", opts: []Option{cluster}, ops: func(l *Logger) error {
			return errors.Join(l.PutDimensions(), l.PutDimensions(Dimension{"FunctionName", "f"}))
		}, want: [][]string{{"ClusterName"}, {"ClusterName", "FunctionName"}}},
		{name: "equal sets are added once", ops: func(l *Logger) error {
			return errors.Join(l.PutDimensions(Dimension{"A", "a"}, Dimension{"B", "b"}),
				l.PutDimensions(Dimension{"B", "b"}, Dimension{"A", "a"}))
		}, want: [][]string{{"A", "B"}}},
		{name: "SetDimensions replaces the sets", opts: []Option{cluster}, ops: func(l *Logger) error {
			return errors.Join(l.PutDimensions(Dimension{"A", "a"}),
				l.SetDimensions([]Dimension{{"B", "b"}}, []Dimension{{"C", "c"}, {"B", "b"}}))
		}, want: [][]string{{"ClusterName", "B"}, {"ClusterName", "C", "B"}}},
		{name: "SetDimensions with nothing leaves the defaults", opts: []Option{cluster}, ops: func(l *Logger) error {
			return errors.Join(l.PutDimensions(Dimension{"A", "a"}), l.SetDimensions())
		}, want: [][]string{{"ClusterName"}}},
		{name: "WithDimensionSet", opts: []Option{cluster, WithDimensionSet(), WithDimensionSet(Dimension{"Az", "a"})},
			want: [][]string{{"ClusterName"}, {"ClusterName", "Az"}}},
		{name: "a failed SetDimensions changes nothing", opts: []Option{cluster}, ops: func(l *Logger) error {
			_ = l.PutDimensions(Dimension{"A", "a"})
			if l.SetDimensions([]Dimension{{"B", "b"}}, []Dimension{{"", "x"}}) == nil {
				return errors.New("invalid set accepted")
			}
			return nil
		}, want: [][]string{{"ClusterName", "A"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newTestLogger(&buf, tt.opts...)
			if tt.ops != nil {
				must(t, tt.ops(l))
			}
			must(t, l.PutMetric("m", 1, types.StandardUnitCount))
			must(t, l.Flush())
			_, recs := checkOutput(t, buf.Bytes())
			if len(recs) != len(tt.want) {
				t.Fatalf("%d records, want %d: %+v", len(recs), len(tt.want), recs)
			}
			for i, r := range recs {
				got := r.DimensionNames()
				if strings.Join(got, ",") != strings.Join(tt.want[i], ",") {
					t.Fatalf("set %d = %v, want %v", i, got, tt.want[i])
				}
				for _, k := range got {
					if v, _ := r.Dimension(k); v == "" {
						t.Fatalf("dimension %s has no value", k)
					}
				}
			}
		})
	}
}

type failingWriter struct {
	err   error
	short bool
	calls int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.short {
		return len(p) / 2, nil
	}
	return 0, w.err
}

func TestWriteFailureIsReturnedAndTheMetricsDropped(t *testing.T) {
	for _, w := range []*failingWriter{{err: errors.New("disk on fire")}, {short: true}} {
		h := &recordingHandler{}
		l := New("Test", WithWriter(w), WithSlog(slogNew(h)))
		must(t, l.PutMetric("m", 1, types.StandardUnitCount))
		err := l.Flush()
		switch {
		case w.short && !errors.Is(err, io.ErrShortWrite):
			t.Fatalf("short write: got %v", err)
		case !w.short && (err == nil || !errors.Is(err, w.err)):
			t.Fatalf("got %v, want the writer's error wrapped", err)
		}
		if h.count() != 1 {
			t.Fatalf("write failure reported %d times, want once", h.count())
		}
		must(t, l.Flush())
		if w.calls != 1 {
			t.Fatalf("dropped metrics written again: %d writes", w.calls)
		}
	}
}

func TestNilLoggerDiscards(t *testing.T) {
	var l *Logger
	for _, err := range []error{
		l.PutMetric("m", math.NaN(), "bad"), l.PutDimensions(), l.SetDimensions(), l.SetProperty("", nil),
		l.SetPropertyString("", ""), l.SetPropertyBool("", true), l.SetPropertyInt("", 1),
		l.SetPropertyFloat("", math.NaN()), l.SetTimestamp(time.Time{}), l.Flush(),
	} {
		if err != nil {
			t.Fatalf("nil logger returned %v", err)
		}
	}
}

func TestFromContext(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf)
	ctx := NewContext(context.Background(), l)
	if FromContext(ctx) != l {
		t.Fatal("FromContext did not return the logger NewContext stored")
	}

	// Outside a step: never nil, validates, prints nowhere, shares nothing.
	for _, ctx := range []context.Context{context.Background(), nil, NewContext(context.Background(), nil)} {
		d := FromContext(ctx)
		if d == nil {
			t.Fatal("FromContext returned nil")
		}
		d.log = quiet
		must(t, d.PutMetric("m", 1, types.StandardUnitCount))
		if err := d.PutMetric("bad", math.NaN(), types.StandardUnitCount); err == nil {
			t.Fatal("discarding logger accepted NaN")
		}
		must(t, d.Flush())
		if FromContext(ctx) == d {
			t.Fatal("discarding logger shared between calls")
		}
	}
}

func TestLockedWriterSerializesWrites(t *testing.T) {
	var buf bytes.Buffer
	w := LockedWriter(&buf)
	done := make(chan struct{})
	for range 8 {
		go func() {
			for range 100 {
				_, _ = w.Write([]byte("0123456789\n"))
			}
			done <- struct{}{}
		}()
	}
	for range 8 {
		<-done
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if line != "0123456789" {
			t.Fatalf("interleaved line %q", line)
		}
	}
}
