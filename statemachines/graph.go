package statemachines

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cpwarden/cpwarden/internal/asl"
)

// Mermaid draws a definition as a Mermaid flowchart: Task states as boxes
// (⟳ when they retry in place), Choice states as diamonds, Fail states in
// red, with every transition (Next, Choice rules, Default, Catch) as an
// edge labelled with its condition or errors.
func Mermaid(sm *asl.StateMachine) string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	b.WriteString("  start((start)) --> " + nodeID(sm.StartAt) + "\n")
	edge := func(from, to, label string) {
		if label == "" {
			fmt.Fprintf(&b, "  %s --> %s\n", nodeID(from), nodeID(to))
			return
		}
		fmt.Fprintf(&b, "  %s -->|%q| %s\n", nodeID(from), mermaidText(label), nodeID(to))
	}
	toEnd := func(from string) {
		fmt.Fprintf(&b, "  %s --> finish((end))\n", nodeID(from))
	}
	var fails []string
	for _, st := range sm.States {
		name := st.StateName()
		fmt.Fprintf(&b, "  %s%s\n", nodeID(name), shape(st))
		switch s := st.(type) {
		case *asl.Task:
			for _, c := range s.Catch {
				edge(name, c.Next, strings.Join(c.ErrorEquals, ", "))
			}
			if s.End {
				toEnd(name)
			} else {
				edge(name, s.Next, "")
			}
		case *asl.Pass:
			if s.End {
				toEnd(name)
			} else {
				edge(name, s.Next, "")
			}
		case *asl.Wait:
			if s.End {
				toEnd(name)
			} else {
				edge(name, s.Next, "")
			}
		case *asl.Choice:
			for _, r := range s.Choices {
				edge(name, r.Next, ruleText(r))
			}
			if s.Default != "" {
				edge(name, s.Default, "otherwise")
			}
		case *asl.Succeed:
			toEnd(name)
		case *asl.Fail:
			fails = append(fails, nodeID(name))
		}
	}
	if len(fails) > 0 {
		sort.Strings(fails)
		b.WriteString("  classDef fail fill:#fdd,stroke:#c00\n")
		b.WriteString("  class " + strings.Join(fails, ",") + " fail\n")
	}
	return b.String()
}

// nodeID is a Mermaid-safe node id for a state name.
func nodeID(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	return "s_" + b.String()
}

func shape(st asl.State) string {
	name := mermaidText(st.StateName())
	switch s := st.(type) {
	case *asl.Task:
		label := name
		if len(s.Retry) > 0 {
			label += " ⟳"
		}
		return fmt.Sprintf("[%q]", label)
	case *asl.Choice:
		return fmt.Sprintf("{%q}", name)
	case *asl.Wait:
		return fmt.Sprintf("[/%q/]", name)
	case *asl.Fail:
		return fmt.Sprintf("[[%q]]", name)
	case *asl.Succeed:
		return fmt.Sprintf("([%q])", name)
	default:
		return fmt.Sprintf("(%q)", name)
	}
}

// mermaidText makes s safe inside a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ").Replace(s)
}

var opText = map[string]string{
	asl.OpStringEquals: "==", asl.OpNumericEquals: "==", asl.OpBooleanEquals: "==",
	asl.OpNumericGreaterThanEquals: ">=", asl.OpNumericGreaterThan: ">",
	asl.OpNumericLessThan: "<", asl.OpNumericLessThanEquals: "<=",
}

// ruleText is a short reading of a Choice rule.
func ruleText(r asl.ChoiceRule) string {
	switch {
	case len(r.And) > 0:
		var parts []string
		for _, x := range r.And {
			parts = append(parts, ruleText(x))
		}
		return strings.Join(parts, " and ")
	case len(r.Or) > 0:
		var parts []string
		for _, x := range r.Or {
			parts = append(parts, ruleText(x))
		}
		return strings.Join(parts, " or ")
	case r.Not != nil:
		return "not (" + ruleText(*r.Not) + ")"
	case r.Op == asl.OpIsPresent:
		if v, _ := r.Value.(bool); !v {
			return r.Variable + " absent"
		}
		return r.Variable + " present"
	}
	op, ok := opText[r.Op]
	if !ok {
		op = r.Op
	}
	return fmt.Sprintf("%s %s %v", r.Variable, op, r.Value)
}
