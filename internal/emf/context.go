package emf

import (
	"context"
	"io"
)

type ctxKey struct{}

// NewContext returns a copy of ctx carrying l, for FromContext.
func NewContext(ctx context.Context, l *Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the logger of the current step. It never returns nil: outside a step it returns a fresh logger
// that validates like any other (so mistakes still surface as errors) and prints nowhere.
func FromContext(ctx context.Context) *Logger {
	if ctx != nil {
		if l, ok := ctx.Value(ctxKey{}).(*Logger); ok && l != nil {
			return l
		}
	}
	// A fresh logger rather than a shared one: a shared discarding logger would be package-level mutable state and
	// would accumulate every metric put outside a step.
	return newLogger("Discard", &config{w: io.Discard})
}
