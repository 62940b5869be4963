package emf

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkFloat fails t unless appendFloat prints v exactly as encoding/json does.
func checkFloat(t testing.TB, v float64) {
	t.Helper()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if got := appendFloat([]byte("x"), v); string(got[1:]) != string(want) || got[0] != 'x' {
		t.Fatalf("appendFloat(%v) = %s (bits %#x), encoding/json says %s", v, got[1:], math.Float64bits(v), want)
	}
}

// The decimal fast path (shortDecimal) claims to find strconv's shortest representation without its search. Check it
// where it is most likely wrong: values with a few decimals, their neighbours one ulp away (which need all 17 digits),
// the edges of its range, and values drawn at random over the whole float64 range.
func TestAppendFloatPrintsWhatEncodingJSONPrints(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	edges := []float64{1e-6, 1e-7, 0.5e-6, 1e15, 1e15 - 0.5, 1e15 + 1, 1e21, maxFastScaled, maxFastScaled / 1e6,
		maxFastScaled/1e6 + 0.5, 0.1, 0.2, 0.3, 0.1 + 0.2, 1.005, 2.675, 1234.5, 0.000001, 0.0000015, 999999.999999,
		1099511.627775, 1099511.627776, 4503599627370495.5, 9007199254740993, math.SmallestNonzeroFloat64,
		math.MaxFloat64}
	for _, v := range edges {
		for _, w := range []float64{v, math.Nextafter(v, 0), math.Nextafter(v, math.Inf(1))} {
			checkFloat(t, w)
			checkFloat(t, -w)
		}
	}
	for range 50_000 {
		k := rng.IntN(9)                            // 0–8 decimals: the fast path covers 1–6
		n := rng.Uint64N(uint64(1) << rng.IntN(54)) // mantissas of every size
		v := float64(n) / math.Pow(10, float64(k))
		checkFloat(t, v)
		checkFloat(t, -v)
		checkFloat(t, math.Nextafter(v, 0))
		checkFloat(t, math.Nextafter(v, math.Inf(1)))
		checkFloat(t, math.Float64frombits(rng.Uint64()))
		checkFloat(t, rng.Float64()*math.Pow(10, float64(rng.IntN(24)-8)))
	}
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 1, 1234.5, 0.1 + 0.2, 1e-6, 1e21, maxFastScaled / 1e6, 1.005} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) { checkFloat(t, math.Float64frombits(bits)) })
}

// appendString tests eight bytes at a time and then the last eight, overlapping: a byte that needs escaping must be
// escaped at every position, in strings of every length around the word size.
func TestAppendStringEscapesAtEveryPosition(t *testing.T) {
	for _, bad := range []string{`"`, `\`, "\x00", "\x1f", "\n", "\x7f", "é", "\xff", "\u2028"} {
		for n := range 26 {
			for p := 0; p <= n; p++ {
				s := strings.Repeat("a", p) + bad + strings.Repeat("b", n-p)
				var got, want string
				out := appendString(nil, s)
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("appendString(%q) = %s: invalid JSON: %v", s, out, err)
				}
				ref, _ := json.Marshal(s)
				_ = json.Unmarshal(ref, &want)
				if got != want {
					t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, got, want)
				}
			}
		}
	}
}

func TestAppendIntPrintsWhatStrconvPrints(t *testing.T) {
	check := func(n int64) {
		t.Helper()
		if got, want := string(appendInt([]byte("x"), n)), "x"+strconv.FormatInt(n, 10); got != want {
			t.Fatalf("appendInt(%d) = %s, want %s", n, got, want)
		}
	}
	for _, n := range []int64{0, 1, 9, 10, 11, 99, 100, 101, 1748779200000, 52428800, math.MaxInt64, math.MinInt64, -1, -10} {
		check(n)
	}
	for p := int64(1); p > 0 && p <= math.MaxInt64/10; p *= 10 { // every width, on both sides of each power of ten
		for _, n := range []int64{p - 1, p, p + 1, 2*p - 1, 5 * p, 10*p - 1} {
			check(n)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		check(rng.Int64N(math.MaxInt64) >> rng.IntN(63))
	}
}
