package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MockConfig is a Step Functions Local mock configuration (MockConfigFile.json): test cases map state names to
// mocked responses, and each mocked response gives, per invocation of the state ("0", "1-2", ...), a Return
// (the task result) or a Throw (an error and cause).
type MockConfig struct {
	StateMachines   map[string]MockStateMachine      `json:"StateMachines"`
	MockedResponses map[string]map[string]MockedStep `json:"MockedResponses"`
}

// MockStateMachine is a state machine's test cases: test case name → state name → mocked response name.
type MockStateMachine struct {
	TestCases map[string]map[string]string `json:"TestCases"`
}

// MockedStep is one entry of a mocked response.
type MockedStep struct {
	Return json.RawMessage `json:"Return,omitempty"`
	Throw  *MockThrow      `json:"Throw,omitempty"`
}

// MockThrow is a mocked failure.
type MockThrow struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// ParseMockConfig parses and checks a mock configuration: invocation keys are "n" or "n-m" ranges that do not
// overlap, each step has exactly one of Return and Throw, and test cases name existing responses.
func ParseMockConfig(data []byte) (*MockConfig, error) {
	var c MockConfig
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("mock config: %w", err)
	}
	for name, steps := range c.MockedResponses {
		var ranges [][2]int
		for key, step := range steps {
			lo, hi, err := parseRange(key)
			if err != nil {
				return nil, fmt.Errorf("mock config: MockedResponses.%s.%s: %w", name, key, err)
			}
			if (step.Return == nil) == (step.Throw == nil) {
				return nil, fmt.Errorf("mock config: MockedResponses.%s.%s: needs exactly one of Return and Throw", name, key)
			}
			ranges = append(ranges, [2]int{lo, hi})
		}
		sort.Slice(ranges, func(i, j int) bool { return ranges[i][0] < ranges[j][0] })
		for i := 1; i < len(ranges); i++ {
			if ranges[i][0] <= ranges[i-1][1] {
				return nil, fmt.Errorf("mock config: MockedResponses.%s: invocations %d-%d and %d-%d overlap", name, ranges[i-1][0], ranges[i-1][1], ranges[i][0], ranges[i][1])
			}
		}
	}
	for smName, sm := range c.StateMachines {
		for tc, states := range sm.TestCases {
			for state, resp := range states {
				if _, ok := c.MockedResponses[resp]; !ok {
					return nil, fmt.Errorf("mock config: StateMachines.%s.TestCases.%s.%s: no mocked response %q", smName, tc, state, resp)
				}
			}
		}
	}
	return &c, nil
}

func parseRange(key string) (int, int, error) {
	lo, hi, isRange := strings.Cut(key, "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil || a < 0 {
		return 0, 0, fmt.Errorf("invocation key %q is not a number or a range n-m", key)
	}
	if !isRange {
		return a, a, nil
	}
	b, err := strconv.Atoi(strings.TrimSpace(hi))
	if err != nil || b < a {
		return 0, 0, fmt.Errorf("invocation key %q is not a range n-m with n <= m", key)
	}
	return a, b, nil
}

// Resolver returns the resolver of one test case of one state machine. States the test case does not mock are
// ErrNotHandled (Step Functions Local would call the real service), so Chain it with another resolver.
func (c *MockConfig) Resolver(stateMachine, testCase string) (Resolver, error) {
	sm, ok := c.StateMachines[stateMachine]
	if !ok {
		return nil, fmt.Errorf("mock config: no state machine %q", stateMachine)
	}
	states, ok := sm.TestCases[testCase]
	if !ok {
		return nil, fmt.Errorf("mock config: state machine %q has no test case %q", stateMachine, testCase)
	}
	return ResolverFunc(func(_ context.Context, req *TaskRequest) (TaskResult, error) {
		name, ok := states[req.StateName]
		if !ok {
			return TaskResult{}, fmt.Errorf("%w: test case %q does not mock state %q", ErrNotHandled, testCase, req.StateName)
		}
		for key, step := range c.MockedResponses[name] {
			lo, hi, _ := parseRange(key)
			if req.Invocation < lo || req.Invocation > hi {
				continue
			}
			if step.Throw != nil {
				return TaskResult{Err: &TaskError{Error: step.Throw.Error, Cause: step.Throw.Cause}}, nil
			}
			return TaskResult{Output: step.Return}, nil
		}
		return TaskResult{}, fmt.Errorf("mocked response %q has no entry for invocation %d of state %q", name, req.Invocation, req.StateName)
	}), nil
}
