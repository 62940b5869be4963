package emf

import (
	"bytes"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Many goroutines put metrics, properties and dimensions into one logger and flush it at the same time. Every Write
// must carry whole, valid documents, and every value must be printed exactly once. Run with -race.
func TestConcurrentPutsAndFlushes(t *testing.T) {
	const (
		goroutines = 8
		rounds     = 200
	)
	w := &countingWriter{}
	l := newTestLogger(w, WithDimension("ClusterName", "prod"))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			name := "G" + strconv.Itoa(g)
			for i := range rounds {
				must(t, l.PutMetric(name, float64(i), types.StandardUnitCount))
				must(t, l.PutMetric("Shared", 1, types.StandardUnitCount))
				must(t, l.SetProperty("Round", i))
				if i%10 == 0 {
					must(t, l.PutDimensions(Dimension{"Worker", "w"}))
				}
				if i%7 == 0 {
					must(t, l.Flush())
				}
			}
		})
	}
	wg.Wait()
	must(t, l.Flush())

	w.mu.Lock()
	chunks := w.chunks
	w.mu.Unlock()
	// A document yields one datum per metric and dimension set, and the sets change midway ([ClusterName], later
	// [ClusterName, Worker]): count the values under the first set of each document only.
	seen := map[string]int{}
	for _, c := range chunks {
		if bytes.Count(c, []byte("\n")) != 1 {
			t.Fatalf("a Write carried %d lines; each document must be one Write", bytes.Count(c, []byte("\n")))
		}
		_, recs := checkOutput(t, c)
		first := recs[0].DimensionNames()
		for _, r := range recs {
			if equalStrings(r.DimensionNames(), first) {
				seen[r.Name()] += len(r.Samples())
			}
		}
	}
	for g := range goroutines {
		if n := seen["G"+strconv.Itoa(g)]; n != rounds {
			t.Fatalf("G%d: %d values printed, want %d", g, n, rounds)
		}
	}
	if n := seen["Shared"]; n != goroutines*rounds {
		t.Fatalf("Shared: %d values printed, want %d", n, goroutines*rounds)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Several loggers (concurrent invocations) share one writer through LockedWriter, as Step arranges.
func TestConcurrentLoggersShareAWriter(t *testing.T) {
	var buf bytes.Buffer
	w := LockedWriter(&buf)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				l := newTestLogger(w)
				must(t, l.PutMetric("M", float64(g*1000+i), types.StandardUnitCount))
				must(t, l.SetProperty("Padding", string(bytes.Repeat([]byte("x"), 5000))))
				must(t, l.Flush())
			}
		})
	}
	wg.Wait()
	lines, recs := checkOutput(t, buf.Bytes())
	if len(lines) != 400 || len(recs) != 400 {
		t.Fatalf("%d lines, %d records; want 400", len(lines), len(recs))
	}
}
