package etcdconn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
)

// TestLockIsHeldUntilUnlocked: the lock outlives the context it was
// waited for with (its lease is kept alive until unlock), a second holder
// waits until then, and gets it once it is released.
func TestLockIsHeldUntilUnlocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: []string{"solo"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	d := etcdconn.Dialer{TLS: c.ClientTLS()}
	dial := func() *etcdconn.Client {
		cli, err := d.Dial(t.Context(), c.Endpoints())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	first, second := dial(), dial()
	const ttl = 2 * time.Second

	wait, stop := context.WithTimeout(t.Context(), 20*time.Second)
	unlock, err := first.Lock(wait, "/cpwarden/test/lock", ttl)
	stop() // the wait is over; the lock must stay held
	if err != nil {
		t.Fatal(err)
	}
	// Three lease lifetimes: a lease kept alive only while the wait lasted
	// would have expired and handed the lock over.
	busy, cancelBusy := context.WithTimeout(t.Context(), 3*ttl)
	_, err = second.Lock(busy, "/cpwarden/test/lock", ttl)
	cancelBusy()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while the first holds it: %v, want a deadline exceeded", err)
	}
	if err := unlock(t.Context()); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	got, cancelGot := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancelGot()
	unlock2, err := second.Lock(got, "/cpwarden/test/lock", ttl)
	if err != nil {
		t.Fatalf("second Lock after unlock: %v", err)
	}
	if err := unlock2(t.Context()); err != nil {
		t.Fatal(err)
	}
}
