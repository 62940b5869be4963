package statemachines

import (
	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/workers"
)

// The actions the health probe asks for in its output's "Action" field
// (workers/health.ProbeOut). Any other value ("None") ends the execution
// with nothing more to do.
const (
	ActionTriggerRecovery = "TriggerRecovery"
	ActionReportRecovered = "ReportRecovered"
)

// Health is the scheduled Express workflow: Probe → Choice →
// TriggerRecovery | ReportRecovered | Done. The probe keeps the count of
// consecutive failures and decides; the workflow only routes.
func Health() Workflow {
	return Workflow{
		Name: "health", Type: TypeExpress, Policy: ExpressRetry,
		Handlers: []workers.Handler{workers.HealthProbe, workers.TriggerRecovery, workers.ReportRecovered},
		build:    healthDefinition,
	}
}

func healthDefinition(r Resolver) *asl.StateMachine {
	p := ExpressRetry
	probe := task("Probe", workers.HealthProbe, r, p)
	probe.Parameters = map[string]any{"Override.$": "$.Override"}
	probe.ResultPath = asl.P("$.Probe")
	probe.Catch = []asl.Catcher{catchAll("HealthFailed")}
	probe.Next = "Decide"

	trigger := task("TriggerRecovery", workers.TriggerRecovery, r, p)
	trigger.InputPath = asl.P("$.Probe")
	trigger.ResultPath = asl.P("$.Recovery")
	trigger.Catch = []asl.Catcher{catchAll("HealthFailed")}
	trigger.End = true

	recovered := task("ReportRecovered", workers.ReportRecovered, r, p)
	recovered.InputPath = asl.P("$.Probe")
	recovered.ResultPath = asl.P("$.Recovered")
	recovered.Catch = []asl.Catcher{catchAll("HealthFailed")}
	recovered.End = true

	states := withOverride("Probe")
	states = append(states,
		probe,
		&asl.Choice{
			Name: "Decide",
			Choices: []asl.ChoiceRule{
				{Variable: "$.Probe.Action", Op: asl.OpStringEquals, Value: ActionTriggerRecovery, Next: "TriggerRecovery"},
				{Variable: "$.Probe.Action", Op: asl.OpStringEquals, Value: ActionReportRecovered, Next: "ReportRecovered"},
			},
			Default: "Done",
		},
		trigger, recovered,
		&asl.Succeed{Name: "Done"},
		failWithCaught("HealthFailed"),
	)
	return &asl.StateMachine{
		Comment: "cpwarden health: probe the control plane, start a restore after repeated quorum loss, report recovery.",
		StartAt: "HasOverride",
		States:  states,
	}
}
