package emf

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The encoder appends JSON by hand: encoding/json's reflection costs about 40 allocations per document, and a
// Lambda prints one document per invocation on its critical path.

const hexDigits = "0123456789abcdef"

// safeByte marks the bytes a JSON string carries as they are: printable ASCII other than '"' and '\\'.
var safeByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does, so the output is
// always valid JSON whatever the input. Strings that need no escaping (nearly all) are copied in one move after an
// eight-bytes-at-a-time scan.
func appendString(b []byte, s string) []byte {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !safeWord(s[i : i+8]) {
			break
		}
	}
	for i < len(s) && safeByte[s[i]] {
		i++
	}
	b = append(b, '"')
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	return appendEscaped(b, s, i)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// safeWord reports whether none of 8 bytes is a control character, '"', '\\' or non-ASCII (SWAR: a zero byte of
// x-c flags a byte equal to c, a borrow past the top bit flags one below it).
func safeWord(w string) bool {
	_ = w[7]
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	quote := x ^ (lsb * '"')
	backslash := x ^ (lsb * '\\')
	bad := x | // non-ASCII
		((x - lsb*0x20) &^ x) | // below 0x20
		((quote - lsb) &^ quote) |
		((backslash - lsb) &^ backslash)
	return bad&msb == 0
}

// appendEscaped finishes appendString from s[i], the first byte that may need escaping; b holds the opening quote.
func appendEscaped(b []byte, s string, i int) []byte {
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeByte[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript-based log viewers; escape them like encoding/json.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// quotedLen is len(appendString(nil, s)) for the printable ASCII strings validation lets through as names.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			n++
		}
	}
	return n
}

// maxFloatLen bounds the length of a formatted finite float64 ("-2.2250738585072014e-308" is 24 bytes).
const maxFloatLen = 24

// appendFloat formats like encoding/json: the shortest representation that round-trips, plain notation for
// magnitudes in [1e-6, 1e21), exponent notation otherwise. Callers pass finite values only.
func appendFloat(b []byte, f float64) []byte {
	// Counts, bytes and whole milliseconds are integers: formatting them as such skips the shortest-representation
	// search and prints the same bytes. (Negative zero keeps its sign through the general path.)
	if f == math.Trunc(f) && f > -1e15 && f < 1e15 && (f != 0 || !math.Signbit(f)) {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return appendFloatBits(b, f, 64)
}

func appendFloatBits(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if bits == 32 {
		abs = float64(float32(abs))
	}
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// Turn e-07 into e-7, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

var errNotEncodable = errors.New("value cannot be encoded as JSON")

// appendValue encodes a property value. Common scalar types take a fast path; anything else goes through
// encoding/json (at SetProperty time, never at flush time).
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, errNotEncodable
		}
		return appendFloatBits(b, x, 64), nil
	case float32:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, errNotEncodable
		}
		// Format with 32-bit precision so float32(0.1) prints as 0.1, not 0.10000000149011612.
		return appendFloatBits(b, f, 32), nil
	case time.Duration:
		return strconv.AppendInt(b, int64(x), 10), nil
	case error:
		// An error's JSON encoding is usually "{}": its message is what a reader of the logs wants.
		return appendString(b, x.Error()), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}
