package emf

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
)

// Constant parts of a document.
const (
	docHead       = `{"_aws":{"Timestamp":`
	docMetrics    = `,"CloudWatchMetrics":[{"Namespace":`
	docDimensions = `,"Dimensions":`
	docDefs       = `,"Metrics":[`
	docDefsEnd    = `]}]}`
	defName       = `{"Name":`
	defUnit       = `,"Unit":"`
	defHighRes    = `,"StorageResolution":1`
)

// fixedSize bounds the bytes every document needs before any metric: envelope, namespace, dimensions, properties.
func (l *Logger) fixedSize() int {
	return len(docHead) + 20 + len(l.head) + len(l.tail) + len(l.propBuf) + 2
}

// Flush prints the recorded metrics as one JSON line per document and resets metrics, properties and the timestamp.
// More than 100 metrics, more than 100 values of one metric, or more than MaxDocumentBytes make several documents,
// each complete with dimensions and properties. Flushing nothing prints nothing. A write error is returned (and
// reported once); the metrics are dropped either way, so a retry never duplicates data points.
func (l *Logger) Flush() error {
	if l == nil {
		return nil
	}
	dropped, first, err := l.flush()
	// Logged once the lock is released, so that a slog handler may use the logger.
	if dropped != nil {
		if first {
			l.logDropped(dropped)
		}
		return dropped
	}
	if err != nil {
		l.slog().Error("emf: metrics lost", slog.String("error", err.Error()))
		return err
	}
	return nil
}

// flush is Flush under l.mu: it returns a timestamp that aged out (and whether it is the first report of it), or
// the write error.
func (l *Logger) flush() (dropped *ValidationError, first bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock() // the clock and the writer are the caller's code: a panic there must not keep the lock
	if len(l.metrics) > 0 {
		ts := l.ts
		if !l.hasTS {
			ts = l.clock()
		} else if dropped = checkTimestamp(ts, l.clock()); dropped != nil {
			// The window moves while the logger lives: check again rather than print a document CloudWatch drops.
			first = l.firstReport(dropped)
		}
		if dropped == nil {
			err = l.writeDocuments(ts.UnixMilli())
		}
	}
	l.reset()
	return dropped, first, err
}

func (l *Logger) reset() {
	for i := range l.metrics {
		if cap(l.metrics[i].values) > 1024 {
			l.metrics[i].values = nil // do not pin a huge array in a reused slot
		}
	}
	l.metrics = l.metrics[:0]
	if l.index != nil {
		clear(l.index)
	}
	l.props = l.props[:0]
	l.metricBits, l.propBits = 0, 0
	l.propBuf = l.propBuf[:0]
	l.hasTS = false
}

// bufPool holds encoding buffers shared by all loggers. It carries no observable state: a buffer is reset before use.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBuffer keeps the pool from pinning the rare megabyte-sized buffer of a split flush.
const maxPooledBuffer = 64 << 10

var errDocumentTooLarge = errors.New("emf: document would exceed the size limit")

// writeDocuments prints every recorded value, packing as many metrics as the limits allow into each document.
//
// A logger flushed once (Step's, one per invocation) borrows a pooled buffer; from its second Flush on a logger keeps
// the buffer, sparing the pool's bookkeeping on every flush of a long-lived logger. Either way the buffer is emptied
// before use: nothing printed before is ever printed again.
func (l *Logger) writeDocuments(ts int64) error {
	var bp *[]byte
	buf := l.out
	if buf == nil {
		bp = bufPool.Get().(*[]byte)
		buf = *bp
	}
	var err error
	if l.fitsOneDocument() {
		buf = l.appendDocument(buf[:0], ts)
		err = l.write(buf)
	} else {
		buf, err = l.writeSplit(buf[:0], ts)
	}
	switch {
	case cap(buf) > maxPooledBuffer:
		l.out = nil // the rare megabyte-sized buffer of a split flush is not kept
	case l.flushed:
		l.out = buf[:0]
	default:
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	l.flushed = true
	return err
}

// writeSplit prints the recorded values as several documents, each within the limits; it returns buf, grown as
// needed, for reuse.
func (l *Logger) writeSplit(buf []byte, ts int64) ([]byte, error) {
	n := len(l.metrics)
	if cap(l.cursor) < n {
		l.cursor = make([]int, n)
	}
	l.cursor = l.cursor[:n]
	clear(l.cursor)
	for {
		buf = append(buf[:0], docHead...)
		buf = strconv.AppendInt(buf, ts, 10)
		buf = append(buf, l.head...)

		size := len(buf) + len(l.tail) + len(l.propBuf) + 2
		l.sel = l.sel[:0]
		for i := range l.metrics {
			if len(l.sel) == MaxMetricsPerDocument {
				break
			}
			m := &l.metrics[i]
			k := min(len(m.values)-l.cursor[i], MaxValuesPerMetric)
			if k == 0 {
				continue
			}
			cost := len(m.frag) + 1 + k*(maxFloatLen+1) + 2 // definition, comma, member
			if size+cost > MaxDocumentBytes {
				if len(l.sel) == 0 {
					return buf, errDocumentTooLarge // cannot happen: fixedBudget leaves room for one metric
				}
				break
			}
			size += cost
			l.sel = append(l.sel, i)
		}
		if len(l.sel) == 0 {
			return buf, nil
		}
		for j, i := range l.sel {
			if j > 0 {
				buf = append(buf, ',')
			}
			m := &l.metrics[i]
			buf = append(buf, m.frag[:m.def]...)
		}
		buf = append(buf, l.tail...)
		for _, i := range l.sel {
			m := &l.metrics[i]
			from := l.cursor[i]
			to := min(len(m.values), from+MaxValuesPerMetric)
			l.cursor[i] = to
			buf = append(buf, m.frag[m.def:]...)
			buf = appendValues(buf, m.values[from:to])
		}
		buf = append(buf, l.propBuf...)
		buf = append(buf, '}', '\n')
		if err := l.write(buf); err != nil {
			return buf, err
		}
	}
}

// fitsOneDocument reports whether every recorded value fits one document: at most 100 metrics of at most 100 values
// each, and a size bound (every value at its longest) under the limit. Nearly every flush does, and takes
// appendDocument's single pass instead of the general packing loop.
func (l *Logger) fitsOneDocument() bool {
	if len(l.metrics) > MaxMetricsPerDocument {
		return false
	}
	size := len(docHead) + 20 + len(l.head) + len(l.tail) + len(l.propBuf) + 2
	for i := range l.metrics {
		m := &l.metrics[i]
		if len(m.values) > MaxValuesPerMetric {
			return false
		}
		size += len(m.frag) + 1 + len(m.values)*(maxFloatLen+1) + 2
	}
	return size <= MaxDocumentBytes
}

// appendDocument appends the one document that carries every recorded value (see fitsOneDocument).
func (l *Logger) appendDocument(buf []byte, ts int64) []byte {
	buf = append(buf, docHead...)
	buf = appendInt(buf, ts)
	if l.flushed && len(l.head)+len(l.tail) <= maxCachedDirective {
		buf = append(buf, l.directive()...)
	} else {
		buf = l.appendDirective(buf)
	}
	for i := range l.metrics {
		m := &l.metrics[i]
		buf = append(buf, m.frag[m.def:]...)
		if len(m.values) == 1 {
			buf = appendFloat(buf, m.values[0])
		} else {
			buf = appendValues(buf, m.values)
		}
	}
	buf = append(buf, l.propBuf...)
	return append(buf, '}', '\n')
}

// appendDirective appends the part of a one-document flush from the namespace to the dimension members: l.head, the
// definition of every metric, l.tail.
func (l *Logger) appendDirective(buf []byte) []byte {
	buf = append(buf, l.head...)
	for i := range l.metrics {
		m := &l.metrics[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, m.frag[:m.def]...)
	}
	return append(buf, l.tail...)
}

// maxCachedDirective keeps directive from pinning the directive of a logger with very large dimensions (with up to
// 100 definitions, ~30 kB, on top).
const maxCachedDirective = 32 << 10

// directive returns appendDirective's bytes for a logger that flushes again and again. They depend only on l.head
// and l.tail, which only rebuildDimensions changes, and on the metric slots in use, whose definitions only
// encodeMetric changes: both reset dirMetrics, so the bytes are built again whenever they may differ. (Only from the
// second Flush on: a logger flushed once, Step's, would pay an allocation for nothing.)
func (l *Logger) directive() []byte {
	if int(l.dirMetrics) != len(l.metrics) {
		l.dir = l.appendDirective(l.dir[:0])
		l.dirMetrics = int32(len(l.metrics))
	}
	return l.dir
}

// appendValues appends a metric member's value: a number, or an array of several.
func appendValues(buf []byte, vs []float64) []byte {
	if len(vs) == 1 {
		return appendFloat(buf, vs[0])
	}
	buf = append(buf, '[')
	for k, v := range vs {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = appendFloat(buf, v)
	}
	return append(buf, ']')
}

// write prints one document in one Write call.
func (l *Logger) write(doc []byte) error {
	if len(doc) > MaxDocumentBytes {
		return errDocumentTooLarge
	}
	n, err := l.w.Write(doc)
	if err == nil && n != len(doc) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("emf: write: %w", err)
	}
	return nil
}

// LockedWriter serializes Write calls to w, so documents flushed concurrently by several loggers sharing one writer
// (a bytes.Buffer in a test, say) stay whole lines. os.Stdout needs no wrapping.
func LockedWriter(w io.Writer) io.Writer { return &lockedWriter{w: w} }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}
