package asl

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// defOne wraps a single state named S in a state machine.
func defOne(state string) string { return `{"StartAt":"S","States":{"S":` + state + `}}` }

// defStates wraps states (starting with A) in a state machine.
func defStates(states string) string { return `{"StartAt":"A","States":{` + states + `}}` }

// checkValidation asserts that err holds exactly the wanted problems, each written "path: fragment of the message".
func checkValidation(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("want no error, got %v", err)
		}
		return
	}
	var errs DefinitionErrors
	if !errors.As(err, &errs) {
		t.Fatalf("want DefinitionErrors, got %T %v", err, err)
	}
	used := make([]bool, len(errs))
	for _, w := range want {
		path, frag, _ := strings.Cut(w, ": ")
		found := false
		for i, e := range errs {
			if !used[i] && e.Path == path && strings.Contains(e.Msg, frag) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing error %q", w)
		}
	}
	for i, e := range errs {
		if !used[i] {
			t.Errorf("unexpected error %q", e.Error())
		}
	}
}

func TestValidateRules(t *testing.T) {
	const lambda = `"Resource":"arn:aws:lambda:us-east-1:123456789012:function:f"`
	tests := []struct {
		name string
		def  string
		want []string // "path: message fragment"; empty means valid
	}{
		// The document.
		{"minimal machine is valid", defOne(`{"Type":"Succeed"}`), nil},
		{"not JSON is rejected", `{"StartAt":`, []string{": not valid JSON"}},
		{"a definition that is not an object is rejected", `[]`, []string{": is a JSON object, not array"}},
		{"StartAt is required", `{"States":{"S":{"Type":"Succeed"}}}`, []string{"StartAt: is required"}},
		{"StartAt names a state", `{"StartAt":"X","States":{"S":{"Type":"Succeed"}}}`,
			[]string{`StartAt: names no state of this machine: "X"`}},
		{"States is required", `{"StartAt":"S"}`, []string{"States: is required"}},
		{"States is not empty", `{"StartAt":"S","States":{}}`, []string{"States: at least one state"}},
		{"unknown top-level field", `{"StartAt":"S","Foo":1,"States":{"S":{"Type":"Succeed"}}}`,
			[]string{"Foo: not allowed in a state machine"}},
		{"top-level TimeoutSeconds is positive", `{"StartAt":"S","TimeoutSeconds":0,"States":{"S":{"Type":"Succeed"}}}`,
			[]string{"TimeoutSeconds: between 1 and 99999999, not 0"}},
		{"QueryLanguage is JSONPath or JSONata", `{"StartAt":"S","QueryLanguage":"XPath","States":{"S":{"Type":"Succeed"}}}`,
			[]string{`QueryLanguage: not "XPath"`}},
		{"a member given twice is reported", `{"StartAt":"S","States":{"S":{"Type":"Pass","End":true},"S":{"Type":"Succeed"}}}`,
			[]string{"States.S: appears more than once"}},

		// State names and types.
		{"state names have at most 80 characters", `{"StartAt":"` + strings.Repeat("é", 81) + `","States":{"` + strings.Repeat("é", 81) + `":{"Type":"Succeed"}}}`,
			[]string{"States." + strings.Repeat("é", 81) + ": at most 80 characters; this one has 81"}},
		{"a name of 80 characters is fine", `{"StartAt":"` + strings.Repeat("n", 80) + `","States":{"` + strings.Repeat("n", 80) + `":{"Type":"Succeed"}}}`, nil},
		{"names are unique across branches", defOne(`{"Type":"Parallel","Branches":[{"StartAt":"S","States":{"S":{"Type":"Succeed"}}}],"End":true}`),
			[]string{`States.S.Branches[0].States.S: "S" is already used at States.S`}},
		{"Type is required", defOne(`{"End":true}`), []string{"States.S.Type: is required"}},
		{"Type is a known state type", defOne(`{"Type":"Sleep","End":true}`), []string{`States.S.Type: unknown state type "Sleep"`}},
		{"a state is an object", `{"StartAt":"S","States":{"S":"Succeed"}}`, []string{"States.S: a state is a JSON object, not string"}},
		{"unknown field of a state", defOne(`{"Type":"Pass","Foo":1,"End":true}`), []string{"States.S.Foo: not allowed in a Pass state"}},
		{"ResultSelector is not a Pass field", defOne(`{"Type":"Pass","ResultSelector":{},"End":true}`),
			[]string{"States.S.ResultSelector: not allowed in a Pass state"}},
		{"Parameters is not a Wait field", defOne(`{"Type":"Wait","Seconds":1,"Parameters":{},"End":true}`),
			[]string{"States.S.Parameters: not allowed in a Wait state"}},
		{"a JSONata field in a JSONPath state", defOne(`{"Type":"Pass","Output":{},"End":true}`),
			[]string{"States.S.Output: belongs to JSONata; this Pass state is JSONPath"}},
		{"a JSONPath field in a JSONata state", defOne(`{"Type":"Task","QueryLanguage":"JSONata",` + lambda + `,"Parameters":{},"End":true}`),
			[]string{"States.S.Parameters: belongs to JSONPath; this Task state is JSONata"}},
		{"no JSONPath state in a JSONata machine", `{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Pass","QueryLanguage":"JSONPath","End":true}}}`,
			[]string{"States.S.QueryLanguage: cannot use JSONPath when the state machine's QueryLanguage is JSONata"}},
		{"states inherit JSONata from the top level", `{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Pass","InputPath":"$","End":true}}}`,
			[]string{"States.S.InputPath: belongs to JSONPath"}},

		// Transitions.
		{"a state needs Next or End", defOne(`{"Type":"Pass"}`), []string{"States.S: needs Next, or \"End\": true"}},
		{"End false is no end", defOne(`{"Type":"Pass","End":false}`), []string{"States.S: needs Next"}},
		{"Next and End together", defStates(`"A":{"Type":"Pass","Next":"B","End":true},"B":{"Type":"Succeed"}`),
			[]string{"States.A: has both Next and \"End\": true"}},
		{"Next with End false is fine", defStates(`"A":{"Type":"Pass","Next":"B","End":false},"B":{"Type":"Succeed"}`), nil},
		{"dangling Next", defOne(`{"Type":"Pass","Next":"Nowhere"}`),
			[]string{`States.S.Next: names no state of this machine: "Nowhere"`}},
		{"Next is a string", defOne(`{"Type":"Pass","Next":1,"End":true}`),
			[]string{"States.S.Next: must be a string, not number", "States.S: has both Next and \"End\": true"}},
		{"End is a boolean", defOne(`{"Type":"Pass","End":"yes"}`),
			[]string{"States.S.End: must be a boolean, not string", "States.S: needs Next"}},
		{"unreachable states are reported, chains included",
			defStates(`"A":{"Type":"Succeed"},"B":{"Type":"Pass","Next":"C"},"C":{"Type":"Pass","Next":"A"}`),
			[]string{"States.B: unreachable", "States.C: unreachable"}},
		{"a state reached only through Catch is reachable",
			defStates(`"A":{"Type":"Task",` + lambda + `,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"B"}],"End":true},"B":{"Type":"Fail"}`), nil},
		{"a loop without an end", defStates(`"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}`),
			[]string{"States: no state ends this machine"}},
		{"Choice has no Next", defStates(`"A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsNull":true,"Next":"B"}],"Next":"B"},"B":{"Type":"Succeed"}`),
			[]string{"States.A.Next: a Choice state has no Next"}},
		{"Choice has no End", defStates(`"A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsNull":true,"Next":"B"}],"End":true},"B":{"Type":"Succeed"}`),
			[]string{"States.A.End: a Choice state has no End"}},
		{"Succeed has no Next", defStates(`"A":{"Type":"Succeed","Next":"B"},"B":{"Type":"Succeed"}`),
			[]string{"States.A.Next: a Succeed state ends its machine", "States.B: unreachable"}},
		{"Fail has no End", defOne(`{"Type":"Fail","End":true}`), []string{"States.S.End: a Fail state ends its machine"}},

		// Paths.
		{"InputPath may be $$, a variable or null", defStates(`"A":{"Type":"Pass","InputPath":"$$","Next":"B"},"B":{"Type":"Pass","InputPath":"$v","OutputPath":null,"End":true}`), nil},
		{"InputPath is a path", defOne(`{"Type":"Pass","InputPath":"$.a[","End":true}`), []string{"States.S.InputPath: invalid JSONPath"}},
		{"InputPath is not an intrinsic call", defOne(`{"Type":"Pass","InputPath":"States.Array($.a)","End":true}`),
			[]string{"States.S.InputPath: a path starts with $"}},
		{"OutputPath is a string", defOne(`{"Type":"Pass","OutputPath":3,"End":true}`), []string{"States.S.OutputPath: must be a path string, not number"}},
		{"ResultPath is not a context path", defOne(`{"Type":"Pass","ResultPath":"$$.a","End":true}`),
			[]string{"States.S.ResultPath: must be a reference path starting with $"}},
		{"ResultPath is not a variable", defOne(`{"Type":"Pass","ResultPath":"$v.a","End":true}`),
			[]string{"States.S.ResultPath: must be a reference path starting with $"}},
		{"ResultPath has no wildcard", defOne(`{"Type":"Pass","ResultPath":"$.a[*]","End":true}`),
			[]string{"States.S.ResultPath: must be a reference path"}},
		{"ResultPath may be null or an index", defOne(`{"Type":"Task",` + lambda + `,"ResultPath":"$.a[0].b","Catch":[{"ErrorEquals":["X"],"ResultPath":null,"Next":"S"}],"End":true}`), nil},

		// Payload templates.
		{"a .$ field holds a string", defOne(`{"Type":"Pass","Parameters":{"a.$":1},"End":true}`),
			[]string{"States.S.Parameters.a.$: must be a path or an intrinsic function call, not number"}},
		{"a .$ field holds a path", defOne(`{"Type":"Pass","Parameters":{"a.$":"a"},"End":true}`),
			[]string{"States.S.Parameters.a.$: must be a path"}},
		{"a .$ field names a known intrinsic", defOne(`{"Type":"Pass","Parameters":{"a.$":"States.LeftPad($.a)"},"End":true}`),
			[]string{`States.S.Parameters.a.$: unknown intrinsic function "States.LeftPad"`}},
		{"an intrinsic call has its arity", defOne(`{"Type":"Pass","Parameters":{"a.$":"States.ArrayRange(1, 2)"},"End":true}`),
			[]string{"States.S.Parameters.a.$: States.ArrayRange takes 3 argument(s), got 2"}},
		{".$ fields are checked however deep", defOne(`{"Type":"Pass","Parameters":{"l":[0,{"x":{"b.$":"$.["}}]},"End":true}`),
			[]string{"States.S.Parameters.l[1].x.b.$: invalid JSONPath"}},
		{"a field named .$ needs a name", defOne(`{"Type":"Pass","Parameters":{".$":"$"},"End":true}`),
			[]string{"States.S.Parameters..$: needs a name"}},
		{"ResultSelector .$ fields are checked", defOne(`{"Type":"Task",` + lambda + `,"ResultSelector":{"a.$":"x"},"End":true}`),
			[]string{"States.S.ResultSelector.a.$: must be a path"}},
		{"Assign .$ fields are checked", defOne(`{"Type":"Pass","Assign":{"v.$":"States.Nope()"},"End":true}`),
			[]string{"States.S.Assign.v.$: unknown intrinsic function"}},
		{"Assign is an object", defOne(`{"Type":"Pass","Assign":[],"End":true}`), []string{"States.S.Assign: must be an object, not array"}},
		{"JSONata Assign values are not paths", `{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Pass","Assign":{"v.$":"x"},"End":true}}}`, nil},

		// Retry and Catch.
		{"BackoffRate is at least 1", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A"]},{"ErrorEquals":["B"],"BackoffRate":0.9}],"End":true}`),
			[]string{"States.S.Retry[1].BackoffRate: at least 1.0, not 0.9"}},
		{"MaxAttempts is not negative", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A"],"MaxAttempts":-1}],"End":true}`),
			[]string{"States.S.Retry[0].MaxAttempts: between 0 and 99999999, not -1"}},
		{"IntervalSeconds is positive", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A"],"IntervalSeconds":0}],"End":true}`),
			[]string{"States.S.Retry[0].IntervalSeconds: between 1 and 99999999, not 0"}},
		{"IntervalSeconds is an integer", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A"],"IntervalSeconds":1.5}],"End":true}`),
			[]string{"States.S.Retry[0].IntervalSeconds: must be an integer, not 1.5"}},
		{"MaxDelaySeconds is positive", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A"],"MaxDelaySeconds":0}],"End":true}`),
			[]string{"States.S.Retry[0].MaxDelaySeconds: between 1 and 31622400"}},
		{"JitterStrategy is FULL or NONE", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A"],"JitterStrategy":"full"}],"End":true}`),
			[]string{`States.S.Retry[0].JitterStrategy: must be FULL or NONE, not "full"`}},
		{"ErrorEquals is required", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"MaxAttempts":1}],"End":true}`),
			[]string{"States.S.Retry[0].ErrorEquals: is required"}},
		{"ErrorEquals is not empty", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":[]}],"End":true}`),
			[]string{"States.S.Retry[0].ErrorEquals: at least one error"}},
		{"ErrorEquals holds strings", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":[1]}],"End":true}`),
			[]string{"States.S.Retry[0].ErrorEquals[0]: must be an error name string, not number"}},
		{"States.ALL is alone", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A","States.ALL"]}],"End":true}`),
			[]string{"States.S.Retry[0].ErrorEquals[1]: States.ALL must appear alone"}},
		{"States.ALL is in the last retrier", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["A"]}],"End":true}`),
			[]string{"States.S.Retry[0].ErrorEquals[0]: States.ALL must be in the last retrier or catcher"}},
		{"States.ALL is in the last catcher", defOne(`{"Type":"Task",` + lambda + `,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"S"},{"ErrorEquals":["A"],"Next":"S"}],"End":true}`),
			[]string{"States.S.Catch[0].ErrorEquals[0]: States.ALL must be in the last retrier or catcher"}},
		{"a retrier has only retrier fields", defOne(`{"Type":"Task",` + lambda + `,"Retry":[{"ErrorEquals":["A"],"Next":"S"}],"End":true}`),
			[]string{"States.S.Retry[0].Next: not allowed in a retrier"}},
		{"a catcher needs Next", defOne(`{"Type":"Task",` + lambda + `,"Catch":[{"ErrorEquals":["A"]}],"End":true}`),
			[]string{"States.S.Catch[0].Next: is required"}},
		{"a catcher's Next names a state", defOne(`{"Type":"Task",` + lambda + `,"Catch":[{"ErrorEquals":["A"],"Next":"B"}],"End":true}`),
			[]string{`States.S.Catch[0].Next: names no state of this machine: "B"`}},
		{"a catcher's ResultPath is a reference path", defOne(`{"Type":"Task",` + lambda + `,"Catch":[{"ErrorEquals":["A"],"ResultPath":"$..x","Next":"S"}],"End":true}`),
			[]string{"States.S.Catch[0].ResultPath: must be a reference path"}},
		{"a JSONata catcher has Output, not ResultPath", `{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Task",` + lambda + `,"Catch":[{"ErrorEquals":["A"],"ResultPath":"$.e","Next":"S"}],"End":true}}}`,
			[]string{"States.S.Catch[0].ResultPath: not allowed in a catcher"}},
		{"Retry is not a Pass field", defOne(`{"Type":"Pass","Retry":[],"End":true}`), []string{"States.S.Retry: not allowed in a Pass state"}},
		{"Retry is an array", defOne(`{"Type":"Task",` + lambda + `,"Retry":{},"End":true}`), []string{"States.S.Retry: must be an array, not object"}},

		// Choice.
		{"Choices is required", defStates(`"A":{"Type":"Choice","Default":"B"},"B":{"Type":"Succeed"}`), []string{"States.A.Choices: is required"}},
		{"Choices is not empty", defStates(`"A":{"Type":"Choice","Choices":[],"Default":"B"},"B":{"Type":"Succeed"}`),
			[]string{"States.A.Choices: at least one rule"}},
		{"a rule has one operator", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"IsString":true,"Next":"S"}]}`),
			[]string{"States.S.Choices[0]: exactly one comparison operator; this one has IsNull, IsString", "States: no state ends"}},
		{"a rule needs an operator", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","Next":"S"}]}`),
			[]string{"States.S.Choices[0]: needs a comparison operator", "States: no state ends"}},
		{"a comparison needs Variable", defOne(`{"Type":"Choice","Choices":[{"IsNull":true,"Next":"S"}]}`),
			[]string{"States.S.Choices[0].Variable: is required", "States: no state ends"}},
		{"Variable is a path", defOne(`{"Type":"Choice","Choices":[{"Variable":"a.b","IsNull":true,"Next":"S"}]}`),
			[]string{"States.S.Choices[0].Variable: a path starts with $", "States: no state ends"}},
		{"Variable may be a context path or a variable",
			defStates(`"A":{"Type":"Choice","Choices":[{"Variable":"$$.Execution.Input.x","IsNull":true,"Next":"B"},{"Variable":"$v","IsNull":true,"Next":"B"}]},"B":{"Type":"Succeed"}`), nil},
		{"Numeric operators compare numbers", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","NumericLessThan":"5","Next":"S"}]}`),
			[]string{`States.S.Choices[0].NumericLessThan: compares with a number, not "5"`, "States: no state ends"}},
		{"String operators compare strings", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","StringLessThanEquals":5,"Next":"S"}]}`),
			[]string{"States.S.Choices[0].StringLessThanEquals: compares with a string, not 5", "States: no state ends"}},
		{"BooleanEquals compares booleans", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","BooleanEquals":"true","Next":"S"}]}`),
			[]string{"States.S.Choices[0].BooleanEquals: compares with a boolean", "States: no state ends"}},
		{"Timestamp operators compare timestamps", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","TimestampGreaterThan":"2024-01-01","Next":"S"}]}`),
			[]string{`States.S.Choices[0].TimestampGreaterThan: must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, not "2024-01-01"`, "States: no state ends"}},
		{"Is operators take booleans", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":1,"Next":"S"}]}`),
			[]string{"States.S.Choices[0].IsPresent: compares with a boolean, not 1", "States: no state ends"}},
		{"Path operators take paths", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","StringEqualsPath":"b","Next":"S"}]}`),
			[]string{"States.S.Choices[0].StringEqualsPath: a path starts with $", "States: no state ends"}},
		{"a combination has no Variable", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","Not":{"Variable":"$.a","IsNull":true},"Next":"S"}]}`),
			[]string{"States.S.Choices[0].Variable: a combination rule (Not) has no Variable", "States: no state ends"}},
		{"a combination has no operator", defOne(`{"Type":"Choice","Choices":[{"IsNull":true,"Not":{"Variable":"$.a","IsNull":true},"Next":"S"}]}`),
			[]string{"States.S.Choices[0].IsNull: a combination rule (Not) has no comparison operator", "States: no state ends"}},
		{"one of And, Or, Not", defOne(`{"Type":"Choice","Choices":[{"And":[{"Variable":"$.a","IsNull":true}],"Or":[{"Variable":"$.a","IsNull":true}],"Next":"S"}]}`),
			[]string{"States.S.Choices[0]: has one of And, Or, Not; this one has And, Or", "States: no state ends"}},
		{"Or is not empty", defOne(`{"Type":"Choice","Choices":[{"Or":[],"Next":"S"}]}`),
			[]string{"States.S.Choices[0].Or: at least one rule", "States: no state ends"}},
		{"nested rules are checked", defOne(`{"Type":"Choice","Choices":[{"And":[{"Variable":"$.a","IsNull":true},{"Not":{"Variable":"$.a"}}],"Next":"S"}]}`),
			[]string{"States.S.Choices[0].And[1].Not: needs a comparison operator", "States: no state ends"}},
		{"nested rules have no Next", defOne(`{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","IsNull":true,"Next":"S"},"Next":"S"}]}`),
			[]string{"States.S.Choices[0].Not.Next: a nested choice rule (inside And, Or or Not) has no Next", "States: no state ends"}},
		{"top rules need Next", defOne(`{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true}],"Default":"S"}`),
			[]string{"States.S.Choices[0].Next: is required", "States: no state ends"}},
		{"Default names a state", defStates(`"A":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"Next":"B"}],"Default":"C"},"B":{"Type":"Succeed"}`),
			[]string{`States.A.Default: names no state of this machine: "C"`}},
		{"a JSONPath rule has no Condition", defStates(`"A":{"Type":"Choice","Choices":[{"Condition":true,"Next":"B"}]},"B":{"Type":"Succeed"}`),
			[]string{"States.A.Choices[0].Condition: belongs to JSONata choice rules", "States.A.Choices[0].Variable: is required", "States.A.Choices[0]: needs a comparison operator"}},
		{"a JSONata rule needs Condition", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Next":"B"}]},"B":{"Type":"Succeed"}}}`,
			[]string{"States.A.Choices[0].Condition: is required"}},
		{"a JSONata rule has no Variable", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Condition":"{% true %}","Variable":"$.a","Next":"B"}]},"B":{"Type":"Succeed"}}}`,
			[]string{"States.A.Choices[0].Variable: belongs to JSONPath choice rules"}},
		{"a JSONata Condition is a boolean or an expression", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Condition":"yes","Next":"B"}]},"B":{"Type":"Succeed"}}}`,
			[]string{`States.A.Choices[0].Condition: must be a boolean or a JSONata expression {% ... %}, not "yes"`}},

		// Wait.
		{"Wait needs a duration", defOne(`{"Type":"Wait","End":true}`), []string{"States.S: a Wait state needs one of Seconds, SecondsPath, Timestamp, TimestampPath"}},
		{"Wait has one duration", defOne(`{"Type":"Wait","Seconds":1,"TimestampPath":"$.t","End":true}`),
			[]string{"States.S.TimestampPath: has exactly one of Seconds, SecondsPath, Timestamp, TimestampPath; this one has Seconds, TimestampPath"}},
		{"Seconds is not negative", defOne(`{"Type":"Wait","Seconds":-1,"End":true}`), []string{"States.S.Seconds: between 0 and 99999999, not -1"}},
		{"Seconds is a number in JSONPath", defOne(`{"Type":"Wait","Seconds":"{% 1 %}","End":true}`), []string{"States.S.Seconds: must be an integer, not string"}},
		{"Timestamp is RFC 3339", defOne(`{"Type":"Wait","Timestamp":"2024-01-01 10:00:00","End":true}`),
			[]string{"States.S.Timestamp: must be an RFC 3339 timestamp"}},
		{"SecondsPath is a reference path", defOne(`{"Type":"Wait","SecondsPath":"$.a[*]","End":true}`),
			[]string{"States.S.SecondsPath: must be a reference path"}},

		// Fail.
		{"Fail may have neither Error nor Cause", defOne(`{"Type":"Fail"}`), nil},
		{"Error and ErrorPath are exclusive", defOne(`{"Type":"Fail","Error":"E","ErrorPath":"$.e"}`),
			[]string{"States.S.ErrorPath: Error and ErrorPath are exclusive"}},
		{"Cause and CausePath are exclusive", defOne(`{"Type":"Fail","Cause":"C","CausePath":"$.c"}`),
			[]string{"States.S.CausePath: Cause and CausePath are exclusive"}},
		{"CausePath is a path or an intrinsic call", defOne(`{"Type":"Fail","ErrorPath":"States.Format('{}')","CausePath":"cause"}`),
			[]string{"States.S.CausePath: must be a path"}},
		{"ErrorPath intrinsic calls are parsed", defOne(`{"Type":"Fail","ErrorPath":"States.Format("}`),
			[]string{"States.S.ErrorPath: invalid intrinsic function"}},
		{"Fail has no InputPath", defOne(`{"Type":"Fail","InputPath":"$"}`), []string{"States.S.InputPath: not allowed in a Fail state"}},

		// Task.
		{"Resource is required", defOne(`{"Type":"Task","End":true}`), []string{"States.S.Resource: is required"}},
		{"Resource is an ARN", defOne(`{"Type":"Task","Resource":"my-function","End":true}`), []string{`States.S.Resource: must be an ARN`}},
		{"TimeoutSeconds is positive", defOne(`{"Type":"Task",` + lambda + `,"TimeoutSeconds":0,"End":true}`),
			[]string{"States.S.TimeoutSeconds: between 1 and 99999999, not 0"}},
		{"HeartbeatSeconds is below TimeoutSeconds", defOne(`{"Type":"Task",` + lambda + `,"TimeoutSeconds":30,"HeartbeatSeconds":60,"End":true}`),
			[]string{"States.S.HeartbeatSeconds: must be smaller than TimeoutSeconds (30), not 60"}},
		{"HeartbeatSeconds is positive", defOne(`{"Type":"Task",` + lambda + `,"HeartbeatSeconds":-5,"End":true}`),
			[]string{"States.S.HeartbeatSeconds: between 1 and 99999999, not -5"}},
		{"TimeoutSeconds and TimeoutSecondsPath are exclusive", defOne(`{"Type":"Task",` + lambda + `,"TimeoutSeconds":5,"TimeoutSecondsPath":"$.t","End":true}`),
			[]string{"States.S.TimeoutSecondsPath: TimeoutSeconds and TimeoutSecondsPath are exclusive"}},
		{"HeartbeatSecondsPath is a reference path", defOne(`{"Type":"Task",` + lambda + `,"HeartbeatSecondsPath":"$.h.length()","End":true}`),
			[]string{"States.S.HeartbeatSecondsPath: must be a reference path"}},
		{"TimeoutSeconds is a number in JSONPath", defOne(`{"Type":"Task",` + lambda + `,"TimeoutSeconds":"{% 5 %}","End":true}`),
			[]string{"States.S.TimeoutSeconds: must be an integer, not string"}},
		{"TimeoutSeconds may be an expression in JSONata", `{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Task",` + lambda + `,"TimeoutSeconds":"{% $t %}","End":true}}}`, nil},
		{"Credentials need RoleArn", defOne(`{"Type":"Task",` + lambda + `,"Credentials":{"Role":"r"},"End":true}`),
			[]string{"States.S.Credentials.RoleArn: is required", "States.S.Credentials.Role: not allowed in Credentials"}},

		// Parallel.
		{"Branches is required", defOne(`{"Type":"Parallel","End":true}`), []string{"States.S.Branches: is required"}},
		{"Branches is not empty", defOne(`{"Type":"Parallel","Branches":[],"End":true}`), []string{"States.S.Branches: needs at least one branch"}},
		{"a branch is a machine", defOne(`{"Type":"Parallel","Branches":[{"States":{"B":{"Type":"Succeed"}}}],"End":true}`),
			[]string{"States.S.Branches[0].StartAt: is required"}},
		{"a branch has only machine fields", defOne(`{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Succeed"}},"Version":"1.0"}],"End":true}`),
			[]string{"States.S.Branches[0].Version: not allowed in a Parallel branch"}},
		{"branch errors name their branch", defOne(`{"Type":"Parallel","Branches":[{"StartAt":"B0","States":{"B0":{"Type":"Succeed"}}},{"StartAt":"X","States":{"X":{"Type":"Pass","Next":"S"}}}],"End":true}`),
			[]string{`States.S.Branches[1].States.X.Next: names no state of this machine: "S"`}},

		// Map.
		{"Map needs ItemProcessor", defOne(`{"Type":"Map","End":true}`), []string{"States.S.ItemProcessor: is required"}},
		{"ItemProcessor and Iterator are exclusive", defOne(`{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"Iterator":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.Iterator: ItemProcessor and Iterator (its older name) are exclusive"}},
		{"ItemSelector and Parameters are exclusive", defOne(`{"Type":"Map","ItemSelector":{},"Parameters":{},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.Parameters: ItemSelector and Parameters are exclusive"}},
		{"MaxConcurrency is not negative", defOne(`{"Type":"Map","MaxConcurrency":-1,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.MaxConcurrency: between 0 and 2147483647, not -1"}},
		{"ToleratedFailurePercentage is between 0 and 100", defOne(`{"Type":"Map","ToleratedFailurePercentage":100.5,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.ToleratedFailurePercentage: between 0 and 100, not 100.5"}},
		{"ToleratedFailureCount is not negative", defOne(`{"Type":"Map","ToleratedFailureCount":-2,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.ToleratedFailureCount: between 0 and 2147483647, not -2"}},
		{"ToleratedFailureCount and its Path are exclusive", defOne(`{"Type":"Map","ToleratedFailureCount":1,"ToleratedFailureCountPath":"$.n","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.ToleratedFailureCountPath: ToleratedFailureCount and ToleratedFailureCountPath are exclusive"}},
		{"ItemsPath is not null", defOne(`{"Type":"Map","ItemsPath":null,"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.ItemsPath: must be a path, not null"}},
		{"ItemReader needs a Distributed Map", defOne(`{"Type":"Map","ItemReader":{},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.ItemReader: only a Distributed Map"}},
		{"Mode is INLINE or DISTRIBUTED", defOne(`{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"PARALLEL"},"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{`States.S.ItemProcessor.ProcessorConfig.Mode: must be INLINE or DISTRIBUTED, not "PARALLEL"`}},
		{"DISTRIBUTED mode needs ExecutionType", defOne(`{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.ItemProcessor.ProcessorConfig.ExecutionType: is required in DISTRIBUTED mode"}},
		{"Label has at most 40 characters", defOne(`{"Type":"Map","Label":"` + strings.Repeat("l", 41) + `","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.Label: at most 40 characters"}},
		{"processor errors name their processor", defOne(`{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Q"},"Q":{"Type":"Succeed"},"R":{"Type":"Succeed"}}},"End":true}`),
			[]string{"States.S.ItemProcessor.States.R: unreachable"}},
		{"Iterator is not a JSONata field", `{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Map","Iterator":{"StartAt":"P","States":{"P":{"Type":"Succeed"}}},"End":true}}}`,
			[]string{"States.S.Iterator: belongs to JSONPath"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, Validate([]byte(tt.def)), tt.want)
		})
	}
}

// TestValidateAcceptsValidExamples checks hand-written definitions that use every state type, both query
// languages and Distributed Map: no false positives, and the engine's parser agrees they are well formed.
func TestValidateAcceptsValidExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/validate/valid/*.asl.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			def, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(def); err != nil {
				t.Fatal(err)
			}
			sm, err := Parse(def)
			if err != nil {
				t.Fatalf("Validate accepts what Parse rejects: %v", err)
			}
			if err := sm.Validate(); err != nil {
				t.Fatalf("the parsed and re-marshalled machine does not validate: %v", err)
			}
		})
	}
}

// TestValidateReportsStatelintExamples runs definitions in the style of statelint's invalid examples, each with
// several problems, and checks every problem is reported once, at its path, and nothing else.
func TestValidateReportsStatelintExamples(t *testing.T) {
	want := map[string][]string{
		"linked-parallel.asl.json": {
			`States.Fanout.Branches[0].States.Left.Next: names no state of this machine: "After"`,
			`States.Fanout.Next: names no state of this machine: "Right"`,
			"States.After: unreachable",
		},
		"has-dupes.asl.json": {
			`States.Work.Branches[1].States.Step: "Step" is already used at States.Work.Branches[0].States.Step`,
			`States.Each.ItemProcessor.States.Work: "Work" is already used at States.Work`,
		},
		"no-terminal.asl.json": {
			"States: no state ends this machine",
			`States.Orphan: unreachable: no path of Next, Default, Choices or Catch leads to it from StartAt "Ping"`,
			"States.OrphanChild: unreachable",
		},
		"parameter-path-problems.asl.json": {
			"States.Shape.ResultSelector: not allowed in a Pass state",
			`States.Shape.Parameters.bad1.$: must be a path ($..., $$... or $variable...) or an intrinsic function call (States....), not "a.b"`,
			"States.Shape.Parameters.bad2.$: not number",
			`States.Shape.Parameters.bad3.$: invalid JSONPath "$.a["`,
			`States.Shape.Parameters.nested[0].bad4.$: unknown intrinsic function "States.LeftPad"`,
			"States.Shape.Parameters.bad5.$: States.UUID takes 0 argument(s), got 1",
		},
		"retry-catch-problems.asl.json": {
			"States.Drain.Retry[0].ErrorEquals[0]: States.ALL must be in the last retrier or catcher",
			"States.Drain.Retry[1].IntervalSeconds: not 0",
			"States.Drain.Retry[1].MaxAttempts: not -1",
			"States.Drain.Retry[1].BackoffRate: must be at least 1.0, not 0.5",
			"States.Drain.Retry[1].MaxDelaySeconds: not 0",
			`States.Drain.Retry[1].JitterStrategy: not "PARTIAL"`,
			"States.Drain.Retry[2].Interval: not allowed in a retrier",
			"States.Drain.Retry[2].ErrorEquals: must name at least one error",
			"States.Drain.Catch[0].ErrorEquals[0]: States.ALL must appear alone",
			`States.Drain.Catch[1].Next: "Nowhere"`,
			`States.Drain.Catch[1].ResultPath: not "$.a[*]"`,
			"States.Drain.Catch[2].ErrorEquals: is required",
		},
		"choice-problems.asl.json": {
			"States.Route.End: a Choice state has no End",
			`States.Route.Choices[0].NumericEquals: compares with a number, not "1"`,
			"States.Route.Choices[1]: this one has StringEquals, StringMatches",
			`States.Route.Choices[2].TimestampEquals: not "yesterday"`,
			"States.Route.Choices[3].Variable: is required",
			"States.Route.Choices[4]: needs a comparison operator",
			"States.Route.Choices[5].And: must hold at least one rule",
			"States.Route.Choices[6].Variable: a combination rule (Or) has no Variable",
			"States.Route.Choices[6].Or[0].Next: a nested choice rule",
			`States.Route.Choices[6].Or[0].IsPresent: compares with a boolean, not "yes"`,
			"States.Route.Choices[7].Not.BooleanEqualsPath: a path starts with $",
			"States.Route.Choices[8].Next: is required",
			`States.Route.Default: "Missing"`,
		},
		"map-problems.asl.json": {
			"States.Each.Iterator: are exclusive",
			"States.Each.ItemProcessor.States.Work.HeartbeatSeconds: must be smaller than TimeoutSeconds (10), not 10",
			`States.Each.ItemProcessor.States.Work.Next: "Gone"`,
			"States.Each.ItemReader: only a Distributed Map",
			"States.Each.ItemsPath: not null",
			"States.Each.Parameters: ItemSelector and Parameters are exclusive",
			"States.Each.MaxConcurrency: not -1",
			"States.Each.ToleratedFailurePercentage: not 150",
			"States.Each.MaxConcurrencyPath: MaxConcurrency and MaxConcurrencyPath are exclusive",
		},
	}
	files, err := filepath.Glob("testdata/validate/invalid/*.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("%d example files, %d expectations: keep them in step", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			w, ok := want[filepath.Base(f)]
			if !ok {
				t.Fatal("no expectation for this file")
			}
			def, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checkValidation(t, Validate(def), w)
		})
	}
}

// TestValidateAcceptsAWSRecordedDefinitions validates every definition of the conformance corpus. Real Step
// Functions created state machines from all of them, so any problem reported is a false positive. Each also
// goes through the model (Parse, then StateMachine.Validate on the re-marshalled machine) when Parse accepts it.
func TestValidateAcceptsAWSRecordedDefinitions(t *testing.T) {
	f, err := os.Open(mustCorpus(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var clean, flagged, roundTrips int
	byLanguage := map[string]int{}
	for sc.Scan() {
		var c struct {
			ID            string          `json:"id"`
			QueryLanguage string          `json:"query_language"`
			Definition    json.RawMessage `json:"definition"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if err := Validate(c.Definition); err != nil {
			flagged++
			t.Errorf("%s (%s): AWS accepted this definition, Validate reports: %v", c.ID, c.QueryLanguage, err)
			continue
		}
		clean++
		byLanguage[c.QueryLanguage]++
		if sm, err := Parse(c.Definition); err == nil {
			roundTrips++
			if err := sm.Validate(); err != nil {
				t.Errorf("%s: the parsed machine does not validate after marshalling: %v", c.ID, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if clean+flagged == 0 {
		t.Fatal("the corpus holds no definitions")
	}
	t.Logf("%d definitions validate clean (by query language: %v), %d flagged; %d also round-trip through the model",
		clean, byLanguage, flagged, roundTrips)
}

func TestStateMachineValidate(t *testing.T) {
	t.Run("a machine built in Go validates", func(t *testing.T) {
		sm := &StateMachine{StartAt: "Drain", States: []State{
			&Task{Name: "Drain", Resource: "arn:aws:lambda:us-east-1:123456789012:function:drain",
				ResultPath: P("$.drain"), TimeoutSeconds: Int(300), HeartbeatSeconds: Int(60),
				Retry: []Retrier{{ErrorEquals: []string{"Drain.Incomplete"}, BackoffRate: Ptr(2.0), MaxAttempts: Ptr(3)}},
				Catch: []Catcher{{ErrorEquals: []string{ErrAll}, ResultPath: P("$.error"), Next: "Failed"}},
				Next:  "Done"},
			&Succeed{Name: "Done"},
			&Fail{Name: "Failed", Error: "Drain.Failed"},
		}}
		if err := sm.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("problems of a machine built in Go name their fields", func(t *testing.T) {
		sm := &StateMachine{StartAt: "Drain", States: []State{
			&Task{Name: "Drain", Resource: "arn:aws:lambda:us-east-1:123456789012:function:drain",
				Retry: []Retrier{{ErrorEquals: []string{"A"}}, {ErrorEquals: []string{"B"}, BackoffRate: Ptr(0.5)}},
				Next:  "Missing"},
			&Pass{Name: "Lost"},
		}}
		checkValidation(t, sm.Validate(), []string{
			"States.Drain.Retry[1].BackoffRate: must be at least 1.0, not 0.5",
			`States.Drain.Next: names no state of this machine: "Missing"`,
			`States.Lost: needs Next, or "End": true`,
		})
	})
	t.Run("a nil machine is an error", func(t *testing.T) {
		checkValidation(t, (*StateMachine)(nil).Validate(), []string{": nil state machine"})
	})
}

// FuzzValidate checks that Validate never panics and never accepts what the engine's parser rejects.
func FuzzValidate(f *testing.F) {
	files, _ := filepath.Glob("testdata/validate/*/*.asl.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(defOne(`{"Type":"Pass","Parameters":{"a.$":"States.Format('{}', $.x)"},"End":true}`)))
	f.Fuzz(func(t *testing.T, def []byte) {
		err := Validate(def)
		if err == nil {
			if _, perr := Parse(def); perr != nil {
				t.Fatalf("Validate accepts a definition Parse rejects: %v\n%s", perr, def)
			}
		}
	})
}

// mustCorpus is the corpus corpusPath finds, the user's own included.
func mustCorpus(t *testing.T) string {
	p, _ := corpusPath(t)
	return p
}
