package main

import (
	"strings"
	"testing"
)

func TestGraphDrawsMermaid(t *testing.T) {
	out, err := execute(t, newGraphCmd(), "lifecycle")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "flowchart TD\n") || !strings.Contains(out, `s_Drain -->|"Drain.Incomplete"| s_CountDrainRound`) {
		t.Fatalf("not the lifecycle flowchart:\n%s", out)
	}
	md, err := execute(t, newGraphCmd(), "--markdown", "health")
	if err != nil || !strings.HasPrefix(md, "```mermaid\nflowchart TD\n") || !strings.HasSuffix(md, "```\n") {
		t.Fatalf("--markdown (%v):\n%s", err, md)
	}
	if _, err := execute(t, newGraphCmd()); err == nil {
		t.Fatal("graph without a workflow succeeded")
	}
	if _, err := execute(t, newGraphCmd(), "nope"); err == nil {
		t.Fatal("graph of an unknown workflow succeeded")
	}
}
