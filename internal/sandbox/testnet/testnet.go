// Package testnet holds the test fixtures that need nothing but the
// standard library: loopback addresses that refuse or never answer, and a
// goroutine-safe buffer. It is apart from sandboxtest, which starts
// backends and so links client-go and the AWS SDK: a benchmark that only
// needs an address (the backup worker's, which measures its own RSS) stays
// as lean as the worker it measures.
package testnet

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// FreeAddr returns a loopback address (127.0.0.1:port) that nothing
// listens on: a connection to it is refused (unless another process takes
// the port meanwhile).
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Blackhole returns the address of a loopback listener that accepts
// connections and never answers (a hung server, or a route that drops
// everything) until the test ends.
func Blackhole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// Buffer is a bytes.Buffer safe for concurrent use: a child's output
// copier, several workers' loggers and the test reading it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
