package asl

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseReportsEveryProblemWithItsPath(t *testing.T) {
	tests := []struct {
		name string
		def  string
		want []string
	}{
		{"not JSON", `{"StartAt":`, []string{"invalid JSON"}},
		{"not an object", `[]`, []string{"a state machine definition is a JSON object"}},
		{"missing fields", `{}`, []string{"StartAt: is required", "States: is required"}},
		{"unknown top-level field", `{"StartAt":"A","States":{"A":{"Type":"Succeed"}},"Foo":1}`, []string{"Foo: field is not allowed in a state machine"}},
		{"unknown state type", `{"StartAt":"A","States":{"A":{"Type":"Sleep"}}}`, []string{`States.A.Type: unknown state type "Sleep"`}},
		{"field of another state type", `{"StartAt":"A","States":{"A":{"Type":"Pass","Resource":"x","End":true}}}`, []string{"States.A.Resource: field is not allowed in a Pass state"}},
		{"wrong JSON types", `{"StartAt":"A","States":{"Drain":{"Type":"Task","Resource":"r","End":"yes","TimeoutSeconds":"x",
			"Retry":[{"ErrorEquals":["E"]},{"ErrorEquals":["E"],"BackoffRate":"fast","MaxAttempts":1.5}]}}}`,
			[]string{"States.Drain.End: must be a boolean", "States.Drain.Retry[1].MaxAttempts: must be an integer", "States.Drain.Retry[1].BackoffRate: must be a number"}},
		{"catch without Next", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["E"]}]}}}`,
			[]string{"States.A.Catch[0].Next: is required"}},
		{"two choice operators", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringEquals":"x","NumericEquals":1,"Next":"C"}]}}}`,
			[]string{"States.C.Choices[0]: a choice rule has exactly one comparison operator; this one has StringEquals, NumericEquals"}},
		{"nested branch", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass","Bogus":1,"End":true}}}]}}}`,
			[]string{"States.P.Branches[0].States.X.Bogus: field is not allowed in a Pass state"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.def))
			var des DefinitionErrors
			if !errors.As(err, &des) {
				t.Fatalf("err %v (%T), want DefinitionErrors", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not mention %q", err, w)
				}
			}
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Fatal("errors.As cannot find a *DefinitionError")
			}
		})
	}
}

func TestNewEngineReportsWhatCannotRun(t *testing.T) {
	tests := []struct {
		name string
		def  string
		want string
	}{
		{"dangling Next", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, `States.A.Next: names no state: "B"`},
		{"StartAt names nothing", `{"StartAt":"Z","States":{"A":{"Type":"Succeed"}}}`, `StartAt: names no state: "Z"`},
		{"no transition", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`, `States.A: a state needs Next or End`},
		{"bad path", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"a.b","End":true}}}`, `States.A.InputPath: invalid JSONPath`},
		{"bad template path", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$.a[?(@.b ==]"},"End":true}}}`, `States.A.Parameters.x.$`},
		{"bad intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Nope(1)"},"End":true}}}`, `unknown intrinsic function "States.Nope"`},
		{"bad retrier", `{"StartAt":"Drain","States":{"Drain":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["E"]},{"ErrorEquals":["E"],"BackoffRate":0.5}]}}}`,
			`States.Drain.Retry[1].BackoffRate: must be at least 1.0`},
		{"ResultPath not a reference path", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, `States.A.ResultPath: ResultPath must be a reference path`},
		{"JSONata", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`, `JSONata states are not supported`},
		{"Distributed Map reader", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":{"Resource":"arn:aws:states:::s3:getObject"},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`,
			`ItemReader, ItemBatcher and ResultWriter (Distributed Map) are not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm, err := Parse([]byte(tt.def))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			_, err = NewEngine(sm, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestMarshalIsStable checks Marshal(Parse(x)) against every definition of the conformance corpus (when present)
// and the benchmark definition: marshalling again gives the same bytes, and the JSON means the same as x.
func TestMarshalIsStable(t *testing.T) {
	defs := map[string][]byte{}
	if b, err := os.ReadFile("testdata/bench.asl.json"); err == nil {
		defs["bench"] = b
	}
	if f, err := os.Open(mustCorpus(t)); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var c struct {
				ID         string          `json:"id"`
				Definition json.RawMessage `json:"definition"`
			}
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			defs[c.ID] = c.Definition
		}
	}
	for id, def := range defs {
		sm, err := Parse(def)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		b1, err := json.Marshal(sm)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		sm2, err := Parse(b1)
		if err != nil {
			t.Fatalf("%s: reparse: %v\n%s", id, err, b1)
		}
		b2, _ := json.Marshal(sm2)
		if string(b1) != string(b2) {
			t.Errorf("%s: not stable\n%s\n%s", id, b1, b2)
		}
		var x, y any
		if err := json.Unmarshal(def, &x); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b1, &y); err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(x, y) {
			t.Errorf("%s: meaning changed\n%s\n%s", id, def, b1)
		}
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestStateMachineBuiltInGo(t *testing.T) {
	sm := &StateMachine{
		Comment: "lifecycle",
		StartAt: "Drain",
		States: []State{
			&Task{
				Name:           "Drain",
				Resource:       "arn:aws:states:::lambda:invoke",
				Parameters:     map[string]any{"FunctionName": "${DrainArn}", "Payload.$": "$"},
				ResultSelector: map[string]any{"result.$": "$.Payload"},
				ResultPath:     P("$.drain"),
				TimeoutSeconds: Int(600),
				Retry: []Retrier{
					{ErrorEquals: []string{"Lambda.ServiceException", "Lambda.TooManyRequestsException"}, IntervalSeconds: Ptr(2), MaxAttempts: Ptr(6), BackoffRate: Ptr(2.0), JitterStrategy: "FULL"},
					{ErrorEquals: []string{"Drain.Incomplete"}, MaxAttempts: Ptr(0)},
				},
				Catch: []Catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: P("$.error"), Next: "Abandon"}},
				Next:  "Check",
			},
			&Choice{Name: "Check", Choices: []ChoiceRule{
				{Variable: "$.drain.result.remaining", Op: OpNumericGreaterThan, Value: 0, Next: "Wait"},
				{And: []ChoiceRule{{Variable: "$.drain.result.node", Op: OpIsPresent, Value: true}, {Not: &ChoiceRule{Variable: "$.drain.result.node", Op: OpIsNull, Value: true}}}, Next: "Done"},
			}, Default: "Done"},
			&Wait{Name: "Wait", Seconds: Int(30), Next: "Drain"},
			&Pass{Name: "Abandon", ResultPath: NullPath(), Next: "Failed"},
			&Fail{Name: "Failed", Error: "Lifecycle.Abandoned", CausePath: "$.error.Cause"},
			&Succeed{Name: "Done"},
		},
	}
	b, err := json.Marshal(sm)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Comment":"lifecycle","StartAt":"Drain","States":{` +
		`"Drain":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"${DrainArn}","Payload.$":"$"},"ResultSelector":{"result.$":"$.Payload"},"ResultPath":"$.drain","TimeoutSeconds":600,` +
		`"Retry":[{"ErrorEquals":["Lambda.ServiceException","Lambda.TooManyRequestsException"],"IntervalSeconds":2,"MaxAttempts":6,"BackoffRate":2,"JitterStrategy":"FULL"},{"ErrorEquals":["Drain.Incomplete"],"MaxAttempts":0}],` +
		`"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Abandon"}],"Next":"Check"},` +
		`"Check":{"Type":"Choice","Choices":[{"Variable":"$.drain.result.remaining","NumericGreaterThan":0,"Next":"Wait"},` +
		`{"And":[{"Variable":"$.drain.result.node","IsPresent":true},{"Not":{"Variable":"$.drain.result.node","IsNull":true}}],"Next":"Done"}],"Default":"Done"},` +
		`"Wait":{"Type":"Wait","Seconds":30,"Next":"Drain"},"Abandon":{"Type":"Pass","ResultPath":null,"Next":"Failed"},` +
		`"Failed":{"Type":"Fail","Error":"Lifecycle.Abandoned","CausePath":"$.error.Cause"},"Done":{"Type":"Succeed"}}}`
	if string(b) != want {
		t.Fatalf("marshal\n%s\nwant\n%s", b, want)
	}
	if _, err := NewEngine(sm, Options{}); err != nil {
		t.Fatalf("compile: %v", err)
	}
	var back StateMachine
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(&back)
	if string(b2) != want {
		t.Fatalf("round trip\n%s", b2)
	}
}

func TestJSONataFieldsRoundTrip(t *testing.T) {
	def := `{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",` +
		`"Arguments":{"FunctionName":"f","Payload":"{% $states.input %}"},"Output":"{% $states.result.Payload %}","Assign":{"x":"{% 1 + 1 %}"},` +
		`"TimeoutSeconds":"{% $timeout %}","Next":"C"},"C":{"Type":"Choice","Choices":[{"Condition":"{% $x = 2 %}","Next":"D"}],"Default":"D"},"D":{"Type":"Succeed","Output":{"done":true}}}}`
	sm, err := Parse([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(sm)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != def {
		t.Fatalf("round trip\n%s\nwant\n%s", b, def)
	}
	if !sm.States[0].(*Task).TimeoutSeconds.IsExpr() {
		t.Fatal("TimeoutSeconds expression not recognised")
	}
}
