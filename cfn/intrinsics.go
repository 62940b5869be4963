package cfn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Intrinsic functions, in goformation's encoding: a base64 string holding
// the function's JSON, which Template.JSON expands in place. goformation's
// own helpers format their arguments with %q and %v, which breaks on nested
// lists and on condition references; these marshal the arguments instead.
//
// Never put a raw intrinsic object (map with a "Ref" or "Fn::" key) in the
// template: Template.JSON would evaluate it, not emit it.

func intrinsic(name string, arg any) string {
	b, err := json.Marshal(map[string]any{name: arg})
	if err != nil {
		// Only our own literal values reach here.
		panic(fmt.Sprintf("cfn: intrinsic %s: %v", name, err))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func ref(name string) string              { return intrinsic("Ref", name) }
func getAtt(resource, attr string) string { return intrinsic("Fn::GetAtt", []string{resource, attr}) }
func sub(s string) string                 { return intrinsic("Fn::Sub", s) }
func subVars(s string, vars map[string]any) string {
	return intrinsic("Fn::Sub", []any{s, vars})
}
func iff(condition string, yes, no any) string { return intrinsic("Fn::If", []any{condition, yes, no}) }
func equals(a, b any) string                   { return intrinsic("Fn::Equals", []any{a, b}) }
func not(c any) string                         { return intrinsic("Fn::Not", []any{c}) }
func or(cs ...any) string                      { return intrinsic("Fn::Or", cs) }
func findInMap(m string, top, second any) string {
	return intrinsic("Fn::FindInMap", []any{m, top, second})
}

// condition refers to a named condition inside Fn::Or/And/Not.
func condition(name string) map[string]any { return map[string]any{"Condition": name} }

// noValue removes the property or list item it stands for.
var noValue = ref("AWS::NoValue")
