package asl

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// FuzzParseDefinition checks that any document parses or fails with DefinitionErrors, that what parses marshals
// stably, and that compiling and running it never panics.
func FuzzParseDefinition(f *testing.F) {
	if b, err := os.ReadFile("testdata/bench.asl.json"); err == nil {
		f.Add(b, []byte(`{"a":1}`))
	}
	for _, s := range []string{
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.r","Next":"B"},"B":{"Type":"Succeed"}}}`,
		`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","IsPresent":true},"Next":"F"}],"Default":"W"},"W":{"Type":"Wait","SecondsPath":"$.s","End":true},"F":{"Type":"Fail","ErrorPath":"$.e"}}}`,
		`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":2,"ItemsPath":"$.items","ItemSelector":{"v.$":"$$.Map.Item.Value"},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"s.$":"States.Format('{}',$.v)"},"End":true}}},"End":true}}}`,
		`{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":2}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"X"}],"End":true},"X":{"Type":"Pass","End":true}}}],"End":true}}}`,
		`{"TimeoutSeconds":5,"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"x.$":"$.a"},"Next":"A"}}}`,
	} {
		f.Add([]byte(s), []byte(`{"a":1,"s":1,"items":[1,2,3],"e":"E"}`))
	}
	f.Fuzz(func(t *testing.T, def, input []byte) {
		sm, err := Parse(def)
		if err != nil {
			var des DefinitionErrors
			if !errors.As(err, &des) || len(des) == 0 {
				t.Fatalf("Parse error %T %v", err, err)
			}
			return
		}
		b1, err := json.Marshal(sm)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		sm2, err := Parse(b1)
		if err != nil {
			t.Fatalf("marshalled definition does not parse: %v\n%s", err, b1)
		}
		b2, _ := json.Marshal(sm2)
		if string(b1) != string(b2) {
			t.Fatalf("unstable:\n%s\n%s", b1, b2)
		}
		eng, err := NewEngine(sm, Options{MaxEvents: 200, Resolver: ResolverFunc(func(context.Context, *TaskRequest) (TaskResult, error) {
			return TaskResult{Err: &TaskError{Error: "E", Cause: "c"}}, nil
		})})
		if err != nil {
			return
		}
		if _, err := eng.Run(context.Background(), input); err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("run: %v", err)
			}
		}
	})
}
