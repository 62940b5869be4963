package emf

import "slices"

// property is one encoded `,"key":value` fragment of Logger.propBuf.
type property struct {
	key        string
	start, end int
}

// SetProperty records a property: a root member that CloudWatch Logs keeps searchable but does not turn into a
// metric (request ids, trace ids, versions). Strings, booleans, numbers, time.Duration and errors (their message)
// are encoded directly, anything else with encoding/json. Setting a key again replaces its value.
func (l *Logger) SetProperty(key string, v any) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.checkPropertyKey(key); e != nil {
		return l.reject(e)
	}
	start := len(l.propBuf)
	b := append(l.propBuf, ',')
	b = appendString(b, key)
	b = append(b, ':')
	b, err := appendValue(b, v)
	if err != nil {
		l.propBuf = b[:start]
		return l.reject(invalid(FieldPropertyValue, KindType, key, err.Error()))
	}
	l.propBuf = b
	return l.commitProperty(key, start)
}

// setPropertyString is SetProperty for strings without boxing the value in an interface.
func (l *Logger) setPropertyString(key, v string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.checkPropertyKey(key); e != nil {
		return l.reject(e)
	}
	start := len(l.propBuf)
	l.propBuf = appendMember(l.propBuf, key, v)
	return l.commitProperty(key, start)
}

// checkPropertyKey validates a key, remembering good ones: loggers set the same few keys every flush.
func (l *Logger) checkPropertyKey(key string) *ValidationError {
	for _, k := range l.knownKeys {
		if k == key {
			return nil
		}
	}
	if e := checkPropertyKey(key); e != nil {
		return e
	}
	if len(l.knownKeys) < 16 {
		l.knownKeys = append(l.knownKeys, key)
	}
	return nil
}

func (l *Logger) propIndex(key string) int {
	for i := range l.props {
		if l.props[i].key == key {
			return i
		}
	}
	return -1
}

// commitProperty keeps the fragment appended at start, replacing an older value of the same key.
func (l *Logger) commitProperty(key string, start int) error {
	if l.find(key) >= 0 || l.isDimension(key) {
		l.propBuf = l.propBuf[:start]
		return l.reject(invalid(FieldPropertyKey, KindConflict, key, "already used as a metric or dimension"))
	}
	old := l.propIndex(key)
	oldLen := 0
	if old >= 0 {
		oldLen = l.props[old].end - l.props[old].start
	}
	if l.fixedSize()-oldLen > fixedBudget {
		l.propBuf = l.propBuf[:start]
		return l.reject(invalid(FieldPropertyValue, KindTooLarge, key,
			"properties and dimensions would leave no room for metrics under the 1 MB document limit"))
	}
	if old >= 0 {
		p := l.props[old]
		n := copy(l.propBuf[p.start:], l.propBuf[p.end:])
		l.propBuf = l.propBuf[:p.start+n]
		start -= oldLen
		l.props = slices.Delete(l.props, old, old+1)
		for i := range l.props {
			if l.props[i].start > p.start {
				l.props[i].start -= oldLen
				l.props[i].end -= oldLen
			}
		}
	}
	l.props = append(l.props, property{key: key, start: start, end: len(l.propBuf)})
	return nil
}
