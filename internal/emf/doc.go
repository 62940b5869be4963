// Package emf prints CloudWatch metrics in the Embedded Metric Format (EMF): one JSON line per document on stdout,
// which Lambda ships to CloudWatch Logs, which extracts the metrics. It validates every input against the EMF
// specification and the CloudWatch limits (so it never prints a document CloudWatch would reject), splits at the
// 100-metric, 100-value and 1 MB limits, wraps typed Lambda handlers in a step middleware that emits
// <Step>Success/Failure/Duration and ColdStart, and decodes EMF lines back into CloudWatch MetricDatum values for
// tests.
//
// The encoder appends into pooled buffers without reflection, and a logger reuses what it validated and encoded in
// earlier flushes: Flush itself allocates nothing. (Passing a non-constant string to SetProperty costs the one
// allocation of converting it to an interface.) Cold-start state lives in a Container value, never in package state.
//
// Usage in a worker:
//
//	emf.FromContext(ctx).PutMetric("BackupSizeBytes", float64(n), types.StandardUnitBytes)
//
// and in main:
//
//	h := emf.Step("Backup", "K8sCluster/EtcdBackup", backup.Run,
//		emf.WithDimension("ClusterName", cluster), emf.WithContainer(emf.NewContainer()))
//	lambda.Start(h)
package emf
