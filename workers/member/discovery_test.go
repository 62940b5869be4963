package member_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers/member"
)

// startMoto runs moto_server on loopback for this test, or skips.
func startMoto(t *testing.T) aws.Config {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server not installed: pip install 'moto[server]'")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(url),
	}
}

func TestASGDiscoveryMapsInstancesToLoopback(t *testing.T) {
	cfg := startMoto(t)
	ctx := t.Context()
	ec2c := ec2.NewFromConfig(cfg)
	asg := autoscaling.NewFromConfig(cfg)
	imgs, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("moto has no AMI: %v", err)
	}
	if _, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("cp"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("control-plane"),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("cp"), Version: aws.String("$Latest")},
		MinSize:              aws.Int32(3), MaxSize: aws.Int32(3), DesiredCapacity: aws.Int32(3),
		AvailabilityZones: []string{"us-east-1a"},
	}); err != nil {
		t.Fatal(err)
	}
	g, err := asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"control-plane"}})
	if err != nil || len(g.AutoScalingGroups) != 1 || len(g.AutoScalingGroups[0].Instances) != 3 {
		t.Fatalf("group: %+v %v", g, err)
	}
	var ids []string
	for _, i := range g.AutoScalingGroups[0].Instances {
		ids = append(ids, *i.InstanceId)
	}
	slices.Sort(ids)
	// Each instance gets a loopback address of its own, as the sandbox
	// does; moto's 10.x addresses are never used.
	local := func(i member.Instance) (string, string, error) {
		n := slices.Index(ids, i.ID)
		if n < 0 {
			return "", "", fmt.Errorf("instance %s not in the group", i.ID)
		}
		ip := fmt.Sprintf("127.0.0.%d", 70+n)
		return ip, "https://" + ip + ":2379", nil
	}
	d := member.NewASGDiscovery("control-plane", asg, ec2c, local)
	peers, err := d.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://127.0.0.70:2379", "https://127.0.0.71:2379", "https://127.0.0.72:2379"}
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
		AutoScalingGroupName: aws.String("control-plane"), InstanceIds: []string{ids[2]}, ShouldDecrementDesiredCapacity: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	if peers, err := d.Peers(ctx); err != nil || !slices.Equal(peers, want[:2]) {
		t.Fatalf("Peers after detach = %v %v, want %v", peers, err, want[:2])
	}

	if _, err := d.Resolve(ctx, "i-0123456789abcdef0"); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("unknown instance: %s %v, want Input.Invalid", faults.Name(err), err)
	}
	missing := member.NewASGDiscovery("no-such-group", asg, ec2c, local)
	if _, err := missing.Peers(ctx); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("unknown group: %s %v, want Input.Invalid", faults.Name(err), err)
	}

	// The worker resolves an instance ID given alone through the same
	// discovery (no etcd here: the endpoints are unreachable on purpose).
	w := member.New(member.Config{StatusTimeout: 200 * time.Millisecond, CallTimeout: time.Second},
		member.Deps{Peers: member.StaticPeers{"https://127.0.0.1:1"}, Dialer: member.TLSDialer{}, Resolver: d})
	if _, err := w.Remove(context.Background(), member.In{ClusterName: "c", InstanceID: "i-0123456789abcdef0"}); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("unknown instance through the worker: %s %v", faults.Name(err), err)
	}
}
