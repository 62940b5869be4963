package drain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/workers/drain"
)

// A node without a providerID is found through EC2: its name, or its
// hostname label, is the instance's private DNS name (or its first label).
// moto answers DescribeInstances; nothing dials the 10.x address it invents.
func TestDrainFindsTheNodeByPrivateDNSName(t *testing.T) {
	e := shared.Get(t, startEnv)
	m := sandboxtest.Moto(t)
	ec2c := m.EC2()
	run1, err := ec2c.RunInstances(t.Context(), &ec2.RunInstancesInput{
		ImageId: aws.String("ami-12c6146b"), InstanceType: ec2types.InstanceTypeT3Medium, MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	byName, byLabel := run1.Instances[0], run1.Instances[1]
	dns := aws.ToString(byName.PrivateDnsName)
	short, _, _ := strings.Cut(aws.ToString(byLabel.PrivateDnsName), ".")
	if dns == "" || short == "" {
		t.Fatal("moto gave instances no private DNS name")
	}

	f := newFixture(t, e)
	f.node(dns, "")
	labelled := "worker-" + randomSuffix()
	n := f.node(labelled, "")
	n.Labels["kubernetes.io/hostname"] = short
	if _, err := f.client.CoreV1().Nodes().Update(f.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.pod("web", dns, managed)
	f.waitReady(dns, 1)

	w := drain.New(drain.Config{}, drain.Deps{Kube: e.worker, EC2: ec2c})
	for inst, want := range map[string]string{aws.ToString(byName.InstanceId): dns, aws.ToString(byLabel.InstanceId): labelled} {
		out, err, _ := run(t, w, t.Context(), drain.In{EC2InstanceID: inst})
		if err != nil || out.NodeName != want {
			t.Fatalf("Drain(%s) = %+v, %v; want node %s", inst, out, err, want)
		}
	}
	// An instance EC2 does not know has no node: success.
	out, err, _ := run(t, w, t.Context(), drain.In{EC2InstanceID: "i-0000000000000dead"})
	if err != nil || !out.NodeNotFound {
		t.Fatalf("Drain(unknown instance) = %+v, %v", out, err)
	}
}

func TestDrainPastItsDeadlineIsIncompleteAtOnce(t *testing.T) {
	e := shared.Get(t, startEnv)
	f := newFixture(t, e)
	id, node := instanceID(), "cp-"+randomSuffix()
	f.node(node, id)
	_, err, _ := run(t, drain.New(drain.Config{}, drain.Deps{Kube: e.worker}), t.Context(),
		drain.In{EC2InstanceID: id, Deadline: time.Now().Add(-time.Minute).Format(time.RFC3339)})
	if !faults.Is(err, faults.DrainIncomplete) {
		t.Fatalf("error = %v, want Drain.Incomplete", err)
	}
}
