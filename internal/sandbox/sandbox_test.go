package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/internal/secrets"
	"github.com/cpwarden/cpwarden/workers/lifecycle"
)

// startSandbox starts a sandbox for the test, or skips it with the command
// that installs what is missing.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.Start(t.Context(), sandbox.Options{})
	sandboxtest.Require(t, err, "start sandbox")
	t.Cleanup(sb.Close)
	return sb
}

func TestStartSeedsAControlPlaneWhoseNamesAgree(t *testing.T) {
	sb := startSandbox(t)
	ctx := t.Context()

	// Each control-plane instance is in the group, with the loopback
	// address and name of its etcd member.
	g, err := sb.AutoScaling().DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{sb.Group}})
	if err != nil || len(g.AutoScalingGroups) != 1 {
		t.Fatalf("describe group: %v", err)
	}
	if n := len(g.AutoScalingGroups[0].Instances); n != 3 {
		t.Fatalf("group has %d instances, want 3", n)
	}
	members := map[string]string{}
	for _, m := range sb.Etcd.Members() {
		members[m.Name] = m.PeerURL
	}
	admin, err := sb.Admin()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range sb.Instances {
		out, err := sb.EC2().DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{in.ID}})
		if err != nil {
			t.Fatal(err)
		}
		got := out.Reservations[0].Instances[0]
		if ip := aws.ToString(got.PrivateIpAddress); ip != in.PrivateIP || !strings.HasPrefix(ip, "127.") {
			t.Errorf("instance %s private IP %s, want loopback %s", in.ID, ip, in.PrivateIP)
		}
		peer, ok := members[aws.ToString(got.PrivateDnsName)]
		if !ok || !strings.Contains(peer, "//"+in.PrivateIP+":") {
			t.Errorf("instance %s (%s): etcd member peer URL %q, want one on %s", in.ID, aws.ToString(got.PrivateDnsName), peer, in.PrivateIP)
		}
		node, err := admin.CoreV1().Nodes().Get(ctx, in.NodeName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node of %s: %v", in.ID, err)
		}
		if want := "aws:///" + in.AvailabilityZone + "/" + in.ID; node.Spec.ProviderID != want {
			t.Errorf("node %s providerID %q, want %q", node.Name, node.Spec.ProviderID, want)
		}
	}

	// The workers' Kubernetes secret holds a working ServiceAccount
	// credential in the format the drain worker reads.
	cfg, err := secrets.LoadKube(ctx, sb.SecretsManager(), sb.KubeSecretARN)
	if err != nil {
		t.Fatalf("load Kubernetes secret: %v", err)
	}
	worker, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the drain ServiceAccount cannot list nodes: %v", err)
	}

	// The blocking budget allows no disruption until a replica is added.
	pdb, err := admin.PolicyV1().PodDisruptionBudgets(sandbox.AppsNamespace).Get(ctx, sandbox.BlockingApp, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Status.DisruptionsAllowed != 0 {
		t.Errorf("%s budget allows %d disruptions before scale-up, want 0", sandbox.BlockingApp, pdb.Status.DisruptionsAllowed)
	}
	if _, err := sb.AddReplica(ctx, sandbox.AppsNamespace, sandbox.BlockingApp, sb.Instances[2].NodeName()); err != nil {
		t.Fatal(err)
	}
	pdb, err = admin.PolicyV1().PodDisruptionBudgets(sandbox.AppsNamespace).Get(ctx, sandbox.BlockingApp, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Status.DisruptionsAllowed != 1 {
		t.Errorf("%s budget allows %d disruptions after scale-up, want 1", sandbox.BlockingApp, pdb.Status.DisruptionsAllowed)
	}

	// Recovery parameters start healthy.
	out, err := sb.SSM().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/" + sb.ClusterName + "/cluster/restore-mode")})
	if err != nil || aws.ToString(out.Parameter.Value) != "false" {
		t.Errorf("restore-mode parameter: %v %v", out, err)
	}
	settings := sb.Settings()
	for _, v := range append(envnames.All, envnames.Local...) {
		if _, ok := settings[v]; !ok {
			t.Errorf("Settings has no value for %s", v)
		}
	}
}

func TestLifecycleStandInCompletesAndTerminates(t *testing.T) {
	sb := startSandbox(t)
	ctx := t.Context()
	in := sb.Instances[0]
	w := lifecycle.New(lifecycle.Config{}, lifecycle.Deps{API: sb.AutoScaling()})
	hook := lifecycle.Hook{AutoScalingGroupName: sb.Group, LifecycleHookName: sb.Hook, EC2InstanceID: in.ID}

	// Before the hook fires there is nothing to heartbeat.
	if _, err := w.Heartbeat(ctx, lifecycle.HeartbeatIn{Hook: hook}); !faults.Is(err, faults.LifecycleNotActive) {
		t.Fatalf("heartbeat before the hook fired: %v, want %s", err, faults.LifecycleNotActive)
	}
	ev, err := sb.BeginTermination(in.ID)
	if err != nil {
		t.Fatal(err)
	}
	hook.LifecycleActionToken = ev.Detail.LifecycleActionToken
	if _, err := w.Heartbeat(ctx, lifecycle.HeartbeatIn{Hook: hook}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	wrong := hook
	wrong.LifecycleHookName = "another-hook"
	if _, err := w.Heartbeat(ctx, lifecycle.HeartbeatIn{Hook: wrong}); !faults.Is(err, faults.LifecycleNotActive) {
		t.Errorf("heartbeat naming another hook: %v, want %s", err, faults.LifecycleNotActive)
	}
	out, err := w.Complete(ctx, lifecycle.CompleteIn{Hook: hook, LifecycleActionResult: lifecycle.Continue})
	if err != nil || out.AlreadyCompleted {
		t.Fatalf("complete: %+v %v", out, err)
	}
	// A second completion finds no active action: success, already done.
	if out, err := w.Complete(ctx, lifecycle.CompleteIn{Hook: hook, LifecycleActionResult: lifecycle.Continue}); err != nil || !out.AlreadyCompleted {
		t.Errorf("second complete: %+v %v, want AlreadyCompleted", out, err)
	}
	done := sb.CompletedLifecycleActions()
	if len(done) != 1 || done[0].Result != lifecycle.Continue || done[0].Heartbeats != 1 || done[0].InstanceID != in.ID {
		t.Errorf("completions %+v, want one CONTINUE of %s after 1 heartbeat", done, in.ID)
	}
	// Completing terminated the instance, without a replacement, and its
	// etcd member went with it.
	g, err := sb.AutoScaling().DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{sb.Group}})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range g.AutoScalingGroups[0].Instances {
		if aws.ToString(i.InstanceId) == in.ID {
			t.Errorf("instance %s still in the group (%s)", in.ID, i.LifecycleState)
		}
	}
	if n := len(g.AutoScalingGroups[0].Instances); n != 2 {
		t.Errorf("group has %d instances after termination, want 2", n)
	}
	if sb.Etcd.Running(in.NodeName()) {
		t.Errorf("etcd member %s still running after its instance terminated", in.NodeName())
	}
	// Anything else still reaches moto through the stand-in.
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := sb.AutoScaling().DescribeLifecycleHooks(ctx2, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(sb.Group)}); err != nil {
		t.Errorf("DescribeLifecycleHooks through the stand-in: %v", err)
	}
}
