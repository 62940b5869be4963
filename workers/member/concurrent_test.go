package member_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/workers/member"
)

// quorumWatch reads a key linearizably through the survivors (the members
// that never depart) until stopped, and records every read that failed:
// a linearizable read needs a quorum, so a failure is quorum lost (or a
// leader election, which a removal must not cause either: leadership moves
// before a leader is removed).
type quorumWatch struct {
	stop   context.CancelFunc
	done   chan struct{}
	reads  atomic.Int64
	mu     sync.Mutex
	losses []string
}

func watchQuorum(t *testing.T, c *etcdcluster.Cluster, survivors []string) *quorumWatch {
	t.Helper()
	cli, err := c.Client(c.Endpoints(survivors...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	q := &quorumWatch{stop: cancel, done: make(chan struct{})}
	// One read must succeed before the removals start.
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if _, err := cli.Get(rctx, "quorum-watch"); err != nil {
		t.Fatalf("linearizable read before the removals: %v", err)
	}
	go func() {
		defer close(q.done)
		defer cli.Close()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			// Generous per read: -race on two busy cores slows etcd down,
			// but a lost quorum never answers at all.
			rctx, rcancel := context.WithTimeout(ctx, 8*time.Second)
			_, err := cli.Get(rctx, "quorum-watch")
			rcancel()
			if ctx.Err() != nil {
				return
			}
			q.reads.Add(1)
			if err != nil {
				q.mu.Lock()
				q.losses = append(q.losses, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
				q.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return q
}

// finish stops the watch and fails the test if quorum was ever lost.
func (q *quorumWatch) finish(t *testing.T) {
	t.Helper()
	q.stop()
	<-q.done
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.losses) > 0 {
		t.Errorf("quorum lost during the removals (%d of %d linearizable reads failed): %v", len(q.losses), q.reads.Load(), q.losses)
	}
	if q.reads.Load() == 0 {
		t.Error("the quorum watch never read")
	}
}

// result is how one departing member's lifecycle ended.
type result struct {
	name string
	out  member.Out
	err  error
}

// lifecycle calls the worker for one departing member the way the
// lifecycle workflow does: a quorum risk or a joining learner waits and
// tries again, Etcd.Unavailable is retried, anything else ends it. A quorum
// risk ends it too once no other removal is under way (nothing that could
// change the answer is left), and everything ends at the deadline.
func lifecycle(t *testing.T, h *harness, in member.In, others *atomic.Int32, changed func() <-chan struct{}) result {
	deadline := time.Now().Add(90 * time.Second)
	for {
		ch := changed()
		out, err := h.remove(t.Context(), in)
		if err == nil {
			return result{name: in.NodeName, out: out}
		}
		waits := faults.Is(err, faults.EtcdQuorumAtRisk) || faults.Is(err, faults.EtcdLearnerJoining) || faults.Is(err, faults.EtcdUnavailable)
		etcdItself := strings.Contains(err.Error(), "etcd refused") || strings.Contains(err.Error(), "holds the lock")
		if !waits || time.Now().After(deadline) || (faults.Is(err, faults.EtcdQuorumAtRisk) && !etcdItself && others.Load() == 0) {
			return result{name: in.NodeName, err: err}
		}
		// Wait for another removal to finish, or a short while (etcd's
		// own 5 s connection check, a transient failure).
		select {
		case <-ch:
		case <-time.After(300 * time.Millisecond):
		case <-t.Context().Done():
			return result{name: in.NodeName, err: t.Context().Err()}
		}
	}
}

// broadcast is closed and replaced each time a departing member's
// lifecycle ends.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
	}
	b.ch = make(chan struct{})
}

// TestConcurrentTerminations terminates two or three members of 3- and
// 5-member clusters together (goroutines, as concurrent lifecycle
// executions) and one after another. The departing members stay running
// and discoverable (Terminating:Wait) until removed, as a terminate hook
// keeps them. Every departing member is removed when that is safe, quorum
// (a linearizable read through the members that stay) is never lost, and a
// removal that would break quorum is refused.
func TestConcurrentTerminations(t *testing.T) {
	tests := []struct {
		name      string
		members   []string
		dead      []string // stopped before the removals (never departing)
		departing []string
		// removed must end removed; refused must end refused with the
		// error named; in concurrent runs which departing member is the
		// refused one depends on the order, so only counts are checked.
		removed int
		refused string
	}{
		{name: "3 members, 2 depart", members: []string{"cp-a", "cp-b", "cp-c"}, departing: []string{"cp-a", "cp-b"}, removed: 2},
		{name: "3 members, 3 depart: the last voter stays", members: []string{"cp-a", "cp-b", "cp-c"}, departing: []string{"cp-a", "cp-b", "cp-c"},
			removed: 2, refused: faults.EtcdUnsafeRemoval},
		{name: "5 members, 2 depart", members: []string{"m1", "m2", "m3", "m4", "m5"}, departing: []string{"m1", "m3"}, removed: 2},
		{name: "5 members, 3 depart", members: []string{"m1", "m2", "m3", "m4", "m5"}, departing: []string{"m1", "m2", "m3"}, removed: 3},
		// m5 is dead: after two removals m3, m4 and the dead m5 are left,
		// and removing m3 would leave 1 healthy voter of 2.
		{name: "5 members with one dead, 3 depart: the third is refused", members: []string{"m1", "m2", "m3", "m4", "m5"}, dead: []string{"m5"},
			departing: []string{"m1", "m2", "m3"}, removed: 2, refused: faults.EtcdQuorumAtRisk},
	}
	for _, tt := range tests {
		for _, concurrent := range []bool{true, false} {
			mode := "sequential"
			if concurrent {
				mode = "concurrent"
			}
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				c := startCluster(t, tt.members...)
				h := newHarness(t, c)
				if len(tt.dead) > 0 {
					stop(t, c, tt.dead...)
				}
				var survivors []string
				for _, n := range tt.members {
					if !slices.Contains(tt.departing, n) && !slices.Contains(tt.dead, n) {
						survivors = append(survivors, n)
					}
				}
				q := watchQuorum(t, c, survivors)
				var active atomic.Int32
				var changed broadcast
				var results []result
				var mu sync.Mutex
				run := func(name string) {
					r := lifecycle(t, h, h.in(name), &active, changed.wait)
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}
				if concurrent {
					active.Store(int32(len(tt.departing)))
					var wg sync.WaitGroup
					for _, n := range tt.departing {
						wg.Go(func() {
							run(n)
							active.Add(-1)
							changed.signal()
						})
					}
					wg.Wait()
				} else {
					for _, n := range tt.departing {
						run(n)
					}
				}
				q.finish(t)

				var removed, refused []string
				for _, r := range results {
					switch {
					case r.err == nil && r.out.Removed:
						removed = append(removed, r.name)
					case r.err == nil:
						t.Errorf("%s: %+v, want removed (it was a member)", r.name, r.out)
					case tt.refused != "" && faults.Is(r.err, tt.refused):
						refused = append(refused, r.name)
					default:
						t.Errorf("%s: %s %v", r.name, faults.Name(r.err), r.err)
					}
				}
				if len(removed) != tt.removed || len(refused) != len(tt.departing)-tt.removed {
					t.Fatalf("removed %v, refused %v; want %d removed and the rest refused with %q", removed, refused, tt.removed, tt.refused)
				}
				// etcd agrees: the removed are gone, the refused and the
				// others stay, and the cluster still takes writes.
				want := slices.DeleteFunc(slices.Clone(tt.members), func(n string) bool { return slices.Contains(removed, n) })
				slices.Sort(want)
				if got := h.memberNames(t); !slices.Equal(got, want) {
					t.Fatalf("members after = %v, want %v", got, want)
				}
				for _, n := range removed {
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					err := c.WaitStopped(ctx, n)
					cancel()
					if err != nil {
						t.Fatal(err)
					}
				}
				writable(t, c)
			})
		}
	}
}

// TestTerminatingMembersCountAsVoters: the worker probes every endpoint
// discovery gives it, a departing member's included, so removing a member
// of 3 while another member is departing (but still healthy) is allowed;
// had the other departing member been left out of the probes (as discovery
// used to leave Terminating instances out), it would count as dead and the
// removal would be refused.
func TestTerminatingMembersCountAsVoters(t *testing.T) {
	c := startCluster(t, "cp-a", "cp-b", "cp-c")
	h := newHarness(t, c)
	// Without the other departing member's endpoint: 1 healthy of the 2
	// that stay, refused.
	in := h.in("cp-a")
	in.Endpoints = c.Endpoints("cp-a", "cp-c")
	if _, err := h.remove(t.Context(), in); !faults.Is(err, faults.EtcdQuorumAtRisk) {
		t.Fatalf("cp-b unprobed: %s %v, want Etcd.QuorumAtRisk", faults.Name(err), err)
	}
	// With it: allowed.
	if out := h.removeEventually(t, h.in("cp-a")); !out.Removed || out.VotersAfter != 2 {
		t.Fatalf("cp-b probed: %+v", out)
	}
}

// clusterIDOf reads a cluster's ID from a member list's header.
func clusterIDOf(t *testing.T, c *etcdcluster.Cluster) uint64 {
	t.Helper()
	return memberList(t, c).Header.ClusterId
}

// mixedEtcd is a client over endpoints of two clusters. Each embedded
// cluster has its own CA, so one clientv3 client cannot reach both, while a
// restored cluster keeps the CA and would: the client of the first
// endpoint's cluster answers the member list and the rest, and Status goes
// to each endpoint's own cluster, as it would with one CA.
type mixedEtcd struct {
	member.Etcd
	byEndpoint map[string]member.Etcd
}

func (m mixedEtcd) Status(ctx context.Context, ep string) (*clientv3.StatusResponse, error) {
	if e, ok := m.byEndpoint[ep]; ok {
		return e.Status(ctx, ep)
	}
	return m.Etcd.Status(ctx, ep)
}

func (m mixedEtcd) Close() error {
	for _, e := range m.byEndpoint {
		_ = e.Close()
	}
	return m.Etcd.Close()
}

// mixedDialer dials the endpoints of each cluster with that cluster's TLS;
// the client's list calls go to the cluster of the first endpoint.
type mixedDialer struct {
	clusters []*etcdcluster.Cluster
}

func (d mixedDialer) Dial(ctx context.Context, eps []string) (member.Etcd, error) {
	groups := map[*etcdcluster.Cluster][]string{}
	var first *etcdcluster.Cluster
	for _, ep := range eps {
		for _, c := range d.clusters {
			if slices.ContainsFunc(c.Members(), func(m *etcdcluster.Member) bool { return m.ClientURL == ep }) {
				if first == nil {
					first = c
				}
				groups[c] = append(groups[c], ep)
			}
		}
	}
	if first == nil {
		return nil, fmt.Errorf("no cluster serves %v", eps)
	}
	dial := func(c *etcdcluster.Cluster, eps []string) (member.Etcd, error) {
		return etcdconn.As[member.Etcd]{Dialer: etcdconn.Dialer{TLS: c.ClientTLS()}}.Dial(ctx, eps)
	}
	main, err := dial(first, groups[first])
	if err != nil {
		return nil, err
	}
	m := mixedEtcd{Etcd: main, byEndpoint: map[string]member.Etcd{}}
	for c, ceps := range groups {
		if c == first {
			continue
		}
		e, err := dial(c, ceps)
		if err != nil {
			_ = m.Close()
			return nil, err
		}
		for _, ep := range ceps {
			m.byEndpoint[ep] = e
		}
	}
	return m, nil
}

// TestClusterIdentityPinned: two real clusters, one's endpoints mixed into
// the other's list. The worker refuses (Etcd.ClusterMismatch) instead of
// deciding, and never reports AlreadyRemoved on the other cluster's word.
func TestClusterIdentityPinned(t *testing.T) {
	prod := startCluster(t, "cp-a", "cp-b", "cp-c")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	// A second cluster, as after a restore: a fresh node that knows
	// nothing of cp-c. Other addresses, other IDs.
	fresh, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: []string{"fresh-a", "fresh-b"}, AddressOffset: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fresh.Close)
	prodID, freshID := clusterIDOf(t, prod), clusterIDOf(t, fresh)
	if prodID == freshID {
		t.Fatal("two clusters with one ID")
	}
	w := member.New(member.Config{StatusTimeout: 3 * time.Second, CallTimeout: 15 * time.Second},
		member.Deps{Peers: etcdconn.StaticPeers{}, Dialer: mixedDialer{clusters: []*etcdcluster.Cluster{prod, fresh}}})
	h := &harness{c: prod}
	target := "cp-c"
	in := func(eps []string, pin uint64) member.In {
		i := h.in(target)
		i.Endpoints = eps
		if pin != 0 {
			i.ClusterID = fmt.Sprintf("%x", pin)
		}
		return i
	}
	before := h.memberNames(t)
	for _, tt := range []struct {
		name string
		in   member.In
	}{
		// The fresh node answers the member list ("cp-c is not a
		// member"), the others disagree on the cluster.
		{"fresh node first in the list", in(slices.Concat(fresh.Endpoints("fresh-a"), prod.Endpoints("cp-a", "cp-b")), 0)},
		{"fresh node last in the list", in(slices.Concat(prod.Endpoints("cp-a", "cp-b"), fresh.Endpoints("fresh-a")), 0)},
		// Only the fresh cluster answers: nothing to compare with but the
		// pinned ID.
		{"only the fresh cluster, pinned to prod", in(fresh.Endpoints(), prodID)},
		{"prod's members, pinned to the fresh cluster", in(prod.Endpoints("cp-a", "cp-b"), freshID)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := w.Remove(t.Context(), tt.in)
			if !faults.Is(err, faults.EtcdClusterMismatch) {
				t.Fatalf("got %+v %s %v, want Etcd.ClusterMismatch", out, faults.Name(err), err)
			}
			if out.AlreadyRemoved || out.Removed {
				t.Fatalf("concluded on a mixed cluster: %+v", out)
			}
			if got := h.memberNames(t); !slices.Equal(got, before) {
				t.Fatalf("membership changed: %v", got)
			}
		})
	}
	// Without a pin, a list of the fresh cluster alone cannot be told
	// apart from a real "not a member": that is what ClusterId is for.
	if out, err := w.Remove(t.Context(), in(fresh.Endpoints(), 0)); err != nil || !out.AlreadyRemoved || out.ClusterID != fmt.Sprintf("%x", freshID) {
		t.Fatalf("fresh cluster alone, unpinned: %+v %v (want AlreadyRemoved, reporting the fresh cluster's ID)", out, err)
	}
	if _, err := w.Remove(t.Context(), member.In{ClusterName: cluster, NodeName: target, ClusterID: "not-hex"}); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("malformed ClusterId: %s %v", faults.Name(err), err)
	}
	// Pinned to the right cluster, with the right endpoints: removed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := w.Remove(t.Context(), in(prod.Endpoints("cp-a", "cp-b"), prodID))
		if err == nil {
			if !out.Removed || out.ClusterID != fmt.Sprintf("%x", prodID) {
				t.Fatalf("pinned to prod: %+v", out)
			}
			break
		}
		if !faults.Is(err, faults.EtcdQuorumAtRisk) || !strings.Contains(err.Error(), "etcd refused") || time.Now().After(deadline) {
			t.Fatalf("pinned to prod: %s %v", faults.Name(err), err)
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-t.Context().Done():
		}
	}
	if got := h.memberNames(t); !slices.Equal(got, []string{"cp-a", "cp-b"}) {
		t.Fatalf("members after = %v", got)
	}
}
