package emf

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func TestLimits(t *testing.T) {
	const count = types.StandardUnitCount
	s := strings.Repeat
	dims := func(n int) []Dimension {
		out := make([]Dimension, n)
		for i := range out {
			out[i] = Dimension{Name: "D" + s("x", i), Value: "v"}
		}
		return out
	}
	tests := []struct {
		name  string
		ns    string // namespace of the logger, Test/Namespace when empty
		opts  []Option
		op    func(l *Logger) error
		field Field // empty when the input is valid
		kind  Kind
	}{
		// Metric names: 1–255 printable ASCII, a non-space, no leading colon, not "_aws".
		{name: "metric name of 1 character", op: put("a")},
		{name: "metric name of 255 characters", op: put(s("m", 255))},
		{name: "metric name of 256 characters", op: put(s("m", 256)), field: FieldMetricName, kind: KindTooLong},
		{name: "empty metric name", op: put(""), field: FieldMetricName, kind: KindEmpty},
		{name: "blank metric name", op: put("   "), field: FieldMetricName, kind: KindEmpty},
		{name: "metric name with leading colon", op: put(":m"), field: FieldMetricName, kind: KindCharset},
		{name: "metric name with inner colon", op: put("a:b")},
		{name: "metric name with non-ASCII", op: put("Dauer·ms"), field: FieldMetricName, kind: KindCharset},
		{name: "metric name with control character", op: put("a\tb"), field: FieldMetricName, kind: KindCharset},
		{name: "metric name with DEL", op: put("a\x7fb"), field: FieldMetricName, kind: KindCharset},
		{name: "metric name needing JSON escapes", op: put(`q"uo\te`)},
		{name: "metric name _aws", op: put("_aws"), field: FieldMetricName, kind: KindReserved},

		// Dimension names and values.
		{name: "dimension name of 255 characters", op: dim(s("d", 255), "v")},
		{name: "dimension name of 256 characters", op: dim(s("d", 256), "v"), field: FieldDimensionName, kind: KindTooLong},
		{name: "empty dimension name", op: dim("", "v"), field: FieldDimensionName, kind: KindEmpty},
		{name: "dimension name with leading colon", op: dim(":d", "v"), field: FieldDimensionName, kind: KindCharset},
		{name: "dimension name with non-ASCII", op: dim("Zone✓", "v"), field: FieldDimensionName, kind: KindCharset},
		{name: "dimension name _aws", op: dim("_aws", "v"), field: FieldDimensionName, kind: KindReserved},
		{name: "dimension value of 1024 characters", op: dim("d", s("v", 1024))},
		{name: "dimension value of 1025 characters", op: dim("d", s("v", 1025)), field: FieldDimensionValue, kind: KindTooLong},
		{name: "empty dimension value", op: dim("d", ""), field: FieldDimensionValue, kind: KindEmpty},
		{name: "blank dimension value", op: dim("d", "  "), field: FieldDimensionValue, kind: KindEmpty},
		{name: "dimension value with newline", op: dim("d", "a\nb"), field: FieldDimensionValue, kind: KindCharset},
		{name: "dimension value with non-ASCII", op: dim("d", "zürich"), field: FieldDimensionValue, kind: KindCharset},
		{name: "invalid default dimension is dropped", opts: []Option{WithDimension("d", "")},
			op: func(l *Logger) error { return l.PutDimensions(Dimension{"d", "v"}) }},

		// At most 30 dimensions per set, defaults included.
		{name: "30 dimensions in a set", op: func(l *Logger) error { return l.PutDimensions(dims(30)...) }},
		{name: "31 dimensions in a set", op: func(l *Logger) error { return l.PutDimensions(dims(31)...) },
			field: FieldDimensionSet, kind: KindTooMany},
		{name: "29 defaults and 1 more", opts: defaults(29),
			op: func(l *Logger) error { return l.PutDimensions(Dimension{"extra", "v"}) }},
		{name: "30 defaults and 1 more", opts: defaults(30),
			op: func(l *Logger) error { return l.PutDimensions(Dimension{"extra", "v"}) }, field: FieldDimensionSet, kind: KindTooMany},
		{name: "duplicate keys in one set count once", op: func(l *Logger) error {
			return l.PutDimensions(append(dims(30), dims(30)...)...)
		}},
		{name: "31 dimensions through SetDimensions", op: func(l *Logger) error { return l.SetDimensions(dims(31)) },
			field: FieldDimensionSet, kind: KindTooMany},

		// Units from the standard set; the empty unit means None.
		{name: "empty unit", op: putUnit("m", "")},
		{name: "unit Count/Second", op: putUnit("m", types.StandardUnitCountSecond)},
		{name: "lower-case unit", op: putUnit("m", "count"), field: FieldUnit, kind: KindUnit},
		{name: "unknown unit", op: putUnit("m", "Kilograms"), field: FieldUnit, kind: KindUnit},

		// Values: finite and within ±2^360, and not a non-zero magnitude below 2^-360.
		{name: "value 0", op: putValue(0)},
		{name: "value -0", op: putValue(math.Copysign(0, -1))},
		{name: "value 2^360", op: putValue(0x1p360)},
		{name: "value -2^360", op: putValue(-0x1p360)},
		{name: "value just above 2^360", op: putValue(math.Nextafter(0x1p360, math.Inf(1))), field: FieldValue, kind: KindOutOfRange},
		{name: "largest float64", op: putValue(math.MaxFloat64), field: FieldValue, kind: KindOutOfRange},
		{name: "value 2^-360", op: putValue(0x1p-360)},
		{name: "value just below 2^-360", op: putValue(math.Nextafter(0x1p-360, 0)), field: FieldValue, kind: KindOutOfRange},
		{name: "smallest denormal", op: putValue(math.SmallestNonzeroFloat64), field: FieldValue, kind: KindOutOfRange},
		{name: "NaN", op: putValue(math.NaN()), field: FieldValue, kind: KindNonFinite},
		{name: "+Inf", op: putValue(math.Inf(1)), field: FieldValue, kind: KindNonFinite},
		{name: "-Inf", op: putValue(math.Inf(-1)), field: FieldValue, kind: KindNonFinite},

		// Timestamps: from 14 days ago to 2 hours ahead.
		{name: "timestamp now", op: stamp(0)},
		{name: "timestamp exactly 14 days ago", op: stamp(-MaxTimestampAge)},
		{name: "timestamp 14 days and 1 ms ago", op: stamp(-MaxTimestampAge - time.Millisecond), field: FieldTimestamp, kind: KindTimestamp},
		{name: "timestamp exactly 2 hours ahead", op: stamp(MaxTimestampLead)},
		{name: "timestamp 2 hours and 1 ms ahead", op: stamp(MaxTimestampLead + time.Millisecond), field: FieldTimestamp, kind: KindTimestamp},
		{name: "zero timestamp", op: func(l *Logger) error { return l.SetTimestamp(time.Time{}) }, field: FieldTimestamp, kind: KindTimestamp},

		// Namespaces: 1–255 of letters, digits and . _ # : / -, not AWS/.
		{name: "namespace with every allowed character", ns: "Az09._#:/-", op: put("m")},
		{name: "namespace of 255 characters", ns: s("n", 255), op: put("m")},
		{name: "namespace of 256 characters", ns: s("n", 256), op: put("m"), field: FieldNamespace, kind: KindTooLong},
		{name: "empty namespace", ns: "", op: put("m"), field: FieldNamespace, kind: KindEmpty},
		{name: "namespace with a space", ns: "My App", op: put("m"), field: FieldNamespace, kind: KindCharset},
		{name: "namespace with non-ASCII", ns: "Café", op: put("m"), field: FieldNamespace, kind: KindCharset},
		{name: "namespace AWS/", ns: "AWS/Lambda", op: put("m"), field: FieldNamespace, kind: KindReserved},

		// One unit and one resolution per metric; one root member per name.
		{name: "second value with the same unit", op: func(l *Logger) error {
			_ = l.PutMetric("m", 1, count)
			return l.PutMetric("m", 2, count)
		}},
		{name: "second value with another unit", op: func(l *Logger) error {
			_ = l.PutMetric("m", 1, count)
			return l.PutMetric("m", 2, types.StandardUnitSeconds)
		}, field: FieldUnit, kind: KindConflict},
		{name: "second value with another resolution", op: func(l *Logger) error {
			_ = l.PutMetric("m", 1, count)
			return l.PutMetric("m", 2, count, HighResolution())
		}, field: FieldMetricName, kind: KindConflict},
		{name: "metric named like a default dimension", opts: []Option{WithDimension("ClusterName", "c")},
			op: put("ClusterName"), field: FieldMetricName, kind: KindConflict},
		{name: "metric named like a property", op: func(l *Logger) error {
			_ = l.SetProperty("p", "x")
			return l.PutMetric("p", 1, count)
		}, field: FieldMetricName, kind: KindConflict},
		{name: "property named like a metric", op: func(l *Logger) error {
			_ = l.PutMetric("m", 1, count)
			return l.SetProperty("m", "x")
		}, field: FieldPropertyKey, kind: KindConflict},
		{name: "property named like a dimension", opts: []Option{WithDimension("ClusterName", "c")},
			op: func(l *Logger) error { return l.SetProperty("ClusterName", "x") }, field: FieldPropertyKey, kind: KindConflict},
		{name: "dimension named like a metric", op: func(l *Logger) error {
			_ = l.PutMetric("m", 1, count)
			return l.PutDimensions(Dimension{"m", "v"})
		}, field: FieldDimensionName, kind: KindConflict},
		{name: "dimension with two values across sets", op: func(l *Logger) error {
			_ = l.PutDimensions(Dimension{"d", "a"})
			return l.PutDimensions(Dimension{"d", "b"}, Dimension{"e", "x"})
		}, field: FieldDimensionValue, kind: KindConflict},
		{name: "dimension overriding a default value", opts: []Option{WithDimension("ClusterName", "c")},
			op:    func(l *Logger) error { return l.PutDimensions(Dimension{"ClusterName", "other"}) },
			field: FieldDimensionValue, kind: KindConflict},
		{name: "dimension repeating a default value", opts: []Option{WithDimension("ClusterName", "c")},
			op: func(l *Logger) error { return l.PutDimensions(Dimension{"ClusterName", "c"}) }},

		// Properties: any JSON-encodable value under a non-reserved UTF-8 key, within the size budget.
		{name: "property with a struct value", op: func(l *Logger) error {
			return l.SetProperty("p", struct{ A []int }{A: []int{1, 2}})
		}},
		{name: "property with a channel", op: func(l *Logger) error { return l.SetProperty("p", make(chan int)) },
			field: FieldPropertyValue, kind: KindType},
		{name: "property with NaN", op: func(l *Logger) error { return l.SetProperty("p", math.NaN()) },
			field: FieldPropertyValue, kind: KindType},
		{name: "property with float32 +Inf", op: func(l *Logger) error { return l.SetProperty("p", float32(math.Inf(1))) },
			field: FieldPropertyValue, kind: KindType},
		{name: "property with NaN inside a map", op: func(l *Logger) error {
			return l.SetProperty("p", map[string]float64{"x": math.NaN()})
		}, field: FieldPropertyValue, kind: KindType},
		{name: "empty property key", op: func(l *Logger) error { return l.SetProperty("", 1) },
			field: FieldPropertyKey, kind: KindEmpty},
		{name: "property key _aws", op: func(l *Logger) error { return l.SetProperty("_aws", 1) },
			field: FieldPropertyKey, kind: KindReserved},
		{name: "property key of invalid UTF-8", op: func(l *Logger) error { return l.SetProperty("\xff", 1) },
			field: FieldPropertyKey, kind: KindCharset},
		{name: "property key of 1025 bytes", op: func(l *Logger) error { return l.SetProperty(s("k", 1025), 1) },
			field: FieldPropertyKey, kind: KindTooLong},
		{name: "property of 700 kB", op: func(l *Logger) error { return l.SetProperty("p", s("x", 700_000)) }},
		{name: "property of 800 kB", op: func(l *Logger) error { return l.SetProperty("p", s("x", 800_000)) },
			field: FieldPropertyValue, kind: KindTooLarge},
		{name: "properties adding up past the budget", op: func(l *Logger) error {
			_ = l.SetProperty("p1", s("x", 400_000))
			return l.SetProperty("p2", s("x", 400_000))
		}, field: FieldPropertyValue, kind: KindTooLarge},
		{name: "replacing a large property stays within budget", op: func(l *Logger) error {
			_ = l.SetProperty("p1", s("x", 700_000))
			return l.SetProperty("p1", s("y", 700_000))
		}},
		{name: "dimension sets past the budget", op: func(l *Logger) error {
			var err error
			for i := 0; i < 800 && err == nil; i++ {
				err = l.PutDimensions(Dimension{s("k", 250) + itoa3(i), s("v", 1000)})
			}
			return err
		}, field: FieldDimensionSet, kind: KindTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newTestLogger(&buf, tt.opts...)
			if tt.ns != "" || tt.field == FieldNamespace {
				l = New(tt.ns, append([]Option{WithWriter(&buf), WithClock(testClock), WithSlog(quiet)}, tt.opts...)...)
			}
			if tt.field != FieldNamespace {
				// A metric recorded before the bad input must survive it.
				if err := l.PutMetric("Kept", 7, count); err != nil {
					t.Fatalf("PutMetric(Kept): %v", err)
				}
			}
			err := tt.op(l)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid input refused: %v", err)
				}
			} else {
				if err == nil {
					t.Fatalf("invalid input accepted; want %s %s", tt.field, tt.kind)
				}
				ve := asValidation(t, err)
				if ve.Field != tt.field || ve.Kind != tt.kind {
					t.Fatalf("got %s/%s (%v), want %s/%s", ve.Field, ve.Kind, err, tt.field, tt.kind)
				}
			}
			if err := l.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			_, recs := checkOutput(t, buf.Bytes())
			if tt.field != FieldNamespace {
				if got := valuesOf(recs, "Kept"); len(got) == 0 || got[0] != 7 {
					t.Fatalf("metric recorded before the input lost: %v", got)
				}
			}
		})
	}
}

func put(name string) func(*Logger) error {
	return func(l *Logger) error { return l.PutMetric(name, 1, types.StandardUnitCount) }
}

func putUnit(name string, u types.StandardUnit) func(*Logger) error {
	return func(l *Logger) error { return l.PutMetric(name, 1, u) }
}

func putValue(v float64) func(*Logger) error {
	return func(l *Logger) error { return l.PutMetric("v", v, types.StandardUnitNone) }
}

func dim(name, value string) func(*Logger) error {
	return func(l *Logger) error { return l.PutDimensions(Dimension{Name: name, Value: value}) }
}

func stamp(offset time.Duration) func(*Logger) error {
	return func(l *Logger) error { return l.SetTimestamp(testNow.Add(offset)) }
}

func defaults(n int) []Option {
	opts := make([]Option, n)
	for i := range opts {
		opts[i] = WithDimension("Default"+itoa3(i), "v")
	}
	return opts
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestDefaultDimensionsPastLimitAreDropped(t *testing.T) {
	var buf bytes.Buffer
	l := newTestLogger(&buf, defaults(31)...)
	if len(l.defaults) != MaxDimensionsPerSet {
		t.Fatalf("kept %d default dimensions, want %d", len(l.defaults), MaxDimensionsPerSet)
	}
	_ = l.PutMetric("m", 1, types.StandardUnitCount)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	_, recs := checkOutput(t, buf.Bytes())
	if n := len(recs[0].Datum.Dimensions); n != 30 {
		t.Fatalf("datum has %d dimensions, want 30", n)
	}
}

func TestInvalidNamespacePrintsNothing(t *testing.T) {
	var buf bytes.Buffer
	h := &recordingHandler{}
	l := New("AWS/EC2", WithWriter(&buf), WithSlog(slogNew(h)))
	for range 3 {
		err := l.PutMetric("m", 1, types.StandardUnitCount)
		if ve := asValidation(t, err); ve.Field != FieldNamespace {
			t.Fatalf("got %v, want a namespace error", err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("printed %q with an invalid namespace", buf.String())
	}
	if n := h.count(); n != 1 {
		t.Fatalf("reported %d times, want once", n)
	}
}

func TestDroppedInputIsReportedOnce(t *testing.T) {
	h := &recordingHandler{}
	var buf bytes.Buffer
	l := New("Test", WithWriter(&buf), WithSlog(slogNew(h)), WithClock(testClock))
	for range 5 {
		_ = l.PutMetric("m", math.NaN(), types.StandardUnitCount)
	}
	_ = l.PutMetric("m", 1e300, types.StandardUnitCount)      // another rule: its own report
	_ = l.PutMetric("n", math.NaN(), types.StandardUnitCount) // another metric: its own report
	if n := h.count(); n != 3 {
		t.Fatalf("%d reports, want 3 (one per metric and rule)", n)
	}
	if err := l.Flush(); err != nil || buf.Len() != 0 {
		t.Fatalf("Flush printed %q (err %v) with only invalid input", buf.String(), err)
	}
}
