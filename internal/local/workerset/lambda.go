package workerset

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/sandbox/rie"
	"github.com/cpwarden/cpwarden/workers"
)

// Lambda starts the bootstrap binary under the Runtime Interface Emulator,
// one emulator per handler, each with its function's environment: the
// settings workers.EnvOf lists for it (and the local ones), Config.AWSEnv,
// and the function's name and timeout. It builds the bootstrap first when
// Config.Bootstrap is empty. The error wraps rie.ErrNotInstalled when there
// is no emulator.
func Lambda(ctx context.Context, cfg Config) (*Set, error) {
	if err := check(cfg.Settings); err != nil {
		return nil, err
	}
	emulator, err := rie.Binary()
	if err != nil {
		return nil, err
	}
	bin := cfg.Bootstrap
	if bin == "" {
		if bin, err = rie.Build(ctx, rie.BuildOptions{Dir: cfg.Dir, Log: cfg.BuildLog}); err != nil {
			return nil, fmt.Errorf("workerset: build the bootstrap: %w", err)
		}
	}
	out := NewOutput(cfg.Log)
	fns := make(map[string]*rie.Function, len(workers.All))
	closeAll := func() error {
		var errs []error
		for _, f := range fns {
			errs = append(errs, f.Stop())
		}
		return errors.Join(errs...)
	}
	// The emulators start in parallel: each waits a moment for its ports.
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, h := range workers.All {
		env := handlerEnv(cfg.Settings, h)
		for k, v := range cfg.AWSEnv {
			env[k] = v
		}
		wg.Go(func() {
			f, err := rie.Start(ctx, rie.Options{
				Bootstrap: bin, Emulator: emulator, Handler: string(h), FunctionName: FunctionName(h),
				Env: env, Timeout: cfg.timeout(h), Output: out,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", h, err))
				return
			}
			fns[FunctionName(h)] = f
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = closeAll()
		return nil, fmt.Errorf("workerset: %w", err)
	}
	return &Set{Mode: "lambda (bootstrap under RIE)", resolver: &rieResolver{fns: fns}, out: out, close: closeAll}, nil
}

// rieResolver invokes Lambda tasks through rie.Function.Invoke, which waits
// until the invocation's output (its EMF documents) has been copied, so a
// run's metrics are complete when the run ends.
type rieResolver struct {
	fns map[string]*rie.Function
}

func (r *rieResolver) Invoke(ctx context.Context, req *asl.TaskRequest) (asl.TaskResult, error) {
	if req.Kind != asl.TaskLambda {
		return asl.TaskResult{}, asl.ErrNotHandled
	}
	f, ok := r.fns[req.Function]
	if !ok {
		return asl.TaskResult{}, fmt.Errorf("%w: no function %q (state %q)", asl.ErrNotHandled, req.Function, req.StateName)
	}
	start := time.Now()
	out, err := f.Invoke(ctx, req.Input())
	d := time.Since(start)
	var fe *rie.FunctionError
	switch {
	case errors.As(err, &fe):
		return asl.TaskResult{Err: &asl.TaskError{Error: fe.Type, Cause: string(fe.Payload)}, Duration: d}, nil
	case err != nil:
		return asl.TaskResult{}, err
	}
	return asl.TaskResult{Output: out, Duration: d}, nil
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var _ io.Writer = (*Output)(nil)
