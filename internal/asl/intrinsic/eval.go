package intrinsic

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// Env is what a call needs from the running state: path resolution (which root $, $$ and $name denote) and
// randomness (States.UUID, States.MathRandom without a seed), which the engine seeds for reproducible runs.
type Env interface {
	Path(p *jsonpath.Path) (any, error)
	Uint64() uint64
}

// Error is a call that failed while being evaluated: a wrong argument type or value.
type Error struct {
	Call string // the call as written
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("The function '%s' had the following error: %s", e.Call, e.Msg)
}

// Limits Step Functions documents for intrinsic functions.
const (
	maxArrayRange   = 1000
	maxStringLength = 10000
)

// Eval evaluates the call.
func (c *Call) Eval(env Env) (any, error) {
	args := make([]any, len(c.Args))
	for i, a := range c.Args {
		switch a.Kind {
		case ArgLiteral:
			args[i] = a.Literal
		case ArgPath:
			v, err := env.Path(a.Path)
			if err != nil {
				return nil, err
			}
			args[i] = v
		case ArgCall:
			v, err := a.Call.Eval(env)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
	}
	fail := func(format string, a ...any) (any, error) {
		return nil, &Error{Call: c.src, Msg: fmt.Sprintf(format, a...)}
	}
	switch c.Name {
	case "States.Format":
		return c.format(args)
	case "States.StringToJson":
		s, ok := args[0].(string)
		if !ok {
			return fail("The argument must be a string, but was %s", value.Kind(args[0]))
		}
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		v, err := value.ParseString(s)
		if err != nil {
			return fail("The argument is not valid JSON: %v", err)
		}
		return v, nil
	case "States.JsonToString":
		return value.String(args[0]), nil
	case "States.Array":
		return append([]any{}, args...), nil
	case "States.ArrayPartition":
		arr, ok := args[0].([]any)
		if !ok {
			return fail("The first argument must be an array, but was %s", value.Kind(args[0]))
		}
		size, ok := integer(args[1])
		if !ok || size <= 0 {
			return fail("The chunk size must be a positive integer, but was %s", value.String(args[1]))
		}
		out := []any{}
		for i := 0; i < len(arr); i += int(size) {
			end := min(i+int(size), len(arr))
			out = append(out, append([]any{}, arr[i:end]...))
		}
		return out, nil
	case "States.ArrayContains":
		arr, ok := args[0].([]any)
		if !ok {
			return fail("The first argument must be an array, but was %s", value.Kind(args[0]))
		}
		for _, e := range arr {
			if value.Equal(e, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case "States.ArrayRange":
		var n [3]int64
		for i := range n {
			f, ok := number(args[i])
			if !ok {
				return fail("The arguments must be numbers, but argument %d was %s", i+1, value.Kind(args[i]))
			}
			n[i] = javaRound(f)
		}
		if n[2] == 0 {
			return fail("The step must not be 0")
		}
		out := []any{}
		for v := n[0]; (n[2] > 0 && v <= n[1]) || (n[2] < 0 && v >= n[1]); v += n[2] {
			if len(out) == maxArrayRange {
				return fail("The array cannot contain more than %d items", maxArrayRange)
			}
			out = append(out, value.Int(v))
		}
		return out, nil
	case "States.ArrayGetItem":
		arr, ok := args[0].([]any)
		if !ok {
			return fail("The first argument must be an array, but was %s", value.Kind(args[0]))
		}
		idx, ok := integer(args[1])
		if !ok || idx < 0 {
			return fail("The index must be a non-negative integer, but was %s", value.String(args[1]))
		}
		if idx >= int64(len(arr)) {
			return fail("The index %d is out of bounds for an array of length %d", idx, len(arr))
		}
		return arr[idx], nil
	case "States.ArrayLength":
		arr, ok := args[0].([]any)
		if !ok {
			return fail("The argument must be an array, but was %s", value.Kind(args[0]))
		}
		return value.IntValue(int64(len(arr))), nil
	case "States.ArrayUnique":
		arr, ok := args[0].([]any)
		if !ok {
			return fail("The argument must be an array, but was %s", value.Kind(args[0]))
		}
		out := []any{}
	next:
		for _, e := range arr {
			for _, seen := range out {
				if value.Equal(seen, e) {
					continue next
				}
			}
			out = append(out, e)
		}
		return out, nil
	case "States.Base64Encode":
		s, ok := args[0].(string)
		if !ok {
			return fail("The argument must be a string, but was %s", value.Kind(args[0]))
		}
		if utf8.RuneCountInString(s) > maxStringLength {
			return fail("The input string is longer than %d characters", maxStringLength)
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "States.Base64Decode":
		s, ok := args[0].(string)
		if !ok {
			return fail("The argument must be a string, but was %s", value.Kind(args[0]))
		}
		if utf8.RuneCountInString(s) > maxStringLength {
			return fail("The input string is longer than %d characters", maxStringLength)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fail("The input is not valid base64: %v", err)
		}
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	case "States.Hash":
		data, ok := args[0].(string)
		if !ok {
			data = value.String(args[0])
		}
		if utf8.RuneCountInString(data) > maxStringLength {
			return fail("The input data is longer than %d characters", maxStringLength)
		}
		alg, _ := args[1].(string)
		var h hash.Hash
		switch alg {
		case "MD5":
			h = md5.New()
		case "SHA-1":
			h = sha1.New()
		case "SHA-256":
			h = sha256.New()
		case "SHA-384":
			h = sha512.New384()
		case "SHA-512":
			h = sha512.New()
		default:
			return fail("The hash algorithm %s is not supported; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512", value.String(args[1]))
		}
		h.Write([]byte(data))
		return hex.EncodeToString(h.Sum(nil)), nil
	case "States.JsonMerge":
		a, ok1 := args[0].(*value.Object)
		b, ok2 := args[1].(*value.Object)
		if !ok1 || !ok2 {
			return fail("The first two arguments must be objects, but were %s and %s", value.Kind(args[0]), value.Kind(args[1]))
		}
		deep, ok := args[2].(bool)
		if !ok {
			return fail("The third argument must be a boolean, but was %s", value.Kind(args[2]))
		}
		if deep {
			return fail("Deep merge is not supported: the third argument must be false")
		}
		out := a.Clone()
		for i := 0; i < b.Len(); i++ {
			out.Set(b.Key(i), b.At(i))
		}
		return out, nil
	case "States.MathRandom":
		lo, ok1 := integer(args[0])
		hi, ok2 := integer(args[1])
		if !ok1 || !ok2 {
			return fail("The start and end must be integers, but were %s and %s", value.String(args[0]), value.String(args[1]))
		}
		if hi <= lo {
			return fail("The end (%d) must be greater than the start (%d)", hi, lo)
		}
		span := hi - lo
		if len(args) == 3 {
			seed, ok := integer(args[2])
			if !ok {
				return fail("The seed must be an integer, but was %s", value.String(args[2]))
			}
			if span > math.MaxInt32 {
				return fail("The range is larger than %d", math.MaxInt32)
			}
			return value.Int(lo + int64(newJavaRandom(seed).nextInt(int32(span)))), nil
		}
		return value.Int(lo + int64(env.Uint64()%uint64(span))), nil
	case "States.MathAdd":
		a, ok1 := number(args[0])
		b, ok2 := number(args[1])
		if !ok1 || !ok2 {
			return fail("The arguments must be numbers, but were %s and %s", value.Kind(args[0]), value.Kind(args[1]))
		}
		return value.Int(javaRound(a) + javaRound(b)), nil
	case "States.StringSplit":
		s, ok1 := args[0].(string)
		d, ok2 := args[1].(string)
		if !ok1 || !ok2 {
			return fail("The arguments must be strings, but were %s and %s", value.Kind(args[0]), value.Kind(args[1]))
		}
		// Like Java's StringTokenizer: any character of the second argument separates, empty tokens vanish.
		out := []any{}
		for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) }) {
			out = append(out, tok)
		}
		return out, nil
	case "States.UUID":
		return uuid4(env.Uint64(), env.Uint64()), nil
	}
	return fail("unknown function")
}

func (c *Call) format(args []any) (any, error) {
	tmpl, ok := args[0].(string)
	if !ok {
		return nil, &Error{Call: c.src, Msg: fmt.Sprintf("The format string must be a string, but was %s", value.Kind(args[0]))}
	}
	holes := c.Args[0].holes
	if c.Args[0].Kind != ArgLiteral {
		// A template from a path has no escapes: every {} is a placeholder.
		holes = nil
		for i := strings.Index(tmpl, "{}"); i >= 0; {
			holes = append(holes, i)
			j := strings.Index(tmpl[i+2:], "{}")
			if j < 0 {
				break
			}
			i += 2 + j
		}
	}
	if len(holes) != len(args)-1 {
		return nil, &Error{Call: c.src, Msg: fmt.Sprintf("The number of arguments (%d) does not match the number of placeholders (%d) in the format string", len(args)-1, len(holes))}
	}
	var b strings.Builder
	last := 0
	for i, h := range holes {
		b.WriteString(tmpl[last:h])
		b.WriteString(javaString(args[i+1]))
		last = h + 2
	}
	b.WriteString(tmpl[last:])
	return b.String(), nil
}

// javaString prints a value the way Step Functions' Java runtime does in States.Format: strings bare, objects
// as {k=v, k=v}, arrays as [a, b].
func javaString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = javaString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *value.Object:
		parts := make([]string, t.Len())
		for i := range parts {
			parts[i] = t.Key(i) + "=" + javaString(t.At(i))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return value.String(v)
	}
}

func number(v any) (float64, bool) {
	n, ok := v.(value.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func integer(v any) (int64, bool) {
	n, ok := v.(value.Number)
	if !ok {
		return 0, false
	}
	return n.Int64()
}

// javaRound is Java's Math.round: the closest integer, halves rounded up (towards positive infinity). Computing
// floor(f+0.5) would round 0.49999999999999994 up.
func javaRound(f float64) int64 {
	fl := math.Floor(f)
	if f-fl >= 0.5 {
		return int64(fl) + 1
	}
	return int64(fl)
}

func uuid4(hi, lo uint64) string {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// UUID returns a version 4 UUID built from two random words (the engine's seeded source).
func UUID(hi, lo uint64) string { return uuid4(hi, lo) }

// javaRandom is java.util.Random, so that States.MathRandom with a seed gives the numbers Step Functions' Java
// runtime gives for that seed.
type javaRandom struct{ seed int64 }

const (
	javaMultiplier = 0x5DEECE66D
	javaMask       = (1 << 48) - 1
)

func newJavaRandom(seed int64) *javaRandom {
	return &javaRandom{seed: (seed ^ javaMultiplier) & javaMask}
}

func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*javaMultiplier + 0xB) & javaMask
	return int32(r.seed >> (48 - bits))
}

func (r *javaRandom) nextInt(bound int32) int32 {
	if bound&(-bound) == bound {
		return int32((int64(bound) * int64(r.next(31))) >> 31)
	}
	for {
		bits := r.next(31)
		val := bits % bound
		if bits-val+(bound-1) >= 0 {
			return val
		}
	}
}
