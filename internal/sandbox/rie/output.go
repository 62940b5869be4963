package rie

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Report is one REPORT line: the end of an invocation.
type Report struct {
	RequestID string
	Duration  time.Duration
	// InitDuration is what the line says for a cold start; see
	// Function.Inits for why it is not the init's duration.
	InitDuration time.Duration
}

// Init is one init of the runtime, as the emulator logs it.
type Init struct {
	// Phase is "init" for a cold start, "invoke" for an init the emulator
	// runs again at an invocation after a failed one.
	Phase string
	// Status is "success" or "error"; empty when the emulator skipped the
	// init (it had failed in this environment already).
	Status string
	// Duration runs from the runtime's start to its first request for an
	// invocation (or its failure): the cold start's init.
	Duration time.Duration
}

// maxLine bounds the bytes held for one line; longer lines are passed on
// in pieces. An EMF document is at most 1 MB.
const maxLine = 4 << 20

// lines splits the emulator's output into lines, passes each on as one
// Write, and watches for the lines that mark the end of an invocation and
// the runtime's inits.
type lines struct {
	sink io.Writer

	mu      sync.Mutex
	partial []byte
	waiters map[string]chan struct{}
	reps    []Report
	ini     []Init
	cur     *Init // the init since the last INIT START
}

func newLines(sink io.Writer) *lines {
	if sink == nil {
		sink = io.Discard
	}
	return &lines{sink: sink, waiters: map[string]chan struct{}{}}
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := indexNewline(p)
		if i < 0 {
			l.partial = append(l.partial, p...)
			if len(l.partial) >= maxLine {
				l.emit(l.partial)
				l.partial = l.partial[:0]
			}
			break
		}
		line := p[:i+1]
		if len(l.partial) > 0 {
			l.partial = append(l.partial, line...)
			line = l.partial
		}
		l.emit(line)
		l.partial = l.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func indexNewline(p []byte) int {
	for i, c := range p {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// Flush passes on a last line without its newline (proc.Start calls it
// when the output ends).
func (l *lines) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(append(l.partial, '\n'))
		l.partial = nil
	}
}

// emit writes one line and looks at it; l.mu is held.
func (l *lines) emit(line []byte) {
	// A failing sink must not stop the copy: the emulator would block on a
	// full pipe.
	_, _ = l.sink.Write(line)
	s := strings.TrimRight(string(line[:min(len(line), 1024)]), "\r\n")
	switch {
	case strings.HasPrefix(s, "REPORT RequestId: "):
		r := parseReport(s)
		l.reps = append(l.reps, r)
		l.release(r.RequestID)
	case strings.Contains(s, "Invoke failed") && strings.Contains(s, "InvokeID="):
		// The emulator answers a failed invocation without a REPORT line;
		// this log line comes last instead.
		id := s[strings.Index(s, "InvokeID=")+len("InvokeID="):]
		if i := strings.IndexAny(id, " \t"); i >= 0 {
			id = id[:i]
		}
		l.release(id)
	case strings.Contains(s, "INIT START("):
		l.cur = &Init{Phase: field(s, "phase: ")}
	case strings.Contains(s, "INIT RTDONE("):
		if l.cur != nil {
			l.cur.Status = field(s, "status: ")
		}
	case strings.Contains(s, "INIT REPORT("):
		in := Init{}
		if l.cur != nil {
			in = *l.cur
		}
		if ms, err := strconv.ParseFloat(field(s, "durationMs: "), 64); err == nil {
			in.Duration = time.Duration(ms * float64(time.Millisecond))
		}
		l.ini = append(l.ini, in)
		l.cur = nil
	}
}

// field returns the value after key, up to the next ',', ')' or space.
func field(s, key string) string {
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	v := s[i+len(key):]
	if j := strings.IndexAny(v, ",) \t"); j >= 0 {
		v = v[:j]
	}
	return v
}

// parseReport reads "REPORT RequestId: <id>\t[Init Duration: x ms\t]Duration: y ms\t...".
func parseReport(s string) Report {
	var r Report
	for i, part := range strings.Split(s, "\t") {
		part = strings.TrimSpace(part)
		if i == 0 {
			r.RequestID = strings.TrimPrefix(part, "REPORT RequestId: ")
			continue
		}
		name, v, ok := strings.Cut(part, ": ")
		if !ok {
			continue
		}
		ms, err := strconv.ParseFloat(strings.TrimSuffix(v, " ms"), 64)
		if err != nil {
			continue
		}
		d := time.Duration(ms * float64(time.Millisecond))
		switch name {
		case "Duration":
			r.Duration = d
		case "Init Duration":
			r.InitDuration = d
		}
	}
	return r
}

func (l *lines) release(id string) {
	if ch, ok := l.waiters[id]; ok {
		close(ch)
		delete(l.waiters, id)
	}
}

// expect registers interest in the end of invocation id, before it starts.
func (l *lines) expect(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiters[id] = make(chan struct{})
}

// forget drops interest in invocation id.
func (l *lines) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.waiters, id)
}

var errNoEnd = errors.New("no end-of-invocation line")

// wait returns once the end of invocation id has been seen (or was seen
// already), the emulator exited, ctx ended, or max (when positive) passed.
func (l *lines) wait(ctx context.Context, id string, exited <-chan struct{}, max time.Duration) error {
	l.mu.Lock()
	ch, ok := l.waiters[id]
	l.mu.Unlock()
	if !ok {
		return nil // released (or never expected)
	}
	var timeout <-chan time.Time
	if max > 0 {
		t := time.NewTimer(max)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-exited:
		l.forget(id)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		l.forget(id)
		return errNoEnd
	}
}

func (l *lines) reports() []Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Report(nil), l.reps...)
}

func (l *lines) inits() []Init {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Init(nil), l.ini...)
}
