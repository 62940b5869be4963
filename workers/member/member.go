// Package member removes the etcd member of a departing control-plane
// instance (lifecycle step 2), safely: it asks etcd itself whether the
// removal keeps quorum, refuses with a typed error when it does not, moves
// leadership away first when the departing member leads, and is safe to
// retry (Step Functions retries a Task after a timeout).
package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/instanceid"
	"github.com/cpwarden/cpwarden/internal/workeropt"
)

// Namespace is the CloudWatch namespace of this worker's metrics.
const Namespace = "K8sCluster/EtcdLifecycle"

// Business metrics (docs/contracts.md).
const (
	MetricRemovalSuccess = "EtcdMemberRemovalSuccess"
	MetricRemovalFailure = "EtcdMemberRemovalFailure"
	MetricQuorumRisk     = "QuorumRiskDetected"
)

// In is the input of a removal, from the lifecycle workflow. At least one of
// PrivateIP, NodeName, PrivateDNSName, MemberID or InstanceID is needed;
// InstanceID alone needs a Resolver (EC2), which is called only then: an
// input that carries the member's identity (see Identify) does not depend
// on the instance still existing.
type In struct {
	ClusterName string `json:"ClusterName"`
	InstanceID  string `json:"InstanceId,omitempty"`
	// PrivateIP matches the host of the member's peer (or client) URL.
	PrivateIP string `json:"PrivateIp,omitempty"`
	// NodeName matches the member name (kubeadm names members after nodes).
	NodeName string `json:"NodeName,omitempty"`
	// PrivateDNSName matches the member name too: it is the name kubeadm
	// gives the node (and so the member) of an EC2 instance.
	PrivateDNSName string `json:"PrivateDnsName,omitempty"`
	// MemberID is the member's etcd ID in hex, as Identify and Out report it.
	MemberID string `json:"MemberId,omitempty"`
	// ClusterID, in hex, pins the etcd cluster: every endpoint must answer
	// with this cluster ID, else Etcd.ClusterMismatch. Empty: the endpoints
	// must still agree among themselves.
	ClusterID string `json:"ClusterId,omitempty"`
	// Endpoints, when set, replaces discovery: client URLs of the other
	// members.
	Endpoints []string `json:"Endpoints,omitempty"`
}

// Out is the result of a removal.
type Out struct {
	ClusterName string `json:"ClusterName"`
	InstanceID  string `json:"InstanceId,omitempty"`
	// MemberID is the removed member's ID in hex, empty when none matched.
	MemberID   string `json:"MemberId,omitempty"`
	MemberName string `json:"MemberName,omitempty"`
	// Removed: this call removed the member. AlreadyRemoved: it was not a
	// member (any more) when this call looked, e.g. on a retry.
	Removed        bool `json:"Removed"`
	AlreadyRemoved bool `json:"AlreadyRemoved"`
	// MovedLeaderTo is the member ID (hex) that took over leadership.
	MovedLeaderTo string `json:"MovedLeaderTo,omitempty"`
	// VotersAfter is the number of voting members left.
	VotersAfter int `json:"VotersAfter"`
	// ClusterID is the etcd cluster's ID (hex) every endpoint answered with.
	ClusterID string `json:"ClusterId,omitempty"`
}

// Config holds the worker's settings. Zero values are usable.
type Config struct {
	// StatusTimeout bounds each member's Status probe: a member that does
	// not answer in time counts as unhealthy. 0 means 2 s.
	StatusTimeout time.Duration
	// CallTimeout bounds every other etcd call. 0 means 10 s.
	CallTimeout time.Duration
	// LockTimeout bounds the wait for the removal lock another worker
	// holds (a concurrent termination's removal); past it the answer is
	// Etcd.QuorumAtRisk, which the workflow waits on and retries. 0 means
	// 5 s: short, because a removal also looks at the cluster twice (before
	// and under the lock) and may move leadership, and the whole of it must
	// fit the function's 60 s timeout (workers.Spec); a lost wait costs only
	// a quorum round.
	LockTimeout time.Duration
	// Logger receives progress logs; nil discards them.
	Logger *slog.Logger
}

// Deps are the worker's dependencies. Peers and Dialer are required;
// Resolver is needed only to accept inputs with an instance ID alone.
type Deps struct {
	Peers    Peers
	Dialer   Dialer
	Resolver Resolver
}

// Worker removes etcd members. Its zero value is not usable: call New.
type Worker struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
}

// New returns a Worker.
func New(cfg Config, deps Deps) *Worker {
	cfg.StatusTimeout = workeropt.Positive(cfg.StatusTimeout, 2*time.Second)
	cfg.CallTimeout = workeropt.Positive(cfg.CallTimeout, 10*time.Second)
	cfg.LockTimeout = workeropt.Positive(cfg.LockTimeout, 5*time.Second)
	return &Worker{cfg: cfg, deps: deps, log: workeropt.Logger(cfg.Logger)}
}

// target identifies the departing member: any of its IP, its node name,
// its private DNS name (both match the member name) and its member ID.
type target struct {
	ip, name, dns string
	id            uint64
	// cluster is the pinned etcd cluster ID; 0 when none was given.
	cluster uint64
}

func (t target) String() string {
	var parts []string
	if t.name != "" {
		parts = append(parts, fmt.Sprintf("node %q", t.name))
	}
	if t.dns != "" && t.dns != t.name {
		parts = append(parts, fmt.Sprintf("DNS name %q", t.dns))
	}
	if t.ip != "" {
		parts = append(parts, "IP "+t.ip)
	}
	if t.id != 0 {
		parts = append(parts, "member "+hexID(t.id))
	}
	return strings.Join(parts, " / ")
}

func (t target) empty() bool { return t.ip == "" && t.name == "" && t.dns == "" && t.id == 0 }

// lockKey is the etcd key under which removals take turns (one per
// cpwarden cluster name; never under Kubernetes' /registry).
func lockKey(cluster string) string { return "/cpwarden/" + cluster + "/member-removal" }

// Remove removes the member of the departing instance in. It is the worker
// function; wrap it with emf.Step.
func (w *Worker) Remove(ctx context.Context, in In) (Out, error) {
	out, err := w.remove(ctx, in)
	m := emf.FromContext(ctx)
	if err != nil {
		_ = m.PutMetric(MetricRemovalFailure, 1, types.StandardUnitCount)
		if faults.Is(err, faults.EtcdQuorumAtRisk) {
			_ = m.PutMetric(MetricQuorumRisk, 1, types.StandardUnitCount)
		}
		w.log.WarnContext(ctx, "etcd member removal failed", "cluster", in.ClusterName, "instance", in.InstanceID, "error", faults.Name(err), "cause", err)
		return out, err
	}
	_ = m.PutMetric(MetricRemovalSuccess, 1, types.StandardUnitCount)
	return out, nil
}

func (w *Worker) remove(ctx context.Context, in In) (Out, error) {
	out := Out{ClusterName: in.ClusterName, InstanceID: in.InstanceID}
	tgt, err := w.validate(ctx, in)
	if err != nil {
		return out, err
	}
	endpoints := in.Endpoints
	if len(endpoints) == 0 {
		endpoints, err = w.deps.Peers.Peers(ctx)
		if err != nil {
			return out, err
		}
	}
	pin := &clusterPin{want: tgt.cluster}
	endpoints, own := split(endpoints, tgt.ip)
	if len(endpoints) == 0 {
		if len(own) > 0 {
			// Only the departing member answers: it may be the last one.
			return out, w.lonely(ctx, own, tgt, pin)
		}
		return out, faults.New(faults.EtcdUnavailable,
			"no etcd endpoint other than the departing instance (%s): check the control-plane Auto Scaling group or pass Endpoints", tgt)
	}
	cli, err := w.deps.Dialer.Dial(ctx, endpoints)
	if err != nil {
		return out, faults.Wrap(faults.EtcdUnavailable, err, "dial etcd")
	}
	defer func() { _ = cli.Close() }()

	a, err := w.assess(ctx, cli, endpoints, tgt, pin)
	if err != nil {
		// The others may all be gone, leaving the departing member alone:
		// that is a refusal, not something a retry fixes.
		if faults.Is(err, faults.EtcdUnavailable) && len(own) > 0 {
			if lerr := w.lonely(ctx, own, tgt, pin); faults.Is(lerr, faults.EtcdUnsafeRemoval) || faults.Is(lerr, faults.EtcdClusterMismatch) {
				return out, lerr
			}
		}
		return out, err
	}
	out.ClusterID = hexID(pin.got)
	if a.tm == nil {
		return w.absent(ctx, out, a.members, tgt), nil
	}
	tm := a.tm
	out.MemberID, out.MemberName = hexID(tm.ID), tm.Name
	if voters(a.members) == 1 && !tm.IsLearner {
		// No health question to ask: removing the last voter is never safe.
		return out, lastOrUnreachable(a.members, tm)
	}

	// Dial only the other members: the departing one may already be gone,
	// and it must not vote on its own fate. When the member was found by
	// name only, its endpoint may be in the list: drop it and re-dial.
	if others := withoutMember(endpoints, tm); len(others) != len(endpoints) {
		if len(others) == 0 {
			return out, lastOrUnreachable(a.members, tm)
		}
		_ = cli.Close()
		if cli, err = w.deps.Dialer.Dial(ctx, others); err != nil {
			return out, faults.Wrap(faults.EtcdUnavailable, err, "dial etcd")
		}
		endpoints = others
		a.probes = a.probes.only(endpoints)
	}

	// Concurrent terminations each decide on the same membership, and two
	// removals allowed on it together can break quorum (5 members, one
	// dead, three departing). So removals take turns under an etcd lock,
	// and the one that holds it looks again: that second look decides. A
	// quorum risk seen before the lock may be another removal in flight
	// (its member already refusing, not yet out of the list), so it is
	// looked at again under the lock too; the other refusals are final.
	d, refusal := w.decide(ctx, cli, a, tm)
	if refusal != nil && !faults.Is(refusal, faults.EtcdQuorumAtRisk) {
		return out, refusal
	}
	unlock, err := w.lock(ctx, cli, in.ClusterName)
	if err != nil {
		if refusal != nil {
			return out, refusal
		}
		return out, err
	}
	defer unlock()
	if a, err = w.assess(ctx, cli, endpoints, tgt, pin); err != nil {
		return out, err
	}
	if a.tm == nil {
		// A retry of ours, or an operator, removed it meanwhile.
		return w.absent(ctx, out, a.members, tgt), nil
	}
	if a.tm.ID != tm.ID {
		return out, faults.New(faults.InputInvalid, "%s was member %x and is now member %x: fix the input", tgt, tm.ID, a.tm.ID)
	}
	if voters(a.members) == 1 && !tm.IsLearner {
		return out, lastOrUnreachable(a.members, tm)
	}
	if d, err = w.decide(ctx, cli, a, tm); err != nil {
		return out, err
	}
	w.log.InfoContext(ctx, "removal allowed under the lock", "target", tm.Name, "reason", d.Reason)
	if d.MoveLeaderTo != 0 {
		if err := w.moveLeader(ctx, tm, d.MoveLeaderTo); err != nil {
			return out, err
		}
		out.MovedLeaderTo = hexID(d.MoveLeaderTo)
	}
	return w.memberRemove(ctx, cli, tm, out, pin)
}

// absent is the answer when the target is not a member.
func (w *Worker) absent(ctx context.Context, out Out, members []*pb.Member, tgt target) Out {
	out.AlreadyRemoved = true
	out.VotersAfter = voters(members)
	w.log.InfoContext(ctx, "no etcd member for the departing instance", "target", tgt.String(), "cluster", out.ClusterID)
	return out
}

// assessment is one look at the cluster: the membership, every endpoint's
// Status (all from one cluster, checked), the departing member (nil when
// absent).
type assessment struct {
	members []*pb.Member
	probes  probes
	tm      *pb.Member
}

// assess lists the members and probes every endpoint, refusing when they
// do not all answer from one cluster (pin), and finds the target. Nothing
// is concluded, not even that the member is absent, before the cluster
// identity is checked.
func (w *Worker) assess(ctx context.Context, cli Etcd, endpoints []string, tgt target, pin *clusterPin) (assessment, error) {
	members, err := w.list(ctx, cli, pin)
	if err != nil {
		return assessment{}, err
	}
	ps := w.probe(ctx, cli, endpoints)
	if err := pin.checkProbes(ps); err != nil {
		return assessment{}, err
	}
	tm, err := find(members, tgt)
	if err != nil {
		return assessment{}, err
	}
	return assessment{members: members, probes: ps, tm: tm}, nil
}

// decide builds the State from an assessment and applies Decide; a
// refusal is the error.
func (w *Worker) decide(ctx context.Context, cli Etcd, a assessment, tm *pb.Member) (Decision, error) {
	state, err := w.observe(ctx, cli, a.probes, a.members, tm.ID)
	if err != nil {
		return Decision{}, err
	}
	d := Decide(state)
	w.log.InfoContext(ctx, "quorum projection", "target", tm.Name, "allow", d.Allow, "reason", d.Reason)
	if !d.Allow {
		return d, faults.New(d.Refusal, "refusing to remove etcd member: %s", d.Reason)
	}
	return d, nil
}

// lock takes the removal lock, waiting at most LockTimeout. An etcd whose
// authentication does not let cpwarden's certificate write is removed from
// without the lock, as before it existed (logged).
func (w *Worker) lock(ctx context.Context, cli Etcd, cluster string) (func(), error) {
	lctx, cancel := context.WithTimeout(ctx, w.cfg.LockTimeout)
	defer cancel()
	// The lease outlives a worker that dies holding it by at most this.
	unlock, err := cli.Lock(lctx, lockKey(cluster), 2*w.cfg.CallTimeout)
	switch {
	case err == nil:
		return func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.CallTimeout)
			defer cancel()
			if err := unlock(uctx); err != nil {
				w.log.WarnContext(ctx, "releasing the etcd removal lock failed (its lease expires by itself)", "error", err)
			}
		}, nil
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrUserEmpty):
		w.log.WarnContext(ctx, "etcd refuses cpwarden's removal lock: removing without it (concurrent removals are not serialised)", "error", err)
		return func() {}, nil
	case ctx.Err() == nil && lctx.Err() != nil:
		return nil, faults.Wrap(faults.EtcdQuorumAtRisk, err,
			"another member removal holds the lock (a concurrent termination): the quorum projection waits for it")
	}
	return nil, faults.Wrap(faults.EtcdUnavailable, err, "take the etcd removal lock")
}

func (w *Worker) validate(ctx context.Context, in In) (target, error) {
	t, err := parseTarget(in)
	if err != nil {
		return t, err
	}
	if t.empty() {
		if in.InstanceID == "" {
			return t, faults.New(faults.InputInvalid, "one of PrivateIp, NodeName, PrivateDnsName, MemberId or InstanceId is required to find the member")
		}
		if w.deps.Resolver == nil {
			return t, faults.New(faults.InputInvalid, "InstanceId %s given alone and no instance resolver configured: pass PrivateIp or NodeName", in.InstanceID)
		}
		inst, err := w.deps.Resolver.Resolve(ctx, in.InstanceID)
		if err != nil {
			return t, err
		}
		t.ip, t.dns = inst.PrivateIP, inst.PrivateDNSName
		if t.ip == "" && t.dns == "" {
			return t, faults.New(faults.InputInvalid, "instance %s has neither a private IP nor a private DNS name", in.InstanceID)
		}
	}
	return t, nil
}

// parseTarget checks the input and reads the identity it carries, without
// calling anything.
func parseTarget(in In) (target, error) {
	var t target
	if in.ClusterName == "" {
		return t, faults.New(faults.InputInvalid, "ClusterName is required")
	}
	if in.InstanceID != "" && !instanceid.Valid(in.InstanceID) {
		return t, faults.New(faults.InputInvalid, "InstanceId %q is not an EC2 instance ID (%s)", in.InstanceID, instanceid.Example)
	}
	if in.PrivateIP != "" {
		ip := net.ParseIP(in.PrivateIP)
		if ip == nil {
			return t, faults.New(faults.InputInvalid, "PrivateIp %q is not an IP address", in.PrivateIP)
		}
		t.ip = ip.String()
	}
	t.name, t.dns = in.NodeName, in.PrivateDNSName
	var err error
	if t.id, err = parseHexID(in.MemberID); err != nil {
		return t, faults.New(faults.InputInvalid, "MemberId %q: %v", in.MemberID, err)
	}
	if t.cluster, err = parseHexID(in.ClusterID); err != nil {
		return t, faults.New(faults.InputInvalid, "ClusterId %q: %v", in.ClusterID, err)
	}
	for _, ep := range in.Endpoints {
		if _, err := endpointHost(ep); err != nil {
			return t, faults.New(faults.InputInvalid, "Endpoints: %v", err)
		}
	}
	return t, nil
}

// parseHexID reads an etcd ID as etcd prints it (hex, no prefix); "" is 0.
func parseHexID(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("not a non-zero hexadecimal etcd ID")
	}
	return id, nil
}

// clusterPin holds the etcd cluster ID one call talks to: the one the
// input pins (want), else the first one seen (got); every answer after
// must carry it.
type clusterPin struct {
	want, got uint64
}

// check records id, from source, and refuses a second cluster.
func (p *clusterPin) check(id uint64, source string) error {
	switch {
	case id == 0:
		return faults.New(faults.EtcdClusterMismatch, "%s answered without a cluster ID", source)
	case p.want != 0 && id != p.want:
		return faults.New(faults.EtcdClusterMismatch, "%s belongs to etcd cluster %x, not %x (the input's ClusterId): "+
			"refusing to decide on another cluster's membership (a restore, or a stale endpoint list?)", source, id, p.want)
	case p.got != 0 && id != p.got:
		return faults.New(faults.EtcdClusterMismatch, "%s belongs to etcd cluster %x while another endpoint answered for cluster %x: "+
			"the endpoints are not one cluster (a restore, or a stale endpoint list?)", source, id, p.got)
	}
	p.got = id
	return nil
}

// checkProbes checks the cluster ID of every endpoint that answered.
func (p *clusterPin) checkProbes(ps probes) error {
	for _, pr := range ps {
		if pr.st != nil && pr.st.Header != nil {
			if err := p.check(pr.st.Header.ClusterId, "etcd endpoint "+pr.endpoint); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Worker) list(ctx context.Context, cli Etcd, pin *clusterPin) ([]*pb.Member, error) {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	defer cancel()
	resp, err := cli.MemberList(cctx)
	if err != nil {
		return nil, faults.Wrap(faults.EtcdUnavailable, err, "list etcd members")
	}
	var id uint64
	if resp.Header != nil {
		id = resp.Header.ClusterId
	}
	if err := pin.check(id, "the etcd member list"); err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// find returns the member matching t, nil when none does, or Input.Invalid
// when the identifiers point at different members.
func find(members []*pb.Member, t target) (*pb.Member, error) {
	var byName, byDNS, byIP, byID *pb.Member
	for _, m := range members {
		if t.name != "" && m.Name == t.name {
			byName = m
		}
		if t.dns != "" && m.Name == t.dns {
			byDNS = m
		}
		if t.id != 0 && m.ID == t.id {
			byID = m
		}
		if t.ip != "" && slices.Contains(memberHosts(m), t.ip) {
			if byIP != nil && byIP.ID != m.ID {
				return nil, faults.New(faults.InputInvalid, "IP %s matches two etcd members (%x, %x): pass NodeName or MemberId", t.ip, byIP.ID, m.ID)
			}
			byIP = m
		}
	}
	found := []struct {
		by string
		m  *pb.Member
	}{{fmt.Sprintf("MemberId %x", t.id), byID}, {fmt.Sprintf("node %q", t.name), byName}, {fmt.Sprintf("DNS name %q", t.dns), byDNS}, {"IP " + t.ip, byIP}}
	var first *pb.Member
	var firstBy string
	for _, f := range found {
		if f.m == nil {
			continue
		}
		if first == nil {
			first, firstBy = f.m, f.by
			continue
		}
		if f.m.ID != first.ID {
			return nil, faults.New(faults.InputInvalid, "%s is etcd member %x (%s) but %s is member %x (%s): fix the input",
				firstBy, first.ID, first.Name, f.by, f.m.ID, f.m.Name)
		}
	}
	return first, nil
}

// probe is one endpoint's Status answer.
type probe struct {
	endpoint string
	st       *pb.StatusResponse
	err      error
}

type probes []probe

// only keeps the probes of endpoints.
func (ps probes) only(endpoints []string) probes {
	return slices.DeleteFunc(slices.Clone(ps), func(p probe) bool { return !slices.Contains(endpoints, p.endpoint) })
}

// probe asks every endpoint for its Status, with a deadline each.
func (w *Worker) probe(ctx context.Context, cli Etcd, endpoints []string) probes {
	ps := make(probes, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, w.cfg.StatusTimeout)
			defer cancel()
			st, err := cli.Status(sctx, ep)
			ps[i] = probe{endpoint: ep, err: err}
			if st != nil {
				ps[i].st = (*pb.StatusResponse)(st)
			}
		})
	}
	wg.Wait()
	return ps
}

// observe builds the State Decide needs from the probes of the other
// members and the cluster's alarms.
func (w *Worker) observe(ctx context.Context, cli Etcd, ps probes, members []*pb.Member, targetID uint64) (State, error) {
	actx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	defer cancel()
	alarms, err := cli.AlarmList(actx)
	if err != nil {
		return State{}, faults.Wrap(faults.EtcdUnavailable, err, "list etcd alarms")
	}
	alarmed := map[uint64]bool{}
	for _, a := range alarms.Alarms {
		if a.Alarm != pb.AlarmType_NONE {
			alarmed[a.MemberID] = true
		}
	}
	status := map[uint64]*pb.StatusResponse{}
	var leader, leaderTerm uint64
	for _, p := range ps {
		if p.err != nil || p.st == nil || p.st.Header == nil {
			w.log.InfoContext(ctx, "etcd member did not answer Status", "endpoint", p.endpoint, "error", p.err)
			continue
		}
		if p.st.Leader == 0 || len(p.st.Errors) > 0 {
			w.log.InfoContext(ctx, "etcd member unhealthy", "endpoint", p.endpoint, "leader", p.st.Leader, "errors", p.st.Errors)
			continue
		}
		status[p.st.Header.MemberId] = p.st
		// Members agree on the leader once a term settles; trust the newest.
		if p.st.RaftTerm >= leaderTerm {
			leader, leaderTerm = p.st.Leader, p.st.RaftTerm
		}
	}
	s := State{Target: targetID}
	for _, m := range members {
		ms := MemberState{ID: m.ID, Name: m.Name, Learner: m.IsLearner, Leader: m.ID == leader}
		if st, ok := status[m.ID]; ok && !alarmed[m.ID] {
			ms.Healthy, ms.AppliedIndex = true, st.RaftAppliedIndex
		}
		s.Members = append(s.Members, ms)
	}
	return s, nil
}

// moveLeader hands leadership from the departing member to the chosen
// follower. etcd serves MoveLeader only on the leader itself, so this is the
// one call that dials the departing member, on its advertised client URLs.
func (w *Worker) moveLeader(ctx context.Context, tm *pb.Member, to uint64) error {
	if len(tm.ClientURLs) == 0 {
		return faults.New(faults.EtcdUnavailable, "leader %s advertises no client URL to ask for a leadership transfer", tm.Name)
	}
	cli, err := w.deps.Dialer.Dial(ctx, tm.ClientURLs)
	if err != nil {
		return faults.Wrap(faults.EtcdUnavailable, err, "dial the departing leader")
	}
	defer func() { _ = cli.Close() }()
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	defer cancel()
	if _, err := cli.MoveLeader(cctx, to); err != nil {
		return faults.Wrap(faults.EtcdUnavailable, err, fmt.Sprintf("move etcd leadership from %s to %x", tm.Name, to))
	}
	w.log.InfoContext(ctx, "moved etcd leadership", "from", tm.Name, "to", hexID(to))
	return nil
}

func (w *Worker) memberRemove(ctx context.Context, cli Etcd, tm *pb.Member, out Out, pin *clusterPin) (Out, error) {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	resp, err := cli.MemberRemove(cctx, tm.ID)
	cancel()
	switch {
	case err == nil:
		out.Removed = true
		out.VotersAfter = voters(resp.Members)
		w.log.InfoContext(ctx, "removed etcd member", "member", tm.Name, "id", hexID(tm.ID))
		return out, nil
	case errors.Is(err, rpctypes.ErrMemberNotFound):
		out.AlreadyRemoved = true
	case errors.Is(err, rpctypes.ErrUnhealthy), errors.Is(err, rpctypes.ErrMemberNotEnoughStarted):
		// etcd's own strict reconfiguration check: a peer is down or
		// connected for less than 5 s. Same remedy as our projection: wait.
		return out, faults.Wrap(faults.EtcdQuorumAtRisk, err, "etcd refused to remove "+tm.Name)
	default:
		// The removal may have been applied before the error (a timeout
		// after commit): look again before deciding.
		members, lerr := w.list(ctx, cli, pin)
		if lerr != nil {
			return out, faults.Wrap(faults.EtcdUnavailable, err, "remove etcd member "+tm.Name+" (outcome unknown, retry)")
		}
		if slices.ContainsFunc(members, func(m *pb.Member) bool { return m.ID == tm.ID }) {
			return out, faults.Wrap(faults.EtcdUnavailable, err, "remove etcd member "+tm.Name)
		}
		out.Removed = true
		out.VotersAfter = voters(members)
		return out, nil
	}
	members, err := w.list(ctx, cli, pin)
	if err != nil {
		return out, err
	}
	out.VotersAfter = voters(members)
	return out, nil
}

func voters(ms []*pb.Member) int {
	n := 0
	for _, m := range ms {
		if !m.IsLearner {
			n++
		}
	}
	return n
}

func hexID(id uint64) string { return strconv.FormatUint(id, 16) }

func memberHosts(m *pb.Member) []string {
	var hosts []string
	for _, u := range slices.Concat(m.PeerURLs, m.ClientURLs) {
		if h, err := endpointHost(u); err == nil {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func endpointHost(ep string) (string, error) {
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not an http(s)://host:port URL", ep)
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		return ip.String(), nil
	}
	return u.Hostname(), nil
}

// split separates the endpoints on host ip (own) from the others.
func split(endpoints []string, ip string) (others, own []string) {
	for _, ep := range endpoints {
		if h, _ := endpointHost(ep); ip != "" && h == ip {
			own = append(own, ep)
		} else {
			others = append(others, ep)
		}
	}
	return others, own
}

// lonely handles a departing instance whose member is the only one
// reachable: it reads the membership from it (a read cannot harm it) to
// tell "last member" (refuse) from "the others are unreachable" (retry).
func (w *Worker) lonely(ctx context.Context, own []string, tgt target, pin *clusterPin) error {
	cli, err := w.deps.Dialer.Dial(ctx, own)
	if err != nil {
		return faults.Wrap(faults.EtcdUnavailable, err, "dial etcd")
	}
	defer func() { _ = cli.Close() }()
	members, err := w.list(ctx, cli, pin)
	if faults.Is(err, faults.EtcdClusterMismatch) {
		return err
	}
	if err != nil {
		return faults.Wrap(faults.EtcdUnavailable, err, fmt.Sprintf("no etcd endpoint other than the departing instance (%s) and it does not answer either", tgt))
	}
	tm, err := find(members, tgt)
	if err != nil {
		return err
	}
	if tm == nil {
		return faults.New(faults.EtcdUnavailable, "no etcd endpoint other than the departing instance (%s), which is not a member: check the Auto Scaling group or pass Endpoints", tgt)
	}
	return lastOrUnreachable(members, tm)
}

// lastOrUnreachable is the verdict when no member other than tm can be
// dialed.
func lastOrUnreachable(members []*pb.Member, tm *pb.Member) error {
	if voters(members) == 1 && !tm.IsLearner {
		return faults.New(faults.EtcdUnsafeRemoval, "refusing to remove etcd member: %s (%x) is the last voting member: removing it destroys the cluster", tm.Name, tm.ID)
	}
	return faults.New(faults.EtcdUnavailable, "none of the %d other etcd members can be dialed: check the control-plane Auto Scaling group or pass Endpoints", len(members)-1)
}

// withoutMember drops the endpoints that are the member's client URLs, or
// on a host of the member's peer URLs.
func withoutMember(endpoints []string, m *pb.Member) []string {
	hosts := memberHosts(m)
	return slices.DeleteFunc(slices.Clone(endpoints), func(ep string) bool {
		if slices.Contains(m.ClientURLs, ep) {
			return true
		}
		h, _ := endpointHost(ep)
		return slices.Contains(hosts, h)
	})
}
