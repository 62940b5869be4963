package sandboxtest

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
)

// Group is an Auto Scaling group SeedGroup created in moto.
type Group struct {
	Name string
	// Instances are the group's instances, sorted by ID.
	Instances []Instance
}

// Instance is one instance of a Group. Its private address is one moto
// invented (10.x): never dial it.
type Instance struct {
	ID string
	// PrivateDNSName is moto's ip-10-…ec2.internal name: the name kubeadm
	// gives the instance's node and etcd member.
	PrivateDNSName string
}

// IDs are the instances' IDs, in order.
func (g Group) IDs() []string {
	ids := make([]string, len(g.Instances))
	for i, in := range g.Instances {
		ids[i] = in.ID
	}
	return ids
}

// DNSNames are the instances' private DNS names, in order: the member
// names of an etcd cluster that stands for the group's control plane.
func (g Group) DNSNames() []string {
	names := make([]string, len(g.Instances))
	for i, in := range g.Instances {
		names[i] = in.PrivateDNSName
	}
	return names
}

// SeedGroup creates, in moto, a launch template and an Auto Scaling group
// named name with n instances (minimum, maximum and desired capacity n, in
// us-east-1a), and returns the group with its instances.
func SeedGroup(t testing.TB, m *moto.Server, name string, n int) Group {
	t.Helper()
	ctx := t.Context()
	ec2c, asg := m.EC2(), m.AutoScaling()
	if _, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(moto.AMI), InstanceType: ec2types.InstanceTypeT3Medium},
	}); err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	if _, err := asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(name), Version: aws.String("$Latest")},
		MinSize:              aws.Int32(int32(n)),
		MaxSize:              aws.Int32(int32(n)),
		DesiredCapacity:      aws.Int32(int32(n)),
		AvailabilityZones:    []string{"us-east-1a"},
	}); err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	g, err := asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(g.AutoScalingGroups) != 1 || len(g.AutoScalingGroups[0].Instances) != n {
		t.Fatalf("group %s not created with %d instances: %v", name, n, err)
	}
	group := Group{Name: name}
	for _, i := range g.AutoScalingGroups[0].Instances {
		group.Instances = append(group.Instances, Instance{ID: aws.ToString(i.InstanceId)})
	}
	slices.SortFunc(group.Instances, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	desc, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: group.IDs()})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	dns := map[string]string{}
	for _, r := range desc.Reservations {
		for _, i := range r.Instances {
			dns[aws.ToString(i.InstanceId)] = aws.ToString(i.PrivateDnsName)
		}
	}
	for i := range group.Instances {
		group.Instances[i].PrivateDNSName = dns[group.Instances[i].ID]
	}
	return group
}
