package etcdconn_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/workers/member"
)

func TestASGDiscoveryMapsInstancesToLoopback(t *testing.T) {
	m := sandboxtest.Moto(t)
	ctx := t.Context()
	ec2c, asg := m.EC2(), m.AutoScaling()
	ids := sandboxtest.SeedGroup(t, m, "control-plane", 4).IDs()
	// Each instance gets a loopback address of its own, as the sandbox
	// does; moto's 10.x addresses are never used.
	local := map[string]*url.URL{}
	for n, id := range ids {
		local[id] = &url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.%d:2379", 70+n)}
	}
	d := etcdconn.NewASGDiscovery("control-plane", asg, ec2c, etcdconn.LocalEndpoints(local, "the test's map"))
	peers, err := d.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://127.0.0.70:2379", "https://127.0.0.71:2379", "https://127.0.0.72:2379", "https://127.0.0.73:2379"}
	if !slices.Equal(peers, want) {
		t.Fatalf("Peers = %v, want %v", peers, want)
	}

	inst, err := d.Resolve(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if inst.PrivateIP != "127.0.0.71" || !strings.Contains(inst.PrivateDNSName, "internal") {
		t.Fatalf("Resolve = %+v, want the mapped IP and moto's private DNS name", inst)
	}

	// A departing instance leaves the peers: the worker must not count it.
	if _, err := asg.DetachInstances(ctx, &autoscaling.DetachInstancesInput{
		AutoScalingGroupName: aws.String("control-plane"), InstanceIds: []string{ids[3]}, ShouldDecrementDesiredCapacity: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	if peers, err := d.Peers(ctx); err != nil || !slices.Equal(peers, want[:3]) {
		t.Fatalf("Peers after detach = %v %v, want %v", peers, err, want[:3])
	}
	// An instance on standby is a peer (its member still votes) but not in
	// service (the health probe's count).
	if _, err := asg.EnterStandby(ctx, &autoscaling.EnterStandbyInput{
		AutoScalingGroupName: aws.String("control-plane"), InstanceIds: []string{ids[2]}, ShouldDecrementDesiredCapacity: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	insts, err := d.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inService []string
	for _, i := range insts {
		if i.InService() {
			inService = append(inService, i.ID)
		}
	}
	if len(insts) != 3 || !slices.Equal(inService, ids[:2]) {
		t.Fatalf("Instances = %+v, want 3 of which %v in service", insts, ids[:2])
	}

	if _, err := d.Resolve(ctx, "i-0123456789abcdef0"); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("unknown instance: %s %v, want Input.Invalid", faults.Name(err), err)
	}
	missing := etcdconn.NewASGDiscovery("no-such-group", asg, ec2c, nil)
	if _, err := missing.Peers(ctx); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("unknown group: %s %v, want Input.Invalid", faults.Name(err), err)
	}

	// The member worker resolves an instance ID given alone through the
	// same discovery (no etcd here: the endpoints are unreachable on
	// purpose).
	w := member.New(member.Config{StatusTimeout: 200 * time.Millisecond, CallTimeout: time.Second},
		member.Deps{Peers: etcdconn.StaticPeers{"https://127.0.0.1:1"}, Dialer: etcdconn.As[member.Etcd]{}, Resolver: d})
	if _, err := w.Remove(context.Background(), member.In{ClusterName: "c", InstanceID: "i-0123456789abcdef0"}); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("unknown instance through the worker: %s %v", faults.Name(err), err)
	}
}

func TestClientPort(t *testing.T) {
	ip, ep, err := etcdconn.ClientPort(etcdconn.DefaultClientPort)(etcdconn.Instance{ID: "i-1", PrivateIP: "10.0.0.5"})
	if err != nil || ip != "10.0.0.5" || ep != "https://10.0.0.5:2379" {
		t.Fatalf("ClientPort = %q %q %v", ip, ep, err)
	}
	if _, _, err := etcdconn.ClientPort(2379)(etcdconn.Instance{ID: "i-1"}); err == nil {
		t.Fatal("an instance without a private IP got an endpoint")
	}
	local := etcdconn.LocalEndpoints(map[string]*url.URL{"i-1": {Scheme: "https", Host: "127.0.0.2:40001"}}, "CPWARDEN_LOCAL_INSTANCE_ENDPOINTS")
	if ip, ep, err := local(etcdconn.Instance{ID: "i-1", PrivateIP: "10.0.0.5"}); err != nil || ip != "127.0.0.2" || ep != "https://127.0.0.2:40001" {
		t.Fatalf("LocalEndpoints = %q %q %v", ip, ep, err)
	}
	if _, _, err := local(etcdconn.Instance{ID: "i-2"}); err == nil || !strings.Contains(err.Error(), "CPWARDEN_LOCAL_INSTANCE_ENDPOINTS") {
		t.Fatalf("an instance not in the map: %v", err)
	}
}

// terminatingASG reports some of the group's instances in a Terminating
// state, as Auto Scaling does while a terminate hook holds them.
type terminatingASG struct {
	etcdconn.AutoScalingAPI
	state map[string]astypes.LifecycleState
}

func (a terminatingASG) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	out, err := a.AutoScalingAPI.DescribeAutoScalingGroups(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	for _, g := range out.AutoScalingGroups {
		for i := range g.Instances {
			if s, ok := a.state[aws.ToString(g.Instances[i].InstanceId)]; ok {
				g.Instances[i].LifecycleState = s
			}
		}
	}
	return out, nil
}

// TestPeersOfTerminatingInstances: instances held by their terminate hook
// are peers of the member worker (IncludeTerminating), whose projection
// must probe them, and not of the others (health, backup).
func TestPeersOfTerminatingInstances(t *testing.T) {
	m := sandboxtest.Moto(t)
	ids := sandboxtest.SeedGroup(t, m, "control-plane", 3).IDs()
	local := map[string]*url.URL{}
	var all []string
	for n, id := range ids {
		local[id] = &url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.%d:2379", 80+n)}
		all = append(all, local[id].String())
	}
	asg := terminatingASG{AutoScalingAPI: m.AutoScaling(), state: map[string]astypes.LifecycleState{
		ids[0]: astypes.LifecycleStateTerminatingWait, ids[1]: astypes.LifecycleStateTerminatingProceed,
	}}
	d := etcdconn.NewASGDiscovery("control-plane", asg, m.EC2(), etcdconn.LocalEndpoints(local, "the test's map"))
	if peers, err := d.Peers(t.Context()); err != nil || !slices.Equal(peers, all[2:]) {
		t.Fatalf("Peers = %v %v, want only the instance not terminating %v", peers, err, all[2:])
	}
	d.IncludeTerminating = true
	if peers, err := d.Peers(t.Context()); err != nil || !slices.Equal(peers, all) {
		t.Fatalf("Peers with IncludeTerminating = %v %v, want all %v", peers, err, all)
	}
}
