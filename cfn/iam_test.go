package cfn

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/workers"
)

// starResourceActions are the only actions granted on Resource "*": each
// supports no resource-level permission (IAM service authorization
// reference), so "*" is the only resource IAM accepts for it. Any other
// action on "*" fails the test.
var starResourceActions = []string{
	"autoscaling:DescribeAutoScalingGroups",
	"ec2:DescribeInstances",
	"ec2:DescribeNetworkInterfaces",
	"ec2:DescribeSubnets",
	"logs:CreateLogDelivery",
	"logs:DeleteLogDelivery",
	"logs:DescribeLogGroups",
	"logs:DescribeResourcePolicies",
	"logs:GetLogDelivery",
	"logs:ListLogDeliveries",
	"logs:PutResourcePolicy",
	"logs:UpdateLogDelivery",
	"xray:GetSamplingRules",
	"xray:GetSamplingTargets",
	"xray:PutTelemetryRecords",
	"xray:PutTraceSegments",
}

// roleStatements returns the Allow statements of every inline policy of
// every role, resolving Fn::If to both branches (either may be deployed).
func roleStatements(t *testing.T, doc map[string]any) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for id, r := range resources(doc) {
		if r["Type"] != "AWS::IAM::Role" {
			continue
		}
		for _, p := range props(r)["Policies"].([]any) {
			for _, s := range p.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				for _, st := range branches(s) {
					out[id] = append(out[id], st)
				}
			}
		}
	}
	return out
}

func branches(s any) []map[string]any {
	m, ok := s.(map[string]any)
	if !ok {
		return nil
	}
	if f, ok := m["Fn::If"].([]any); ok {
		return append(branches(f[1]), branches(f[2])...)
	}
	if _, ok := m["Ref"]; ok { // AWS::NoValue
		return nil
	}
	return []map[string]any{m}
}

func actions(st map[string]any) []string { return anyStrings(st["Action"]) }

func TestIAMIsLeastPrivilege(t *testing.T) {
	_, doc := generated(t)
	var onStar []string
	for role, sts := range roleStatements(t, doc) {
		for _, st := range sts {
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range actions(st) {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %q", role, a)
				}
			}
			if st["Resource"] == nil {
				t.Errorf("%s: statement %v has no Resource", role, st["Sid"])
			}
			if st["Resource"] != anyResource {
				if list, ok := st["Resource"].([]any); ok && slices.Contains(list, any(anyResource)) {
					t.Errorf("%s: %v lists \"*\" among its resources", role, st["Sid"])
				}
				continue
			}
			for _, a := range actions(st) {
				onStar = append(onStar, a)
				if !slices.Contains(starResourceActions, a) {
					t.Errorf(`%s: %s granted on Resource "*" but it supports resource-level permissions`, role, a)
				}
			}
		}
	}
	onStar = slices.Compact(sortStrings(onStar))
	t.Logf("actions on Resource \"*\": %s", strings.Join(onStar, ", "))
	for _, a := range starResourceActions {
		if !slices.Contains(onStar, a) {
			t.Errorf("%s is in the allowed list but no role uses it: drop it from the list", a)
		}
	}
}

func sortStrings(s []string) []string { sort.Strings(s); return s }

// TestRolesGrantWhatTheWorkersCall pins each role's AWS actions. The older
// system's lifecycle role lacked autoscaling:DescribeAutoScalingGroups and
// refused every termination: the roles that find the control plane have it.
func TestRolesGrantWhatTheWorkersCall(t *testing.T) {
	_, doc := generated(t)
	sts := roleStatements(t, doc)
	granted := func(role string) []string {
		var out []string
		for _, st := range sts[role] {
			out = append(out, actions(st)...)
		}
		return slices.Compact(sortStrings(out))
	}
	want := map[workers.Handler][]string{
		workers.Drain:              {"secretsmanager:GetSecretValue", "ec2:DescribeInstances"},
		workers.RemoveMember:       {"secretsmanager:GetSecretValue", "autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"},
		workers.CompleteLifecycle:  {"autoscaling:CompleteLifecycleAction", "autoscaling:DescribeAutoScalingGroups"},
		workers.LifecycleHeartbeat: {"autoscaling:RecordLifecycleActionHeartbeat"},
		workers.Backup:             {"s3:PutObject", "s3:AbortMultipartUpload", "kms:GenerateDataKey", "autoscaling:DescribeAutoScalingGroups"},
		workers.VerifyBackup:       {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "kms:Decrypt", "kms:GenerateDataKey"},
		workers.PruneBackups:       {"s3:ListBucket", "s3:DeleteObject"},
		workers.HealthProbe:        {"ssm:GetParameter", "ssm:PutParameter", "autoscaling:DescribeAutoScalingGroups", "s3:ListBucket"},
		workers.TriggerRecovery:    {"ssm:PutParameter", "s3:ListBucket"},
		workers.ReportRecovered:    {"ssm:GetParameter", "ssm:PutParameter"},
	}
	for _, h := range workers.All {
		got := granted(roleID(h))
		for _, a := range append(want[h], "logs:CreateLogStream", "logs:PutLogEvents") {
			if !slices.Contains(got, a) {
				t.Errorf("%s role lacks %s (has %v)", h, a, got)
			}
		}
	}
	// Workers never change the group or delete anything but pruned backups.
	for _, h := range workers.All {
		for _, a := range granted(roleID(h)) {
			// Only prune deletes, and verify removes its staged copy.
			if a == "s3:DeleteObject" && h != workers.PruneBackups && h != workers.VerifyBackup {
				t.Errorf("%s may delete backups", h)
			}
			if strings.HasPrefix(a, "autoscaling:") && !strings.HasPrefix(a, "autoscaling:Describe") &&
				h != workers.CompleteLifecycle && h != workers.LifecycleHeartbeat {
				t.Errorf("%s may call %s", h, a)
			}
		}
	}
	for _, wf := range []string{"Lifecycle", "Backup", "Health"} {
		got := granted(wf + "StateMachineRole")
		if !slices.Contains(got, "lambda:InvokeFunction") {
			t.Errorf("%s state machine cannot invoke its workers", wf)
		}
	}
}

// TestStateMachinesInvokeOnlyTheirWorkers: a state machine's role names
// exactly its own functions.
func TestStateMachinesInvokeOnlyTheirWorkers(t *testing.T) {
	_, doc := generated(t)
	sts := roleStatements(t, doc)
	for _, wf := range []string{"Lifecycle", "Backup", "Health"} {
		for _, st := range sts[wf+"StateMachineRole"] {
			if !slices.Contains(actions(st), "lambda:InvokeFunction") {
				continue
			}
			invoked := map[string]bool{}
			for _, r := range st["Resource"].([]any) {
				m := r.(map[string]any)
				if ga, ok := m["Fn::GetAtt"].([]any); ok {
					invoked[ga[0].(string)] = true
				} else if s, ok := m["Fn::Sub"].(string); ok {
					invoked[strings.TrimSuffix(strings.TrimPrefix(s, "${"), ".Arn}:*")] = true
				} else {
					t.Errorf("%s state machine: unexpected resource %v", wf, m)
				}
			}
			var want []string
			for _, h := range mustWorkflow(t, strings.ToLower(wf)).Handlers {
				want = append(want, functionID(h))
			}
			var got []string
			for id := range invoked {
				got = append(got, id)
			}
			if !slices.Equal(sortStrings(got), sortStrings(want)) {
				t.Errorf("%s state machine invokes %v, want %v", wf, got, want)
			}
		}
	}
}
