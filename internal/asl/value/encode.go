package value

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Append appends the compact JSON text of v to buf. Like Step Functions (and unlike encoding/json's default) it
// does not escape <, > and &.
func Append(buf []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(buf, "null"...)
	case bool:
		if t {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	case Number:
		if t == "" {
			return append(buf, '0')
		}
		return append(buf, t...)
	case string:
		return AppendString(buf, t)
	case []any:
		buf = append(buf, '[')
		for i, e := range t {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = Append(buf, e)
		}
		return append(buf, ']')
	case *Object:
		buf = append(buf, '{')
		for i := 0; i < t.Len(); i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendString(buf, t.members[i].key)
			buf = append(buf, ':')
			buf = Append(buf, t.members[i].val)
		}
		return append(buf, '}')
	default:
		// Not a value of this package: fall back to encoding/json so that nothing is lost silently.
		b, err := json.Marshal(t)
		if err != nil {
			return AppendString(buf, fmt.Sprint(t))
		}
		return append(buf, b...)
	}
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal.
func AppendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// Marshal returns the compact JSON text of v.
func Marshal(v any) []byte { return Append(nil, v) }

// String returns the compact JSON text of v.
func String(v any) string { return string(Append(nil, v)) }

// FromGo converts a Go value to a value of this package: values of this package pass through, json.RawMessage
// and []byte are parsed, anything else goes through encoding/json (the way a Lambda runtime serialises a
// handler's result).
func FromGo(v any) (any, error) {
	switch t := v.(type) {
	case json.RawMessage:
		return Parse(t)
	case []byte:
		return Parse(t)
	}
	if Valid(v) {
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Equal reports whether a and b are the same JSON value; numbers compare by value (1 == 1.0) and object
// members regardless of order.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case Number:
		y, ok := b.(Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		return err1 == nil && err2 == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case *Object:
		y, ok := b.(*Object)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i := 0; i < x.Len(); i++ {
			w, found := y.Get(x.members[i].key)
			if !found || !Equal(x.members[i].val, w) {
				return false
			}
		}
		return true
	}
	return false
}
