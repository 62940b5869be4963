package emf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func TestDecodeProducesOneDatumPerMetricAndDimensionSet(t *testing.T) {
	line := `{"_aws":{"Timestamp":1700000000123,"CloudWatchMetrics":[` +
		`{"Namespace":"A","Dimensions":[["C"],["C","F"]],"Metrics":[{"Name":"M","Unit":"Count"},{"Name":"L","Unit":"Milliseconds","StorageResolution":1}]},` +
		`{"Namespace":"B","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},` +
		`"C":"prod","F":"fn","M":2,"L":[1.5,2.5],"other":{"x":1}}`
	recs, err := Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1700000000123).UTC()
	dim := func(k, v string) types.Dimension { return types.Dimension{Name: aws.String(k), Value: aws.String(v)} }
	want := []Record{
		{"A", types.MetricDatum{MetricName: aws.String("M"), Unit: types.StandardUnitCount, Value: aws.Float64(2), Timestamp: &ts,
			Dimensions: []types.Dimension{dim("C", "prod")}}},
		{"A", types.MetricDatum{MetricName: aws.String("M"), Unit: types.StandardUnitCount, Value: aws.Float64(2), Timestamp: &ts,
			Dimensions: []types.Dimension{dim("C", "prod"), dim("F", "fn")}}},
		{"A", types.MetricDatum{MetricName: aws.String("L"), Unit: types.StandardUnitMilliseconds, Values: []float64{1.5, 2.5},
			StorageResolution: aws.Int32(1), Timestamp: &ts, Dimensions: []types.Dimension{dim("C", "prod")}}},
		{"A", types.MetricDatum{MetricName: aws.String("L"), Unit: types.StandardUnitMilliseconds, Values: []float64{1.5, 2.5},
			StorageResolution: aws.Int32(1), Timestamp: &ts, Dimensions: []types.Dimension{dim("C", "prod"), dim("F", "fn")}}},
		{"B", types.MetricDatum{MetricName: aws.String("M"), Value: aws.Float64(2), Timestamp: &ts}},
	}
	if got, exp := describe(recs), describe(want); got != exp {
		t.Fatalf("got\n%s\nwant\n%s", got, exp)
	}
}

// describe renders records for comparison (MetricDatum holds pointers).
func describe(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		d := r.Datum
		fmt.Fprintf(&b, "%s %s unit=%q", r.Namespace, aws.ToString(d.MetricName), d.Unit)
		for _, dm := range d.Dimensions {
			fmt.Fprintf(&b, " %s=%s", aws.ToString(dm.Name), aws.ToString(dm.Value))
		}
		if d.Value != nil {
			fmt.Fprintf(&b, " value=%v", *d.Value)
		}
		if d.Values != nil {
			fmt.Fprintf(&b, " values=%v", d.Values)
		}
		if d.Counts != nil {
			fmt.Fprintf(&b, " counts=%v", d.Counts)
		}
		if d.StorageResolution != nil {
			fmt.Fprintf(&b, " res=%d", *d.StorageResolution)
		}
		if d.Timestamp != nil {
			fmt.Fprintf(&b, " ts=%d", d.Timestamp.UnixMilli())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestDecodeRejectsInvalidEMF(t *testing.T) {
	const ok = `{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"M","Unit":"Count"}]}`
	doc := func(directive, members string) string {
		return `{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[` + directive + `]}` + members + `}`
	}
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	tests := []struct{ name, line, path string }{
		{"invalid JSON mentioning _aws", `{"_aws":{"Timestamp":1,`, "$"},
		{"trailing data", doc(ok, `,"C":"c","M":1`) + ` {}`, "$"},
		{"duplicate root member", doc(ok, `,"C":"c","M":1,"M":2`), "$"},
		{"_aws not an object", `{"_aws":[]}`, "_aws"},
		{"no Timestamp", `{"_aws":{"CloudWatchMetrics":[]}}`, "_aws"},
		{"string Timestamp", `{"_aws":{"Timestamp":"1","CloudWatchMetrics":[]}}`, "_aws.Timestamp"},
		{"fractional Timestamp", `{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[]}}`, "_aws.Timestamp"},
		{"negative Timestamp", `{"_aws":{"Timestamp":-1,"CloudWatchMetrics":[]}}`, "_aws.Timestamp"},
		{"null Timestamp", `{"_aws":{"Timestamp":null,"CloudWatchMetrics":[]}}`, "_aws.Timestamp"},
		{"no CloudWatchMetrics", `{"_aws":{"Timestamp":1}}`, "_aws"},
		{"CloudWatchMetrics null", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":null}}`, "_aws.CloudWatchMetrics"},
		{"member names are case-sensitive", doc(`{"namespace":"N","Dimensions":[["C"]],"Metrics":[]}`, `,"C":"c"`), "_aws.CloudWatchMetrics[0]"},
		{"no Dimensions", doc(`{"Namespace":"N","Metrics":[]}`, ""), "_aws.CloudWatchMetrics[0]"},
		{"no Metrics", doc(`{"Namespace":"N","Dimensions":[[]]}`, ""), "_aws.CloudWatchMetrics[0]"},
		{"empty namespace", doc(`{"Namespace":"","Dimensions":[[]],"Metrics":[]}`, ""), "_aws.CloudWatchMetrics[0].Namespace"},
		{"namespace not a string", doc(`{"Namespace":7,"Dimensions":[[]],"Metrics":[]}`, ""), "_aws.CloudWatchMetrics[0].Namespace"},
		{"Dimensions empty", doc(`{"Namespace":"N","Dimensions":[],"Metrics":[]}`, ""), "_aws.CloudWatchMetrics[0].Dimensions"},
		{"Dimensions null", doc(`{"Namespace":"N","Dimensions":null,"Metrics":[]}`, ""), "_aws.CloudWatchMetrics[0].Dimensions"},
		{"set not an array", doc(`{"Namespace":"N","Dimensions":["C"],"Metrics":[]}`, `,"C":"c"`), "_aws.CloudWatchMetrics[0].Dimensions[0]"},
		{"31 dimensions", doc(`{"Namespace":"N","Dimensions":[[`+many(31, func(i int) string { return fmt.Sprintf(`"D%d"`, i) })+`]],"Metrics":[]}`,
			","+many(31, func(i int) string { return fmt.Sprintf(`"D%d":"v"`, i) })), "_aws.CloudWatchMetrics[0].Dimensions[0]"},
		{"dimension without a root member", doc(ok, `,"M":1`), "_aws.CloudWatchMetrics[0].Dimensions[0][0]"},
		{"dimension value a number", doc(ok, `,"C":5,"M":1`), "C"},
		{"dimension value empty", doc(ok, `,"C":"","M":1`), "C"},
		{"dimension repeated in a set", doc(`{"Namespace":"N","Dimensions":[["C","C"]],"Metrics":[]}`, `,"C":"c"`), "_aws.CloudWatchMetrics[0].Dimensions[0][1]"},
		{"101 metrics", doc(`{"Namespace":"N","Dimensions":[[]],"Metrics":[`+many(101, func(i int) string { return fmt.Sprintf(`{"Name":"M%d"}`, i) })+`]}`,
			","+many(101, func(i int) string { return fmt.Sprintf(`"M%d":1`, i) })), "_aws.CloudWatchMetrics[0].Metrics"},
		{"metric without a name", doc(`{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Unit":"Count"}]}`, ""), "_aws.CloudWatchMetrics[0].Metrics[0]"},
		{"metric declared twice", doc(`{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"},{"Name":"M"}]}`, `,"M":1`), "_aws.CloudWatchMetrics[0].Metrics[1].Name"},
		{"metric without a value", doc(ok, `,"C":"c"`), "_aws.CloudWatchMetrics[0].Metrics[0].Name"},
		{"metric value a string", doc(ok, `,"C":"c","M":"1"`), "M"},
		{"metric value null", doc(ok, `,"C":"c","M":null`), "M"},
		{"metric value an empty array", doc(ok, `,"C":"c","M":[]`), "M"},
		{"metric value beyond 2^360", doc(ok, `,"C":"c","M":1e200`), "M"},
		{"metric values with a string", doc(ok, `,"C":"c","M":[1,"2"]`), "M[1]"},
		{"101 metric values", doc(ok, `,"C":"c","M":[`+many(101, func(int) string { return "1" })+`]`), "M"},
		{"unknown unit", doc(`{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Kilograms"}]}`, `,"M":1`), "_aws.CloudWatchMetrics[0].Metrics[0].Unit"},
		{"empty unit", doc(`{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":""}]}`, `,"M":1`), "_aws.CloudWatchMetrics[0].Metrics[0].Unit"},
		{"StorageResolution 5", doc(`{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","StorageResolution":5}]}`, `,"M":1`), "_aws.CloudWatchMetrics[0].Metrics[0].StorageResolution"},
		{"metric name with leading colon", doc(`{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":":M"}]}`, `,":M":1`), "_aws.CloudWatchMetrics[0].Metrics[0].Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Decode([]byte(tt.line))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v (%d records), want a *DecodeError", err, len(recs))
			}
			if de.Path != tt.path {
				t.Fatalf("error at %q (%v), want %q", de.Path, err, tt.path)
			}
		})
	}
}

func TestDecodeSaysNotEMFForOrdinaryLogLines(t *testing.T) {
	for _, line := range []string{
		"", "   ", "START RequestId: 8f507cfc Version: $LATEST", `{"level":"info","msg":"drained"}`, `[1,2]`,
		`{"_awsx":1}`, `{"msg":"truncated`,
	} {
		if _, err := Decode([]byte(line)); !errors.Is(err, ErrNotEMF) {
			t.Errorf("Decode(%q) = %v, want ErrNotEMF", line, err)
		}
	}
}

func TestDecodeAll(t *testing.T) {
	log := "START RequestId: 1 Version: $LATEST\n" +
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"C":"x","A":1}` + "\n" +
		"\n" + `{"level":"INFO","msg":"hello"}` + "\n" +
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"B","Unit":"Count"}]}]},"C":"x","B":[2,3]}` + // no final newline
		""
	recs, err := DecodeAll(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Name() != "A" || recs[1].Name() != "B" || recs[1].Sum() != 5 {
		t.Fatalf("got %s", describe(recs))
	}

	bad := log + "\n" + `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"Z"}]}]},"C":"x"}` + "\n"
	recs, err = DecodeAll(strings.NewReader(bad))
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("got %v, want a DecodeError naming line 6", err)
	}
	if len(recs) != 2 {
		t.Fatalf("records before the bad line: %d", len(recs))
	}
}

func TestFind(t *testing.T) {
	recs, err := Decode([]byte(`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["C"],["C","F"],[]],` +
		`"Metrics":[{"Name":"A"},{"Name":"B"}]}]},"C":"c","F":"f","A":1,"B":2}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dims []string
		want int
	}{
		{"A", nil, 3}, {"A", []string{"C"}, 1}, {"A", []string{"F", "C"}, 1}, {"A", []string{"F"}, 0}, {"Z", nil, 0},
	}
	for _, tt := range tests {
		if got := Find(recs, tt.name, tt.dims...); len(got) != tt.want {
			t.Errorf("Find(%s, %v) = %d records, want %d", tt.name, tt.dims, len(got), tt.want)
		}
	}
	if _, ok := recs[0].Dimension("F"); ok {
		t.Error("[C] record claims dimension F")
	}
}
