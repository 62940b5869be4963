package proc

import (
	"net"
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

func TestBinDirFollowsCPWARDENCACHE(t *testing.T) {
	t.Setenv("CPWARDEN_CACHE", "/x/cache")
	if got, want := BinDir(), filepath.Join("/x/cache", "bin"); got != want {
		t.Fatalf("BinDir() = %q, want %q", got, want)
	}
}
