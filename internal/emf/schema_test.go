package emf

import (
	"fmt"
	"strings"
	"testing"
)

// The schema must be able to fail, or "every line validates" would prove nothing.
func TestSchemaRejectsInvalidDocuments(t *testing.T) {
	doc := func(directive, members string) string {
		return `{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[` + directive + `]},"C":"x","M":1` + members + `}`
	}
	manyMetrics := make([]string, 101)
	for i := range manyMetrics {
		manyMetrics[i] = fmt.Sprintf(`{"Name":"M%d"}`, i)
	}
	manyDims := make([]string, 31)
	for i := range manyDims {
		manyDims[i] = fmt.Sprintf(`"D%d"`, i)
	}
	tests := []struct{ name, doc string }{
		{"no _aws", `{"M":1}`},
		{"no Timestamp", `{"_aws":{"CloudWatchMetrics":[]},"M":1}`},
		{"string Timestamp", `{"_aws":{"Timestamp":"1700000000000","CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`},
		{"fractional Timestamp", `{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`},
		{"extra member in _aws", `{"_aws":{"Timestamp":1,"Extra":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`},
		{"no Namespace", doc(`{"Dimensions":[["C"]],"Metrics":[{"Name":"M"}]}`, "")},
		{"AWS namespace", doc(`{"Namespace":"AWS/EC2","Dimensions":[["C"]],"Metrics":[{"Name":"M"}]}`, "")},
		{"no Dimensions", doc(`{"Namespace":"N","Metrics":[{"Name":"M"}]}`, "")},
		{"empty Dimensions", doc(`{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"M"}]}`, "")},
		{"Dimensions null", doc(`{"Namespace":"N","Dimensions":null,"Metrics":[{"Name":"M"}]}`, "")},
		{"31 dimensions", doc(`{"Namespace":"N","Dimensions":[[`+strings.Join(manyDims, ",")+`]],"Metrics":[{"Name":"M"}]}`, "")},
		{"dimension with leading colon", doc(`{"Namespace":"N","Dimensions":[[":C"]],"Metrics":[{"Name":"M"}]}`, "")},
		{"repeated dimension", doc(`{"Namespace":"N","Dimensions":[["C","C"]],"Metrics":[{"Name":"M"}]}`, "")},
		{"101 metrics", doc(`{"Namespace":"N","Dimensions":[["C"]],"Metrics":[`+strings.Join(manyMetrics, ",")+`]}`, "")},
		{"unknown unit", doc(`{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"M","Unit":"Kilograms"}]}`, "")},
		{"StorageResolution 5", doc(`{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"M","StorageResolution":5}]}`, "")},
		{"extra member in a definition", doc(`{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"M","Extra":1}]}`, "")},
		{"metric name _aws", doc(`{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"_aws"}]}`, "")},
		{"blank metric name", doc(`{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"  "}]}`, "")},
		{"non-ASCII metric name", doc(`{"Namespace":"N","Dimensions":[["C"]],"Metrics":[{"Name":"Müll"}]}`, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validateLine(t, []byte(tt.doc)); err == nil {
				t.Fatalf("schema accepted %s", tt.doc)
			}
		})
	}
	ok := doc(`{"Namespace":"N","Dimensions":[["C"],[]],"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":1}]}`, `,"p":{"any":"thing"}`)
	if err := validateLine(t, []byte(ok)); err != nil {
		t.Fatalf("schema rejected a valid document: %v", err)
	}
}
