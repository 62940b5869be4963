package emf

import (
	"bytes"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// A logger reuses across flushes what it validated and encoded (metric slots, property keys, the directive of the
// last document). Whatever changes between flushes, it must print exactly what a new logger given the same input
// prints: nothing stale, nothing missing.
func TestAReusedLoggerPrintsWhatANewLoggerPrints(t *testing.T) {
	three := func(l *Logger) {
		must(t, l.PutMetric("A", 1, types.StandardUnitCount))
		must(t, l.PutMetric("B", 1.5, types.StandardUnitMilliseconds))
		must(t, l.PutMetric("C", 52428800, types.StandardUnitBytes))
		must(t, l.SetPropertyString("RequestId", "r-1"))
		must(t, l.SetPropertyBool("ColdStart", false))
	}
	one := [][]Dimension{{{"F", "f"}}}
	two := [][]Dimension{{{"F", "f"}}, {{"G", "g"}}}
	// The dimension sets of a round are set on the reused logger only when they differ from the last round's, so
	// that most rounds keep what the logger encoded before; a new logger is given them at once.
	rounds := []struct {
		name    string
		dims    [][]Dimension
		put     func(*Logger)
		putDims bool // put changes the dimension sets
	}{
		{"first flush", one, three, false},
		{"same metrics again", one, three, false},
		{"and again", one, three, false},
		{"fewer metrics", one, func(l *Logger) {
			must(t, l.PutMetric("A", 2, types.StandardUnitCount))
			must(t, l.PutMetric("B", 2.5, types.StandardUnitMilliseconds))
		}, false},
		{"the three again", one, three, false},
		{"another name in the middle slot", one, func(l *Logger) {
			must(t, l.PutMetric("A", 1, types.StandardUnitCount))
			must(t, l.PutMetric("X", 7, types.StandardUnitCount))
			must(t, l.PutMetric("C", 3, types.StandardUnitBytes))
		}, false},
		{"another unit in the first slot", one, func(l *Logger) {
			must(t, l.PutMetric("A", 1, types.StandardUnitSeconds))
			must(t, l.PutMetric("X", 7, types.StandardUnitCount))
			must(t, l.PutMetric("C", 3, types.StandardUnitBytes))
		}, false},
		{"high resolution in the first slot", one, func(l *Logger) {
			must(t, l.PutMetric("A", 1, types.StandardUnitSeconds, HighResolution()))
			must(t, l.PutMetric("X", 7, types.StandardUnitCount))
			must(t, l.PutMetric("C", 3, types.StandardUnitBytes))
		}, false},
		{"other dimension sets", two, three, false},
		{"the same metrics with them", two, three, false},
		{"a set added after the metrics", two, func(l *Logger) {
			three(l)
			must(t, l.PutDimensions(Dimension{"H", "h"}))
		}, true},
		{"back to one set", one, three, false},
		{"a property replaced", one, func(l *Logger) {
			three(l)
			must(t, l.SetPropertyString("RequestId", "r-2"))
		}, false},
		{"values split over documents", one, func(l *Logger) {
			for i := range 150 {
				must(t, l.PutMetric("A", float64(i), types.StandardUnitCount))
			}
			must(t, l.PutMetric("C", 3, types.StandardUnitBytes))
		}, false},
		{"metrics split over documents", one, func(l *Logger) {
			for i := range 130 {
				must(t, l.PutMetric("M"+strconv.Itoa(i), float64(i), types.StandardUnitCount))
			}
		}, false},
		{"the three after the splits", one, three, false},
		{"the three once more", one, three, false},
	}
	var reused bytes.Buffer
	l := newTestLogger(&reused, WithDimension("ClusterName", "prod"))
	var dims [][]Dimension // the sets l has
	for _, r := range rounds {
		reused.Reset()
		if !slices.EqualFunc(dims, r.dims, slices.Equal) {
			must(t, l.SetDimensions(r.dims...))
			dims = r.dims
		}
		r.put(l)
		if r.putDims {
			dims = nil
		}
		must(t, l.Flush())

		var fresh bytes.Buffer
		n := newTestLogger(&fresh, WithDimension("ClusterName", "prod"))
		must(t, n.SetDimensions(r.dims...))
		r.put(n)
		must(t, n.Flush())

		if reused.String() != fresh.String() {
			t.Fatalf("%s: the reused logger prints\n%s\na new logger prints\n%s", r.name, reused.String(), fresh.String())
		}
		checkOutput(t, reused.Bytes())
	}
}
