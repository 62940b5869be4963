package emf

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// docShape counts, per printed document, its metric definitions and its values.
func docShape(t *testing.T, lines [][]byte) (metrics, values []int) {
	t.Helper()
	for _, line := range lines {
		recs, err := Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			n += len(r.Samples())
		}
		metrics = append(metrics, len(recs))
		values = append(values, n)
	}
	return metrics, values
}

func TestSplitting(t *testing.T) {
	tests := []struct {
		name        string
		put         func(l *Logger) error
		wantMetrics []int // metric definitions per document
		wantValues  []int // values per document
	}{
		{
			name:        "100 metrics fit one document",
			put:         putMetrics(100, 1),
			wantMetrics: []int{100}, wantValues: []int{100},
		},
		{
			name:        "250 metrics make three documents",
			put:         putMetrics(250, 1),
			wantMetrics: []int{100, 100, 50}, wantValues: []int{100, 100, 50},
		},
		{
			name:        "100 values fit one document",
			put:         putMetrics(1, 100),
			wantMetrics: []int{1}, wantValues: []int{100},
		},
		{
			name:        "250 values of one metric make three documents",
			put:         putMetrics(1, 250),
			wantMetrics: []int{1, 1, 1}, wantValues: []int{100, 100, 50},
		},
		{
			name: "a long metric and 150 short ones",
			put: func(l *Logger) error {
				if err := putMetrics(1, 250)(l); err != nil {
					return err
				}
				for i := range 150 {
					if err := l.PutMetric("S"+strconv.Itoa(i), float64(i), types.StandardUnitCount); err != nil {
						return err
					}
				}
				return nil
			},
			// M0 takes 100 values per document; the short metrics fill the remaining definitions.
			wantMetrics: []int{100, 52, 1}, wantValues: []int{100 + 99, 100 + 51, 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newTestLogger(&buf)
			must(t, tt.put(l))
			must(t, l.Flush())
			lines, recs := checkOutput(t, buf.Bytes())
			metrics, values := docShape(t, lines)
			if !equalInts(metrics, tt.wantMetrics) || !equalInts(values, tt.wantValues) {
				t.Fatalf("documents hold %v metrics and %v values, want %v and %v", metrics, values, tt.wantMetrics, tt.wantValues)
			}
			assertEveryValueOnce(t, recs, tt.put)
		})
	}
}

// assertEveryValueOnce replays put into a fresh logger and checks that the printed values are exactly the recorded
// ones, in order, per metric.
func assertEveryValueOnce(t *testing.T, recs []Record, put func(*Logger) error) {
	t.Helper()
	ref := newTestLogger(&bytes.Buffer{})
	must(t, put(ref))
	for _, m := range ref.metrics {
		got := valuesOf(recs, m.name)
		if !equalFloats(got, m.values) {
			t.Fatalf("%s: printed %d values %v, want %d", m.name, len(got), got, len(m.values))
		}
	}
}

func putMetrics(metrics, values int) func(*Logger) error {
	return func(l *Logger) error {
		for i := range metrics {
			for v := range values {
				if err := l.PutMetric("M"+strconv.Itoa(i), float64(v), types.StandardUnitCount); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func TestSplittingKeepsEveryDocumentUnderOneMegabyte(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf, WithDimension("ClusterName", "prod"))
	must(t, l.PutDimensions(Dimension{"FunctionName", "f"}))
	big := strings.Repeat("p", 700_000)
	must(t, l.SetProperty("Payload", big))
	// 150 metrics with 255-character names and 100 values of the longest printed form each: about 2.9 kB a metric,
	// so the 100-metric limit alone would make documents of about 1 MB.
	long := -1.2345678901234567e-100
	for i := range 150 {
		name := strings.Repeat("n", 250) + strconv.Itoa(10000+i)
		for range 100 {
			must(t, l.PutMetric(name, long, types.StandardUnitBytesSecond, HighResolution()))
		}
	}
	must(t, l.Flush())
	lines, recs := checkOutput(t, buf.Bytes())
	if len(lines) < 2 {
		t.Fatalf("printed %d document(s); the size limit should have split them", len(lines))
	}
	total := 0
	for _, line := range lines {
		var root map[string]json.RawMessage
		must(t, json.Unmarshal(line, &root))
		if len(root["Payload"]) != len(big)+2 {
			t.Fatal("a split document lost the property")
		}
	}
	for _, r := range recs {
		total += len(r.Samples())
	}
	if total != 150*100 {
		t.Fatalf("printed %d values, want %d", total, 150*100)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
