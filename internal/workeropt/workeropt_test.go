package workeropt

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	if Positive(0, 5) != 5 || Positive(-1, 5) != 5 || Positive(3, 5) != 3 {
		t.Fatal("Positive(int)")
	}
	if Positive(time.Duration(0), time.Second) != time.Second || Positive(time.Millisecond, time.Second) != time.Millisecond {
		t.Fatal("Positive(time.Duration)")
	}
	if Logger(nil).Enabled(context.Background(), slog.LevelError) {
		t.Fatal("a nil logger does not discard")
	}
	l := slog.Default()
	if Logger(l) != l {
		t.Fatal("Logger replaced a logger")
	}
	if Clock(nil)().IsZero() {
		t.Fatal("Clock(nil) is not time.Now")
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if !Clock(func() time.Time { return at })().Equal(at) {
		t.Fatal("Clock replaced a clock")
	}
}
