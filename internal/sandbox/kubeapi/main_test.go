package kubeapi

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

// One API server serves every test of the package (starting one costs
// seconds); tests isolate themselves by namespace and node names. (The
// tests are of package kubeapi, so they cannot use sandboxtest.Shared:
// sandboxtest imports kubeapi.)
var (
	sharedOnce sync.Once
	shared     *Local
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		_ = shared.Stop()
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
	proc.SkipOrFail(t, sharedErr, "start kube-apiserver", ErrNotBuilt)
	return shared
}
