package kubeapi

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// One API server serves every test of the package (starting one costs
// seconds); tests isolate themselves by namespace and node names.
var (
	sharedOnce sync.Once
	shared     *Local
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

func server(t *testing.T) *Local {
	t.Helper()
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared, sharedErr = StartLocal(ctx, Options{})
	})
	if errors.Is(sharedErr, ErrNotBuilt) {
		t.Skipf("no kube-apiserver: %v", sharedErr)
	}
	if sharedErr != nil {
		t.Fatalf("start kube-apiserver: %v", sharedErr)
	}
	return shared
}
