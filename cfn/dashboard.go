package cfn

import (
	"encoding/json"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"

	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/health"
	"github.com/cpwarden/cpwarden/workers/lifecycle"
	"github.com/cpwarden/cpwarden/workers/member"
)

const lDashboard = "Dashboard"

// quorumPlaceholder stands for the quorum number in the dashboard body until
// it becomes a Fn::Sub variable (a JSON number cannot be a quoted string).
const quorumPlaceholder = `"__cpwarden_quorum__"`

type widget struct {
	Type       string         `json:"type"`
	X          int            `json:"x"`
	Y          int            `json:"y"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Properties map[string]any `json:"properties"`
}

// dim is one dimension of a metric row.
type dim struct{ name, value string }

func clusterDims() []dim { return []dim{{"ClusterName", "${" + pClusterName + "}"}} }

func functionDims(h workers.Handler) []dim {
	return []dim{{"ClusterName", "${" + pClusterName + "}"}, {"FunctionName", "${" + functionID(h) + "}"}}
}

// row is a metric line of a widget: namespace, name, dimension pairs, then
// rendering options.
func row(ns, name string, dims []dim, opts map[string]any) []any {
	r := []any{ns, name}
	for _, d := range dims {
		r = append(r, d.name, d.value)
	}
	if len(opts) > 0 {
		r = append(r, opts)
	}
	return r
}

func graph(title, stat string, period int, rows ...[]any) widget {
	return widget{Type: "metric", Width: 12, Height: 6, Properties: map[string]any{
		"title": title, "region": "${AWS::Region}", "view": "timeSeries", "stacked": false,
		"stat": stat, "period": period, "metrics": rows,
	}}
}

func dashboardWidgets() []widget {
	cd := clusterDims()
	ws := []widget{
		{Type: "text", Width: 24, Height: 2, Properties: map[string]any{
			"markdown": "# cpwarden: ${" + pClusterName + "}\nLifecycle of departing control-plane nodes, etcd backups, control-plane health. Business metrics are keyed on ClusterName; step metrics on ClusterName and FunctionName.",
		}},
		graph("Lifecycle outcomes", "Sum", 300,
			row(nsLifecycle, drain.MetricSuccess, cd, nil),
			row(nsLifecycle, drain.MetricFailure, cd, nil),
			row(nsLifecycle, member.MetricRemovalSuccess, cd, nil),
			row(nsLifecycle, member.MetricRemovalFailure, cd, nil),
			row(nsLifecycle, member.MetricQuorumRisk, cd, nil)),
		graph("Lifecycle duration (ms)", "Maximum", 300,
			row(nsLifecycle, lifecycle.MetricLifecycleHandlerDuration, cd, nil)),
		graph("Backups", "Sum", 3600,
			row(nsBackup, backup.MetricSuccess, cd, nil),
			row(nsBackup, backup.MetricFailure, cd, nil)),
		graph("Backup duration (ms) and size", "Maximum", 3600,
			row(nsBackup, backup.MetricDuration, cd, nil),
			row(nsBackup, backup.MetricSizeBytes, cd, map[string]any{"yAxis": "right"})),
	}
	healthy := graph("Healthy control-plane instances", "Minimum", 60,
		row(nsHealth, health.MetricHealthyInstances, cd, nil),
		row(nsHealth, health.MetricConsecutiveFailures, cd, map[string]any{"stat": "Maximum"}))
	healthy.Properties["annotations"] = map[string]any{"horizontal": []any{
		map[string]any{"label": "etcd quorum", "value": "__cpwarden_quorum__", "color": "#d62728"},
	}}
	ws = append(ws, healthy,
		graph("Recovery", "Sum", 60,
			row(nsHealth, health.MetricRecoveryTriggered, cd, nil),
			row(nsHealth, health.MetricClusterRecovered, cd, nil)),
		graph("Health check duration (ms)", "Maximum", 60,
			row(nsHealth, health.MetricCheckDuration, cd, nil)))

	// Step metrics per function: what each worker did, by function.
	for _, w := range statemachines.Workflows() {
		var outcomes, durations [][]any
		for _, h := range w.Handlers {
			names := stepMetricNames(h)
			outcomes = append(outcomes,
				row(h.Namespace(), names[0], functionDims(h), nil),
				row(h.Namespace(), names[1], functionDims(h), nil))
			durations = append(durations, row(h.Namespace(), names[2], functionDims(h), nil))
		}
		ws = append(ws,
			graph(w.Name+" steps: success and failure", "Sum", 300, outcomes...),
			graph(w.Name+" steps: duration (ms)", "Maximum", 300, durations...))
	}

	var executions [][]any
	var alarmArns []string
	for _, w := range statemachines.Workflows() {
		for _, m := range []string{"ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"} {
			executions = append(executions, row(nsStates, m, []dim{{"StateMachineArn", "${" + stateMachineID(w) + "}"}},
				map[string]any{"label": w.Name + " " + m}))
		}
	}
	// Alarm ARNs from their names rather than GetAtt: the dashboard need
	// not wait for the alarms, and stays deployable where alarms are not.
	for _, a := range alarms() {
		alarmArns = append(alarmArns, "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"+a.nameSub())
	}
	ws = append(ws,
		graph("Workflow executions", "Sum", 300, executions...),
		widget{Type: "alarm", Width: 12, Height: 6, Properties: map[string]any{
			"title": "Alarms", "alarms": alarmArns,
		}})

	// Lay out in rows of 24 units.
	x, y, rowHeight := 0, 0, 0
	for i := range ws {
		if x+ws[i].Width > 24 {
			x, y, rowHeight = 0, y+rowHeight, 0
		}
		ws[i].X, ws[i].Y = x, y
		x += ws[i].Width
		rowHeight = max(rowHeight, ws[i].Height)
	}
	return ws
}

// dashboardBody is the dashboard JSON as a Fn::Sub pattern over the stack's
// parameters and resources.
func dashboardBody() (string, error) {
	b, err := json.Marshal(map[string]any{"widgets": dashboardWidgets()})
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(string(b), quorumPlaceholder, "${Quorum}"), nil
}

func addDashboard(t *cloudformation.Template) error {
	body, err := dashboardBody()
	if err != nil {
		return err
	}
	t.Resources[lDashboard] = &cloudwatch.Dashboard{
		DashboardName: ptr(sub("cpwarden-${" + pClusterName + "}")),
		DashboardBody: subVars(body, map[string]any{"Quorum": findInMap(mQuorum, ref(pControlPlaneSize), "Voters")}),
	}
	return nil
}
