package cfn

import (
	"bytes"
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/autoscaling"
	"github.com/awslabs/goformation/v7/cloudformation/events"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/stepfunctions"

	"github.com/cpwarden/cpwarden/statemachines"
)

const (
	lEventsRole     = "EventsRole"
	lLifecycleRule  = "LifecycleEventRule"
	lBackupRule     = "BackupScheduleRule"
	lHealthRule     = "HealthScheduleRule"
	lLifecycleHook  = "TerminateLifecycleHook"
	lifecycleDetail = "EC2 Instance-terminate Lifecycle Action"
)

// Logical IDs of a workflow's resources: "<Name>StateMachine",
// "<Name>StateMachineRole", "<Name>StateMachineLogGroup".
func stateMachineID(w statemachines.Workflow) string { return title(w.Name) + "StateMachine" }

func title(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}

// stateMachineStatements: invoke its own workers only; deliver logs and
// traces, whose actions support no resource-level permissions.
func stateMachineStatements(w statemachines.Workflow) []any {
	var fns []string
	for _, h := range w.Handlers {
		fns = append(fns, getAtt(functionID(h), "Arn"), sub("${"+functionID(h)+".Arn}:*"))
	}
	return []any{
		allow("InvokeWorkers", fns, "lambda:InvokeFunction"),
		allow("DeliverLogs", anyResource,
			"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
			"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"),
		allow("Trace", anyResource,
			"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"),
	}
}

func addWorkflows(t *cloudformation.Template) error {
	for _, w := range statemachines.Workflows() {
		id := stateMachineID(w)
		def, err := w.JSON(statemachines.TemplateResource)
		if err != nil {
			return err
		}
		subs := map[string]any{}
		if bytes.Contains(def, []byte("${"+statemachines.ClusterNameKey+"}")) {
			subs[statemachines.ClusterNameKey] = ref(pClusterName)
		}
		for _, h := range w.Handlers {
			subs[statemachines.SubstitutionKey(h)] = getAtt(functionID(h), "Arn")
		}
		t.Resources[id+"LogGroup"] = withProps(&logs.LogGroup{
			// The vendedlogs prefix keeps CloudWatch Logs' resource policy
			// for Step Functions small.
			LogGroupName: ptr(sub("/aws/vendedlogs/states/cpwarden-${" + pClusterName + "}-" + w.Name)),
		}, map[string]any{"RetentionInDays": ref(pLogRetentionDays)})
		t.Resources[id+"Role"] = role("cpwarden "+w.Name+" state machine", "states.amazonaws.com", stateMachineStatements(w)...)
		// Standard executions keep their history in Step Functions; log
		// errors only. Express executions have no history: log everything.
		level := "ERROR"
		if w.Type == statemachines.TypeExpress {
			level = "ALL"
		}
		t.Resources[id] = &stepfunctions.StateMachine{
			StateMachineName:        ptr(sub("cpwarden-${" + pClusterName + "}-" + w.Name)),
			StateMachineType:        ptr(w.Type),
			DefinitionString:        ptr(string(def)),
			DefinitionSubstitutions: subs,
			RoleArn:                 getAtt(id+"Role", "Arn"),
			LoggingConfiguration: &stepfunctions.StateMachine_LoggingConfiguration{
				Level:                ptr(level),
				IncludeExecutionData: ptrB(true),
				Destinations: []stepfunctions.StateMachine_LogDestination{{
					CloudWatchLogsLogGroup: &stepfunctions.StateMachine_CloudWatchLogsLogGroup{LogGroupArn: ptr(getAtt(id+"LogGroup", "Arn"))},
				}},
			},
			TracingConfiguration: &stepfunctions.StateMachine_TracingConfiguration{Enabled: ptrB(true)},
		}
	}
	return nil
}

func workflowID(name string) string {
	w, ok := statemachines.ByName(name)
	if !ok {
		panic(fmt.Sprintf("cfn: no workflow %q", name))
	}
	return stateMachineID(w)
}

// addTriggers starts the workflows: the control-plane group's terminate
// lifecycle actions (of cpwarden's hook only) start lifecycle; schedules
// start backup and health.
func addTriggers(t *cloudformation.Template) {
	lifecycle, backup, health := workflowID("lifecycle"), workflowID("backup"), workflowID("health")
	t.Resources[lEventsRole] = role("cpwarden EventBridge rules", "events.amazonaws.com",
		allow("StartWorkflows", []string{ref(lifecycle), ref(backup), ref(health)}, "states:StartExecution"))

	target := func(id, sm string) []events.Rule_Target {
		return []events.Rule_Target{{
			Id: id, Arn: ref(sm), RoleArn: ptr(getAtt(lEventsRole, "Arn")),
			// A lifecycle event lost to a throttled StartExecution would
			// leave the hook to its timeout; retry for an hour.
			RetryPolicy: &events.Rule_RetryPolicy{MaximumRetryAttempts: ptrI(185), MaximumEventAgeInSeconds: ptrI(3600)},
		}}
	}
	t.Resources[lLifecycleRule] = &events.Rule{
		Description: ptr("cpwarden: terminate lifecycle actions of the control-plane group start the lifecycle workflow"),
		EventPattern: map[string]any{
			"source":      []string{"aws.autoscaling"},
			"detail-type": []string{lifecycleDetail},
			"detail": map[string]any{
				"AutoScalingGroupName": []string{ref(pControlPlaneAsgName)},
				"LifecycleHookName":    []string{ref(pLifecycleHookName)},
			},
		},
		State:   ptr("ENABLED"),
		Targets: target("lifecycle", lifecycle),
	}
	t.Resources[lBackupRule] = &events.Rule{
		Description:        ptr("cpwarden: scheduled etcd backup"),
		ScheduleExpression: ptr(findInMap(mBackupIntervals, ref(pBackupInterval), "Schedule")),
		State:              ptr("ENABLED"),
		Targets:            target("backup", backup),
	}
	t.Resources[lHealthRule] = &events.Rule{
		Description:        ptr("cpwarden: scheduled control-plane health probe"),
		ScheduleExpression: ptr(findInMap(mHealthIntervals, ref(pHealthInterval), "Schedule")),
		State:              ptr("ENABLED"),
		Targets:            target("health", health),
	}

	// The hook keeps a terminating instance in Terminating:Wait until
	// cpwarden completes the action; its heartbeat timeout must outlast the
	// workflow's longest gap between heartbeats (the parameter's minimum).
	t.Resources[lLifecycleHook] = withProps(&autoscaling.LifecycleHook{
		AutoScalingGroupName:       ref(pControlPlaneAsgName),
		LifecycleHookName:          ptr(ref(pLifecycleHookName)),
		LifecycleTransition:        statemachines.TransitionTerminating,
		DefaultResult:              ptr(ref(pHookDefaultResult)),
		AWSCloudFormationCondition: cCreateLifecycleHook,
	}, map[string]any{"HeartbeatTimeout": ref(pHookHeartbeatTimeout)})
}
