package asl

import (
	"strconv"
	"strings"
)

// StateMachine is a States Language definition. Build it in Go with these plain structs, or Parse it from JSON;
// json.Marshal writes it back with a fixed field order and the states in definition order, so that
// Marshal(Parse(x)) is stable.
type StateMachine struct {
	Comment        string
	QueryLanguage  string // QueryLanguageJSONPath (the default when empty) or QueryLanguageJSONata
	Version        string
	StartAt        string
	TimeoutSeconds *int
	States         []State // in definition order
}

// Query languages.
const (
	QueryLanguageJSONPath = "JSONPath"
	QueryLanguageJSONata  = "JSONata"
)

// State is one of *Pass, *Task, *Choice, *Wait, *Succeed, *Fail, *Parallel, *Map.
type State interface {
	StateName() string
	StateType() string
	stateQueryLanguage() string
}

// Path is an optional path field (InputPath, ResultPath, ...). A nil *Path is an absent field; Null is the JSON
// null, which means {} for InputPath and OutputPath and "discard the result" for ResultPath.
type Path struct {
	Value string
	Null  bool
}

// P returns a *Path holding the path s.
func P(s string) *Path { return &Path{Value: s} }

// NullPath returns a *Path holding JSON null.
func NullPath() *Path { return &Path{Null: true} }

// Num is a numeric field (TimeoutSeconds, Seconds, MaxConcurrency, ...). It holds the number's JSON text; in a
// JSONata state it may instead hold a "{% expression %}" string.
type Num string

// Int returns a *Num holding n.
func Int(n int) *Num { v := Num(strconv.Itoa(n)); return &v }

// Float returns a *Num holding f.
func Float(f float64) *Num { v := Num(strconv.FormatFloat(f, 'f', -1, 64)); return &v }

// Expr returns a *Num holding a JSONata expression.
func Expr(s string) *Num { v := Num(s); return &v }

// IsExpr reports whether the field holds a JSONata expression rather than a number.
func (n Num) IsExpr() bool { return strings.HasPrefix(strings.TrimSpace(string(n)), "{%") }

// Float64 returns the number.
func (n Num) Float64() (float64, bool) {
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

// Int64 returns the number when it is an integer.
func (n Num) Int64() (int64, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

// JSON fields (Parameters, Result, ResultSelector, ItemSelector, Assign, Arguments, Output, ...) are typed any:
// a map[string]any, json.RawMessage or any value encoding/json accepts. Parse stores json.RawMessage, which keeps
// the definition's member order.

// Pass passes its input to its output, optionally injecting Result or reshaping with Parameters.
type Pass struct {
	Name          string
	Comment       string
	QueryLanguage string
	InputPath     *Path
	Parameters    any
	Result        any
	ResultPath    *Path
	OutputPath    *Path
	Assign        any
	Output        any
	Next          string
	End           bool
}

// Task runs a resource: a Lambda function, a service integration, an activity.
type Task struct {
	Name                 string
	Comment              string
	QueryLanguage        string
	Resource             string
	InputPath            *Path
	Parameters           any
	Arguments            any
	Credentials          any
	ResultSelector       any
	ResultPath           *Path
	OutputPath           *Path
	Assign               any
	Output               any
	TimeoutSeconds       *Num
	TimeoutSecondsPath   string
	HeartbeatSeconds     *Num
	HeartbeatSecondsPath string
	Retry                []Retrier
	Catch                []Catcher
	Next                 string
	End                  bool
}

// Choice picks the next state from its rules.
type Choice struct {
	Name          string
	Comment       string
	QueryLanguage string
	InputPath     *Path
	OutputPath    *Path
	Choices       []ChoiceRule
	Default       string
	Assign        any
	Output        any
}

// Choice rule operators (ChoiceRule.Op).
const (
	OpStringEquals                   = "StringEquals"
	OpStringEqualsPath               = "StringEqualsPath"
	OpStringLessThan                 = "StringLessThan"
	OpStringLessThanPath             = "StringLessThanPath"
	OpStringGreaterThan              = "StringGreaterThan"
	OpStringGreaterThanPath          = "StringGreaterThanPath"
	OpStringLessThanEquals           = "StringLessThanEquals"
	OpStringLessThanEqualsPath       = "StringLessThanEqualsPath"
	OpStringGreaterThanEquals        = "StringGreaterThanEquals"
	OpStringGreaterThanEqualsPath    = "StringGreaterThanEqualsPath"
	OpStringMatches                  = "StringMatches"
	OpNumericEquals                  = "NumericEquals"
	OpNumericEqualsPath              = "NumericEqualsPath"
	OpNumericLessThan                = "NumericLessThan"
	OpNumericLessThanPath            = "NumericLessThanPath"
	OpNumericGreaterThan             = "NumericGreaterThan"
	OpNumericGreaterThanPath         = "NumericGreaterThanPath"
	OpNumericLessThanEquals          = "NumericLessThanEquals"
	OpNumericLessThanEqualsPath      = "NumericLessThanEqualsPath"
	OpNumericGreaterThanEquals       = "NumericGreaterThanEquals"
	OpNumericGreaterThanEqualsPath   = "NumericGreaterThanEqualsPath"
	OpBooleanEquals                  = "BooleanEquals"
	OpBooleanEqualsPath              = "BooleanEqualsPath"
	OpTimestampEquals                = "TimestampEquals"
	OpTimestampEqualsPath            = "TimestampEqualsPath"
	OpTimestampLessThan              = "TimestampLessThan"
	OpTimestampLessThanPath          = "TimestampLessThanPath"
	OpTimestampGreaterThan           = "TimestampGreaterThan"
	OpTimestampGreaterThanPath       = "TimestampGreaterThanPath"
	OpTimestampLessThanEquals        = "TimestampLessThanEquals"
	OpTimestampLessThanEqualsPath    = "TimestampLessThanEqualsPath"
	OpTimestampGreaterThanEquals     = "TimestampGreaterThanEquals"
	OpTimestampGreaterThanEqualsPath = "TimestampGreaterThanEqualsPath"
	OpIsNull                         = "IsNull"
	OpIsPresent                      = "IsPresent"
	OpIsNumeric                      = "IsNumeric"
	OpIsString                       = "IsString"
	OpIsBoolean                      = "IsBoolean"
	OpIsTimestamp                    = "IsTimestamp"
)

// ChoiceRule is a rule of a Choice state: a comparison (Variable, Op, Value), a combination (And, Or, Not) or, in
// JSONata, a Condition. Top-level rules have Next; nested rules do not.
type ChoiceRule struct {
	Variable  string
	Op        string // one of the Op* constants
	Value     any    // the operand: string, number, bool; a path string for the *Path operators
	And       []ChoiceRule
	Or        []ChoiceRule
	Not       *ChoiceRule
	Condition any // JSONata: true/false or a "{% %}" expression
	Comment   string
	Assign    any
	Output    any
	Next      string
}

// Wait delays for Seconds/SecondsPath or until Timestamp/TimestampPath.
type Wait struct {
	Name          string
	Comment       string
	QueryLanguage string
	InputPath     *Path
	OutputPath    *Path
	Seconds       *Num
	SecondsPath   string
	Timestamp     string
	TimestampPath string
	Assign        any
	Output        any
	Next          string
	End           bool
}

// Succeed ends the execution (or branch, or iteration) successfully.
type Succeed struct {
	Name          string
	Comment       string
	QueryLanguage string
	InputPath     *Path
	OutputPath    *Path
	Output        any
}

// Fail ends the execution (or branch, or iteration) with an error.
type Fail struct {
	Name          string
	Comment       string
	QueryLanguage string
	Error         string
	ErrorPath     string
	Cause         string
	CausePath     string
}

// Parallel runs its branches concurrently on the same input; its result is the array of their outputs.
type Parallel struct {
	Name           string
	Comment        string
	QueryLanguage  string
	InputPath      *Path
	Parameters     any
	Arguments      any
	Branches       []*Branch
	ResultSelector any
	ResultPath     *Path
	OutputPath     *Path
	Assign         any
	Output         any
	Retry          []Retrier
	Catch          []Catcher
	Next           string
	End            bool
}

// Map runs its item processor once per item of an array.
type Map struct {
	Name                           string
	Comment                        string
	QueryLanguage                  string
	InputPath                      *Path
	ItemsPath                      *Path
	Items                          any // JSONata
	ItemSelector                   any
	Parameters                     any     // the older name of ItemSelector
	ItemProcessor                  *Branch // with ProcessorConfig
	Iterator                       *Branch // the older name of ItemProcessor
	ItemReader                     any     // Distributed Map: kept for round trips, not run
	ItemBatcher                    any
	ResultWriter                   any
	MaxConcurrency                 *Num
	MaxConcurrencyPath             string
	ToleratedFailureCount          *Num
	ToleratedFailureCountPath      string
	ToleratedFailurePercentage     *Num
	ToleratedFailurePercentagePath string
	Label                          string
	ResultSelector                 any
	ResultPath                     *Path
	OutputPath                     *Path
	Assign                         any
	Output                         any
	Retry                          []Retrier
	Catch                          []Catcher
	Next                           string
	End                            bool
}

// Branch is a sub-machine: a Parallel branch, a Map's ItemProcessor or Iterator.
type Branch struct {
	Comment         string
	QueryLanguage   string
	ProcessorConfig *ProcessorConfig // ItemProcessor only
	StartAt         string
	States          []State
}

// ProcessorConfig is a Map ItemProcessor's mode.
type ProcessorConfig struct {
	Mode          string // "INLINE" (default) or "DISTRIBUTED"
	ExecutionType string // DISTRIBUTED: "STANDARD" or "EXPRESS"
}

// Retrier is one entry of a Retry field.
type Retrier struct {
	Comment         string
	ErrorEquals     []string
	IntervalSeconds *int     // default 1
	MaxAttempts     *int     // default 3; 0 never retries
	BackoffRate     *float64 // default 2.0
	MaxDelaySeconds *int
	JitterStrategy  string // "FULL" or "NONE" (default)
}

// Catcher is one entry of a Catch field.
type Catcher struct {
	Comment     string
	ErrorEquals []string
	ResultPath  *Path
	Assign      any
	Output      any
	Next        string
}

// Ptr returns a pointer to v, for the optional fields of Retrier and StateMachine.
func Ptr[T any](v T) *T { return &v }

func (s *Pass) StateName() string     { return s.Name }
func (s *Task) StateName() string     { return s.Name }
func (s *Choice) StateName() string   { return s.Name }
func (s *Wait) StateName() string     { return s.Name }
func (s *Succeed) StateName() string  { return s.Name }
func (s *Fail) StateName() string     { return s.Name }
func (s *Parallel) StateName() string { return s.Name }
func (s *Map) StateName() string      { return s.Name }

func (s *Pass) StateType() string     { return "Pass" }
func (s *Task) StateType() string     { return "Task" }
func (s *Choice) StateType() string   { return "Choice" }
func (s *Wait) StateType() string     { return "Wait" }
func (s *Succeed) StateType() string  { return "Succeed" }
func (s *Fail) StateType() string     { return "Fail" }
func (s *Parallel) StateType() string { return "Parallel" }
func (s *Map) StateType() string      { return "Map" }

func (s *Pass) stateQueryLanguage() string     { return s.QueryLanguage }
func (s *Task) stateQueryLanguage() string     { return s.QueryLanguage }
func (s *Choice) stateQueryLanguage() string   { return s.QueryLanguage }
func (s *Wait) stateQueryLanguage() string     { return s.QueryLanguage }
func (s *Succeed) stateQueryLanguage() string  { return s.QueryLanguage }
func (s *Fail) stateQueryLanguage() string     { return s.QueryLanguage }
func (s *Parallel) stateQueryLanguage() string { return s.QueryLanguage }
func (s *Map) stateQueryLanguage() string      { return s.QueryLanguage }

// Processor returns the Map's item processor: ItemProcessor, or the older Iterator.
func (s *Map) Processor() *Branch {
	if s.ItemProcessor != nil {
		return s.ItemProcessor
	}
	return s.Iterator
}

// State returns the state named name, or nil.
func (sm *StateMachine) State(name string) State { return findState(sm.States, name) }

// State returns the state named name, or nil.
func (b *Branch) State(name string) State { return findState(b.States, name) }

func findState(states []State, name string) State {
	for _, s := range states {
		if s.StateName() == name {
			return s
		}
	}
	return nil
}
