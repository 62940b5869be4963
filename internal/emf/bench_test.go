package emf

import (
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

var benchRequestID, benchTraceID = "c6af9ac6-7b61-11e6-9a41-93e812345678", "1-5759e988-bd862e3fe1be46a994272793"

// BenchmarkFlush measures the flush in-package (the cross-library comparison lives in bench/emf).
func BenchmarkFlush(b *testing.B) {
	l := New("K8sCluster/EtcdBackup", WithWriter(io.Discard), WithClock(testClock), WithDimension("ClusterName", "prod"))
	_ = l.PutDimensions()
	_ = l.PutDimensions(Dimension{Name: "FunctionName", Value: "cpwarden-backup"})
	b.ReportAllocs()
	for b.Loop() {
		_ = l.PutMetric("BackupSuccess", 1, types.StandardUnitCount)
		_ = l.PutMetric("BackupDuration", 1234.5, types.StandardUnitMilliseconds)
		_ = l.PutMetric("BackupSizeBytes", 52428800, types.StandardUnitBytes)
		_ = l.SetPropertyString("RequestId", benchRequestID)
		_ = l.SetPropertyString("TraceId", benchTraceID)
		_ = l.SetPropertyBool("ColdStart", false)
		_ = l.Flush()
	}
}
