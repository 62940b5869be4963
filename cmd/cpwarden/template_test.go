package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// execute runs one of the commands with args and returns its stdout.
func execute(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestTemplatePrintsTheCheckedInTemplate(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "cfn", "template.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := execute(t, newTemplateCmd())
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatal("`cpwarden template` differs from cfn/template.json (run make generate)")
	}
	path := filepath.Join(t.TempDir(), "t.json")
	if _, err := execute(t, newTemplateCmd(), "-o", path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, want) {
		t.Fatal("-o wrote something else")
	}
}
