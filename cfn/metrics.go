package cfn

import "github.com/cpwarden/cpwarden/workers"

// The dimension sets every worker record carries (docs/contracts.md): alarms
// and widgets must query one of these exactly, or CloudWatch returns no
// data (the older system's dashboard queried a set nobody emitted).
var (
	dimsCluster  = []string{"ClusterName"}
	dimsFunction = []string{"ClusterName", "FunctionName"}
)

// Namespaces of docs/contracts.md.
const (
	nsLifecycle = "K8sCluster/EtcdLifecycle"
	nsBackup    = "K8sCluster/EtcdBackup"
	nsHealth    = "K8sCluster/Health"
	nsStates    = "AWS/States"
)

// contractMetric is a business metric of docs/contracts.md.
type contractMetric struct {
	Namespace, Name, Unit string
}

// contractMetrics lists the business metrics the workers emit; the
// dashboard shows every one, and the template test checks it against the
// dashboard and alarms.
var contractMetrics = []contractMetric{
	{nsLifecycle, "NodeDrainSuccess", "Count"},
	{nsLifecycle, "NodeDrainFailure", "Count"},
	{nsLifecycle, "EtcdMemberRemovalSuccess", "Count"},
	{nsLifecycle, "EtcdMemberRemovalFailure", "Count"},
	{nsLifecycle, "QuorumRiskDetected", "Count"},
	{nsLifecycle, "LifecycleHandlerDuration", "Milliseconds"},
	{nsBackup, "BackupSuccess", "Count"},
	{nsBackup, "BackupFailure", "Count"},
	{nsBackup, "BackupDuration", "Milliseconds"},
	{nsBackup, "BackupSizeBytes", "Bytes"},
	{nsHealth, "HealthyControlPlaneInstances", "Count"},
	{nsHealth, "ConsecutiveHealthFailures", "Count"},
	{nsHealth, "AutoRecoveryTriggered", "Count"},
	{nsHealth, "ClusterRecovered", "Count"},
	{nsHealth, "HealthCheckDuration", "Milliseconds"},
}

// stepMetricNames are the step middleware's metrics of handler h.
func stepMetricNames(h workers.Handler) []string {
	return []string{h.Step() + "Success", h.Step() + "Failure", h.Step() + "Duration"}
}
