package etcdconn

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cpwarden/cpwarden/internal/awsfault"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// StaticPeers is a fixed endpoint list (configured endpoints, tests, or a
// cluster outside an Auto Scaling group).
type StaticPeers []string

// Peers returns the list.
func (s StaticPeers) Peers(context.Context) ([]string, error) { return slices.Clone(s), nil }

// Instance is a control-plane EC2 instance as discovery sees it.
type Instance struct {
	ID             string
	PrivateIP      string
	PrivateDNSName string
	// LifecycleState is the Auto Scaling lifecycle state (InService,
	// Terminating:Wait, ...); empty when the instance is not in the group.
	LifecycleState string
}

// InService reports whether the group counts the instance in service.
func (i Instance) InService() bool { return i.LifecycleState == "InService" }

// AddressMap turns an instance into the IP its etcd member advertises and the
// client URL to dial. Production uses ClientPort(DefaultClientPort); local
// runs map each instance to a loopback address of its own (LocalEndpoints),
// never to the addresses an emulator invents.
type AddressMap func(Instance) (ip, endpoint string, err error)

// ClientPort maps an instance to https://<private IP>:port.
func ClientPort(port int) AddressMap {
	return func(i Instance) (string, string, error) {
		if i.PrivateIP == "" {
			return "", "", fmt.Errorf("instance %s has no private IP", i.ID)
		}
		return i.PrivateIP, "https://" + net.JoinHostPort(i.PrivateIP, strconv.Itoa(port)), nil
	}
}

// LocalEndpoints maps each instance to its URL in m (a local run's
// instance → loopback endpoint table); source names where m came from, for
// the error about an instance m lacks.
func LocalEndpoints(m map[string]*url.URL, source string) AddressMap {
	return func(i Instance) (string, string, error) {
		u, ok := m[i.ID]
		if !ok {
			return "", "", fmt.Errorf("instance %s is not in %s", i.ID, source)
		}
		return u.Hostname(), u.String(), nil
	}
}

// AutoScalingAPI is the part of the Auto Scaling client discovery uses.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
}

// EC2API is the part of the EC2 client discovery uses.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// ASGDiscovery finds the etcd members from the instances of the
// control-plane Auto Scaling group. AWS errors are classified by awsfault
// (not found and other failures are Worker.Internal); a group that does
// not exist is Input.Invalid.
type ASGDiscovery struct {
	Group string
	ASG   AutoScalingAPI
	EC2   EC2API
	// Map gives each instance its address; nil means
	// ClientPort(DefaultClientPort).
	Map AddressMap
	// IncludeTerminating makes Peers list the instances in a Terminating*
	// state too. The member worker sets it: an instance its terminate hook
	// holds (Terminating:Wait) still runs its etcd member, which votes
	// until its own removal, so it must be probed like the others or two
	// concurrent terminations each count the other departing member as
	// dead and both removals are refused. The health probe and the backup
	// leave it false.
	IncludeTerminating bool
}

// NewASGDiscovery returns discovery over group; m nil means
// ClientPort(DefaultClientPort).
func NewASGDiscovery(group string, asg AutoScalingAPI, ec2c EC2API, m AddressMap) *ASGDiscovery {
	return &ASGDiscovery{Group: group, ASG: asg, EC2: ec2c, Map: m}
}

func (d *ASGDiscovery) addressMap() AddressMap {
	if d.Map == nil {
		return ClientPort(DefaultClientPort)
	}
	return d.Map
}

// Peers returns the client URLs of the group's instances, in instance ID
// order. Unless IncludeTerminating is set, those terminating are left out:
// a member on a terminating instance is about to disappear, so the health
// probe counts it as unhealthy (the conservative side) and the backup does
// not stream from it.
func (d *ASGDiscovery) Peers(ctx context.Context) ([]string, error) {
	insts, err := d.Instances(ctx)
	if err != nil {
		return nil, err
	}
	m := d.addressMap()
	var eps []string
	for _, i := range insts {
		if !d.IncludeTerminating && strings.HasPrefix(i.LifecycleState, "Terminat") {
			continue
		}
		_, ep, err := m(i)
		if err != nil {
			continue // no address yet (pending): cannot be a healthy member
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// Resolve returns the instance with its mapped IP as PrivateIP.
// An instance that does not exist is Input.Invalid.
func (d *ASGDiscovery) Resolve(ctx context.Context, instanceID string) (Instance, error) {
	out, err := d.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		return Instance{}, awsfault.Names{NotFound: faults.InputInvalid}.Wrap(err, "unknown instance "+instanceID)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if aws.ToString(i.InstanceId) != instanceID {
				continue
			}
			inst := Instance{ID: instanceID, PrivateIP: aws.ToString(i.PrivateIpAddress), PrivateDNSName: aws.ToString(i.PrivateDnsName)}
			ip, _, err := d.addressMap()(inst)
			if err != nil {
				return Instance{}, faults.New(faults.InputInvalid, "instance %s: %v", instanceID, err)
			}
			inst.PrivateIP = ip
			return inst, nil
		}
	}
	return Instance{}, faults.New(faults.InputInvalid, "unknown instance %s", instanceID)
}

// Instances lists the group's instances with their lifecycle state and
// private addresses, in instance ID order.
func (d *ASGDiscovery) Instances(ctx context.Context) ([]Instance, error) {
	g, err := d.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{d.Group}})
	if err != nil {
		return nil, awsfault.Wrap(err, "describe Auto Scaling group "+d.Group)
	}
	if len(g.AutoScalingGroups) == 0 {
		return nil, faults.New(faults.InputInvalid, "control-plane Auto Scaling group %q not found: check the stack's group name", d.Group)
	}
	state := map[string]string{}
	var ids []string
	for _, i := range g.AutoScalingGroups[0].Instances {
		id := aws.ToString(i.InstanceId)
		ids = append(ids, id)
		state[id] = string(i.LifecycleState)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var insts []Instance
	p := ec2.NewDescribeInstancesPaginator(d.EC2, &ec2.DescribeInstancesInput{InstanceIds: ids})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsfault.Wrap(err, "describe control-plane instances")
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				id := aws.ToString(i.InstanceId)
				insts = append(insts, Instance{
					ID:             id,
					PrivateIP:      aws.ToString(i.PrivateIpAddress),
					PrivateDNSName: aws.ToString(i.PrivateDnsName),
					LifecycleState: state[id],
				})
			}
		}
	}
	slices.SortFunc(insts, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return insts, nil
}
