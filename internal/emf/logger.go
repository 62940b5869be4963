package emf

import (
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Dimension is one dimension: a name and its value.
type Dimension struct {
	Name  string
	Value string
}

// Option configures a Logger (New) or the step middleware (Step). The same options serve both, so a worker's test can
// pass WithWriter to either.
type Option func(*config)

// StepOption is an Option given to Step.
type StepOption = Option

type config struct {
	w         io.Writer
	defaults  []Dimension
	sets      [][]Dimension
	clock     func() time.Time
	log       *slog.Logger
	container *Container

	nsReported bool // Step reported an invalid namespace once already
}

// WithWriter sets where documents are printed (os.Stdout by default, which Lambda ships to CloudWatch Logs).
// Each document is one Write call; give concurrent loggers one writer only if its Write is safe for concurrent use
// (os.Stdout is; wrap anything else with LockedWriter).
func WithWriter(w io.Writer) Option { return func(c *config) { c.w = w } }

// WithDimension adds a default dimension: its name is part of every dimension set and its value is printed in every
// document. Repeat it for several (they keep their order).
func WithDimension(name, value string) Option {
	return func(c *config) { c.defaults = append(c.defaults, Dimension{Name: name, Value: value}) }
}

// WithDimensionSet adds a dimension set at construction, as PutDimensions does later.
func WithDimensionSet(dims ...Dimension) Option {
	return func(c *config) { c.sets = append(c.sets, slices.Clone(dims)) }
}

// WithClock sets the time source for document timestamps and for the timestamp window check (time.Now by default).
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithSlog sets where dropped input and write failures are reported (slog.Default() by default).
func WithSlog(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Logger collects metrics, dimensions and properties and prints them as EMF documents on Flush. It is safe for
// concurrent use. Create one per invocation (Step does); dimensions survive a Flush, metrics, properties and an
// explicit timestamp do not.
//
// Every method validates its input first: invalid input is dropped, reported once through log/slog and returned as
// a *ValidationError; what was recorded before stays, so one bad metric never costs the others. A nil *Logger
// discards everything.
type Logger struct {
	mu sync.Mutex

	nsErr *ValidationError // the namespace was invalid: every metric is refused with this error
	w     io.Writer
	clock func() time.Time
	log   *slog.Logger

	defaults []Dimension // default dimensions, first in every set
	sets     [][]string  // extra keys of each dimension set; none means a single set of the defaults
	values   []Dimension // values of the extra keys

	nsJSON []byte // `"Namespace"`
	head   []byte // the document from after the timestamp up to the first metric definition
	tail   []byte // the end of the directive and the dimension members: `]}]},"A":"a","B":"b"`

	// One bit per root member name (see nameBit) of each kind, so that the usual lookup, for a name that is not
	// there, is one test instead of a scan. A set bit only means "scan"; bits are cleared only when the names go.
	metricBits, dimBits, propBits uint64

	metrics   []metric
	index     map[string]int // name → position in metrics, once there are many
	props     []property
	propBuf   []byte     // the encoded `,"key":value` of every property
	knownKeys []knownKey // property keys already validated, with their encoding

	ts      time.Time
	hasTS   bool
	flushed bool  // Flush has printed before
	dimEnc  int32 // the length of the piece of the arena holding the dimension sets, tail and head

	dir        []byte // the directive of the last one-document flush (see directive)
	dirMetrics int32  // how many metric definitions dir holds; 0 when it must be built again

	reported map[reportKey]struct{}
	cursor   []int  // per metric, values already printed during a split Flush
	sel      []int  // metrics of the document being printed by a split Flush
	out      []byte // the encoding buffer, kept from the second Flush on (a logger flushed once uses the pool's)

	// Arenas carved into small pieces (encoded fragments, value arrays, set keys), so that a logger's usual
	// contents cost one allocation, the Logger itself, instead of dozens.
	arena    []byte
	floats   []float64
	keyArena []string

	// Sized for a step: ColdStart, Success or Failure, Duration and a few business metrics; RequestId, TraceId,
	// FunctionVersion, ColdStart and Error; ClusterName and FunctionName in two sets.
	metricsArr  [6]metric
	floatsArr   [24]float64
	propsArr    [6]property
	knownArr    [5]knownKey
	defaultsArr [2]Dimension
	valuesArr   [2]Dimension
	setsArr     [2][]string
	keyArr      [2]string
	arenaArr    [768]byte
	propArr     [384]byte
}

type reportKey struct {
	field Field
	kind  Kind
	name  string
}

// New returns a logger printing to os.Stdout in the given namespace. An invalid namespace is reported at once and
// makes every PutMetric fail with the same *ValidationError, so nothing invalid is ever printed.
func New(namespace string, opts ...Option) *Logger {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return newLogger(namespace, &c)
}

// newLogger builds a logger; extraSets are added after the configured sets (Step's own).
func newLogger(namespace string, c *config, extraSets ...[]Dimension) *Logger {
	l := &Logger{w: c.w, clock: c.clock, log: c.log}
	if l.w == nil {
		l.w = os.Stdout
	}
	if l.clock == nil {
		l.clock = time.Now
	}
	l.metrics = l.metricsArr[:0]
	l.floats = l.floatsArr[:0]
	l.props = l.propsArr[:0]
	l.knownKeys = l.knownArr[:0]
	l.defaults = l.defaultsArr[:0]
	l.values = l.valuesArr[:0]
	l.sets = l.setsArr[:0]
	l.keyArena = l.keyArr[:0]
	l.arena = l.arenaArr[:0]
	l.propBuf = l.propArr[:0]

	if e := checkNamespace(namespace); e != nil {
		l.nsErr = e
		if c.nsReported {
			l.reported = map[reportKey]struct{}{{e.Field, e.Kind, e.Name}: {}}
		} else {
			l.report(e)
		}
	}
	l.nsJSON = appendString(l.carve(quotedLen(namespace)+8), namespace)
	for _, d := range c.defaults {
		if err := l.addDefault(d); err != nil {
			l.report(err)
		}
	}
	for _, sets := range [2][][]Dimension{c.sets, extraSets} {
		for _, set := range sets {
			if e := l.addSet(set); e != nil {
				l.report(e)
			}
		}
	}
	if e := l.commitDimensions(); e != nil {
		l.report(e)
		l.values, l.sets = l.values[:0], l.sets[:0]
		l.rebuildDimensions()
	}
	return l
}

// claim keeps b, built by appending to arenaFree(), in the arena; if it outgrew the arena it already lives on the heap.
func (l *Logger) claim(b []byte) []byte {
	a := len(l.arena)
	if len(b) > 0 && len(b) <= cap(l.arena)-a && &l.arena[:a+1][a] == &b[0] {
		l.arena = l.arena[:a+len(b)]
	}
	return b[:len(b):len(b)]
}

// arenaFree returns the unused arena as an empty slice to append to (then claim).
func (l *Logger) arenaFree() []byte { return l.arena[len(l.arena):len(l.arena)] }

// carve returns an empty byte slice of capacity n, from the arena while it lasts.
func (l *Logger) carve(n int) []byte {
	a := len(l.arena)
	if a+n > cap(l.arena) {
		if n > 512 {
			return make([]byte, 0, n)
		}
		l.arena, a = make([]byte, 0, 2048), 0
	}
	l.arena = l.arena[:a+n]
	return l.arena[a : a : a+n]
}

// carveFloats returns an empty value array for a new metric.
func (l *Logger) carveFloats() []float64 {
	const n = 4
	a := len(l.floats)
	if a+n > cap(l.floats) {
		return make([]float64, 0, n)
	}
	l.floats = l.floats[:a+n]
	return l.floats[a : a : a+n]
}

// carveKeys returns an empty key slice of capacity n for a dimension set.
func (l *Logger) carveKeys(n int) []string {
	a := len(l.keyArena)
	if a+n > cap(l.keyArena) {
		return make([]string, 0, n)
	}
	l.keyArena = l.keyArena[:a+n]
	return l.keyArena[a : a : a+n]
}

// report logs a dropped input once per logger, field, rule and name: a loop putting NaN a million times logs once.
func (l *Logger) report(e *ValidationError) {
	if l.firstReport(e) {
		l.logDropped(e)
	}
}

// firstReport records that e was seen and reports whether it is the first of its kind. The caller holds l.mu (or is
// the only user of l, as New is); it logs with logDropped once it has released the lock.
func (l *Logger) firstReport(e *ValidationError) bool {
	k := reportKey{e.Field, e.Kind, e.Name}
	if _, seen := l.reported[k]; seen {
		return false
	}
	if l.reported == nil {
		l.reported = make(map[reportKey]struct{})
	}
	l.reported[k] = struct{}{}
	return true
}

func (l *Logger) logDropped(e *ValidationError) {
	l.slog().Warn("emf: input dropped", slog.String("field", string(e.Field)), slog.String("kind", e.Kind.String()),
		slog.String("name", e.Name), slog.String("detail", e.Detail))
}

func (l *Logger) slog() *slog.Logger {
	if l.log != nil {
		return l.log
	}
	return slog.Default()
}

// unlockReject ends a method that holds l.mu and dropped its input: it releases the lock, then logs, so a slog
// handler never runs under the logger's lock (one that used the logger would deadlock).
func (l *Logger) unlockReject(e *ValidationError) error {
	first := l.firstReport(e)
	l.mu.Unlock()
	if first {
		l.logDropped(e)
	}
	return e
}

// nameBit is the bit of a name in the member filters.
func nameBit(s string) uint64 {
	if len(s) == 0 {
		return 1
	}
	return 1 << ((uint(len(s))*7 + uint(s[len(s)-1])) & 63)
}

// Timestamps.

// SetTimestamp sets the time of the metrics in the next document (the time of Flush otherwise). CloudWatch accepts
// timestamps from 14 days ago up to 2 hours ahead.
func (l *Logger) SetTimestamp(t time.Time) error {
	if l == nil {
		return nil
	}
	now := l.clock() // the caller's code: not under the lock
	l.mu.Lock()
	if e := checkTimestamp(t, now); e != nil {
		return l.unlockReject(e)
	}
	l.ts, l.hasTS = t, true
	l.mu.Unlock()
	return nil
}

// MetricOption modifies one PutMetric call. It is a plain value so that passing one costs no allocation.
type MetricOption struct{ resolution int8 }

// HighResolution stores the metric at one-second resolution (StorageResolution 1). Standard resolution is the
// default and is not printed.
func HighResolution() MetricOption { return MetricOption{resolution: 1} }

// unitMatches reports whether a PutMetric unit is the recorded (normalised) unit, without validating it again.
func unitMatches(given, recorded types.StandardUnit) bool {
	return given == recorded || (given == "" && recorded == types.StandardUnitNone)
}
