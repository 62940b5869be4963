package cfn

import (
	"slices"

	"github.com/cpwarden/cpwarden/workers"
)

// The dimension sets every worker record carries (docs/contracts.md): alarms
// and widgets must query one of these exactly, or CloudWatch returns no
// data (the older system's dashboard queried a set nobody emitted).
var (
	dimsCluster  = []string{"ClusterName"}
	dimsFunction = []string{"ClusterName", "FunctionName"}
)

// Namespaces of docs/contracts.md: the workers' (workers.Spec.Namespace),
// and Step Functions' own.
const (
	nsLifecycle = workers.NamespaceLifecycle
	nsBackup    = workers.NamespaceBackup
	nsHealth    = workers.NamespaceHealth
	nsStates    = "AWS/States"
)

// contractMetric is a business metric of docs/contracts.md.
type contractMetric struct {
	Namespace, Name, Unit string
}

// contractMetrics lists the business metrics the workers emit, from their
// specs (workers.Spec.Metrics), each once: the dashboard shows every one,
// and the template test checks it against the dashboard and alarms.
func contractMetrics() []contractMetric {
	var out []contractMetric
	for _, s := range workers.Specs() {
		for _, m := range s.Metrics {
			c := contractMetric{s.Namespace, m.Name, string(m.Unit)}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// stepMetricNames are the step middleware's metrics of handler h.
func stepMetricNames(h workers.Handler) []string {
	return []string{h.Step() + "Success", h.Step() + "Failure", h.Step() + "Duration"}
}
