package cfn

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// dashboardRows decodes the dashboard body as CloudFormation would render
// it, with each ${Var} replaced by "<Var>", and returns its metric rows.
func dashboardRows(t *testing.T, doc map[string]any) [][]any {
	t.Helper()
	p := props(resources(doc)[lDashboard])
	sub := p["DashboardBody"].(map[string]any)["Fn::Sub"].([]any)
	body := sub[0].(string)
	vars := sub[1].(map[string]any)
	if _, ok := vars["Quorum"]; !ok {
		t.Fatal("dashboard body has no Quorum variable")
	}
	body = strings.ReplaceAll(body, "${Quorum}", "2")
	body = regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`).ReplaceAllString(body, "<$1>")
	var dash struct {
		Widgets []struct {
			Type       string         `json:"type"`
			X          int            `json:"x"`
			Y          int            `json:"y"`
			Properties map[string]any `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("dashboard body is not JSON once substituted: %v", err)
	}
	var rows [][]any
	for _, w := range dash.Widgets {
		if w.Type != "metric" {
			continue
		}
		for _, r := range w.Properties["metrics"].([]any) {
			rows = append(rows, r.([]any))
		}
	}
	return rows
}

// rowDims returns a row's dimension names and values.
func rowDims(r []any) (names []string, values map[string]string) {
	values = map[string]string{}
	for i := 2; i+1 < len(r); i += 2 {
		n, ok1 := r[i].(string)
		v, ok2 := r[i+1].(string)
		if !ok1 || !ok2 {
			break
		}
		names = append(names, n)
		values[n] = v
	}
	return names, values
}

// TestDashboardQueriesTheEmittedDimensions is the check the older system
// lacked: every worker metric on the dashboard uses exactly one of the
// dimension sets the workers emit, with FunctionName the deployed function's
// name, and every contract and step metric is shown.
func TestDashboardQueriesTheEmittedDimensions(t *testing.T) {
	_, doc := generated(t)
	rows := dashboardRows(t, doc)
	res := resources(doc)
	shown := map[string]bool{}
	for _, r := range rows {
		ns, name := r[0].(string), r[1].(string)
		names, values := rowDims(r)
		shown[ns+" "+name] = true
		if ns == nsStates {
			if !slices.Equal(names, []string{"StateMachineArn"}) {
				t.Errorf("%s %s: dimensions %v", ns, name, names)
			}
			continue
		}
		switch {
		case slices.Equal(names, dimsCluster):
		case slices.Equal(names, dimsFunction):
			fnID := strings.Trim(values["FunctionName"], "<>")
			fn, ok := res[fnID]
			if !ok || fn["Type"] != "AWS::Lambda::Function" {
				t.Errorf("%s %s: FunctionName %s is not a function of the stack", ns, name, values["FunctionName"])
			}
		default:
			t.Errorf("%s %s: dimension set %v is not one the workers emit (%v or %v)", ns, name, names, dimsCluster, dimsFunction)
		}
		if values["ClusterName"] != "<"+pClusterName+">" {
			t.Errorf("%s %s: ClusterName = %q", ns, name, values["ClusterName"])
		}
	}
	for _, m := range contractMetrics() {
		if !shown[m.Namespace+" "+m.Name] {
			t.Errorf("contract metric %s %s is not on the dashboard", m.Namespace, m.Name)
		}
	}
	for _, h := range workers.All {
		for _, n := range stepMetricNames(h) {
			if !shown[h.Namespace()+" "+n] {
				t.Errorf("step metric %s %s is not on the dashboard", h.Namespace(), n)
			}
		}
	}
}

// TestStepMetricsAreKeyedOnTheirFunction: step metrics are shown per
// function. The backup handler's step metrics (BackupSuccess, BackupFailure,
// BackupDuration) have the names of contract metrics of the same namespace,
// whose [ClusterName] rows are the business view; only rows keyed on a
// FunctionName must name the backup function.
func TestStepMetricsAreKeyedOnTheirFunction(t *testing.T) {
	_, doc := generated(t)
	for _, r := range dashboardRows(t, doc) {
		name := r[1].(string)
		names, values := rowDims(r)
		for _, h := range workers.All {
			if slices.Contains(stepMetricNames(h), name) {
				if isContractMetric(r[0].(string), name) && !slices.Equal(names, dimsFunction) {
					continue
				}
				if values["FunctionName"] != "<"+functionID(h)+">" {
					t.Errorf("%s queried with FunctionName %q, want %s's function", name, values["FunctionName"], h)
				}
			}
		}
	}
}

func TestAlarmsCoverTheContract(t *testing.T) {
	_, doc := generated(t)
	type want struct {
		ns, metric, op, missing string
	}
	wants := map[string]want{
		"BackupFailureAlarm":    {nsBackup, "BackupFailure", "GreaterThanOrEqualToThreshold", "notBreaching"},
		"BackupMissingAlarm":    {nsBackup, "BackupSuccess", "LessThanThreshold", "breaching"},
		"QuorumRiskAlarm":       {nsLifecycle, "QuorumRiskDetected", "GreaterThanOrEqualToThreshold", "notBreaching"},
		"QuorumLostAlarm":       {nsHealth, "HealthyControlPlaneInstances", "LessThanThreshold", "breaching"},
		"AutoRecoveryAlarm":     {nsHealth, "AutoRecoveryTriggered", "GreaterThanOrEqualToThreshold", "notBreaching"},
		"NodeDrainFailureAlarm": {nsLifecycle, "NodeDrainFailure", "GreaterThanOrEqualToThreshold", "notBreaching"},
	}
	res := resources(doc)
	for id, w := range wants {
		a, ok := res[id]
		if !ok {
			t.Errorf("no alarm %s", id)
			continue
		}
		p := props(a)
		if p["Namespace"] != w.ns || p["MetricName"] != w.metric || p["ComparisonOperator"] != w.op || p["TreatMissingData"] != w.missing {
			t.Errorf("%s = %v %v %v %v", id, p["Namespace"], p["MetricName"], p["ComparisonOperator"], p["TreatMissingData"])
		}
		if !jsonEqual(p["Dimensions"], []any{map[string]any{"Name": "ClusterName", "Value": map[string]any{"Ref": pClusterName}}}) {
			t.Errorf("%s: dimensions %v, want [ClusterName]", id, p["Dimensions"])
		}
	}
	// "No BackupSuccess within 2 backup intervals": two periods of one
	// interval each.
	missing := props(res["BackupMissingAlarm"])
	if missing["EvaluationPeriods"] != 2.0 || !jsonEqual(missing["Period"], map[string]any{"Fn::FindInMap": []any{mBackupIntervals, map[string]any{"Ref": pBackupInterval}, "Seconds"}}) {
		t.Errorf("BackupMissingAlarm period %v x %v", missing["Period"], missing["EvaluationPeriods"])
	}
	for _, w := range statemachines.Workflows() {
		p := props(res[title(w.Name)+"ExecutionsFailedAlarm"])
		if p["Namespace"] != nsStates || p["MetricName"] != "ExecutionsFailed" ||
			!jsonEqual(p["Dimensions"], []any{map[string]any{"Name": "StateMachineArn", "Value": map[string]any{"Ref": stateMachineID(w)}}}) {
			t.Errorf("%s ExecutionsFailed alarm = %v", w.Name, p)
		}
	}
}

func TestMappingsMatchTheirSchedules(t *testing.T) {
	// The backup-missing alarm's period comes from the same row as the
	// schedule; a mismatch would alarm on every healthy cluster.
	for _, ivs := range [][]interval{backupIntervals, healthIntervals} {
		for _, iv := range ivs {
			m := regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours)\)$`).FindStringSubmatch(iv.rate)
			if m == nil {
				t.Fatalf("%s: bad rate %q", iv.key, iv.rate)
			}
			n := 0
			for _, c := range m[1] {
				n = n*10 + int(c-'0')
			}
			unit := 60
			if strings.HasPrefix(m[2], "hour") {
				unit = 3600
			}
			if n*unit != iv.seconds || (n == 1) != !strings.HasSuffix(m[2], "s") {
				t.Errorf("%s: %q is not %d s", iv.key, iv.rate, iv.seconds)
			}
		}
	}
}

func isContractMetric(ns, name string) bool {
	for _, m := range contractMetrics() {
		if m.Namespace == ns && m.Name == name {
			return true
		}
	}
	return false
}
