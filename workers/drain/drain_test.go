package drain_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
	"github.com/cpwarden/cpwarden/workers/drain"
)

func TestDrainEvictsPodsAndLeavesDaemonSetAndMirrorPods(t *testing.T) {
	e := shared.Get(t, startEnv)
	f := newFixture(t, e)
	id := instanceID()
	node := "cp-" + randomSuffix()
	other := "cp-" + randomSuffix()
	f.node(node, id)
	f.node(other, instanceID())
	f.pod("web-1", node, managed)
	f.pod("web-2", node, managed)
	f.pod("slow", node, managed, withGrace(7))
	f.pod("scratch", node, managed, withEmptyDir)
	f.daemonSetPod("agent", node)
	f.pod("static-apiserver", node, mirror)
	f.pod("elsewhere", other, managed)
	f.waitReady(node, 6)
	f.waitReady(other, 1)

	// Record the grace period each evicted pod was given: the drain must
	// leave it to the pod's own terminationGracePeriodSeconds.
	graces := f.watchGraces()

	worker := drain.New(drain.Config{}, drain.Deps{Kube: e.worker})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err, recs := run(t, worker, ctx, drain.In{EC2InstanceID: id})
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if out.NodeName != node || out.NodeNotFound || out.PodsEvicted != 4 {
		t.Fatalf("Out = %+v, want node %s with 4 pods evicted", out, node)
	}
	if left := podNames(f.podsOn(node)); !slices.Equal(sorted(left), []string{"agent-pod", "static-apiserver"}) {
		t.Fatalf("pods left on the node = %v, want only the DaemonSet and mirror pods", left)
	}
	if left := podNames(f.podsOn(other)); len(left) != 1 {
		t.Fatalf("pods on the other node = %v, want it untouched", left)
	}
	n, err := f.client.CoreV1().Nodes().Get(f.ctx, node, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Fatalf("node not cordoned (err %v)", err)
	}
	if metricSum(recs, drain.MetricSuccess) != 1 || metricSum(recs, drain.MetricFailure) != 0 {
		t.Fatalf("metrics: success %v failure %v, want 1 and 0", metricSum(recs, drain.MetricSuccess), metricSum(recs, drain.MetricFailure))
	}
	if recs[0].Namespace != "K8sCluster/EtcdLifecycle" {
		t.Fatalf("metrics namespace %q", recs[0].Namespace)
	}
	if slow, web := graces.of("slow"), graces.of("web-1"); slow != 7 || web != 30 {
		t.Fatalf("eviction grace periods: slow %ds, web-1 %ds; want each pod's own (slow 7s, default 30s)", slow, web)
	}
	if !strings.Contains(out.Warnings, "DaemonSet") {
		t.Fatalf("Warnings %q do not mention the DaemonSet pod left in place", out.Warnings)
	}
}

// TestDrainOfPodsWithoutControllerFollowsThePolicy: a pod no controller
// owns, under each value of the stack's UnmanagedPods. refuse (the default)
// leaves the node as it is, cordoned, with every pod in place, and names the
// pod; delete evicts it with the others, after its own grace period, like
// kubectl drain --force, and the drain succeeds.
func TestDrainOfPodsWithoutControllerFollowsThePolicy(t *testing.T) {
	e := shared.Get(t, startEnv)
	for _, policy := range []string{drain.UnmanagedPodsRefuse, drain.UnmanagedPodsDelete} {
		t.Run(policy, func(t *testing.T) {
			deleteUnmanaged, ok := drain.ParseUnmanagedPods(policy)
			if !ok {
				t.Fatalf("policy %q not parsed", policy)
			}
			f := newFixture(t, e)
			id, node := instanceID(), "cp-"+randomSuffix()
			f.node(node, id)
			f.pod("bare", node, withGrace(3))
			f.pod("web", node, managed)
			f.waitReady(node, 2)
			graces := f.watchGraces()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			w := drain.New(drain.Config{DeleteUnmanagedPods: deleteUnmanaged}, drain.Deps{Kube: e.worker})
			out, err, recs := run(t, w, ctx, drain.In{EC2InstanceID: id})
			if out.NodeName != node {
				t.Fatalf("Out = %+v, want node %s", out, node)
			}
			n, nerr := f.client.CoreV1().Nodes().Get(f.ctx, node, metav1.GetOptions{})
			if nerr != nil || !n.Spec.Unschedulable {
				t.Fatalf("node not cordoned (err %v)", nerr)
			}

			switch policy {
			case drain.UnmanagedPodsRefuse:
				if !faults.Is(err, faults.DrainIncomplete) {
					t.Fatalf("error = %v (%s), want Drain.Incomplete", err, faults.Name(err))
				}
				for _, want := range []string{"refused by policy", f.ns + "/bare"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("cause %q does not say %q", err, want)
					}
				}
				// Nothing evicted, not even the managed pod: the node is
				// refused as a whole.
				left := f.podsOn(node)
				if !slices.Equal(sorted(podNames(left)), []string{"bare", "web"}) || out.PodsEvicted != 0 {
					t.Fatalf("pods left = %v, %d evicted; want both, none evicted", podNames(left), out.PodsEvicted)
				}
				for _, p := range left {
					if p.DeletionTimestamp != nil {
						t.Errorf("pod %s is terminating", p.Name)
					}
				}
				if metricSum(recs, drain.MetricFailure) != 1 || metricSum(recs, drain.MetricSuccess) != 0 {
					t.Fatalf("metrics success %v failure %v, want 0 and 1", metricSum(recs, drain.MetricSuccess), metricSum(recs, drain.MetricFailure))
				}

			case drain.UnmanagedPodsDelete:
				if err != nil {
					t.Fatalf("Drain: %v", err)
				}
				if left := f.podsOn(node); len(left) != 0 || out.PodsEvicted != 2 {
					t.Fatalf("pods left = %v, %d evicted; want none left, both evicted", podNames(left), out.PodsEvicted)
				}
				if _, gerr := f.client.CoreV1().Pods(f.ns).Get(f.ctx, "bare", metav1.GetOptions{}); !apierrors.IsNotFound(gerr) {
					t.Fatalf("the bare pod is still there (get: %v)", gerr)
				}
				if g := graces.of("bare"); g != 3 {
					t.Errorf("the bare pod was given %ds, want its own grace period (3s)", g)
				}
				if !strings.Contains(out.Warnings, "no controller") || !strings.Contains(out.Warnings, f.ns+"/bare") {
					t.Errorf("Warnings %q do not name the unmanaged pod deleted", out.Warnings)
				}
				if metricSum(recs, drain.MetricSuccess) != 1 || metricSum(recs, drain.MetricFailure) != 0 {
					t.Fatalf("metrics success %v failure %v, want 1 and 0", metricSum(recs, drain.MetricSuccess), metricSum(recs, drain.MetricFailure))
				}
			}
		})
	}
}

func TestDrainOfAnInstanceWithoutNodeSucceeds(t *testing.T) {
	e := shared.Get(t, startEnv)
	f := newFixture(t, e)
	f.node("cp-"+randomSuffix(), instanceID()) // someone else's node
	out, err, recs := run(t, drain.New(drain.Config{}, drain.Deps{Kube: e.worker}), t.Context(), drain.In{EC2InstanceID: instanceID(), NodeName: "cp-absent"})
	if err != nil || !out.NodeNotFound || out.NodeName != "" {
		t.Fatalf("Drain = %+v, %v; want NodeNotFound", out, err)
	}
	if metricSum(recs, drain.MetricSuccess) != 1 {
		t.Fatal("a missing node must count as NodeDrainSuccess")
	}
}

func TestDrainFindsTheNodeByNameWhenItHasNoProviderID(t *testing.T) {
	e := shared.Get(t, startEnv)
	f := newFixture(t, e)
	node := "cp-" + randomSuffix()
	f.node(node, "")
	f.pod("web", node, managed)
	f.waitReady(node, 1)
	out, err, _ := run(t, drain.New(drain.Config{}, drain.Deps{Kube: e.worker}), t.Context(), drain.In{EC2InstanceID: instanceID(), NodeName: node})
	if err != nil || out.NodeName != node || out.PodsEvicted != 1 {
		t.Fatalf("Drain = %+v, %v", out, err)
	}
}

func TestDrainRefusesANamedNodeOfAnotherInstance(t *testing.T) {
	e := shared.Get(t, startEnv)
	f := newFixture(t, e)
	node := "cp-" + randomSuffix()
	f.node(node, instanceID())
	_, err, _ := run(t, drain.New(drain.Config{}, drain.Deps{Kube: e.worker}), t.Context(), drain.In{EC2InstanceID: instanceID(), NodeName: node})
	if !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("error = %v, want Input.Invalid", err)
	}
	if n, _ := f.client.CoreV1().Nodes().Get(f.ctx, node, metav1.GetOptions{}); n.Spec.Unschedulable {
		t.Fatal("another instance's node was cordoned")
	}
}

func TestRepeatedDrainIsHarmless(t *testing.T) {
	e := shared.Get(t, startEnv)
	f := newFixture(t, e)
	id, node := instanceID(), "cp-"+randomSuffix()
	f.node(node, id)
	f.pod("web", node, managed)
	f.daemonSetPod("agent", node)
	f.waitReady(node, 2)
	w := drain.New(drain.Config{}, drain.Deps{Kube: e.worker})
	for i, wantEvicted := range []int{1, 0, 0} {
		out, err, recs := run(t, w, t.Context(), drain.In{EC2InstanceID: id})
		if err != nil || out.PodsEvicted != wantEvicted || metricSum(recs, drain.MetricSuccess) != 1 {
			t.Fatalf("drain #%d = %+v, %v; want success evicting %d", i+1, out, err, wantEvicted)
		}
	}
	if left := podNames(f.podsOn(node)); !slices.Equal(left, []string{"agent-pod"}) {
		t.Fatalf("pods left = %v", left)
	}
}

func TestDrainBlockedByABudgetIsIncompleteUntilTheBudgetAllows(t *testing.T) {
	e := shared.Get(t, startEnv)
	f := newFixture(t, e)
	id, node := instanceID(), "cp-"+randomSuffix()
	f.node(node, id)
	labels := map[string]string{"app": "db"}
	f.pod("db-0", node, managed, withLabels(labels))
	f.pod("db-1", node, managed, withLabels(labels))
	f.pod("free", node, managed)
	f.waitReady(node, 3)
	zero := intstr.FromInt32(0)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "db"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &zero, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
	if _, err := f.client.PolicyV1().PodDisruptionBudgets(f.ns).Create(f.ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitBudget("db", 0)

	w := drain.New(drain.Config{EvictRetryDelay: 200 * time.Millisecond, Reserve: time.Second}, drain.Deps{Kube: e.worker})
	deadline := time.Now().Add(2 * time.Second)
	start := time.Now()
	_, err, recs := run(t, w, t.Context(), drain.In{EC2InstanceID: id, Deadline: deadline.Format(time.RFC3339Nano)})
	took := time.Since(start)
	if !faults.Is(err, faults.DrainIncomplete) {
		t.Fatalf("error = %v (%s), want Drain.Incomplete", err, faults.Name(err))
	}
	for _, want := range []string{f.ns + "/db-0", f.ns + "/db-1", "PodDisruptionBudgets " + f.ns + "/db"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("cause %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), f.ns+"/free") {
		t.Errorf("cause names the pod that was evicted: %q", err)
	}
	// The budget ends at the deadline; after it come at most one retry
	// delay and the listing of what is left (bounded at 3s). A drain that
	// ignored its budget would run until the test's own timeout.
	if took > 2*time.Second+5*time.Second {
		t.Errorf("drain returned after %v, past its deadline and reserve", took)
	}
	if metricSum(recs, drain.MetricFailure) != 1 {
		t.Error("Drain.Incomplete must count as NodeDrainFailure")
	}

	// The budget now allows one disruption at a time: the next drain
	// finishes, one pod after the other.
	b, err := f.client.PolicyV1().PodDisruptionBudgets(f.ns).Get(f.ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one := intstr.FromInt32(1)
	b.Spec.MaxUnavailable = &one
	if _, err := f.client.PolicyV1().PodDisruptionBudgets(f.ns).Update(f.ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err, _ := run(t, w, ctx, drain.In{EC2InstanceID: id})
	if err != nil || out.PodsEvicted != 2 {
		t.Fatalf("second drain = %+v, %v; want both db pods evicted", out, err)
	}
	if left := f.podsOn(node); len(left) != 0 {
		t.Fatalf("pods left = %v", podNames(left))
	}
}

func TestDrainRejectsBadInput(t *testing.T) {
	w := drain.New(drain.Config{}, drain.Deps{Kube: kubernetes.NewForConfigOrDie(&rest.Config{Host: "https://127.0.0.1:1"})})
	tests := map[string]drain.In{
		"empty":               {},
		"not an instance id":  {EC2InstanceID: "web-1"},
		"uppercase hex":       {EC2InstanceID: "i-0123456789ABCDEF0"},
		"bad deadline":        {EC2InstanceID: "i-0123456789abcdef0", Deadline: "tomorrow"},
		"overlong node name":  {NodeName: strings.Repeat("n", 254)},
		"id with a path":      {EC2InstanceID: "i-01234567/../x"},
		"short id wrong size": {EC2InstanceID: "i-0123456"},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err, recs := run(t, w, t.Context(), in)
			if !faults.Is(err, faults.InputInvalid) {
				t.Fatalf("error = %v (%s), want Input.Invalid", err, faults.Name(err))
			}
			if metricSum(recs, drain.MetricFailure) != 1 {
				t.Fatal("bad input must count as NodeDrainFailure")
			}
		})
	}
}

func TestDrainReportsAnUnreachableAPIServer(t *testing.T) {
	// A port nobody listens on, and a listener that accepts and never
	// answers (a hung API server or a black-holed route).
	for name, addr := range map[string]string{"refused": testnet.FreeAddr(t), "hung": testnet.Blackhole(t)} {
		t.Run(name, func(t *testing.T) {
			client := kubernetes.NewForConfigOrDie(&rest.Config{Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
			w := drain.New(drain.Config{Reserve: 500 * time.Millisecond}, drain.Deps{Kube: client})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			start := time.Now()
			_, err, _ := run(t, w, ctx, drain.In{EC2InstanceID: "i-0123456789abcdef0"})
			if !faults.Is(err, faults.KubeUnavailable) {
				t.Fatalf("error = %v (%s), want Kube.Unavailable", err, faults.Name(err))
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("returned after %v, past the Lambda deadline", took)
			}
		})
	}
}

func TestDrainWithoutTheRoleIsRefused(t *testing.T) {
	e := shared.Get(t, startEnv)
	token, err := e.srv.ServiceAccountToken(t.Context(), "kube-system", "unbound-"+randomSuffix(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(workerConfig(e.srv.Server, token))
	_, err, _ = run(t, drain.New(drain.Config{}, drain.Deps{Kube: client}), t.Context(), drain.In{EC2InstanceID: instanceID()})
	if faults.Name(err) != faults.Internal || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("error = %v (%s), want a Worker.Internal naming the refusal", err, faults.Name(err))
	}
}

func TestRBACManifestGrantsNoDeleteAndNoWildcards(t *testing.T) {
	m := drain.RBACManifest()
	for _, bad := range []string{"\"*\"", "delete", "escalate", "secrets"} {
		if strings.Contains(m, bad) {
			t.Errorf("rbac.yaml grants %s", bad)
		}
	}
	for _, want := range []string{"pods/eviction", "kind: ClusterRoleBinding", "name: " + drain.ServiceAccountName} {
		if !strings.Contains(m, want) {
			t.Errorf("rbac.yaml lacks %q", want)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
