package emf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// The typed setters print what SetProperty prints for the same value, and refuse what it refuses.
func TestTypedPropertySettersMatchSetProperty(t *testing.T) {
	var typed, generic bytes.Buffer
	a, b := newTestLogger(&typed), newTestLogger(&generic)
	must(t, a.SetPropertyString("s", "quo\"te\n✓\xff"))
	must(t, b.SetProperty("s", "quo\"te\n✓\xff"))
	must(t, a.SetPropertyBool("b", true))
	must(t, b.SetProperty("b", true))
	must(t, a.SetPropertyInt("i", math.MinInt64))
	must(t, b.SetProperty("i", int64(math.MinInt64)))
	must(t, a.SetPropertyFloat("f", 0.1+0.2))
	must(t, b.SetProperty("f", 0.1+0.2))
	must(t, a.SetPropertyFloat("e", 1e-7))
	must(t, b.SetProperty("e", 1e-7))
	for _, l := range []*Logger{a, b} {
		must(t, l.PutMetric("m", 1, types.StandardUnitCount))
		must(t, l.Flush())
	}
	if typed.String() != generic.String() {
		t.Fatalf("typed setters print\n%s\nSetProperty prints\n%s", typed.String(), generic.String())
	}
	checkOutput(t, typed.Bytes())

	refusals := []struct {
		name string
		err  error
		kind Kind
	}{
		{"NaN", a.SetPropertyFloat("f", math.NaN()), KindType},
		{"infinity", a.SetPropertyFloat("f", math.Inf(1)), KindType},
		{"reserved key", a.SetPropertyString("_aws", "x"), KindReserved},
		{"empty key", a.SetPropertyBool("", true), KindEmpty},
		{"key of a metric", func() error { must(t, a.PutMetric("m", 1, types.StandardUnitCount)); return a.SetPropertyInt("m", 1) }(), KindConflict},
	}
	for _, r := range refusals {
		var ve *ValidationError
		if !errors.As(r.err, &ve) || ve.Kind != r.kind {
			t.Errorf("%s: got %v, want a %v ValidationError", r.name, r.err, r.kind)
		}
	}
}

// selfLogging marshals itself by recording a metric on the logger it is a property of.
type selfLogging struct{ l *Logger }

func (s selfLogging) MarshalJSON() ([]byte, error) {
	if err := s.l.PutMetric("FromMarshalJSON", 1, types.StandardUnitCount); err != nil {
		return nil, err
	}
	return []byte(`"ok"`), nil
}

// Code of the caller's that the logger runs (a value's MarshalJSON or Error, the slog handler reporting dropped
// input) runs outside the logger's lock, so it may use the logger: holding the lock would deadlock it.
func TestCallerCodeMayUseTheLogger(t *testing.T) {
	var buf bytes.Buffer
	var l *Logger
	reentrant := slog.New(handlerFunc(func(r slog.Record) { _ = l.SetPropertyString("LastReport", r.Message) }))
	l = New("Test/Namespace", WithWriter(&buf), WithClock(testClock), WithSlog(reentrant))
	must(t, l.SetProperty("value", selfLogging{l}))
	if err := l.PutMetric("bad", math.NaN(), types.StandardUnitCount); err == nil {
		t.Fatal("NaN accepted")
	}
	must(t, l.Flush())
	lines, recs := checkOutput(t, buf.Bytes())
	if len(recs) != 1 || recs[0].Name() != "FromMarshalJSON" {
		t.Fatalf("records %v", recs)
	}
	var root map[string]any
	if err := json.Unmarshal(lines[0], &root); err != nil {
		t.Fatal(err)
	}
	if root["value"] != "ok" || root["LastReport"] != "emf: input dropped" {
		t.Fatalf("properties: %s", lines[0])
	}

	// A timestamp that ages out before Flush is reported by Flush, with the handler using the logger again.
	now := testNow
	reports := 0
	var m *Logger
	m = New("Test/Namespace", WithWriter(&buf), WithClock(func() time.Time { return now }),
		WithSlog(slog.New(handlerFunc(func(slog.Record) { reports++; _ = m.PutMetric("Reported", 1, types.StandardUnitCount) }))))
	must(t, m.SetTimestamp(now))
	must(t, m.PutMetric("m", 1, types.StandardUnitCount))
	now = now.Add(MaxTimestampAge + time.Hour)
	if err := m.Flush(); !errors.Is(err, ErrInvalid) || reports != 1 {
		t.Fatalf("Flush: %v after %d reports; want the timestamp refused and reported once", err, reports)
	}
}

// handlerFunc is a slog.Handler that calls f for every record.
type handlerFunc func(slog.Record)

func (h handlerFunc) Enabled(context.Context, slog.Level) bool      { return true }
func (h handlerFunc) Handle(_ context.Context, r slog.Record) error { h(r); return nil }
func (h handlerFunc) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h handlerFunc) WithGroup(string) slog.Handler                 { return h }
