package emf_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/emf"
)

func Example() {
	// The clock is pinned so the output below is stable; leave WithClock out in real code.
	clock := func() time.Time { return time.UnixMilli(1748779200000) }
	l := emf.New("K8sCluster/EtcdBackup", emf.WithDimension("ClusterName", "prod"), emf.WithClock(clock))
	_ = l.PutMetric("BackupSizeBytes", 52428800, types.StandardUnitBytes)
	_ = l.PutMetric("BackupDuration", 1234.5, types.StandardUnitMilliseconds, emf.HighResolution())
	// Typed setters take the value as it is; SetProperty takes a value of any type.
	_ = l.SetPropertyString("RequestId", "c6af9ac6")
	if err := l.Flush(); err != nil { // one JSON line on stdout
		fmt.Println(err)
	}
	// Output:
	// {"_aws":{"Timestamp":1748779200000,"CloudWatchMetrics":[{"Namespace":"K8sCluster/EtcdBackup","Dimensions":[["ClusterName"]],"Metrics":[{"Name":"BackupSizeBytes","Unit":"Bytes"},{"Name":"BackupDuration","Unit":"Milliseconds","StorageResolution":1}]}]},"ClusterName":"prod","BackupSizeBytes":52428800,"BackupDuration":1234.5,"RequestId":"c6af9ac6"}
}

func ExampleStep() {
	type input struct{ Bucket string }
	backup := func(ctx context.Context, in input) (string, error) {
		// Business metrics join the step's document.
		_ = emf.FromContext(ctx).PutMetric("BackupSizeBytes", 52428800, types.StandardUnitBytes)
		return in.Bucket + "/etcd-snapshot.db", nil
	}
	var out bytes.Buffer // os.Stdout in a Lambda
	h := emf.Step("Backup", "K8sCluster/EtcdBackup", backup,
		emf.WithWriter(&out), emf.WithDimension("ClusterName", "prod"),
		emf.WithContainer(emf.NewContainerFromEnv(nil))) // in main: emf.NewContainer()
	key, err := h(context.Background(), input{Bucket: "backups"})
	fmt.Println(key, err)

	// Tests assert metrics by decoding the printed lines.
	recs, _ := emf.DecodeAll(&out)
	for _, r := range emf.Find(recs, "BackupSuccess") {
		fmt.Println(r.Name(), r.DimensionNames(), r.Sum(), r.Datum.Unit)
	}
	fmt.Println(len(emf.Find(recs, "ColdStart", "ClusterName")), len(emf.Find(recs, "BackupDuration", "ClusterName")))
	// Output:
	// backups/etcd-snapshot.db <nil>
	// BackupSuccess [ClusterName] 1 Count
	// BackupSuccess [ClusterName FunctionName] 1 Count
	// 1 1
}
