package statemachines

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// npmTool returns the path of a validator installed in tools/npm, or skips.
func npmTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "tools", "npm", "node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not installed: run `npm ci --prefix tools/npm` (needs node)", name)
	}
	return bin
}

// deployedDefinitions writes each definition as Step Functions receives it
// (placeholders replaced by function ARNs) and returns the files.
func deployedDefinitions(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for _, w := range Workflows() {
		def, err := w.Deployed(testCluster)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, GoldenFile(w.Name))
		if err := os.WriteFile(path, def, 0o644); err != nil {
			t.Fatal(err)
		}
		out[w.Name] = path
	}
	return out
}

func runTool(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// brokenDefinition is the lifecycle definition with a Next that goes
// nowhere: both validators must reject it, or their passing means nothing.
func brokenDefinition(t *testing.T) string {
	t.Helper()
	def, err := Lifecycle().Deployed(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(def), `"Next": "HeartbeatAfterDrain"`, `"Next": "NoSuchState"`, 1)
	if broken == string(def) {
		t.Fatal("nothing to break")
	}
	path := filepath.Join(t.TempDir(), "broken.asl.json")
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefinitionsPassASLValidator(t *testing.T) {
	t.Parallel()
	bin := npmTool(t, "asl-validator")
	var args []string
	for _, path := range deployedDefinitions(t) {
		args = append(args, "--json-path", path)
	}
	if out, err := runTool(t, bin, args...); err != nil {
		t.Errorf("asl-validator rejects our definitions (%v):\n%s", err, out)
	} else if n := strings.Count(out, "is valid"); n != len(Workflows()) {
		t.Errorf("asl-validator checked %d definitions, want %d:\n%s", n, len(Workflows()), out)
	}
	if out, err := runTool(t, bin, "--json-path", brokenDefinition(t)); err == nil {
		t.Errorf("asl-validator accepted a definition with a dangling Next:\n%s", out)
	}
}

func TestDefinitionsPassStatelint(t *testing.T) {
	t.Parallel()
	bin := npmTool(t, "statelint")
	var args []string
	for _, path := range deployedDefinitions(t) {
		args = append(args, path)
	}
	if out, err := runTool(t, bin, args...); err != nil {
		t.Errorf("statelint rejects our definitions (%v):\n%s", err, out)
	}
	if out, err := runTool(t, bin, brokenDefinition(t)); err == nil {
		t.Errorf("statelint accepted a definition with a dangling Next:\n%s", out)
	}
}
