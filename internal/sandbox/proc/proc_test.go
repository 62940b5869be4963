package proc

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestTailKeepsTheLastBytes(t *testing.T) {
	tail := &Tail{Max: 5}
	for _, s := range []string{"abc", "defg", "hi"} {
		if n, err := tail.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := tail.String(); got != "efghi" {
		t.Fatalf("tail = %q, want %q", got, "efghi")
	}
}

func TestFreePortIsBindableOnLoopback(t *testing.T) {
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d not bindable: %v", port, err)
	}
	l.Close()
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := FreePorts("127.0.0.1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts = %v, want 3 distinct ports", ports)
	}
}

func TestBinDirFollowsCPWARDENCACHE(t *testing.T) {
	t.Setenv("CPWARDEN_CACHE", "/x/cache")
	if got, want := BinDir(), filepath.Join("/x/cache", "bin"); got != want {
		t.Fatalf("BinDir() = %q, want %q", got, want)
	}
}

// TestFindBinaryOrder: the environment override wins, then the tool cache,
// then $PATH when asked; a missing override or tool is an error wrapping
// the caller's not-found error, naming where it looked.
func TestFindBinaryOrder(t *testing.T) {
	errMissing := errors.New("tool not installed")
	cache, pathDir, other := t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv("CPWARDEN_CACHE", cache)
	t.Setenv("PATH", pathDir)
	exe := func(dir, name string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inCache := exe(filepath.Join(cache, "bin"), "both")
	exe(pathDir, "both")
	onPath := exe(pathDir, "pathonly")
	override := exe(other, "custom")

	tests := []struct {
		name, env, tool string
		onPath          bool
		want            string // "" means an error wrapping errMissing
	}{
		{"override wins", override, "both", true, override},
		{"missing override is an error", filepath.Join(other, "nope"), "both", true, ""},
		{"cache before PATH", "", "both", true, inCache},
		{"PATH when asked", "", "pathonly", true, onPath},
		{"no PATH unless asked", "", "pathonly", false, ""},
		{"nowhere", "", "absent", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CPWARDEN_TEST_TOOL", tt.env)
			got, err := FindBinary("CPWARDEN_TEST_TOOL", tt.tool, tt.onPath, errMissing)
			if tt.want == "" {
				if !errors.Is(err, errMissing) {
					t.Fatalf("FindBinary = %q, %v; want an error wrapping %v", got, err, errMissing)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FindBinary = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
