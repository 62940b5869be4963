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
	return len(docHead) + 20 + len(l.head) + len(docDefsEnd) + len(l.dimMembers) + len(l.propBuf) + 2
}

// Flush prints the recorded metrics as one JSON line per document and resets metrics, properties and the timestamp.
// More than 100 metrics, more than 100 values of one metric, or more than MaxDocumentBytes make several documents,
// each complete with dimensions and properties. Flushing nothing prints nothing. A write error is returned (and
// reported once); the metrics are dropped either way, so a retry never duplicates data points.
func (l *Logger) Flush() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.flush()
	l.reset()
	return err
}

func (l *Logger) flush() error {
	if len(l.metrics) == 0 {
		return nil
	}
	ts := l.ts
	if l.hasTS {
		// The window moves while the logger lives: check again rather than print a document CloudWatch drops.
		if e := checkTimestamp(ts, l.clock()); e != nil {
			return l.reject(e)
		}
	} else {
		ts = l.clock()
	}
	if err := l.writeDocuments(ts.UnixMilli()); err != nil {
		l.slog().Error("emf: metrics lost", slog.String("error", err.Error()))
		return err
	}
	return nil
}

func (l *Logger) reset() {
	for i := range l.metrics {
		if cap(l.metrics[i].values) > 1024 {
			l.metrics[i].values = nil // do not pin a huge array in a reused slot
		}
	}
	l.metrics = l.metrics[:0]
	clear(l.index)
	l.props = l.props[:0]
	l.propBuf = l.propBuf[:0]
	l.hasTS = false
}

// bufPool holds encoding buffers shared by all loggers. It carries no observable state: a buffer is reset before use.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBuffer keeps the pool from pinning the rare megabyte-sized buffer of a split flush.
const maxPooledBuffer = 64 << 10

var errDocumentTooLarge = errors.New("emf: document would exceed the size limit")

// writeDocuments prints every recorded value, packing as many metrics as the limits allow into each document.
func (l *Logger) writeDocuments(ts int64) error {
	bp := bufPool.Get().(*[]byte)
	buf, err := l.encodeAndWrite((*bp)[:0], ts)
	if cap(buf) <= maxPooledBuffer {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	return err
}

// encodeAndWrite returns buf, grown as needed, for reuse.
func (l *Logger) encodeAndWrite(buf []byte, ts int64) ([]byte, error) {
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

		size := len(buf) + len(docDefsEnd) + len(l.dimMembers) + len(l.propBuf) + 2
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
		buf = append(buf, docDefsEnd...)
		buf = append(buf, l.dimMembers...)
		for _, i := range l.sel {
			m := &l.metrics[i]
			from := l.cursor[i]
			to := min(len(m.values), from+MaxValuesPerMetric)
			l.cursor[i] = to
			buf = append(buf, m.frag[m.def:]...)
			if to-from == 1 {
				buf = appendFloat(buf, m.values[from])
				continue
			}
			buf = append(buf, '[')
			for k, v := range m.values[from:to] {
				if k > 0 {
					buf = append(buf, ',')
				}
				buf = appendFloat(buf, v)
			}
			buf = append(buf, ']')
		}
		buf = append(buf, l.propBuf...)
		buf = append(buf, '}', '\n')
		if len(buf) > MaxDocumentBytes {
			return buf, errDocumentTooLarge
		}
		n, err := l.w.Write(buf)
		if err == nil && n != len(buf) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return buf, fmt.Errorf("emf: write: %w", err)
		}
	}
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
