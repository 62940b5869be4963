// Package workeropt holds the conventions every worker's New applies to its
// Config, so that they are the same everywhere: a zero (or negative) number
// or duration takes the documented default, a nil clock is time.Now, and a
// nil logger discards.
package workeropt

import (
	"log/slog"
	"time"
)

// Number is what Positive defaults: counts, sizes and durations.
type Number interface {
	~int | ~int32 | ~int64
}

// Positive returns v when it is positive, else def.
func Positive[T Number](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Logger returns l, or a logger that discards everything when l is nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Clock returns now, or time.Now when now is nil.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
