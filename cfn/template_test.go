package cfn

import (
	"bytes"
	"cmp"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// generated renders the template and decodes it for inspection.
func generated(t *testing.T) ([]byte, map[string]any) {
	t.Helper()
	b, err := JSON()
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("template is not JSON: %v", err)
	}
	return b, doc
}

func resources(doc map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range doc["Resources"].(map[string]any) {
		out[id] = r.(map[string]any)
	}
	return out
}

func props(r map[string]any) map[string]any { return r["Properties"].(map[string]any) }

func TestTemplateIsUpToDate(t *testing.T) {
	want, _ := generated(t)
	got, err := os.ReadFile("template.json")
	if err != nil {
		t.Fatalf("read template.json: %v (run `make generate`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("cfn/template.json is stale: run `make generate` (go generate ./...) and commit the result")
	}
}

func TestTemplateIsDeterministic(t *testing.T) {
	a, _ := generated(t)
	b, _ := generated(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the template differ")
	}
}

// TestNoUnexpandedIntrinsics guards against goformation leaving an
// intrinsic in its base64 form, or evaluating one we wrote raw.
func TestNoUnexpandedIntrinsics(t *testing.T) {
	b, _ := generated(t)
	if m := regexp.MustCompile(`"eyA?i?[A-Za-z0-9+/=]{8,}"`).Find(b); m != nil {
		t.Fatalf("template holds an encoded intrinsic: %s", m)
	}
}

func TestOneFunctionPerHandler(t *testing.T) {
	_, doc := generated(t)
	res := resources(doc)
	for _, h := range workers.All {
		fn, ok := res[functionID(h)]
		if !ok || fn["Type"] != "AWS::Lambda::Function" {
			t.Fatalf("%s: no function %s", h, functionID(h))
		}
		p := props(fn)
		if p["Handler"] != string(h) || p["Runtime"] != "provided.al2023" || !slices.Equal(anyStrings(p["Architectures"]), []string{"arm64"}) {
			t.Errorf("%s: Handler %v Runtime %v Architectures %v", h, p["Handler"], p["Runtime"], p["Architectures"])
		}
		if got, want := p["Timeout"], float64(statemachines.TimingOf(h).LambdaTimeoutSeconds); got != want {
			t.Errorf("%s: Timeout %v, want %v (statemachines timing)", h, got, want)
		}
		if want := map[string]any{"Fn::Sub": functionNameSub(h)}; !jsonEqual(p["FunctionName"], want) {
			t.Errorf("%s: FunctionName %v, want %v", h, p["FunctionName"], want)
		}
		var vars []string
		for k := range p["Environment"].(map[string]any)["Variables"].(map[string]any) {
			vars = append(vars, k)
		}
		var want []string
		for _, v := range workers.EnvOf(h) {
			want = append(want, string(v))
		}
		sort.Strings(vars)
		sort.Strings(want)
		if !slices.Equal(vars, want) {
			t.Errorf("%s: environment %v, want %v", h, vars, want)
		}
		lg := props(res[logGroupID(h)])
		if !jsonEqual(lg["RetentionInDays"], map[string]any{"Ref": pLogRetentionDays}) {
			t.Errorf("%s: log group retention %v", h, lg["RetentionInDays"])
		}
		if !jsonEqual(p["LoggingConfig"].(map[string]any)["LogGroup"], map[string]any{"Ref": logGroupID(h)}) {
			t.Errorf("%s: function does not log to its own log group", h)
		}
		_, vpc := p["VpcConfig"]
		if vpc != spec(h).InVPC {
			t.Errorf("%s: VpcConfig present = %v, want %v (its spec)", h, vpc, spec(h).InVPC)
		}
		if got, want := p["MemorySize"], float64(cmp.Or(spec(h).MemoryMiB, defaultMemoryMiB)); got != want {
			t.Errorf("%s: MemorySize %v, want %v (its spec)", h, got, want)
		}
	}
}

func TestStateMachinesEmbedTheDefinitions(t *testing.T) {
	_, doc := generated(t)
	res := resources(doc)
	placeholder := regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)
	for _, w := range statemachines.Workflows() {
		sm, ok := res[stateMachineID(w)]
		if !ok {
			t.Fatalf("no state machine for %s", w.Name)
		}
		p := props(sm)
		want, err := w.JSON(statemachines.TemplateResource)
		if err != nil {
			t.Fatal(err)
		}
		if p["DefinitionString"] != string(want) {
			t.Errorf("%s: DefinitionString differs from statemachines' definition", w.Name)
		}
		if p["StateMachineType"] != w.Type {
			t.Errorf("%s: type %v, want %s", w.Name, p["StateMachineType"], w.Type)
		}
		subs := p["DefinitionSubstitutions"].(map[string]any)
		used := map[string]bool{}
		for _, m := range placeholder.FindAllStringSubmatch(string(want), -1) {
			used[m[1]] = true
			if _, ok := subs[m[1]]; !ok {
				t.Errorf("%s: placeholder ${%s} has no substitution", w.Name, m[1])
			}
		}
		for _, h := range w.Handlers {
			key := statemachines.SubstitutionKey(h)
			if !jsonEqual(subs[key], map[string]any{"Fn::GetAtt": []any{functionID(h), "Arn"}}) {
				t.Errorf("%s: %s = %v, want the ARN of %s", w.Name, key, subs[key], functionID(h))
			}
			if !used[key] {
				t.Errorf("%s: substitution %s is never used", w.Name, key)
			}
		}
		if used[statemachines.ClusterNameKey] && !jsonEqual(subs[statemachines.ClusterNameKey], map[string]any{"Ref": pClusterName}) {
			t.Errorf("%s: %s = %v, want the ClusterName parameter", w.Name, statemachines.ClusterNameKey, subs[statemachines.ClusterNameKey])
		}
		if len(subs) != len(used) {
			t.Errorf("%s: %d substitutions for %d placeholders", w.Name, len(subs), len(used))
		}
		if tc := p["TracingConfiguration"].(map[string]any); tc["Enabled"] != true {
			t.Errorf("%s: X-Ray tracing off", w.Name)
		}
		if _, ok := p["LoggingConfiguration"]; !ok {
			t.Errorf("%s: no logging", w.Name)
		}
	}
}

func TestHookHeartbeatTimeoutCoversTheWorkflow(t *testing.T) {
	_, doc := generated(t)
	param := doc["Parameters"].(map[string]any)[pHookHeartbeatTimeout].(map[string]any)
	minV := number(t, param["MinValue"])
	def := number(t, param["Default"])
	if minV < statemachines.WorstHeartbeatGapSeconds() {
		t.Fatalf("hook heartbeat timeout minimum %v < worst gap between heartbeats %v", minV, statemachines.WorstHeartbeatGapSeconds())
	}
	if def < minV || number(t, param["MaxValue"]) > 7200 {
		t.Fatalf("default %v / max %v outside [%v, 7200]", def, param["MaxValue"], minV)
	}
	hook := props(resources(doc)[lLifecycleHook])
	if !jsonEqual(hook["HeartbeatTimeout"], map[string]any{"Ref": pHookHeartbeatTimeout}) ||
		hook["LifecycleTransition"] != statemachines.TransitionTerminating {
		t.Fatalf("lifecycle hook = %v", hook)
	}
}

func TestLifecycleRuleMatchesOnlyOurHook(t *testing.T) {
	_, doc := generated(t)
	p := props(resources(doc)[lLifecycleRule])
	want := map[string]any{
		"source":      []any{"aws.autoscaling"},
		"detail-type": []any{"EC2 Instance-terminate Lifecycle Action"},
		"detail": map[string]any{
			"AutoScalingGroupName": []any{map[string]any{"Ref": pControlPlaneAsgName}},
			"LifecycleHookName":    []any{map[string]any{"Ref": pLifecycleHookName}},
		},
	}
	if !jsonEqual(p["EventPattern"], want) {
		t.Fatalf("EventPattern = %v", p["EventPattern"])
	}
}

func TestEveryParameterIsUsedAndDocumented(t *testing.T) {
	b, doc := generated(t)
	for name, raw := range doc["Parameters"].(map[string]any) {
		p := raw.(map[string]any)
		if d, _ := p["Description"].(string); d == "" {
			t.Errorf("%s has no description", name)
		}
		if p["Type"] == "String" && p["AllowedPattern"] == nil && p["AllowedValues"] == nil {
			t.Errorf("%s: a String parameter without AllowedPattern or AllowedValues", name)
		}
		if !bytes.Contains(b, []byte(`"Ref": "`+name+`"`)) && !bytes.Contains(b, []byte("${"+name+"}")) {
			t.Errorf("%s is never used", name)
		}
	}
}

func TestBucketIsLockedDown(t *testing.T) {
	_, doc := generated(t)
	res := resources(doc)
	b := props(res[lBackupBucket])
	if b["VersioningConfiguration"].(map[string]any)["Status"] != "Enabled" {
		t.Error("bucket not versioned")
	}
	enc := b["BucketEncryption"].(map[string]any)["ServerSideEncryptionConfiguration"].([]any)[0].(map[string]any)
	if enc["ServerSideEncryptionByDefault"].(map[string]any)["SSEAlgorithm"] != "aws:kms" {
		t.Error("bucket not KMS-encrypted")
	}
	for k, v := range b["PublicAccessBlockConfiguration"].(map[string]any) {
		if v != true {
			t.Errorf("public access block %s = %v", k, v)
		}
	}
	policy, _ := json.Marshal(props(res[lBackupBucketPolicy]))
	if !strings.Contains(string(policy), `"aws:SecureTransport":"false"`) || !strings.Contains(string(policy), `"Effect":"Deny"`) {
		t.Errorf("bucket policy does not deny plain HTTP: %s", policy)
	}
	if len(b["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)) == 0 {
		t.Error("no lifecycle rules")
	}
	for _, id := range []string{lBackupBucket, lBackupKey} {
		if res[id]["DeletionPolicy"] != "Retain" || res[id]["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s is not retained", id)
		}
	}
}

func TestOutputs(t *testing.T) {
	_, doc := generated(t)
	outs := doc["Outputs"].(map[string]any)
	for _, name := range []string{"LifecycleStateMachineArn", "BackupStateMachineArn", "HealthStateMachineArn", "BackupBucketName", "DashboardUrl"} {
		if _, ok := outs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func number(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return x
	case string:
		var f float64
		if err := json.Unmarshal([]byte(x), &f); err != nil {
			t.Fatalf("not a number: %q", x)
		}
		return f
	}
	t.Fatalf("not a number: %v", v)
	return 0
}

func mustWorkflow(t *testing.T, name string) statemachines.Workflow {
	t.Helper()
	w, ok := statemachines.ByName(name)
	if !ok {
		t.Fatalf("no workflow %q", name)
	}
	return w
}
