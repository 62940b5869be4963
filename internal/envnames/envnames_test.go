package envnames

import (
	"testing"

	"github.com/cpwarden/cpwarden/workers"
)

func TestEveryHandlerGetsKnownVariablesOnce(t *testing.T) {
	known := map[Var]bool{}
	for _, v := range All {
		if known[v] {
			t.Fatalf("%s listed twice in All", v)
		}
		known[v] = true
	}
	used := map[Var]bool{}
	for _, h := range workers.All {
		vars := For(h)
		if len(vars) == 0 || vars[0] != ClusterName {
			t.Fatalf("%s: ClusterName must come first, got %v", h, vars)
		}
		seen := map[Var]bool{}
		for _, v := range vars {
			if !known[v] || seen[v] {
				t.Fatalf("%s: %s unknown or repeated", h, v)
			}
			seen[v], used[v] = true, true
		}
	}
	for _, v := range All {
		if !used[v] {
			t.Errorf("%s is set on no function", v)
		}
	}
	if For("nope") != nil {
		t.Fatal("unknown handler got variables")
	}
}
