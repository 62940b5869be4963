package cfn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/awslabs/goformation/v7/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sampleParameters are deploy-time values for the parameters without a
// default, as a user would pass them. Number parameters are given as
// numbers: CloudFormation hands a Ref to a Number parameter to an integer
// property as that number.
var sampleParameters = map[string]any{
	pClusterName:         "prod-eu1",
	pControlPlaneAsgName: "prod-eu1-control-plane",
	pSubnetIds:           []any{"subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"},
	pSecurityGroupIds:    []any{"sg-0a1b2c3d4e5f60718"},
	pEtcdTLSSecretArn:    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod-eu1/etcd-client-AbCdEf",
	pKubeSecretArn:       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod-eu1/kube-cpwarden-AbCdEf",
	pCodeS3Bucket:        "artifacts-123456789012",
	pCodeS3Key:           "cpwarden/bootstrap-0123456789abcdef.zip",
}

// resolved renders the template as CloudFormation would deploy it with
// sampleParameters: parameters substituted, conditions evaluated, Fn::If
// and Fn::FindInMap applied, each GetAtt and resource Ref replaced by a
// plausible string.
func resolved(t *testing.T, tmpl []byte, doc map[string]any) []byte {
	t.Helper()
	overrides := map[string]any{}
	for name, raw := range doc["Parameters"].(map[string]any) {
		p := raw.(map[string]any)
		v, ok := sampleParameters[name]
		if !ok {
			v = p["Default"]
		}
		if p["Type"] == "Number" {
			v = number(t, v)
		}
		overrides[name] = v
	}
	// goformation evaluates a "Condition" key wherever it is, which would
	// replace a conditional resource by a boolean: evaluate the Conditions
	// section alone first, then drop the resources whose condition is
	// false and the Condition attribute of the others.
	condDoc, err := json.Marshal(map[string]any{"Parameters": doc["Parameters"], "Mappings": doc["Mappings"], "Conditions": doc["Conditions"]})
	if err != nil {
		t.Fatal(err)
	}
	condOut, err := intrinsics.ProcessJSON(condDoc, &intrinsics.ProcessorOptions{ParameterOverrides: overrides, EvaluateConditions: true})
	if err != nil {
		t.Fatalf("evaluate conditions: %v", err)
	}
	var evaluated map[string]any
	if err := json.Unmarshal(condOut, &evaluated); err != nil {
		t.Fatal(err)
	}
	conds := evaluated["Conditions"].(map[string]any)
	var full map[string]any
	if err := json.Unmarshal(tmpl, &full); err != nil {
		t.Fatal(err)
	}
	full["Conditions"] = conds
	res := full["Resources"].(map[string]any)
	for id, raw := range res {
		r := raw.(map[string]any)
		name, ok := r["Condition"].(string)
		if !ok {
			continue
		}
		if v, _ := conds[name].(bool); !v {
			delete(res, id)
			continue
		}
		delete(r, "Condition")
	}
	tmpl, err = json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	opts := &intrinsics.ProcessorOptions{
		ParameterOverrides: overrides,
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Fn::GetAtt": func(_ string, in any, _ any) any {
				parts, _ := in.([]any)
				if len(parts) != 2 {
					return nil
				}
				return "arn:aws:resolved:eu-west-1:123456789012:" + parts[0].(string) + "/" + parts[1].(string)
			},
			"Ref": func(name string, in any, tmpl any) any {
				if id, ok := in.(string); ok {
					if _, isResource := res[id]; isResource {
						return "physical-" + id
					}
				}
				return intrinsics.Ref(name, in, tmpl)
			},
		},
	}
	out, err := intrinsics.ProcessJSON(tmpl, opts)
	if err != nil {
		t.Fatalf("resolve intrinsics: %v", err)
	}
	var deployed any
	if err := json.Unmarshal(out, &deployed); err != nil {
		t.Fatal(err)
	}
	if out, err = json.Marshal(dropNoValue(deployed)); err != nil {
		t.Fatal(err)
	}
	return out
}

// dropNoValue applies AWS::NoValue (resolved to null): the property or list
// item it stands for is removed.
func dropNoValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNoValue(e)
		}
	case []any:
		out := x[:0]
		for _, e := range x {
			if e != nil {
				out = append(out, dropNoValue(e))
			}
		}
		return out
	}
	return v
}

const schemaURL = "file:///goformation/cloudformation.schema.json"

// goformationSchema returns goformation's CloudFormation schema cut down to
// what the template uses (the resource types in types, the definitions they
// reference, the root's other sections), with one correction. The cut keeps
// every rule that applies and makes compiling take a second instead of a
// minute. goformation's $id claims the draft-04 meta-schema's URL, which a
// validator would take for the meta-schema itself, so it is dropped.
func goformationSchema(t *testing.T, types []string) *jsonschema.Compiler {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema.CloudformationSchema))
	if err != nil {
		t.Fatalf("goformation schema: %v", err)
	}
	full := doc.(map[string]any)
	defs := full["definitions"].(map[string]any)
	// DefinitionSubstitutions: goformation's generator typed the map's
	// values as objects (the old specification's "Json"); CloudFormation's
	// registry schema for AWS::StepFunctions::StateMachine, which cfn-lint
	// uses, says string, integer or boolean. Only this definition is
	// corrected, to what the service documents.
	sm := defs["AWS::StepFunctions::StateMachine"].(map[string]any)["properties"].(map[string]any)["Properties"].(map[string]any)["properties"].(map[string]any)
	sm["DefinitionSubstitutions"] = map[string]any{
		"type":                 "object",
		"additionalProperties": map[string]any{"type": []any{"string", "integer", "boolean"}},
	}

	keep := map[string]any{}
	var visit func(v any)
	visit = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok && strings.HasPrefix(r, "#/definitions/") {
				name := strings.TrimPrefix(r, "#/definitions/")
				if _, done := keep[name]; !done {
					keep[name] = defs[name]
					visit(defs[name])
				}
			}
			for _, e := range x {
				visit(e)
			}
		case []any:
			for _, e := range x {
				visit(e)
			}
		}
	}
	props := full["properties"].(map[string]any)
	for _, typ := range types {
		if _, ok := defs[typ]; !ok {
			t.Fatalf("type %s is not in goformation's schema", typ)
		}
		keep[typ] = defs[typ]
		visit(defs[typ])
	}
	small := map[string]any{"definitions": keep, "properties": map[string]any{}}
	for k, v := range props {
		if k == "Resources" {
			continue
		}
		small["properties"].(map[string]any)[k] = v
		visit(v)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(schemaURL, small); err != nil {
		t.Fatal(err)
	}
	return c
}

func resourceTypes(doc map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, raw := range doc["Resources"].(map[string]any) {
		typ := raw.(map[string]any)["Type"].(string)
		if !seen[typ] {
			seen[typ] = true
			out = append(out, typ)
		}
	}
	return out
}

// validateTemplate checks each resource against its type's definition, and
// the other sections of source (the template as written) against the
// root's.
func validateTemplate(t *testing.T, c *jsonschema.Compiler, doc, source map[string]any) []string {
	t.Helper()
	var problems []string
	compiled := map[string]*jsonschema.Schema{}
	for id, raw := range doc["Resources"].(map[string]any) {
		typ := raw.(map[string]any)["Type"].(string)
		s, ok := compiled[typ]
		if !ok {
			var err error
			if s, err = c.Compile(schemaURL + "#/definitions/" + typ); err != nil {
				t.Fatalf("compile schema of %s: %v", typ, err)
			}
			compiled[typ] = s
		}
		if err := s.Validate(roundTrip(t, raw)); err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", id, typ, err))
		}
	}
	for _, section := range []string{"Parameters", "Outputs", "Mappings", "Conditions", "Metadata"} {
		// Parameters and Conditions as written: the resolved document has
		// the deploy-time values in their place.
		v, ok := source[section]
		if !ok {
			continue
		}
		s, err := c.Compile(schemaURL + "#/properties/" + section)
		if err != nil {
			t.Fatalf("compile schema of %s: %v", section, err)
		}
		if err := s.Validate(roundTrip(t, v)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", section, err))
		}
	}
	return problems
}

// roundTrip converts v to the value types the validator expects.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func resolvedDoc(t *testing.T) map[string]any {
	t.Helper()
	tmpl, doc := generated(t)
	var out map[string]any
	if err := json.Unmarshal(resolved(t, tmpl, doc), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTemplateMatchesGoformationSchema(t *testing.T) {
	_, source := generated(t)
	for _, p := range validateTemplate(t, goformationSchema(t, resourceTypes(source)), resolvedDoc(t), source) {
		t.Error(p)
	}
}

// TestSchemaCatchesMistakes proves the schema check can fail: a misspelt
// property and a wrong type are rejected.
func TestSchemaCatchesMistakes(t *testing.T) {
	_, source := generated(t)
	c := goformationSchema(t, resourceTypes(source))
	tests := []struct {
		name string
		edit func(fn map[string]any)
	}{
		{name: "unknown property", edit: func(fn map[string]any) { fn["Timeoutt"] = 30 }},
		{name: "string where a number belongs", edit: func(fn map[string]any) { fn["MemorySize"] = "lots" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := resolvedDoc(t)
			tt.edit(doc["Resources"].(map[string]any)[functionID("drain")].(map[string]any)["Properties"].(map[string]any))
			if len(validateTemplate(t, c, doc, source)) == 0 {
				t.Fatal("schema accepted the broken template")
			}
		})
	}
}
