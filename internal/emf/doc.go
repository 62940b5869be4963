// Package emf prints CloudWatch metrics in the Embedded Metric Format (EMF): one JSON line per document on stdout,
// which Lambda ships to CloudWatch Logs, which extracts the metrics. It validates every input against the EMF
// specification and the CloudWatch limits (so it never prints a document CloudWatch would reject), splits at the
// 100-metric, 100-value and 1 MB limits, wraps typed Lambda handlers in a step middleware that emits
// <Step>Success/Failure/Duration and ColdStart, and decodes EMF lines back into CloudWatch MetricDatum values for
// tests.
//
// The encoder appends into pooled buffers without reflection, and a logger reuses what it validated and encoded in
// earlier flushes (metric slots, property keys, the directive of the last document, each encoded again whenever
// what it was made from changes): a logger that flushes again and again allocates nothing. SetProperty takes any
// value, which costs the caller an allocation for a non-constant string or number; SetPropertyString,
// SetPropertyBool, SetPropertyInt and SetPropertyFloat do not. Every method takes the logger's lock once and runs
// none of the caller's code (clock, writer, MarshalJSON, slog handler) under it except Flush's clock and writer.
// Cold-start state lives in a Container value, never in package state.
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
