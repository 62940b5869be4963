package cfn

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cfnLint runs cfn-lint on a template file and returns its findings (every
// error and warning; informational findings are not enabled).
func cfnLint(t *testing.T, path string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed: pip install cfn-lint")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--format", "parseable", "--", path).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestCfnLintIsClean(t *testing.T) {
	t.Parallel()
	out, err := cfnLint(t, "template.json")
	if err != nil || out != "" {
		t.Fatalf("cfn-lint found problems in template.json (%v):\n%s", err, out)
	}
}

// TestCfnLintCatchesMistakes proves the lint run can fail: a template
// with a wrong runtime is reported.
func TestCfnLintCatchesMistakes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("template.json")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), `"provided.al2023"`, `"provided.al1999"`, 1)
	if broken == string(b) {
		t.Fatal("no runtime to break in template.json")
	}
	path := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := cfnLint(t, path)
	if err == nil || !strings.Contains(out, "provided.al1999") {
		t.Fatalf("cfn-lint accepted a bad runtime (%v):\n%s", err, out)
	}
}
