package statemachines

import (
	"reflect"
	"slices"
	"testing"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers"
)

func probe(action string, healthy, failures float64) outcome {
	return ok(map[string]any{"Action": action, "HealthyInstances": healthy, "ConsecutiveFailures": failures})
}

func TestHealthPaths(t *testing.T) {
	tests := []struct {
		name       string
		probe      outcome
		wantPath   []string
		wantStatus string
		wantError  string
		wantCalls  map[workers.Handler]int
	}{
		{name: "healthy", probe: probe("None", 3, 0),
			wantPath: []string{"HasOverride", "NoOverride", "Probe", "Decide", "Done"}, wantStatus: "SUCCEEDED",
			wantCalls: map[workers.Handler]int{workers.HealthProbe: 1}},
		{name: "quorum lost below the threshold only counts", probe: probe("None", 1, 2),
			wantPath: []string{"HasOverride", "NoOverride", "Probe", "Decide", "Done"}, wantStatus: "SUCCEEDED",
			wantCalls: map[workers.Handler]int{workers.HealthProbe: 1}},
		{name: "threshold reached triggers recovery", probe: probe(ActionTriggerRecovery, 1, 5),
			wantPath: []string{"HasOverride", "NoOverride", "Probe", "Decide", "TriggerRecovery"}, wantStatus: "SUCCEEDED",
			wantCalls: map[workers.Handler]int{workers.HealthProbe: 1, workers.TriggerRecovery: 1}},
		{name: "health back after failures reports recovery", probe: probe(ActionReportRecovered, 3, 0),
			wantPath: []string{"HasOverride", "NoOverride", "Probe", "Decide", "ReportRecovered"}, wantStatus: "SUCCEEDED",
			wantCalls: map[workers.Handler]int{workers.HealthProbe: 1, workers.ReportRecovered: 1}},
		{name: "probe failure fails the execution", probe: fail(faults.Internal, "ssm: AccessDenied"),
			wantPath: []string{"HasOverride", "NoOverride", "Probe", "HealthFailed"}, wantStatus: "FAILED", wantError: faults.Internal,
			wantCalls: map[workers.Handler]int{workers.HealthProbe: 1}},
		{name: "throttled probe is retried once", probe: fail(faults.AWSThrottled, "Rate exceeded"),
			wantPath: []string{"HasOverride", "NoOverride", "Probe", "HealthFailed"}, wantStatus: "FAILED", wantError: faults.AWSThrottled,
			wantCalls: map[workers.Handler]int{workers.HealthProbe: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(map[workers.Handler][]outcome{workers.HealthProbe: {tt.probe}})
			r := execute(t, Health(), scheduledEvent, f)
			if r.exec.Status != tt.wantStatus || r.exec.Error != tt.wantError {
				t.Fatalf("status %s error %q (%s), want %s %q", r.exec.Status, r.exec.Error, r.exec.Cause, tt.wantStatus, tt.wantError)
			}
			if !slices.Equal(r.path, tt.wantPath) {
				t.Fatalf("path\n got %v\nwant %v", r.path, tt.wantPath)
			}
			for _, h := range Health().Handlers {
				if got := len(f.callsOf(h)); got != tt.wantCalls[h] {
					t.Errorf("%s called %d times, want %d", h, got, tt.wantCalls[h])
				}
			}
			if tt.wantCalls[workers.TriggerRecovery]+tt.wantCalls[workers.ReportRecovered] > 0 {
				var c call
				if cs := f.callsOf(workers.TriggerRecovery); len(cs) > 0 {
					c = cs[0]
				} else {
					c = f.callsOf(workers.ReportRecovered)[0]
				}
				if !reflect.DeepEqual(c.Input, tt.probe.out) {
					t.Errorf("%s got %v, want the probe's result", c.Handler, c.Input)
				}
			}
		})
	}
}

// TestHealthSchedule runs one execution per scheduled probe, with a probe
// that keeps its consecutive-failure count across executions (as the worker
// does in SSM) and decides with a threshold of 3: quorum lost for five
// probes starts exactly one recovery, and health coming back reports
// recovery once.
func TestHealthSchedule(t *testing.T) {
	const threshold = 3
	quorumLost := []bool{false, true, true, true, true, true, false, false}
	failures, recovering := 0, false
	var recoveries, recovered int
	for i, lost := range quorumLost {
		decision := "None"
		switch {
		case lost:
			failures++
			decision = "None"
			if failures == threshold && !recovering {
				decision, recovering = ActionTriggerRecovery, true
			}
		case failures > 0:
			failures, recovering = 0, false
			decision = ActionReportRecovered
		}
		f := newFakes(map[workers.Handler][]outcome{workers.HealthProbe: {probe(decision, 1, float64(failures))}})
		r := execute(t, Health(), scheduledEvent, f)
		if r.exec.Status != "SUCCEEDED" {
			t.Fatalf("probe %d: %s %s", i, r.exec.Status, r.exec.Error)
		}
		recoveries += len(f.callsOf(workers.TriggerRecovery))
		recovered += len(f.callsOf(workers.ReportRecovered))
	}
	if recoveries != 1 || recovered != 1 {
		t.Fatalf("recoveries %d, recovered reports %d; want 1 and 1", recoveries, recovered)
	}
}

func TestHealthPassesTheOverride(t *testing.T) {
	tests := map[string]map[string]any{
		scheduledEvent:                        {"Override": map[string]any{}},
		`{"Override":{"FailureThreshold":2}}`: {"Override": map[string]any{"FailureThreshold": 2.0}},
	}
	for input, want := range tests {
		f := newFakes(map[workers.Handler][]outcome{workers.HealthProbe: {probe("None", 3, 0)}})
		execute(t, Health(), input, f)
		if got := f.callsOf(workers.HealthProbe)[0].Input; !reflect.DeepEqual(got, want) {
			t.Errorf("probe input %v, want %v", got, want)
		}
	}
}
