package cfn

import (
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"

	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/health"
	"github.com/cpwarden/cpwarden/workers/member"
)

// alarm is a CloudWatch alarm on one metric, keyed on ClusterName (the
// [ClusterName] set aggregates every function's records).
type alarm struct {
	id, name, description string
	namespace, metric     string
	statistic, operator   string
	threshold             any // float64, or an intrinsic
	period                any // int seconds, or an intrinsic
	evaluationPeriods     int
	treatMissing          string
	dimensions            []cloudwatch.Alarm_Dimension
}

func clusterDimension() []cloudwatch.Alarm_Dimension {
	return []cloudwatch.Alarm_Dimension{{Name: "ClusterName", Value: ref(pClusterName)}}
}

// nameSub is the alarm's name as a Fn::Sub pattern.
func (a alarm) nameSub() string { return "cpwarden-${" + pClusterName + "}-" + a.name }

func (a alarm) resource() cloudformation.Resource {
	actions := []string{iff(cHasAlarmTopic, ref(pAlarmTopicArn), noValue)}
	r := &cloudwatch.Alarm{
		AlarmName:          ptr(sub(a.nameSub())),
		AlarmDescription:   ptr(a.description),
		Namespace:          ptr(a.namespace),
		MetricName:         ptr(a.metric),
		Dimensions:         a.dimensions,
		Statistic:          ptr(a.statistic),
		ComparisonOperator: a.operator,
		EvaluationPeriods:  a.evaluationPeriods,
		DatapointsToAlarm:  ptrI(a.evaluationPeriods),
		TreatMissingData:   ptr(a.treatMissing),
		AlarmActions:       actions,
		OKActions:          actions,
	}
	// Threshold and Period may come from the mappings: goformation types
	// them as numbers, so they are set after marshalling.
	return withProps(r, map[string]any{"Threshold": a.threshold, "Period": a.period})
}

func alarms() []alarm {
	atLeastOne := func(id, name, desc, ns, metric string) alarm {
		return alarm{
			id: id, name: name, description: desc, namespace: ns, metric: metric,
			statistic: "Sum", operator: "GreaterThanOrEqualToThreshold", threshold: 1.0, period: 300,
			evaluationPeriods: 1, treatMissing: "notBreaching", dimensions: clusterDimension(),
		}
	}
	out := []alarm{
		atLeastOne("BackupFailureAlarm", "backup-failure",
			"An etcd backup failed (snapshot, upload or verification). Runbook: docs/runbook.md#backup-failure.", nsBackup, backup.MetricFailure),
		{
			id: "BackupMissingAlarm", name: "backup-missing",
			description: "No verified etcd backup for two backup intervals (missing data counts as missing backups). Runbook: docs/runbook.md#backup-missing.",
			namespace:   nsBackup, metric: backup.MetricSuccess,
			statistic: "Sum", operator: "LessThanThreshold", threshold: 1.0,
			period:            findInMap(mBackupIntervals, ref(pBackupInterval), "Seconds"),
			evaluationPeriods: 2, treatMissing: "breaching", dimensions: clusterDimension(),
		},
		atLeastOne("QuorumRiskAlarm", "quorum-risk",
			"A member removal was refused because it would have lost etcd quorum. Runbook: docs/runbook.md#quorum-risk.", nsLifecycle, member.MetricQuorumRisk),
		{
			id: "QuorumLostAlarm", name: "healthy-below-quorum",
			description: "Fewer healthy control-plane instances than the etcd quorum, or no health probe reported (missing data breaches). Runbook: docs/runbook.md#healthy-below-quorum.",
			namespace:   nsHealth, metric: health.MetricHealthyInstances,
			statistic: "Minimum", operator: "LessThanThreshold",
			threshold:         findInMap(mQuorum, ref(pControlPlaneSize), "Voters"),
			period:            findInMap(mHealthIntervals, ref(pHealthInterval), "Seconds"),
			evaluationPeriods: 2, treatMissing: "breaching", dimensions: clusterDimension(),
		},
		atLeastOne("AutoRecoveryAlarm", "auto-recovery-triggered",
			"cpwarden started an automatic etcd restore. Runbook: docs/runbook.md#auto-recovery-triggered.", nsHealth, health.MetricRecoveryTriggered),
		atLeastOne("NodeDrainFailureAlarm", "node-drain-failure",
			"A departing control-plane node could not be drained in time. Runbook: docs/runbook.md#node-drain-failure.", nsLifecycle, drain.MetricFailure),
	}
	for _, w := range statemachines.Workflows() {
		out = append(out, alarm{
			id: title(w.Name) + "ExecutionsFailedAlarm", name: w.Name + "-executions-failed",
			description: "A " + w.Name + " workflow execution failed. Runbook: docs/runbook.md#" + w.Name + "-executions-failed.",
			namespace:   nsStates, metric: "ExecutionsFailed",
			statistic: "Sum", operator: "GreaterThanOrEqualToThreshold", threshold: 1.0, period: 300,
			evaluationPeriods: 1, treatMissing: "notBreaching",
			dimensions: []cloudwatch.Alarm_Dimension{{Name: "StateMachineArn", Value: ref(stateMachineID(w))}},
		})
	}
	return out
}

func addAlarms(t *cloudformation.Template) {
	for _, a := range alarms() {
		t.Resources[a.id] = a.resource()
	}
}
