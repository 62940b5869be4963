package statemachines

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/workers"
)

func TestGoldenDefinitionsAreUpToDate(t *testing.T) {
	for _, w := range Workflows() {
		want, err := w.JSON(TemplateResource)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", GoldenFile(w.Name)))
		if err != nil {
			t.Fatalf("%v (run `make generate`)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is stale: run `make generate` (go generate ./...) and commit the result", GoldenFile(w.Name))
		}
	}
}

// TestDefinitionsPassOurValidator validates each definition as Step
// Functions will receive it: with the placeholders replaced by function
// ARNs, as CloudFormation does.
func TestDefinitionsPassOurValidator(t *testing.T) {
	for _, w := range Workflows() {
		def, err := w.Deployed(testCluster)
		if err != nil {
			t.Fatal(err)
		}
		if err := asl.Validate(def); err != nil {
			t.Errorf("%s: %v", w.Name, err)
		}
	}
}

// TestDefinitionsRoundTrip: the golden JSON parses back into the same
// definition, byte for byte.
func TestDefinitionsRoundTrip(t *testing.T) {
	for _, w := range Workflows() {
		def, _ := w.JSON(TemplateResource)
		sm, err := asl.Parse(def)
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		again, err := json.Marshal(sm)
		if err != nil {
			t.Fatal(err)
		}
		var a, b bytes.Buffer
		_ = json.Compact(&a, def)
		_ = json.Compact(&b, again)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s does not round-trip through asl.Parse", w.Name)
		}
	}
}

// TestEveryTaskNamesItsWorker: each Task's resource is exactly its
// handler's placeholder, each workflow declares the handlers it invokes,
// and each Task carries the policy and the handler's timeout.
func TestEveryTaskNamesItsWorker(t *testing.T) {
	for _, w := range Workflows() {
		var used []workers.Handler
		for _, st := range w.Definition(TemplateResource).States {
			task, isTask := st.(*asl.Task)
			if !isTask {
				continue
			}
			h, found := HandlerOf(task.Resource)
			if !found || !h.Valid() {
				t.Fatalf("%s.%s: resource %q names no handler", w.Name, task.Name, task.Resource)
			}
			if !slices.Contains(used, h) {
				used = append(used, h)
			}
			if n, _ := task.TimeoutSeconds.Int64(); n != int64(TimingOf(h).TaskTimeoutSeconds) {
				t.Errorf("%s.%s: TimeoutSeconds %d, want %d", w.Name, task.Name, n, TimingOf(h).TaskTimeoutSeconds)
			}
			if len(task.Retry) != len(w.Policy) {
				t.Errorf("%s.%s: %d retriers, want %d", w.Name, task.Name, len(task.Retry), len(w.Policy))
			}
			for i, r := range task.Retry {
				if !slices.Equal(r.ErrorEquals, w.Policy[i].ErrorEquals) || *r.MaxAttempts != w.Policy[i].MaxAttempts || r.JitterStrategy != "FULL" {
					t.Errorf("%s.%s: retrier %d = %+v", w.Name, task.Name, i, r)
				}
				if slices.Contains(r.ErrorEquals, "Input.Invalid") || slices.Contains(r.ErrorEquals, "States.ALL") {
					t.Errorf("%s.%s: retries %v", w.Name, task.Name, r.ErrorEquals)
				}
			}
		}
		slices.Sort(used)
		declared := slices.Clone(w.Handlers)
		slices.Sort(declared)
		if !slices.Equal(used, declared) {
			t.Errorf("%s: Tasks use %v, Handlers declares %v", w.Name, used, declared)
		}
	}
}

func TestSubstitutionKeysAreSafe(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]+$`)
	seen := map[string]bool{}
	for _, h := range workers.All {
		k := SubstitutionKey(h)
		if !re.MatchString(k) || seen[k] {
			t.Errorf("%s: key %q", h, k)
		}
		seen[k] = true
		if got, ok := HandlerOf(TemplateResource(h)); !ok || got != h {
			t.Errorf("HandlerOf(%s) = %s", TemplateResource(h), got)
		}
		if got, ok := HandlerOf(LocalResource(h)); !ok || got != h {
			t.Errorf("HandlerOf(%s) = %s", LocalResource(h), got)
		}
	}
}

func TestMermaidShowsEveryStateAndTransition(t *testing.T) {
	for _, w := range Workflows() {
		sm := w.Definition(TemplateResource)
		g := Mermaid(sm)
		if !strings.HasPrefix(g, "flowchart TD\n") {
			t.Fatalf("%s: not a flowchart", w.Name)
		}
		for _, st := range sm.States {
			if !strings.Contains(g, "  "+nodeID(st.StateName())) {
				t.Errorf("%s: state %s missing", w.Name, st.StateName())
			}
		}
		edges := strings.Count(g, "-->")
		want := 1 // start
		for _, st := range sm.States {
			switch s := st.(type) {
			case *asl.Task:
				want += len(s.Catch) + 1
			case *asl.Choice:
				want += len(s.Choices) + 1
			case *asl.Pass, *asl.Wait, *asl.Succeed:
				want++
			}
		}
		if edges != want {
			t.Errorf("%s: %d edges, want %d\n%s", w.Name, edges, want, g)
		}
	}
	lc := Mermaid(Lifecycle().Definition(TemplateResource))
	for _, e := range []string{
		`s_Drain -->|"Drain.Incomplete"| s_CountDrainRound`,
		`s_RemoveMember -->|"Etcd.QuorumAtRisk, Etcd.LearnerJoining"| s_CountQuorumRound`,
		`s_QuorumDeadline -->|"$.Rounds.Quorum >= 15"| s_QuorumTimedOut`,
		`s_Complete --> finish((end))`,
	} {
		if !strings.Contains(lc, e) {
			t.Errorf("lifecycle graph lacks %s", e)
		}
	}
}
