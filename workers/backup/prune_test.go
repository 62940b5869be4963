package backup_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/cpwarden/cpwarden/workers/backup"
)

func snaps(now time.Time, ages ...time.Duration) []backup.Snapshot {
	var s []backup.Snapshot
	for _, a := range ages {
		t := now.Add(-a)
		s = append(s, backup.Snapshot{Key: backup.Key("", "c", t), Time: t})
	}
	return s
}

func kept(now time.Time, s []backup.Snapshot, r backup.Retention) []time.Duration {
	keep := backup.Keep(now, s, r)
	var ages []time.Duration
	for _, b := range s {
		if keep[b.Key] {
			ages = append(ages, now.Sub(b.Time))
		}
	}
	slices.Sort(ages)
	return ages
}

func TestKeep(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 30, 0, 0, time.UTC) // a Saturday
	h, d := time.Hour, 24*time.Hour
	tests := []struct {
		name string
		ages []time.Duration
		r    backup.Retention
		want []time.Duration
	}{
		{"nothing kept by any rule still keeps the newest", []time.Duration{3 * h, 1 * h, 2 * h}, backup.Retention{}, []time.Duration{1 * h}},
		{"newest N", []time.Duration{10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 50 * time.Minute}, backup.Retention{Newest: 2}, []time.Duration{10 * time.Minute, 20 * time.Minute}},
		{"one per hour, the newest of each", []time.Duration{10 * time.Minute, 25 * time.Minute, 40 * time.Minute, 70 * time.Minute, 100 * time.Minute, 5 * h}, backup.Retention{Hourly: 3},
			// 15:20 and 15:05 share hour 15 (newest kept), 14:50 and 14:20 share 14, 13:50 is 13, 10:30 is outside 3 h.
			[]time.Duration{10 * time.Minute, 40 * time.Minute, 100 * time.Minute}},
		{"one per day", []time.Duration{1 * h, 2 * h, 16 * h, 20 * h, 40 * h, 3 * d}, backup.Retention{Daily: 2},
			// Today 14:30 over 13:30; the 13th 23:30 (16 h) over 19:30; the 12th 23:30 (40 h) is
			// inside the 48 h window; 3 days is not.
			[]time.Duration{1 * h, 16 * h, 40 * h}},
		{"one per ISO week", []time.Duration{1 * d, 2 * d, 6 * d, 8 * d, 15 * d, 40 * d}, backup.Retention{Weekly: 3},
			// Week 11: the 13th over the 12th; week 10: Sunday the 8th over the 6th; week 9: 27 Feb
			// (15 d) is inside the 21-day window; 40 d is not.
			[]time.Duration{1 * d, 6 * d, 15 * d}},
		{"rules add up", []time.Duration{5 * time.Minute, 2 * h, 30 * h, 9 * d}, backup.Retention{Newest: 1, Hourly: 3, Daily: 2, Weekly: 2},
			[]time.Duration{5 * time.Minute, 2 * h, 30 * h, 9 * d}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kept(now, snaps(now, tt.ages...), tt.r); !slices.Equal(got, tt.want) {
				t.Fatalf("kept ages %v, want %v", got, tt.want)
			}
		})
	}
}

// TestKeepProperty: the newest backup and the Newest newest are always
// kept, the kept set is no larger than the rules allow, and pruning what was
// kept again keeps all of it (a second Prune deletes nothing).
func TestKeepProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := time.Date(2026, 3, 14, 15, 30, 0, 0, time.UTC)
		n := rapid.IntRange(0, 200).Draw(rt, "n")
		seen := map[string]bool{}
		var s []backup.Snapshot
		for range n {
			age := time.Duration(rapid.Int64Range(-3600, 90*24*3600).Draw(rt, "age")) * time.Second
			t := now.Add(-age)
			k := backup.Key("", "c", t)
			if !seen[k] {
				seen[k] = true
				s = append(s, backup.Snapshot{Key: k, Time: t})
			}
		}
		r := backup.Retention{
			Newest: rapid.IntRange(0, 10).Draw(rt, "newest"),
			Hourly: rapid.IntRange(0, 48).Draw(rt, "hourly"),
			Daily:  rapid.IntRange(0, 14).Draw(rt, "daily"),
			Weekly: rapid.IntRange(0, 8).Draw(rt, "weekly"),
		}
		keep := backup.Keep(now, s, r)
		sorted := slices.Clone(s)
		slices.SortFunc(sorted, func(a, b backup.Snapshot) int { return b.Time.Compare(a.Time) })
		for i, b := range sorted {
			if i < max(r.Newest, 1) && !keep[b.Key] {
				rt.Fatalf("backup %d from the newest (%s) deleted", i, b.Key)
			}
		}
		// Hourly windows can straddle one extra partial hour, days and
		// weeks likewise.
		limit := max(r.Newest, 1) + r.Hourly + 1 + r.Daily + 1 + r.Weekly + 1
		if len(keep) > limit {
			rt.Fatalf("kept %d backups, rules allow at most %d", len(keep), limit)
		}
		var again []backup.Snapshot
		for _, b := range s {
			if keep[b.Key] {
				again = append(again, b)
			}
		}
		if k2 := backup.Keep(now, again, r); len(k2) != len(again) {
			rt.Fatalf("a second prune would delete %d of %d kept backups", len(again)-len(k2), len(again))
		}
	})
}

func TestPrunePaginatesAndKeepsTheNewest(t *testing.T) {
	e := newEnv(t, nil)
	// gofakes3 stamps objects with the real time; put the worker's clock
	// 48 h ahead so the staging object below is stale.
	e.now = time.Now().UTC().Truncate(time.Second).Add(48 * time.Hour)
	const n = 1100 // more than one ListObjectsV2 page
	var all []backup.Snapshot
	for i := range n {
		ts := e.now.Add(-time.Duration(i) * 15 * time.Minute)
		k := backup.Key(prefix, cluster, ts)
		all = append(all, backup.Snapshot{Key: k, Time: ts})
		e.put(t, k, []byte("x"), nil)
	}
	foreign := prefix + cluster + "/etcd-snapshot-manual-copy.db"
	e.put(t, foreign, []byte("x"), nil)
	other := backup.Key(prefix, "other-cluster", e.now.Add(-400*24*time.Hour))
	e.put(t, other, []byte("x"), nil)
	staging := prefix + ".cpwarden-staging/" + cluster + "/etcd-snapshot-abandoned.db"
	e.put(t, staging, []byte("x"), nil)

	r := backup.Retention{Newest: 4, Hourly: 24, Daily: 7, Weekly: 4}
	out, err := e.prune(t.Context(), backup.PruneIn{ClusterName: cluster, Retention: &r})
	if err != nil {
		t.Fatal(err)
	}
	want := backup.Keep(e.now, all, r)
	left := map[string]bool{}
	for _, k := range e.keys(t) {
		left[k] = true
	}
	for _, b := range all {
		if left[b.Key] != want[b.Key] {
			t.Fatalf("%s: present %v, retention keeps %v", b.Key, left[b.Key], want[b.Key])
		}
	}
	if !left[foreign] || !left[other] {
		t.Fatal("prune deleted an object it does not own")
	}
	if left[staging] || out.StagingDeleted != 1 {
		t.Fatalf("stale staging object not deleted (StagingDeleted %d)", out.StagingDeleted)
	}
	if out.Newest != all[0].Key || !left[all[0].Key] {
		t.Fatalf("newest %s (reported %s) not kept", all[0].Key, out.Newest)
	}
	if out.Backups != n || out.Deleted != n-len(want) || out.Kept != len(want) || len(out.DeletedKeys) != 50 {
		t.Fatalf("out = backups %d kept %d deleted %d (%d listed), want %d, %d, %d", out.Backups, out.Kept, out.Deleted, len(out.DeletedKeys), n, len(want), n-len(want))
	}
	// Independently of Keep: every hour of the last day that has a backup
	// still has one, and so does every day of the last week.
	hours, days := map[string]bool{}, map[string]bool{}
	for k := range left {
		if ts, ok := strings.CutPrefix(k, prefix+cluster+"/etcd-snapshot-"); ok && len(ts) > 11 {
			hours[ts[:11]], days[ts[:8]] = true, true
		}
	}
	for i := range 24 {
		if ts := e.now.Add(-time.Duration(i) * time.Hour).Format("20060102-15"); !hours[ts] {
			t.Errorf("no backup left for hour %s", ts)
		}
	}
	for i := range 7 {
		if ts := e.now.Add(-time.Duration(i) * 24 * time.Hour).Format("20060102"); !days[ts] {
			t.Errorf("no backup left for day %s", ts)
		}
	}
	again, err := e.prune(t.Context(), backup.PruneIn{ClusterName: cluster, Retention: &r})
	if err != nil || again.Deleted != 0 || again.Kept != len(want) {
		t.Fatalf("second prune: %+v %v, want nothing deleted", again, err)
	}
	if fmt.Sprint(again.Newest) != out.Newest {
		t.Errorf("newest changed between prunes: %s then %s", out.Newest, again.Newest)
	}
}
