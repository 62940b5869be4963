package function

import (
	"context"
	"fmt"
	"sync"
)

// lazy builds a value on first use and keeps it for the container's life.
// A failed build is not kept: the next invocation tries again, so a
// throttled Secrets Manager at a cold start costs one invocation (retried by
// the workflow as AWS.Throttled), not the container.
//
// Secrets are read at the first invocation rather than at init for that
// reason: an init failure is not retried by the workflows, and its error
// would not carry an ASL name.
type lazy[T any] struct {
	build func(context.Context) (T, error)

	mu   sync.Mutex
	done bool
	v    T
}

func newLazy[T any](build func(context.Context) (T, error)) *lazy[T] {
	return &lazy[T]{build: build}
}

func (l *lazy[T]) get(ctx context.Context) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.v, nil
	}
	v, err := l.build(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	l.v, l.done = v, true
	return v, nil
}

// secretError names the variable whose secret failed, keeping the error's
// ASL name.
func secretError(v string, err error) error {
	return fmt.Errorf("%s: %w", v, err)
}
