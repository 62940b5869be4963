package emf

import (
	"errors"
	"math"
	"math/bits"
	"slices"
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
// always valid JSON whatever the input. Strings that need no escaping (nearly all) are copied in one move after a
// scan of eight bytes at a time.
func appendString(b []byte, s string) []byte {
	i := safePrefix(s)
	b = append(b, '"')
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	return appendEscaped(b, s, i)
}

// safePrefix returns len(s) if every byte of s goes into a JSON string as it is, or else an index no greater than
// that of the first byte that does not.
func safePrefix(s string) int {
	i := 0
	for ; len(s)-i >= 16; i += 16 {
		w := s[i : i+16]
		if (unsafeBytes(load64(w[:8]))|unsafeBytes(load64(w[8:])))&msb != 0 {
			return i
		}
	}
	if len(s)-i >= 8 {
		if unsafeBytes(load64(s[i:i+8]))&msb != 0 {
			return i
		}
		i += 8
	}
	if i == len(s) {
		return i
	}
	if len(s) >= 8 {
		// The last, partial word: test the last eight bytes, which overlap the words already tested.
		if unsafeBytes(load64(s[len(s)-8:]))&msb == 0 {
			return len(s)
		}
		return i
	}
	for ; i < len(s); i++ {
		if !safeByte[s[i]] {
			return i
		}
	}
	return i
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load64 reads the first 8 bytes of w as a little-endian word (the compiler makes it one load).
func load64(w string) uint64 {
	_ = w[7]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// unsafeBytes sets the top bit of the result's bytes if one of the 8 bytes of x is a control character, '"', '\\' or
// non-ASCII, and clears them all otherwise (SWAR). Non-ASCII bytes have their top bit set already. A byte below 0x20
// borrows past its top bit when 0x20 is subtracted, and a byte equal to '"' or '\\' becomes zero when xored with it,
// then borrows when 1 is subtracted; printable ASCII does neither. A borrow carried into the next byte can only
// come from a byte that is itself flagged, so the verdict is exact.
func unsafeBytes(x uint64) uint64 {
	return x | (x - lsb*0x20) | ((x ^ lsb*'"') - lsb) | ((x ^ lsb*'\\') - lsb)
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
	a := math.Abs(f)
	if a < 1e15 && (f != 0 || !math.Signbit(f)) { // negative zero keeps its sign through the general path
		// Counts, bytes and whole milliseconds are integers: formatting them as such skips the
		// shortest-representation search and prints the same bytes.
		if n := int64(f); float64(n) == f {
			return appendInt(b, n)
		}
		if n, k := shortDecimal(a); k > 0 {
			if f < 0 {
				b = append(b, '-')
			}
			return appendDecimal(b, n, k)
		}
	}
	return appendFloatBits(b, f, 64)
}

// digitPairs holds "00" to "99", for formatting integers two digits at a time (128 entries, so that an index masked
// with 127 needs no bounds check).
var digitPairs = func() (t [128][2]byte) {
	for i := range 100 {
		t[i] = [2]byte{byte('0' + i/10), byte('0' + i%10)}
	}
	return t
}()

// pow10Int holds 10⁰ to 10¹⁸.
var pow10Int = [...]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// appendInt is strconv.AppendInt(b, n, 10) writing the digits in place, without strconv's intermediate buffer: the
// timestamp and most values of a document are integers.
func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		return strconv.AppendInt(b, n, 10)
	}
	if n < 10 {
		return append(b, byte('0'+n))
	}
	w := bits.Len64(uint64(n)) * 1233 >> 12 // ⌊log10(n)⌋ or one less
	if w < len(pow10Int) && n >= pow10Int[w] {
		w++
	}
	b = slices.Grow(b, w)
	dst := b[len(b) : len(b)+w]
	u := uint64(n)
	j := len(dst)
	for ; j >= 2; j -= 2 {
		q := u / 100
		p := &digitPairs[(u-q*100)&127]
		dst[j-2], dst[j-1] = p[0], p[1]
		u = q
	}
	if j == 1 {
		dst[0] = byte('0' + u)
	}
	return b[:len(b)+w]
}

// Bounds of the decimal fast path: up to maxFastDecimals digits after the point, and scaled values below
// maxFastScaled.
const (
	maxFastDecimals = 6
	maxFastScaled   = 1 << 40
)

// pow10 are the exact powers of ten the fast path scales by.
var pow10 = [maxFastDecimals + 1]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6}

// shortDecimal finds the shortest decimal n·10⁻ᵏ (1 ≤ k ≤ 6) that reads back as a, for a positive non-integer a; it
// returns k = 0 when there is none in its range (strconv then does the general search). Durations in milliseconds and
// other measured values usually have a few decimals, and this costs a few multiplications where the general search
// costs 128-bit arithmetic.
//
// Why the result is strconv's: every scaled value a·10ʲ stays below 2⁴⁰, so its rounding error is at most 2⁻¹³, and a
// decimal with j digits that reads back as a lies within ulp(a)/2·10ʲ ≤ 2⁻¹³ of a·10ʲ. Such a decimal is therefore
// unique for each j and is the integer nearest the computed a·10ʲ; the division, exact operands correctly rounded,
// tells whether it reads back. The first j that succeeds gives the fewest digits, as strconv's shortest
// representation has, and being unique it is strconv's choice too. The tests compare both on many values.
func shortDecimal(a float64) (uint64, int) {
	if a < 1e-6 {
		return 0, 0 // encoding/json switches to exponent notation
	}
	for k := 1; k <= maxFastDecimals; k++ {
		t := a * pow10[k]
		if t >= maxFastScaled {
			return 0, 0
		}
		n := uint64(t + 0.5)
		// Only a scaled value within a hair of an integer can qualify: skip the division otherwise.
		if d := t - float64(n); d < -0x1p-11 || d > 0x1p-11 {
			continue
		}
		if float64(n)/pow10[k] == a {
			return n, k
		}
	}
	return 0, 0
}

// appendDecimal appends n·10⁻ᵏ in plain notation ("0.05" for n=5, k=2). k > 0.
func appendDecimal(b []byte, n uint64, k int) []byte {
	var d [24]byte // n < 2⁴⁰: at most 13 digits, a point and 6 zeros
	i := len(d)
	for ; k > 0; k-- {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	d[i] = '.'
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
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

// appendValue encodes a nil, number or duration property value. It never calls code of the value's own (Error,
// MarshalJSON), so it may run under the logger's lock; SetProperty handles every other type before locking.
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
	}
	return b, errNotEncodable
}
