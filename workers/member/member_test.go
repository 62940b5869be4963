package member_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/workers/member"
)

const cluster = "test-cluster"

func startCluster(t *testing.T, names ...string) *etcdcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	c, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: names})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// recordingDialer dials for real and records every endpoint list dialed, so
// tests can check the worker never talks to the departing member except to
// move leadership away from it. wrap, when set, wraps each client.
type recordingDialer struct {
	real member.Dialer
	wrap func(member.Etcd) member.Etcd
	mu   sync.Mutex
	dial [][]string
}

func (d *recordingDialer) Dial(ctx context.Context, eps []string) (member.Etcd, error) {
	d.mu.Lock()
	d.dial = append(d.dial, slices.Clone(eps))
	d.mu.Unlock()
	cli, err := d.real.Dial(ctx, eps)
	if err != nil || d.wrap == nil {
		return cli, err
	}
	return d.wrap(cli), nil
}

func (d *recordingDialer) dials() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.dial)
}

type harness struct {
	c      *etcdcluster.Cluster
	dialer *recordingDialer
	remove func(context.Context, member.In) (member.Out, error)
	emf    *bytes.Buffer
}

func newHarness(t *testing.T, c *etcdcluster.Cluster) *harness {
	// Generous deadlines: -race on two busy cores slows etcd down a lot.
	return newHarnessTimeout(t, c, 15*time.Second)
}

func newHarnessTimeout(t *testing.T, c *etcdcluster.Cluster, call time.Duration) *harness {
	h := &harness{c: c, dialer: &recordingDialer{real: etcdconn.As[member.Etcd]{Dialer: etcdconn.Dialer{TLS: c.ClientTLS()}}}, emf: &bytes.Buffer{}}
	// Discovery maps "instances" (the members this test started) to their
	// loopback client URLs, as the sandbox does for ASG instances.
	w := member.New(member.Config{StatusTimeout: 3 * time.Second, CallTimeout: call},
		member.Deps{Peers: peersOf{c}, Dialer: h.dialer})
	h.remove = emf.Step("member", member.Namespace, w.Remove, emf.WithWriter(h.emf), emf.WithDimension("ClusterName", cluster))
	return h
}

// peersOf lists every member the cluster started, running or not, the way
// the ASG lists instances whether or not etcd on them is healthy.
type peersOf struct{ c *etcdcluster.Cluster }

func (p peersOf) Peers(context.Context) ([]string, error) {
	var eps []string
	for _, m := range p.c.Members() {
		eps = append(eps, m.ClientURL)
	}
	return eps, nil
}

func (h *harness) in(name string) member.In {
	return member.In{ClusterName: cluster, InstanceID: "i-0123456789abcdef0", NodeName: name, PrivateIP: h.c.Member(name).IP}
}

// removeEventually calls the worker the way the lifecycle workflow does:
// while etcd itself refuses (its strict reconfiguration check wants every
// peer connected for 5 s, never true right after a start), wait and retry.
// A refusal by the worker's own projection fails the test.
func (h *harness) removeEventually(t *testing.T, in member.In) member.Out {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := h.remove(t.Context(), in)
		if err == nil {
			if out.Removed {
				// The removed member stops itself; until it has, etcd 3.7
				// panics on a Status sent to it, so let it finish.
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				if err := h.c.WaitStopped(ctx, out.MemberName); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		if !faults.Is(err, faults.EtcdQuorumAtRisk) || !strings.Contains(err.Error(), "etcd refused") || time.Now().After(deadline) {
			t.Fatalf("remove %+v: %s: %v", in, faults.Name(err), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// memberList reads c's member list (and its header).
func memberList(t *testing.T, c *etcdcluster.Cluster) *clientv3.MemberListResponse {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (h *harness) memberNames(t *testing.T) []string {
	t.Helper()
	resp := memberList(t, h.c)
	var names []string
	for _, m := range resp.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

func (h *harness) metric(t *testing.T, name string) float64 {
	t.Helper()
	recs, err := emf.DecodeAll(bytes.NewReader(h.emf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, r := range emf.Find(recs, name, "ClusterName") {
		if r.Namespace != member.Namespace {
			t.Fatalf("%s in namespace %q", name, r.Namespace)
		}
		sum += r.Sum()
	}
	return sum
}

func (h *harness) assertNeverDialed(t *testing.T, name string, except func([]string) bool) {
	t.Helper()
	target := h.c.Member(name).ClientURL
	for _, eps := range h.dialer.dials() {
		if slices.Contains(eps, target) && (except == nil || !except(eps)) {
			t.Errorf("the worker dialed the departing member: %v", eps)
		}
	}
}

func writable(t *testing.T, c *etcdcluster.Cluster) {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "after-removal", "ok"); err != nil {
		t.Fatalf("cluster not writable after removal: %v", err)
	}
}

// leaderName waits until the running members agree on a leader (after a
// stop or restart an election may be under way) and returns its name.
func leaderName(t *testing.T, c *etcdcluster.Cluster) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := c.Leader(t.Context())
		if err == nil {
			return l.Name
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop stops members and waits for the rest to elect a leader, as the
// workflow's retries would.
func stop(t *testing.T, c *etcdcluster.Cluster, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := c.Stop(n); err != nil {
			t.Fatal(err)
		}
	}
	leaderName(t, c)
}

func TestRemoveFollowerTwice(t *testing.T) {
	c := startCluster(t, "cp-a", "cp-b", "cp-c")
	h := newHarness(t, c)
	target := "cp-c"
	if leaderName(t, c) == target {
		target = "cp-b"
	}
	first := h.removeEventually(t, h.in(target))
	if !first.Removed || first.AlreadyRemoved || first.MemberName != target || first.VotersAfter != 2 || first.MovedLeaderTo != "" {
		t.Fatalf("first call = %+v", first)
	}
	second, err := h.remove(t.Context(), h.in(target))
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if second.Removed || !second.AlreadyRemoved || second.VotersAfter != 2 {
		t.Fatalf("second call = %+v, want AlreadyRemoved", second)
	}
	if got := h.memberNames(t); len(got) != 2 || slices.Contains(got, target) {
		t.Fatalf("members after = %v", got)
	}
	writable(t, c)
	h.assertNeverDialed(t, target, nil)
	if got := h.metric(t, member.MetricRemovalSuccess); got != 2 {
		t.Errorf("%s = %v, want 2 (removed, then already absent)", member.MetricRemovalSuccess, got)
	}
	if got := h.metric(t, "MemberSuccess"); got < 2 {
		t.Errorf("step metric MemberSuccess = %v, want >= 2", got)
	}
}

func TestRemoveLeaderMovesLeadershipFirst(t *testing.T) {
	c := startCluster(t, "cp-a", "cp-b", "cp-c")
	h := newHarness(t, c)
	target := leaderName(t, c)
	in := h.in(target)
	in.NodeName = "" // found by IP alone
	var out member.Out
	for range 2 {
		out = h.removeEventually(t, in)
	}
	if out.Removed || !out.AlreadyRemoved {
		t.Fatalf("second call = %+v, want AlreadyRemoved", out)
	}
	// The first call's output is in the log; check the effects instead.
	if got := h.memberNames(t); slices.Contains(got, target) || len(got) != 2 {
		t.Fatalf("members after = %v", got)
	}
	if l := leaderName(t, c); l == target {
		t.Fatalf("leader is still %s", l)
	}
	writable(t, c)
	// The only call to the departing member is the leadership transfer,
	// on its own endpoint alone.
	moved := 0
	h.assertNeverDialed(t, target, func(eps []string) bool {
		moved++
		return len(eps) == 1
	})
	if moved != 1 {
		t.Errorf("dialed the departing leader %d times, want once for MoveLeader", moved)
	}
}

func TestRemoveMemberWhoseInstanceIsGone(t *testing.T) {
	c := startCluster(t, "cp-a", "cp-b", "cp-c")
	h := newHarness(t, c)
	target := "cp-c"
	stop(t, c, target)
	for range 2 {
		h.removeEventually(t, h.in(target))
	}
	if got := h.memberNames(t); len(got) != 2 || slices.Contains(got, target) {
		t.Fatalf("members after = %v", got)
	}
	// A node that never was a member: success, nothing touched.
	out, err := h.remove(t.Context(), member.In{ClusterName: cluster, NodeName: "cp-unknown", PrivateIP: "127.0.0.99"})
	if err != nil || !out.AlreadyRemoved || out.Removed {
		t.Fatalf("unknown node: %+v, %v", out, err)
	}
	writable(t, c)
}

func expectRefusal(t *testing.T, h *harness, in member.In, want string, before []string) {
	t.Helper()
	for i := range 2 {
		_, err := h.remove(t.Context(), in)
		if !faults.Is(err, want) {
			t.Fatalf("call %d: err = %s %v, want %s", i+1, faults.Name(err), err, want)
		}
		if got := h.memberNames(t); !slices.Equal(got, before) {
			t.Fatalf("call %d changed the membership: %v, want %v", i+1, got, before)
		}
	}
}

func TestRefuseWhenQuorumWouldBeLost(t *testing.T) {
	t.Run("3 members, one other down", func(t *testing.T) {
		c := startCluster(t, "cp-a", "cp-b", "cp-c")
		h := newHarness(t, c)
		before := h.memberNames(t)
		stop(t, c, "cp-a")
		expectRefusal(t, h, h.in("cp-b"), faults.EtcdQuorumAtRisk, before)
		if got := h.metric(t, member.MetricQuorumRisk); got != 2 {
			t.Errorf("%s = %v, want 2", member.MetricQuorumRisk, got)
		}
		if got := h.metric(t, member.MetricRemovalFailure); got != 2 {
			t.Errorf("%s = %v, want 2", member.MetricRemovalFailure, got)
		}
		// Two of three down: etcd cannot even list its members.
		if err := c.Stop("cp-c"); err != nil {
			t.Fatal(err)
		}
		// A short deadline: the answer is a timeout.
		_, err := newHarnessTimeout(t, c, 3*time.Second).remove(t.Context(), h.in("cp-b"))
		if !faults.Is(err, faults.EtcdUnavailable) {
			t.Fatalf("two of three down: %s %v, want Etcd.Unavailable", faults.Name(err), err)
		}
	})
	t.Run("5 members, two then one other down", func(t *testing.T) {
		c := startCluster(t, "m1", "m2", "m3", "m4", "m5")
		h := newHarness(t, c)
		stop(t, c, "m4", "m5")
		// m4 and m5 down: removing m3 leaves 2 healthy of 4, quorum 3.
		expectRefusal(t, h, h.in("m3"), faults.EtcdQuorumAtRisk, []string{"m1", "m2", "m3", "m4", "m5"})
		if err := c.Restart(t.Context(), "m4"); err != nil {
			t.Fatal(err)
		}
		leaderName(t, c)
		// Only m5 down: 3 healthy of the 4 that stay, quorum 3: allowed.
		if out := h.removeEventually(t, h.in("m3")); !out.Removed || out.VotersAfter != 4 {
			t.Fatalf("one down of five: %+v", out)
		}
		if got := h.memberNames(t); !slices.Equal(got, []string{"m1", "m2", "m4", "m5"}) {
			t.Fatalf("members after = %v", got)
		}
	})
}

func TestRefuseWithLearnerPresent(t *testing.T) {
	c := startCluster(t, "cp-a", "cp-b", "cp-c")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := c.AddLearner(ctx, "cp-d"); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, c)
	expectRefusal(t, h, h.in("cp-c"), faults.EtcdLearnerJoining, []string{"cp-a", "cp-b", "cp-c", "cp-d"})
	// The learner itself may go.
	if out := h.removeEventually(t, h.in("cp-d")); !out.Removed {
		t.Fatalf("removing the learner: %+v", out)
	}
}

// hookEtcd runs before() ahead of MemberRemove, and can lose the response of
// a MemberRemove that etcd applied, as a timeout after commit does.
type hookEtcd struct {
	member.Etcd
	before       func()
	loseResponse bool
}

func (e hookEtcd) MemberRemove(ctx context.Context, id uint64) (*clientv3.MemberRemoveResponse, error) {
	if e.before != nil {
		e.before()
	}
	resp, err := e.Etcd.MemberRemove(ctx, id)
	if err == nil && e.loseResponse {
		return nil, context.DeadlineExceeded
	}
	return resp, err
}

func TestMemberStopsMidRemoval(t *testing.T) {
	c := startCluster(t, "cp-a", "cp-b", "cp-c")
	h := newHarness(t, c)
	var once sync.Once
	h.dialer.wrap = func(e member.Etcd) member.Etcd {
		// The departing instance dies between the projection and the
		// removal.
		return hookEtcd{Etcd: e, before: func() { once.Do(func() { _ = c.Stop("cp-c") }) }}
	}
	for range 2 {
		h.removeEventually(t, h.in("cp-c"))
	}
	if got := h.memberNames(t); !slices.Equal(got, []string{"cp-a", "cp-b"}) {
		t.Fatalf("members after = %v", got)
	}

	// The response of an applied removal is lost: the worker lists again
	// and reports the removal instead of failing.
	target := "cp-b"
	if leaderName(t, c) == target {
		target = "cp-a"
	}
	h.dialer.wrap = func(e member.Etcd) member.Etcd { return hookEtcd{Etcd: e, loseResponse: true} }
	out := h.removeEventually(t, h.in(target))
	if !out.Removed || out.VotersAfter != 1 {
		t.Fatalf("lost response: %+v, want Removed with 1 voter left", out)
	}
	h.dialer.wrap = nil
	if out, err := h.remove(t.Context(), h.in(target)); err != nil || !out.AlreadyRemoved {
		t.Fatalf("retry after lost response: %+v %v", out, err)
	}

	// One member is left: removing it is refused, by name or by IP.
	last := "cp-a"
	if target == "cp-a" {
		last = "cp-b"
	}
	byIP := h.in(last)
	byIP.NodeName = ""
	byName := h.in(last)
	byName.PrivateIP = ""
	for _, in := range []member.In{byIP, byName} {
		if _, err := h.remove(t.Context(), in); !faults.Is(err, faults.EtcdUnsafeRemoval) {
			t.Fatalf("last member %+v: %s %v, want Etcd.UnsafeRemoval", in, faults.Name(err), err)
		}
	}
	if got := h.memberNames(t); !slices.Equal(got, []string{last}) {
		t.Fatalf("members after = %v", got)
	}
}

func TestBadInput(t *testing.T) {
	c := startCluster(t, "cp-a", "cp-b", "cp-c")
	h := newHarness(t, c)
	before := h.memberNames(t)
	closedPort := "https://127.0.0.1:1"
	if u, _ := url.Parse(c.Member("cp-a").ClientURL); u.Port() == "1" {
		t.Skip("improbable port collision")
	}
	tests := []struct {
		name string
		in   member.In
		want string
	}{
		{"no cluster name", member.In{NodeName: "cp-a"}, faults.InputInvalid},
		{"nothing to find the member by", member.In{ClusterName: cluster}, faults.InputInvalid},
		{"malformed IP", member.In{ClusterName: cluster, PrivateIP: "10.0.0.300"}, faults.InputInvalid},
		{"malformed instance ID", member.In{ClusterName: cluster, InstanceID: "web-1", NodeName: "cp-a"}, faults.InputInvalid},
		{"instance ID alone without resolver", member.In{ClusterName: cluster, InstanceID: "i-0123456789abcdef0"}, faults.InputInvalid},
		{"malformed endpoint", member.In{ClusterName: cluster, NodeName: "cp-a", Endpoints: []string{"127.0.0.1:2379"}}, faults.InputInvalid},
		{"name and IP of different members", member.In{ClusterName: cluster, NodeName: "cp-a", PrivateIP: c.Member("cp-b").IP}, faults.InputInvalid},
		{"unreachable endpoints", member.In{ClusterName: cluster, NodeName: "cp-a", Endpoints: []string{closedPort}}, faults.EtcdUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.remove(t.Context(), tt.in)
			if !faults.Is(err, tt.want) {
				t.Fatalf("err = %s %v, want %s", faults.Name(err), err, tt.want)
			}
			var fe *faults.Error
			if !errors.As(err, &fe) || fe.Err == nil || fe.Err.Error() == "" {
				t.Fatal("error without a message")
			}
		})
	}
	if got := h.memberNames(t); !slices.Equal(got, before) {
		t.Fatalf("bad input changed the membership: %v", got)
	}
}
