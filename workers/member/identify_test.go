package member_test

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/workers/member"
)

// countingResolver counts the instance look-ups (EC2 DescribeInstances).
type countingResolver struct {
	member.Resolver
	calls atomic.Int32
}

func (r *countingResolver) Resolve(ctx context.Context, id string) (etcdconn.Instance, error) {
	r.calls.Add(1)
	return r.Resolver.Resolve(ctx, id)
}

// TestIdentifyThenRemoveWithoutTheInstance: a group in moto whose
// instances are the members of a real etcd cluster (named after the
// instances' private DNS names, as kubeadm names them after the nodes, and
// reached on loopback). Identify captures the departing instance's identity
// while it exists; the removal given that identity never looks the instance
// up (it may be gone by then), and removes the right member.
func TestIdentifyThenRemoveWithoutTheInstance(t *testing.T) {
	m := sandboxtest.Moto(t)
	g := sandboxtest.SeedGroup(t, m, "control-plane", 3)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	c, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: g.DNSNames()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	local := map[string]*url.URL{}
	for i, in := range g.Instances {
		u, err := url.Parse(c.Member(g.DNSNames()[i]).ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		local[in.ID] = u
	}
	d := etcdconn.NewASGDiscovery(g.Name, m.AutoScaling(), m.EC2(), etcdconn.LocalEndpoints(local, "the test's map"))
	d.IncludeTerminating = true
	res := &countingResolver{Resolver: d}
	w := member.New(member.Config{StatusTimeout: 3 * time.Second, CallTimeout: 15 * time.Second},
		member.Deps{Peers: d, Dialer: etcdconn.As[member.Etcd]{Dialer: etcdconn.Dialer{TLS: c.ClientTLS()}}, Resolver: res})

	departing := g.Instances[2]
	mem := c.Member(departing.PrivateDNSName)
	id, err := w.Identify(t.Context(), member.In{ClusterName: cluster, InstanceID: departing.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := member.Identity{
		ClusterName: cluster, InstanceID: departing.ID, PrivateIP: mem.IP, PrivateDNSName: departing.PrivateDNSName,
		NodeName: departing.PrivateDNSName, MemberID: fmt.Sprintf("%x", mem.ID), ClusterID: fmt.Sprintf("%x", clusterIDOf(t, c)),
	}
	if id != want {
		t.Fatalf("Identify = %+v\nwant       %+v", id, want)
	}
	if res.calls.Load() != 1 {
		t.Fatalf("Identify looked the instance up %d times, want 1", res.calls.Load())
	}
	// Pinned to another cluster: refused.
	if _, err := w.Identify(t.Context(), member.In{ClusterName: cluster, InstanceID: departing.ID, ClusterID: "1234"}); !faults.Is(err, faults.EtcdClusterMismatch) {
		t.Fatalf("Identify pinned to another cluster: %s %v", faults.Name(err), err)
	}
	// No instance ID, or an unknown one: Input.Invalid.
	for _, in := range []member.In{{ClusterName: cluster}, {ClusterName: cluster, InstanceID: "i-0123456789abcdef0"}} {
		if _, err := w.Identify(t.Context(), in); !faults.Is(err, faults.InputInvalid) {
			t.Fatalf("Identify %+v: %s %v, want Input.Invalid", in, faults.Name(err), err)
		}
	}

	// Each identifier alone finds the member, without a look-up.
	h := &harness{c: c}
	res.calls.Store(0)
	full := id.In()
	for _, in := range []member.In{
		{ClusterName: cluster, InstanceID: departing.ID, MemberID: id.MemberID},
		{ClusterName: cluster, InstanceID: departing.ID, PrivateDNSName: id.PrivateDNSName},
		{ClusterName: cluster, InstanceID: departing.ID, PrivateIP: id.PrivateIP},
	} {
		in.Endpoints = c.Endpoints(g.DNSNames()[0]) // one healthy other: the projection refuses, after finding it
		_, err := w.Remove(t.Context(), in)
		if !faults.Is(err, faults.EtcdQuorumAtRisk) {
			t.Fatalf("Remove %+v: %s %v, want the projection's refusal (the member was found)", in, faults.Name(err), err)
		}
	}
	// Identifiers that disagree: Input.Invalid.
	other := c.Member(g.DNSNames()[0])
	bad := full
	bad.MemberID = fmt.Sprintf("%x", other.ID)
	if _, err := w.Remove(t.Context(), bad); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("MemberId of another member: %s %v", faults.Name(err), err)
	}
	if _, err := w.Remove(t.Context(), member.In{ClusterName: cluster, MemberID: "0x12"}); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("malformed MemberId: %s %v", faults.Name(err), err)
	}

	// The removal from the captured identity.
	deadline := time.Now().Add(30 * time.Second)
	var out member.Out
	for {
		out, err = w.Remove(t.Context(), full)
		if err == nil {
			break
		}
		if !faults.Is(err, faults.EtcdQuorumAtRisk) || time.Now().After(deadline) {
			t.Fatalf("Remove(identity): %s %v", faults.Name(err), err)
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-t.Context().Done():
		}
	}
	if !out.Removed || out.MemberID != id.MemberID || out.ClusterID != id.ClusterID {
		t.Fatalf("Remove(identity) = %+v", out)
	}
	if n := res.calls.Load(); n != 0 {
		t.Fatalf("the removals with an identity looked the instance up %d times, want never", n)
	}
	if got := h.memberNames(t); len(got) != 2 || got[0] == departing.PrivateDNSName || got[1] == departing.PrivateDNSName {
		t.Fatalf("members after = %v", got)
	}
}
