package emf

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// testdata/powertools/backup.jsonl was printed by Powertools for AWS Lambda (TypeScript) 2.36.0 itself
// (testdata/powertools/generate.mjs). The same metric set must decode to the same datums from our output.
func TestSameDatumsAsPowertoolsTypeScript(t *testing.T) {
	theirs, err := os.ReadFile("testdata/powertools/backup.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	checkOutput(t, theirs) // Powertools' document passes our schema and decoder too

	var buf bytes.Buffer
	ts := time.UnixMilli(1700000000000)
	l := New("K8sCluster/EtcdBackup", WithWriter(&buf), WithSlog(quiet),
		WithClock(func() time.Time { return ts }), WithDimension("ClusterName", "prod"))
	must(t, l.PutDimensions())
	must(t, l.PutDimensions(Dimension{"FunctionName", "cpwarden-backup"}))
	must(t, l.SetProperty("requestId", "c6af9ac6-7b61-11e6-9a41-93e812345678"))
	must(t, l.SetProperty("xrayTraceId", "1-5759e988-bd862e3fe1be46a994272793"))
	must(t, l.PutMetric("BackupSuccess", 1, types.StandardUnitCount))
	must(t, l.PutMetric("BackupDuration", 1234.5, types.StandardUnitMilliseconds))
	must(t, l.PutMetric("BackupSizeBytes", 52428800, types.StandardUnitBytes))
	must(t, l.Flush())
	_, ours := checkOutput(t, buf.Bytes())

	theirRecs, err := DecodeAll(bytes.NewReader(theirs))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(ours), describe(theirRecs); got != want {
		t.Fatalf("our datums\n%s\ndiffer from Powertools'\n%s", got, want)
	}
	// And they are the datums the issue names, for both dimension sets.
	want := map[string]struct {
		v    float64
		unit types.StandardUnit
	}{
		"BackupSuccess":   {1, types.StandardUnitCount},
		"BackupDuration":  {1234.5, types.StandardUnitMilliseconds},
		"BackupSizeBytes": {52428800, types.StandardUnitBytes},
	}
	if len(ours) != 6 {
		t.Fatalf("%d datums, want 3 metrics × 2 dimension sets", len(ours))
	}
	for _, r := range ours {
		w := want[r.Name()]
		if r.Namespace != "K8sCluster/EtcdBackup" || r.Datum.Value == nil || *r.Datum.Value != w.v || r.Datum.Unit != w.unit {
			t.Fatalf("unexpected datum %s", describe([]Record{r}))
		}
	}
}
