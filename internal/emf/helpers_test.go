package emf

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// testNow is the clock of every test logger, so timestamps are predictable.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testClock() time.Time { return testNow }

var quiet = slog.New(slog.DiscardHandler)

func slogNew(h slog.Handler) *slog.Logger { return slog.New(h) }

// newTestLogger returns a logger printing into buf with a pinned clock and silenced reports.
func newTestLogger(buf io.Writer, opts ...Option) *Logger {
	base := []Option{WithWriter(buf), WithClock(testClock), WithSlog(quiet)}
	return New("Test/Namespace", append(base, opts...)...)
}

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

func emfSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		schema, schemaErr = c.Compile("testdata/emf.schema.json")
	})
	if schemaErr != nil {
		t.Fatalf("compile schema: %v", schemaErr)
	}
	return schema
}

// validateLine checks one document against the JSON schema.
func validateLine(t testing.TB, line []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return err
	}
	return emfSchema(t).Validate(inst)
}

// checkOutput asserts that out is a sequence of newline-terminated documents, each within the size limit, valid
// against the schema and decodable (which checks what the schema cannot: references, targets, duplicates). It
// returns the lines and every decoded record.
func checkOutput(t testing.TB, out []byte) ([][]byte, []Record) {
	t.Helper()
	if len(out) == 0 {
		return nil, nil
	}
	if out[len(out)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", tail(out))
	}
	var lines [][]byte
	var recs []Record
	for line := range bytes.SplitSeq(out[:len(out)-1], []byte("\n")) {
		if len(line)+1 > MaxDocumentBytes {
			t.Fatalf("document of %d bytes exceeds the %d-byte limit", len(line)+1, MaxDocumentBytes)
		}
		if err := validateLine(t, line); err != nil {
			t.Fatalf("document fails the EMF schema: %v\n%s", err, tail(line))
		}
		r, err := Decode(line)
		if err != nil {
			t.Fatalf("document does not decode: %v\n%s", err, tail(line))
		}
		lines = append(lines, line)
		recs = append(recs, r...)
	}
	return lines, recs
}

func tail(b []byte) []byte {
	if len(b) > 600 {
		return append(append([]byte{}, b[:300]...), append([]byte(" … "), b[len(b)-300:]...)...)
	}
	return b
}

// valuesOf collects every value printed for metric name across records of one dimension set (the first set).
func valuesOf(recs []Record, name string, dims ...string) []float64 {
	var out []float64
	for _, r := range Find(recs, name, dims...) {
		out = append(out, r.Samples()...)
	}
	return out
}

func asValidation(t testing.TB, err error) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) is false", err)
	}
	return ve
}

// recordingHandler is a slog.Handler keeping records, to count reports.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.records)
}
