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
	StartAt        string `asl:"required"`
	TimeoutSeconds *int
	States         []State `asl:"required,always"` // in definition order
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
//
// These structs are the one description of the States Language the parser, the validator and the writer work
// from (see describe.go): a field's name is its JSON name, the order of the fields is the order json.Marshal
// writes them in, and the asl tag says what else the field needs:
//
//	jp, ja     allowed in JSONPath only, in JSONata only (neither: in both); none: written, never read
//	-          not a JSON member of its own (Name is the state's key in States)
//	required   must be given
//	path, result, ref
//	           a Path (InputPath, OutputPath) or a ResultPath, both may be null; a Reference Path (ItemsPath,
//	           SecondsPath, ...), which may not
//	int        a number that must be an integer; timestamp: a string that must be a timestamp
//	object     a JSON field that must be an object
//	processor  only in a Map's item processor; top: only in a top-level choice rule; comparison: only in a
//	           choice rule that compares, not in one of And, Or, Not
//	always     written even when empty
//	op         the name of the member whose value is Value (a choice rule's comparison operator)
//
// What a value must mean beyond its type (ranges, path syntax, targets) is checked by Validate (validate.go).

// Pass passes its input to its output, optionally injecting Result or reshaping with Parameters.
type Pass struct {
	Name          string `asl:"-"`
	Comment       string
	QueryLanguage string
	InputPath     *Path `asl:"jp,path"`
	Parameters    any   `asl:"jp"`
	Result        any   `asl:"jp"`
	ResultPath    *Path `asl:"jp,result"`
	OutputPath    *Path `asl:"jp,path"`
	Output        any   `asl:"ja"`
	Assign        any   `asl:"object"`
	Next          string
	End           bool
}

// Task runs a resource: a Lambda function, a service integration, an activity.
type Task struct {
	Name                 string `asl:"-"`
	Comment              string
	QueryLanguage        string
	Resource             string `asl:"required"`
	InputPath            *Path  `asl:"jp,path"`
	Parameters           any    `asl:"jp"`
	Arguments            any    `asl:"ja"`
	Credentials          any    `asl:"object"`
	ResultSelector       any    `asl:"jp"`
	ResultPath           *Path  `asl:"jp,result"`
	OutputPath           *Path  `asl:"jp,path"`
	Output               any    `asl:"ja"`
	Assign               any    `asl:"object"`
	TimeoutSeconds       *Num   `asl:"int"`
	TimeoutSecondsPath   string `asl:"jp,ref"`
	HeartbeatSeconds     *Num   `asl:"int"`
	HeartbeatSecondsPath string `asl:"jp,ref"`
	Retry                []Retrier
	Catch                []Catcher
	Next                 string
	End                  bool
}

// Choice picks the next state from its rules.
type Choice struct {
	Name          string `asl:"-"`
	Comment       string
	QueryLanguage string
	InputPath     *Path        `asl:"jp,path"`
	Choices       []ChoiceRule `asl:"required,always"`
	Default       string
	OutputPath    *Path `asl:"jp,path"`
	Output        any   `asl:"ja"`
	Assign        any   `asl:"object"`
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
	Comment   string
	Variable  string       `asl:"jp,required,comparison"`
	Op        string       `asl:"jp,op"`       // one of the Op* constants; the member's name
	Value     any          `asl:"-"`           // the operand: string, number, bool; a path string for the *Path operators
	Condition any          `asl:"ja,required"` // JSONata: true/false or a "{% %}" expression
	And       []ChoiceRule `asl:"jp"`
	Or        []ChoiceRule `asl:"jp"`
	Not       *ChoiceRule  `asl:"jp"`
	Output    any          `asl:"ja,top"`
	Assign    any          `asl:"object,top"`
	Next      string       `asl:"required,top"`
}

// Wait delays for Seconds/SecondsPath or until Timestamp/TimestampPath.
type Wait struct {
	Name          string `asl:"-"`
	Comment       string
	QueryLanguage string
	Seconds       *Num   `asl:"int"`
	SecondsPath   string `asl:"jp,ref"`
	Timestamp     string `asl:"timestamp"`
	TimestampPath string `asl:"jp,ref"`
	InputPath     *Path  `asl:"jp,path"`
	OutputPath    *Path  `asl:"jp,path"`
	Output        any    `asl:"ja"`
	Assign        any    `asl:"object"`
	Next          string
	End           bool
}

// Succeed ends the execution (or branch, or iteration) successfully.
type Succeed struct {
	Name          string `asl:"-"`
	Comment       string
	QueryLanguage string
	InputPath     *Path `asl:"jp,path"`
	OutputPath    *Path `asl:"jp,path"`
	Output        any   `asl:"ja"`
}

// Fail ends the execution (or branch, or iteration) with an error.
type Fail struct {
	Name          string `asl:"-"`
	Comment       string
	QueryLanguage string
	Error         string
	ErrorPath     string `asl:"jp"`
	Cause         string
	CausePath     string `asl:"jp"`
}

// Parallel runs its branches concurrently on the same input; its result is the array of their outputs.
type Parallel struct {
	Name           string `asl:"-"`
	Comment        string
	QueryLanguage  string
	InputPath      *Path     `asl:"jp,path"`
	Parameters     any       `asl:"jp"`
	Arguments      any       `asl:"ja"`
	Branches       []*Branch `asl:"required"`
	ResultSelector any       `asl:"jp"`
	ResultPath     *Path     `asl:"jp,result"`
	OutputPath     *Path     `asl:"jp,path"`
	Output         any       `asl:"ja"`
	Assign         any       `asl:"object"`
	Retry          []Retrier
	Catch          []Catcher
	Next           string
	End            bool
}

// Map runs its item processor once per item of an array.
type Map struct {
	Name                           string `asl:"-"`
	Comment                        string
	QueryLanguage                  string
	Label                          string
	InputPath                      *Path `asl:"jp,path"`
	ItemsPath                      *Path `asl:"jp,ref"`
	Items                          any   `asl:"ja"`
	ItemReader                     any   `asl:"object"` // Distributed Map: kept for round trips, not run
	ItemSelector                   any
	Parameters                     any     `asl:"jp"` // the older name of ItemSelector
	ItemBatcher                    any     `asl:"object"`
	ItemProcessor                  *Branch // with ProcessorConfig
	Iterator                       *Branch `asl:"jp"` // the older name of ItemProcessor
	MaxConcurrency                 *Num    `asl:"int"`
	MaxConcurrencyPath             string  `asl:"jp,ref"`
	ToleratedFailureCount          *Num    `asl:"int"`
	ToleratedFailureCountPath      string  `asl:"jp,ref"`
	ToleratedFailurePercentage     *Num
	ToleratedFailurePercentagePath string `asl:"jp,ref"`
	ResultWriter                   any    `asl:"object"`
	ResultSelector                 any    `asl:"jp"`
	ResultPath                     *Path  `asl:"jp,result"`
	OutputPath                     *Path  `asl:"jp,path"`
	Output                         any    `asl:"ja"`
	Assign                         any    `asl:"object"`
	Retry                          []Retrier
	Catch                          []Catcher
	Next                           string
	End                            bool
}

// Branch is a sub-machine: a Parallel branch, a Map's ItemProcessor or Iterator.
type Branch struct {
	Comment         string
	QueryLanguage   string           `asl:"none"`      // Step Functions takes it from the state
	ProcessorConfig *ProcessorConfig `asl:"processor"` // ItemProcessor only
	StartAt         string           `asl:"required"`
	States          []State          `asl:"required,always"`
}

// ProcessorConfig is a Map ItemProcessor's mode.
type ProcessorConfig struct {
	Mode          string // "INLINE" (default) or "DISTRIBUTED"
	ExecutionType string // DISTRIBUTED: "STANDARD" or "EXPRESS"
}

// Retrier is one entry of a Retry field.
type Retrier struct {
	Comment         string
	ErrorEquals     []string `asl:"required"`
	IntervalSeconds *int     // default 1
	MaxAttempts     *int     // default 3; 0 never retries
	BackoffRate     *float64 // default 2.0
	MaxDelaySeconds *int
	JitterStrategy  string // "FULL" or "NONE" (default)
}

// Catcher is one entry of a Catch field.
type Catcher struct {
	Comment     string
	ErrorEquals []string `asl:"required"`
	ResultPath  *Path    `asl:"jp,result"`
	Output      any      `asl:"ja"`
	Assign      any      `asl:"object"`
	Next        string   `asl:"required"`
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
