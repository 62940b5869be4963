package workers

import (
	"testing"

	"github.com/cpwarden/cpwarden/internal/envnames"
)

func TestEveryHandlerGetsKnownVariablesOnce(t *testing.T) {
	known := map[envnames.Var]bool{}
	for _, v := range envnames.All {
		if known[v] {
			t.Fatalf("%s listed twice in envnames.All", v)
		}
		known[v] = true
	}
	used := map[envnames.Var]bool{}
	for _, s := range Specs() {
		if len(s.Env) == 0 || s.Env[0] != envnames.ClusterName {
			t.Fatalf("%s: ClusterName must come first, got %v", s.Handler, s.Env)
		}
		seen := map[envnames.Var]bool{}
		for _, v := range s.Env {
			if !known[v] || seen[v] {
				t.Fatalf("%s: %s unknown or repeated", s.Handler, v)
			}
			seen[v], used[v] = true, true
		}
	}
	for _, v := range envnames.All {
		if !used[v] {
			t.Errorf("%s is set on no function", v)
		}
	}
}

func TestEverySpecIsComplete(t *testing.T) {
	if len(Specs()) != len(All) {
		t.Fatalf("%d specs for %d handlers", len(Specs()), len(All))
	}
	for _, s := range Specs() {
		if s.Namespace == "" || s.TimeoutSeconds <= 0 || s.MemoryMiB < 0 {
			t.Errorf("%s: incomplete spec %+v", s.Handler, s)
		}
		for _, m := range s.Metrics {
			if m.Name == "" || m.Unit == "" {
				t.Errorf("%s: metric %+v without a name or unit", s.Handler, m)
			}
			for _, step := range []string{"Success", "Failure", "Duration"} {
				if m.Name == s.Handler.Step()+step {
					t.Errorf("%s: business metric %s collides with a step metric", s.Handler, m.Name)
				}
			}
		}
	}
	if _, ok := SpecOf("nope"); ok {
		t.Fatal("an unknown handler has a spec")
	}
}
