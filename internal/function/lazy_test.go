package function

import (
	"context"
	"testing"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// TestLazyRetriesAFailedBuildAndKeepsASuccess: a throttled secret read at
// the first invocation must not poison the container.
func TestLazyRetriesAFailedBuildAndKeepsASuccess(t *testing.T) {
	builds := 0
	fail := true
	l := newLazy(func(context.Context) (int, error) {
		builds++
		if fail {
			return 0, faults.New(faults.AWSThrottled, "throttled")
		}
		return 42, nil
	})
	if _, err := l.get(t.Context()); faults.Name(err) != faults.AWSThrottled {
		t.Fatalf("first get: %v", err)
	}
	fail = false
	for range 3 {
		if v, err := l.get(t.Context()); err != nil || v != 42 {
			t.Fatalf("get = %d, %v", v, err)
		}
	}
	if builds != 2 {
		t.Fatalf("%d builds, want 2 (one failed, one kept)", builds)
	}
}
