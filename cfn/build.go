package cfn

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/awslabs/goformation/v7/cloudformation"

	"github.com/cpwarden/cpwarden/statemachines"
)

// Build returns cpwarden's template: everything one cluster's stack needs,
// configured by its parameters at deploy time.
func Build() (*cloudformation.Template, error) {
	t := cloudformation.NewTemplate()
	t.Description = "cpwarden: keeps a self-managed Kubernetes control plane safe on AWS (lifecycle drain and etcd member removal, verified etcd backups, health and recovery)."
	t.Metadata = parameterGroups()
	t.Parameters = parameters()
	t.Conditions = conditions()
	t.Mappings = mappings()

	addFunctions(t)
	addBucket(t)
	if err := addWorkflows(t); err != nil {
		return nil, err
	}
	addTriggers(t)
	addAlarms(t)
	if err := addDashboard(t); err != nil {
		return nil, err
	}

	for _, w := range statemachines.Workflows() {
		id := stateMachineID(w)
		t.Outputs[title(w.Name)+"StateMachineArn"] = cloudformation.Output{
			Value: ref(id), Description: ptr("ARN of the " + w.Name + " state machine"),
		}
	}
	t.Outputs["BackupBucketName"] = cloudformation.Output{Value: backupBucketName(), Description: ptr("Bucket of the etcd backups")}
	t.Outputs["DashboardUrl"] = cloudformation.Output{
		Value:       sub("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${" + lDashboard + "}"),
		Description: ptr("The cpwarden dashboard"),
	}
	return t, nil
}

// JSON is the template as checked in at cfn/template.json.
func JSON() ([]byte, error) {
	t, err := Build()
	if err != nil {
		return nil, err
	}
	b, err := t.JSON()
	if err != nil {
		return nil, fmt.Errorf("render template: %w", err)
	}
	b, err = numbersAsStrings(b)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// numbersAsStrings writes the numeric attributes of parameters (Default,
// MinValue, MaxValue, AllowedValues) as strings, the form of AWS's own JSON
// examples and of goformation's schema; goformation's Parameter type holds
// MinValue and MaxValue as float64, so they are rewritten after rendering.
func numbersAsStrings(b []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("re-read template: %w", err)
	}
	params, _ := doc["Parameters"].(map[string]any)
	for _, raw := range params {
		p := raw.(map[string]any)
		for _, k := range []string{"Default", "MinValue", "MaxValue"} {
			if f, ok := p[k].(float64); ok {
				p[k] = strconv.FormatFloat(f, 'f', -1, 64)
			}
		}
		if vs, ok := p["AllowedValues"].([]any); ok {
			for i, v := range vs {
				if f, ok := v.(float64); ok {
					vs[i] = strconv.FormatFloat(f, 'f', -1, 64)
				}
			}
		}
	}
	// The same encoder settings as goformation's, so the file keeps its shape.
	return json.MarshalIndent(doc, "", "  ")
}
