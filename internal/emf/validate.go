package emf

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Limits from the EMF specification and the CloudWatch PutMetricData API. They are exported so callers and tests can
// speak about them by name.
const (
	MaxNameLength           = 255       // metric and dimension names
	MaxDimensionValueLength = 1024      // dimension values
	MaxNamespaceLength      = 255       // namespaces
	MaxDimensionsPerSet     = 30        // keys in one dimension set
	MaxMetricsPerDocument   = 100       // MetricDefinitions in one directive
	MaxValuesPerMetric      = 100       // values in one target member array
	MaxDocumentBytes        = 1_000_000 // one printed line, newline included (CloudWatch Logs caps an event at 1 MiB)
	MaxPropertyKeyLength    = 1024      // our own cap: keeps one property from eating the document
	MaxTimestampAge         = 14 * 24 * time.Hour
	MaxTimestampLead        = 2 * time.Hour
	maxValue                = 0x1p360  // CloudWatch rejects larger magnitudes
	minValue                = 0x1p-360 // and non-zero magnitudes below this
	reservedMember          = "_aws"
	fixedBudget             = 750_000 // envelope + dimensions + properties must leave room for metrics
)

// checkName validates a metric or dimension name: 1–255 printable ASCII characters, at least one not a space, not
// starting with ':' (CloudWatch reserves it), and not the "_aws" member the envelope uses.
func checkName(f Field, s string) *ValidationError {
	if s == reservedMember {
		return invalid(f, KindReserved, s, `"_aws" is the EMF metadata member`)
	}
	if len(s) > 0 && s[0] == ':' {
		return invalid(f, KindCharset, s, "must not start with ':'")
	}
	return checkASCII(f, s, s, MaxNameLength)
}

// checkDimensionValue validates a dimension value: 1–1024 printable ASCII characters, at least one not a space.
func checkDimensionValue(name, v string) *ValidationError {
	return checkASCII(FieldDimensionValue, name, v, MaxDimensionValueLength)
}

func checkASCII(f Field, name, s string, limit int) *ValidationError {
	if len(s) > limit {
		return invalid(f, KindTooLong, name, "longer than "+strconv.Itoa(limit)+" characters")
	}
	blank := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return invalid(f, KindCharset, name, "only printable ASCII characters are allowed")
		}
		if c != ' ' {
			blank = false
		}
	}
	if blank {
		return invalid(f, KindEmpty, name, "must contain a non-space character")
	}
	return nil
}

// checkNamespace validates a namespace with the character set the official EMF libraries accept
// (letters, digits and . _ # : / -), 1–255 characters, and not in the "AWS/" space CloudWatch reserves.
func checkNamespace(ns string) *ValidationError {
	if ns == "" {
		return invalid(FieldNamespace, KindEmpty, ns, "a namespace is required")
	}
	if len(ns) > MaxNamespaceLength {
		return invalid(FieldNamespace, KindTooLong, ns, "longer than 255 characters")
	}
	for i := 0; i < len(ns); i++ {
		if !namespaceChar(ns[i]) {
			return invalid(FieldNamespace, KindCharset, ns, "allowed characters are letters, digits and . _ # : / -")
		}
	}
	if strings.HasPrefix(ns, "AWS/") {
		return invalid(FieldNamespace, KindReserved, ns, `"AWS/" namespaces belong to AWS services`)
	}
	return nil
}

func namespaceChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == '#', c == ':', c == '/', c == '-':
		return true
	}
	return false
}

// checkUnit returns the unit to print. The empty unit means None, which is also what CloudWatch assumes when a
// definition has no Unit.
func checkUnit(name string, u types.StandardUnit) (types.StandardUnit, *ValidationError) {
	switch u {
	case "":
		return types.StandardUnitNone, nil
	case types.StandardUnitSeconds, types.StandardUnitMicroseconds, types.StandardUnitMilliseconds,
		types.StandardUnitBytes, types.StandardUnitKilobytes, types.StandardUnitMegabytes,
		types.StandardUnitGigabytes, types.StandardUnitTerabytes, types.StandardUnitBits,
		types.StandardUnitKilobits, types.StandardUnitMegabits, types.StandardUnitGigabits,
		types.StandardUnitTerabits, types.StandardUnitPercent, types.StandardUnitCount,
		types.StandardUnitBytesSecond, types.StandardUnitKilobytesSecond, types.StandardUnitMegabytesSecond,
		types.StandardUnitGigabytesSecond, types.StandardUnitTerabytesSecond, types.StandardUnitBitsSecond,
		types.StandardUnitKilobitsSecond, types.StandardUnitMegabitsSecond, types.StandardUnitGigabitsSecond,
		types.StandardUnitTerabitsSecond, types.StandardUnitCountSecond, types.StandardUnitNone:
		return u, nil
	}
	return "", invalid(FieldUnit, KindUnit, name, "not a CloudWatch standard unit: "+truncate(string(u), 64))
}

// checkValue rejects what JSON cannot carry (NaN, ±Inf) and what CloudWatch refuses (outside ±2^360, or a non-zero
// magnitude under 2^-360).
func checkValue(name string, v float64) *ValidationError {
	if validValue(v) {
		return nil
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid(FieldValue, KindNonFinite, name, "NaN and infinities cannot be published")
	}
	return invalid(FieldValue, KindOutOfRange, name, "magnitude must be 0 or between 2^-360 and 2^360")
}

// validValue is checkValue's verdict in one inlined test (NaN fails every comparison).
func validValue(v float64) bool {
	a := math.Abs(v)
	return a <= maxValue && (a >= minValue || a == 0)
}

// checkTimestamp enforces the window in which CloudWatch accepts EMF timestamps.
func checkTimestamp(t, now time.Time) *ValidationError {
	if t.Before(now.Add(-MaxTimestampAge)) {
		return invalid(FieldTimestamp, KindTimestamp, "", "more than 14 days in the past")
	}
	if t.After(now.Add(MaxTimestampLead)) {
		return invalid(FieldTimestamp, KindTimestamp, "", "more than 2 hours in the future")
	}
	return nil
}

func checkPropertyKey(k string) *ValidationError {
	switch {
	case k == "":
		return invalid(FieldPropertyKey, KindEmpty, k, "a property key is required")
	case k == reservedMember:
		return invalid(FieldPropertyKey, KindReserved, k, `"_aws" is the EMF metadata member`)
	case len(k) > MaxPropertyKeyLength:
		return invalid(FieldPropertyKey, KindTooLong, k, "longer than 1024 bytes")
	case !utf8.ValidString(k):
		return invalid(FieldPropertyKey, KindCharset, k, "not valid UTF-8")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
