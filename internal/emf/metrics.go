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
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nsErr != nil {
		return l.reject(l.nsErr)
	}
	if e := checkValue(name, value); e != nil {
		return l.reject(e)
	}
	if i := l.find(name); i >= 0 {
		m := &l.metrics[i]
		if !unitMatches(unit, m.unit) {
			if _, e := checkUnit(name, unit); e != nil {
				return l.reject(e)
			}
			return l.reject(invalid(FieldUnit, KindConflict, name,
				"metric already recorded with unit "+string(m.unit)+" in this document"))
		}
		if highRes != m.highRes {
			return l.reject(invalid(FieldMetricName, KindConflict, name,
				"metric already recorded with another storage resolution"))
		}
		m.values = append(m.values, value)
		return nil
	}
	if l.isDimension(name) || l.propIndex(name) >= 0 {
		return l.reject(invalid(FieldMetricName, KindConflict, name, "already used as a dimension or property"))
	}
	n := len(l.metrics)
	if n == cap(l.metrics) {
		l.metrics = append(l.metrics, metric{})
	}
	// Reuse the slot and its arrays from an earlier flush. A logger that flushes the same metrics again and again
	// finds each slot holding the name, unit and resolution it validated and encoded last time.
	m := &l.metrics[:n+1][n]
	if m.name != name || m.name == "" || m.highRes != highRes || !unitMatches(unit, m.unit) {
		if e := checkName(FieldMetricName, name); e != nil {
			return l.reject(e)
		}
		u, e := checkUnit(name, unit)
		if e != nil {
			return l.reject(e)
		}
		m.name, m.unit, m.highRes = name, u, highRes
		l.encodeMetric(m)
	}
	if cap(m.values) == 0 {
		m.values = l.carveFloats()
	}
	m.values = append(m.values[:0], value)
	l.metrics = l.metrics[:n+1]
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
