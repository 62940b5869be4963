package testnet_test

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
)

func TestFreeAddrRefusesConnections(t *testing.T) {
	addr := testnet.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %s, want loopback", addr)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection", addr)
	}
}

func TestBlackholeAcceptsAndNeverAnswers(t *testing.T) {
	c, err := net.DialTimeout("tcp", testnet.Blackhole(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read = %v, want a timeout", err)
	}
}

func TestBufferKeepsConcurrentWritesWhole(t *testing.T) {
	var b testnet.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 {
		t.Fatalf("%d whole lines, want 800", got)
	}
}

// TestSeedGroupAndSharedMoto: the group has its instances, sorted, with
// moto's private DNS names; the shared server is the same for every test.
