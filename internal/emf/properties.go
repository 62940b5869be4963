package emf

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
)

// property is one encoded `,"key":value` fragment of Logger.propBuf.
type property struct {
	key        string
	start, end int
}

// knownKey is a property key that passed validation, with its encoded `,"key":` prefix: loggers set the same few keys
// every flush, and validation and encoding are pure functions of the key.
type knownKey struct {
	key  string
	frag []byte
}

// maxKnownKeyFrag bounds the keys kept in knownKeys; longer ones are validated and encoded each time.
const maxKnownKeyFrag = 64

// SetProperty records a property: a root member that CloudWatch Logs keeps searchable but does not turn into a
// metric (request ids, trace ids, versions). Strings, booleans, numbers, time.Duration and errors (their message)
// are encoded directly, anything else with encoding/json. Setting a key again replaces its value.
//
// Converting a non-constant string (or number) to the interface parameter costs the caller an allocation; the typed
// setters (SetPropertyString, SetPropertyBool, SetPropertyInt, SetPropertyFloat) take the value as it is.
func (l *Logger) SetProperty(key string, v any) error {
	if l == nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		return l.SetPropertyString(key, x)
	case bool:
		return l.SetPropertyBool(key, x)
	case nil, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, time.Duration:
		return l.setPropertyScalar(key, v)
	case error:
		// An error's JSON encoding is usually "{}": its message is what a reader of the logs wants. Error() is the
		// caller's code, so it runs before the lock is taken.
		return l.SetPropertyString(key, x.Error())
	}
	if e := checkPropertyKey(key); e != nil {
		l.mu.Lock()
		return l.unlockReject(e)
	}
	raw, err := json.Marshal(v) // may run the caller's MarshalJSON: not under the lock
	if err != nil {
		l.mu.Lock()
		return l.unlockReject(invalid(FieldPropertyValue, KindType, key, err.Error()))
	}
	return l.setPropertyRaw(key, raw)
}

// setPropertyScalar records a nil, number or duration property: appendValue encodes those without calling anyone
// else's code, so it may run under the lock.
func (l *Logger) setPropertyScalar(key string, v any) error {
	l.mu.Lock()
	start, e := l.beginProperty(key)
	if e == nil {
		var err error
		if l.propBuf, err = appendValue(l.propBuf, v); err != nil {
			l.propBuf = l.propBuf[:start]
			e = invalid(FieldPropertyValue, KindType, key, err.Error())
		} else {
			e = l.commitProperty(key, start)
		}
	}
	if e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// SetPropertyString records a string property, as SetProperty does, without converting the value to an interface.
func (l *Logger) SetPropertyString(key, value string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	start, e := l.beginProperty(key)
	if e == nil {
		l.propBuf = appendString(l.propBuf, value)
		e = l.commitProperty(key, start)
	}
	if e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// SetPropertyBool records a boolean property, as SetProperty does.
func (l *Logger) SetPropertyBool(key string, value bool) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	start, e := l.beginProperty(key)
	if e == nil {
		l.propBuf = strconv.AppendBool(l.propBuf, value)
		e = l.commitProperty(key, start)
	}
	if e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// SetPropertyInt records an integer property, as SetProperty does, without converting the value to an interface.
func (l *Logger) SetPropertyInt(key string, value int64) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	start, e := l.beginProperty(key)
	if e == nil {
		l.propBuf = strconv.AppendInt(l.propBuf, value, 10)
		e = l.commitProperty(key, start)
	}
	if e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// SetPropertyFloat records a number property, as SetProperty does; NaN and infinities, which JSON cannot carry, are
// refused.
func (l *Logger) SetPropertyFloat(key string, value float64) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	start, e := l.beginProperty(key)
	if e == nil {
		if math.IsNaN(value) || math.IsInf(value, 0) {
			l.propBuf = l.propBuf[:start]
			e = invalid(FieldPropertyValue, KindType, key, errNotEncodable.Error())
		} else {
			l.propBuf = appendFloatBits(l.propBuf, value, 64)
			e = l.commitProperty(key, start)
		}
	}
	if e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// setPropertyRaw records a property whose value is already encoded JSON.
func (l *Logger) setPropertyRaw(key string, raw []byte) error {
	l.mu.Lock()
	start, e := l.beginProperty(key)
	if e == nil {
		l.propBuf = append(l.propBuf, raw...)
		e = l.commitProperty(key, start)
	}
	if e != nil {
		return l.unlockReject(e)
	}
	l.mu.Unlock()
	return nil
}

// beginProperty validates key and appends its `,"key":` to propBuf, returning where the fragment starts (to pass to
// commitProperty once the value is appended). Known keys skip validation and encoding.
func (l *Logger) beginProperty(key string) (int, *ValidationError) {
	start := len(l.propBuf)
	for i := range l.knownKeys {
		if k := &l.knownKeys[i]; k.key == key {
			l.propBuf = append(l.propBuf, k.frag...)
			return start, nil
		}
	}
	if e := checkPropertyKey(key); e != nil {
		return start, e
	}
	b := append(l.propBuf, ',')
	b = appendString(b, key)
	b = append(b, ':')
	l.propBuf = b
	// The cache is the Logger's own array: once it is full, further keys are validated each time rather than grow it.
	if n := len(b) - start; n <= maxKnownKeyFrag && len(l.knownKeys) < cap(l.knownKeys) {
		frag := append(l.carve(n), b[start:]...)
		l.knownKeys = append(l.knownKeys, knownKey{key: key, frag: frag})
	}
	return start, nil
}

func (l *Logger) propIndex(key string) int {
	if l.propBits&nameBit(key) == 0 {
		return -1
	}
	for i := range l.props {
		if l.props[i].key == key {
			return i
		}
	}
	return -1
}

// commitProperty keeps the fragment appended at start, replacing an older value of the same key. On error the
// fragment is removed again.
func (l *Logger) commitProperty(key string, start int) *ValidationError {
	bit := nameBit(key)
	if (l.metricBits|l.dimBits)&bit != 0 && (l.find(key) >= 0 || l.isDimension(key)) {
		l.propBuf = l.propBuf[:start]
		return invalid(FieldPropertyKey, KindConflict, key, "already used as a metric or dimension")
	}
	old, oldLen := -1, 0
	if l.propBits&bit != 0 {
		if old = l.propIndex(key); old >= 0 {
			oldLen = l.props[old].end - l.props[old].start
		}
	}
	if l.fixedSize()-oldLen > fixedBudget {
		l.propBuf = l.propBuf[:start]
		return invalid(FieldPropertyValue, KindTooLarge, key,
			"properties and dimensions would leave no room for metrics under the 1 MB document limit")
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
	l.propBits |= nameBit(key)
	return nil
}
