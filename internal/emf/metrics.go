package emf

import (
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

type metric struct {
	name    string
	unit    types.StandardUnit
	highRes bool
	values  []float64
	// frag caches the encoded definition, `{"Name":"X","Unit":"Count"}`, followed by the member key, `,"X":`;
	// def is the length of the first part. A slot keeps both across flushes.
	frag []byte
	def  int
}

// PutMetric records one value of a metric. Calling it again with the same name adds a value (a document carries up to
// 100 per metric; more are split over several documents); the unit and resolution must then be the same.
// The empty unit means None.
func (l *Logger) PutMetric(name string, value float64, unit types.StandardUnit, opts ...MetricOption) error {
	if l == nil {
		return nil
	}
	highRes := false
	for _, o := range opts {
		if o.resolution == 1 {
			highRes = true
		}
	}
	// No defer: nothing between Lock and Unlock calls code that is not ours, and this is the hot path.
	l.mu.Lock()
	if e := l.putMetric(name, value, unit, highRes); e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// putMetric is PutMetric under l.mu.
func (l *Logger) putMetric(name string, value float64, unit types.StandardUnit, highRes bool) *ValidationError {
	if l.nsErr != nil {
		return l.nsErr
	}
	if !validValue(value) {
		return checkValue(name, value)
	}
	// A new name, as most are, is known absent from every member list with one test of the filters.
	if (l.metricBits|l.dimBits|l.propBits)&nameBit(name) != 0 {
		if known, e := l.putKnownName(name, value, unit, highRes); known {
			return e
		}
	}
	n := len(l.metrics)
	if n == cap(l.metrics) {
		l.metrics = append(l.metrics, metric{})
	}
	// Reuse the slot and its arrays from an earlier flush. A logger that flushes the same metrics again and again
	// finds each slot holding the name, unit and resolution it validated and encoded last time: the name was
	// validated then, and validation is a pure function of the name, so it is not validated again.
	m := &l.metrics[:n+1][n]
	if m.name != name || m.name == "" || m.highRes != highRes || !unitMatches(unit, m.unit) {
		if e := checkName(FieldMetricName, name); e != nil {
			return e
		}
		u, e := checkUnit(name, unit)
		if e != nil {
			return e
		}
		m.name, m.unit, m.highRes = name, u, highRes
		l.encodeMetric(m)
		l.dirMetrics = 0 // the cached directive may hold the slot's old definition
	}
	if cap(m.values) == 0 {
		m.values = l.carveFloats()
	}
	m.values = append(m.values[:0], value)
	l.metrics = l.metrics[:n+1]
	l.metricBits |= nameBit(name)
	if l.index != nil {
		l.index[name] = n
	} else if n+1 > 16 {
		l.index = make(map[string]int, 2*(n+1))
		for i := range l.metrics {
			l.index[l.metrics[i].name] = i
		}
	}
	return nil
}

// putKnownName adds a value to the metric called name, or refuses a name another member has. It reports known=false,
// and does nothing, if no member has the name.
func (l *Logger) putKnownName(name string, value float64, unit types.StandardUnit, highRes bool) (known bool, e *ValidationError) {
	if i := l.find(name); i >= 0 {
		m := &l.metrics[i]
		if !unitMatches(unit, m.unit) {
			if _, e := checkUnit(name, unit); e != nil {
				return true, e
			}
			return true, invalid(FieldUnit, KindConflict, name, "metric already recorded with unit "+string(m.unit)+" in this document")
		}
		if highRes != m.highRes {
			return true, invalid(FieldMetricName, KindConflict, name, "metric already recorded with another storage resolution")
		}
		m.values = append(m.values, value)
		return true, nil
	}
	if l.isDimension(name) || l.propIndex(name) >= 0 {
		return true, invalid(FieldMetricName, KindConflict, name, "already used as a dimension or property")
	}
	return false, nil
}

// encodeMetric fills m.frag for m's name, unit and resolution.
func (l *Logger) encodeMetric(m *metric) {
	q := quotedLen(m.name) // exact: validated names are printable ASCII
	size := len(defName) + q + len(defUnit) + len(m.unit) + 2 + 1 + q + 1
	if m.highRes {
		size += len(defHighRes)
	}
	b := m.frag[:0]
	if cap(b) < size {
		b = l.carve(size)
	}
	b = append(b, defName...)
	b = appendString(b, m.name)
	b = append(b, defUnit...)
	b = append(b, m.unit...)
	b = append(b, '"')
	if m.highRes {
		b = append(b, defHighRes...)
	}
	b = append(b, '}')
	m.def = len(b)
	b = append(b, ',')
	b = appendString(b, m.name)
	m.frag = append(b, ':')
}

func (l *Logger) find(name string) int {
	if l.metricBits&nameBit(name) == 0 {
		return -1
	}
	if l.index != nil {
		if i, ok := l.index[name]; ok {
			return i
		}
		return -1
	}
	for i := range l.metrics {
		if l.metrics[i].name == name {
			return i
		}
	}
	return -1
}
