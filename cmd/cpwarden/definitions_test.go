package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefinitionsListsPrintsAndWrites(t *testing.T) {
	list, err := execute(t, newDefinitionsCmd())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lifecycle  STANDARD", "backup     STANDARD", "health     EXPRESS", "remove-member"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}

	golden, err := os.ReadFile(filepath.Join("..", "..", "statemachines", "testdata", "backup.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	one, err := execute(t, newDefinitionsCmd(), "backup")
	if err != nil || one != string(golden) {
		t.Fatalf("definitions backup (%v) differs from the golden file", err)
	}
	deployed, err := execute(t, newDefinitionsCmd(), "--deployed", "backup")
	if err != nil || strings.Contains(deployed, "${") || !strings.Contains(deployed, "arn:aws:lambda:") {
		t.Fatalf("--deployed left placeholders (%v):\n%s", err, deployed)
	}

	dir := t.TempDir()
	if _, err := execute(t, newDefinitionsCmd(), "-o", dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lifecycle", "backup", "health"} {
		if _, err := os.Stat(filepath.Join(dir, name+".asl.json")); err != nil {
			t.Error(err)
		}
	}
	if _, err := execute(t, newDefinitionsCmd(), "nope"); err == nil || !strings.Contains(err.Error(), "unknown workflow") {
		t.Fatalf("unknown workflow: %v", err)
	}
}
