package member

import (
	"context"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// Identity is what identifies a departing control-plane instance and its
// etcd member, captured while the instance still exists so that every
// later step (drain, removal) can do without EC2. Its fields are those of
// In with the same JSON names: an Identity is a removal's input as is.
type Identity struct {
	ClusterName    string `json:"ClusterName"`
	InstanceID     string `json:"InstanceId"`
	PrivateIP      string `json:"PrivateIp,omitempty"`
	PrivateDNSName string `json:"PrivateDnsName,omitempty"`
	// NodeName is the name of the instance's etcd member, which kubeadm
	// gives the node's name; empty when the instance has no member.
	NodeName string `json:"NodeName,omitempty"`
	// MemberID is the member's etcd ID in hex; empty when the instance has
	// no member (never joined, or already removed).
	MemberID string `json:"MemberId,omitempty"`
	// ClusterID is the etcd cluster's ID in hex, which every endpoint
	// answered with.
	ClusterID string `json:"ClusterId"`
}

// In returns the removal input that carries this identity.
func (id Identity) In() In {
	return In{
		ClusterName: id.ClusterName, InstanceID: id.InstanceID, PrivateIP: id.PrivateIP, PrivateDNSName: id.PrivateDNSName,
		NodeName: id.NodeName, MemberID: id.MemberID, ClusterID: id.ClusterID,
	}
}

// Identify resolves in.InstanceId (which must still exist) through the
// Resolver to its private IP and DNS name, and finds its etcd member in the
// cluster's membership: the member named after the node (its DNS name) or
// advertising a URL on its IP. It only reads from etcd, so it dials every
// endpoint, the instance's own included; all of them must answer from one
// cluster (and from in.ClusterId when given), else Etcd.ClusterMismatch.
// An instance without a member is not an error: MemberId and NodeName are
// then empty.
func (w *Worker) Identify(ctx context.Context, in In) (Identity, error) {
	id := Identity{ClusterName: in.ClusterName, InstanceID: in.InstanceID}
	tgt, err := parseTarget(in)
	if err != nil {
		return id, err
	}
	if in.InstanceID == "" {
		return id, faults.New(faults.InputInvalid, "InstanceId is required to identify an instance")
	}
	if w.deps.Resolver == nil {
		return id, faults.New(faults.InputInvalid, "no instance resolver configured: cannot identify instance %s", in.InstanceID)
	}
	inst, err := w.deps.Resolver.Resolve(ctx, in.InstanceID)
	if err != nil {
		return id, err
	}
	id.PrivateIP, id.PrivateDNSName = inst.PrivateIP, inst.PrivateDNSName
	if id.PrivateIP == "" && id.PrivateDNSName == "" {
		return id, faults.New(faults.InputInvalid, "instance %s has neither a private IP nor a private DNS name", in.InstanceID)
	}
	// The instance's addresses, never the input's guesses, find the member.
	tgt.ip, tgt.dns, tgt.name, tgt.id = id.PrivateIP, id.PrivateDNSName, "", 0

	endpoints := in.Endpoints
	if len(endpoints) == 0 {
		if endpoints, err = w.deps.Peers.Peers(ctx); err != nil {
			return id, err
		}
	}
	if len(endpoints) == 0 {
		return id, faults.New(faults.EtcdUnavailable, "no etcd endpoint: check the control-plane Auto Scaling group or pass Endpoints")
	}
	cli, err := w.deps.Dialer.Dial(ctx, endpoints)
	if err != nil {
		return id, faults.Wrap(faults.EtcdUnavailable, err, "dial etcd")
	}
	defer func() { _ = cli.Close() }()
	pin := &clusterPin{want: tgt.cluster}
	a, err := w.assess(ctx, cli, endpoints, tgt, pin)
	if err != nil {
		return id, err
	}
	id.ClusterID = hexID(pin.got)
	if a.tm != nil {
		id.NodeName, id.MemberID = a.tm.Name, hexID(a.tm.ID)
	}
	w.log.InfoContext(ctx, "identified the departing instance", "instance", id.InstanceID, "ip", id.PrivateIP,
		"dns", id.PrivateDNSName, "member", id.NodeName, "memberId", id.MemberID, "cluster", id.ClusterID)
	return id, nil
}
