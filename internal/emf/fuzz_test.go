package emf

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// FuzzLogger drives a logger with arbitrary names, values, units, dimensions and properties. Whatever the input:
// no panic, every refusal is a *ValidationError, everything printed is valid EMF (schema + decoder), and what was
// accepted is printed exactly, once.
func FuzzLogger(f *testing.F) {
	f.Add("K8sCluster/EtcdBackup", "BackupDuration", "Milliseconds", 1234.5, "ClusterName", "prod", "RequestId", "r-1", uint8(1), false)
	f.Add("N", "M", "", 0.0, "D", "v", "p", "", uint8(250), true)
	f.Add("N", "M", "Count", math.NaN(), "D", "v", "p", "x", uint8(3), false)
	f.Add("N", "M", "Count", math.Inf(-1), "D", "v", "p", "x", uint8(3), false)
	f.Add("N", "M", "Count", 0x1p360, "D", "v", "p", "x", uint8(101), false)
	f.Add("N", "M", "Count", 0x1p-361, "D", "v", "p", "x", uint8(1), false)
	f.Add("AWS/EC2", "M", "Count", 1.0, "D", "v", "p", "x", uint8(1), false)
	f.Add("bad namespace", "M", "Count", 1.0, "D", "v", "p", "x", uint8(1), false)
	f.Add("N", ":M", "Count", 1.0, ":D", "v", "_aws", "x", uint8(1), false)
	f.Add("N", `q"uo\te`, "Bytes/Second", -1e-100, `d"q`, `v\"`, `k"\`, "\x00\xff\u2028", uint8(7), true)
	f.Add("N", "Müll", "count", 1.0, "Zone✓", "zürich", "✓", "✓", uint8(1), false)
	f.Add("N", "M", "Count", 1.0, "M", "v", "M", "x", uint8(1), false)
	f.Add("N", strings.Repeat("m", 256), "None", 1.0, strings.Repeat("d", 255), strings.Repeat("v", 1025), "p", "x", uint8(1), false)
	f.Add("N", "   ", "Count", 1.0, " ", " ", " ", " ", uint8(1), false)

	f.Fuzz(func(t *testing.T, ns, name, unit string, value float64, dimName, dimValue, propKey, propValue string, count uint8, highRes bool) {
		var buf bytes.Buffer
		l := New(ns, WithWriter(&buf), WithClock(testClock), WithSlog(quiet), WithDimension(dimName, dimValue))
		check := func(err error) bool {
			if err == nil {
				return true
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
			}
			return false
		}
		var opts []MetricOption
		if highRes {
			opts = append(opts, HighResolution())
		}
		check(l.PutDimensions())
		check(l.PutDimensions(Dimension{Name: dimName + "2", Value: dimValue}))
		check(l.SetProperty(propKey, propValue))
		check(l.SetTimestamp(testNow.Add(-time.Duration(count) * time.Hour)))
		var accepted []float64
		n := int(count)%250 + 1
		for i := range n {
			v := value
			if i%2 == 1 {
				v = value / 3
			}
			if check(l.PutMetric(name, v, types.StandardUnit(unit), opts...)) {
				accepted = append(accepted, v)
			}
		}
		other := check(l.PutMetric(name+"Other", 1, types.StandardUnitCount))
		if err := l.Flush(); err != nil {
			t.Fatalf("Flush to a buffer failed: %v", err)
		}
		lines, recs := checkOutput(t, buf.Bytes())

		// Count what was printed under the first dimension set of each document.
		var got []float64
		gotOther := 0
		for _, line := range lines {
			rs, _ := Decode(line)
			first := rs[0].DimensionNames()
			for _, r := range rs {
				if !equalStrings(r.DimensionNames(), first) {
					continue
				}
				switch r.Name() {
				case name:
					got = append(got, r.Samples()...)
				case name + "Other":
					gotOther++
				}
			}
		}
		if len(got) != len(accepted) {
			t.Fatalf("accepted %d values of %q, printed %d", len(accepted), name, len(got))
		}
		for i := range got {
			if got[i] != accepted[i] {
				t.Fatalf("value %d printed as %v, accepted %v", i, got[i], accepted[i])
			}
		}
		if other != (gotOther == 1) {
			t.Fatalf("second metric accepted=%v printed=%d", other, gotOther)
		}
		if len(accepted) == 0 && !other && len(recs) != 0 {
			t.Fatalf("printed %d records although nothing was accepted", len(recs))
		}
	})
}

// FuzzDecode feeds arbitrary lines to the decoder: no panic, errors are ErrNotEMF or *DecodeError, and what it
// accepts respects the limits it claims to enforce.
func FuzzDecode(f *testing.F) {
	if pt, err := os.ReadFile("testdata/powertools/backup.jsonl"); err == nil {
		f.Add(pt)
	}
	f.Add([]byte(`{"_aws":{"Timestamp":1748779200000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["C"],["C","F"]],` +
		`"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":1}]}]},"C":"c","F":"f","M":[1,2.5,-3e-7]}`))
	f.Add([]byte(`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`))
	f.Add([]byte(`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"M"}]}]},"M":1}`))
	f.Add([]byte(`{"_aws":null}`))
	f.Add([]byte(`{"_aws":{"Timestamp":1e400,"CloudWatchMetrics":[]}}`))
	f.Add([]byte(`START RequestId: x`))
	f.Add([]byte(`{"msg":"\ud800"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		recs, err := Decode(line)
		if err != nil {
			var de *DecodeError
			if !errors.Is(err, ErrNotEMF) && !errors.As(err, &de) {
				t.Fatalf("untyped error %v (%T)", err, err)
			}
			return
		}
		for _, r := range recs {
			d := r.Datum
			if checkName(FieldMetricName, r.Name()) != nil || len(d.Dimensions) > MaxDimensionsPerSet ||
				len(d.Values) > MaxValuesPerMetric || (d.Value == nil) == (d.Values == nil) || d.Timestamp == nil {
				t.Fatalf("decoder accepted an invalid datum: %s", describe([]Record{r}))
			}
			for _, v := range r.Samples() {
				if checkValue(r.Name(), v) != nil {
					t.Fatalf("decoder accepted value %v", v)
				}
			}
		}
	})
}

// FuzzAppendString checks the hand-written JSON string encoder (with its eight-bytes-at-a-time fast path) against
// encoding/json: the output is valid JSON and decodes to what encoding/json's own encoding decodes to.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain ascii text!", `q"uo\te`, "tab\tnew\nline\r\x00\x1f\x7f", "zürich ✓ \u2028\u2029",
		"\xff\xfe invalid", "12345678", "1234567\"", "abcdefgh\\ijklmnop", strings.Repeat("x", 100) + "\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want string
		out := appendString([]byte("prefix"), s)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatal("appendString lost what b held")
		}
		if err := json.Unmarshal(out[len("prefix"):], &got); err != nil {
			t.Fatalf("appendString(%q) = %s: invalid JSON: %v", s, out, err)
		}
		ref, _ := json.Marshal(s)
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, got, want)
		}
	})
}
