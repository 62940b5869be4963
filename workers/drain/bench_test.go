package drain_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cpwarden/cpwarden/workers/drain"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

// kubectlBinary finds the baseline: $CPWARDEN_KUBECTL, the build cache
// (tools/kube-apiserver/build.sh builds it beside kube-apiserver), or PATH.
func kubectlBinary() (string, error) {
	if p := os.Getenv("CPWARDEN_KUBECTL"); p != "" {
		return p, nil
	}
	if p := filepath.Join(proc.BinDir(), "kubectl"); fileExists(p) {
		return p, nil
	}
	return exec.LookPath("kubectl")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// benchNode builds the benchmark's node: 100 pods, 80 free to go and 20 in
// four groups of five, each behind a PodDisruptionBudget that allows one
// disruption at a time (maxUnavailable 1).
func benchNode(b *testing.B, e *env) (id, node string, f *fixture) {
	b.Helper()
	f = newFixture(b, e)
	id, node = instanceID(), "bench-"+randomSuffix()
	f.node(node, id)
	for i := range 80 {
		f.pod(fmt.Sprintf("free-%02d", i), node, managed)
	}
	one := intstr.FromInt32(1)
	for g := range 4 {
		labels := map[string]string{"group": fmt.Sprint(g)}
		for i := range 5 {
			f.pod(fmt.Sprintf("guarded-%d-%d", g, i), node, managed, withLabels(labels))
		}
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: fmt.Sprintf("group-%d", g)},
			Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}},
		}
		if _, err := f.client.PolicyV1().PodDisruptionBudgets(f.ns).Create(f.ctx, pdb, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	f.waitReady(node, 100)
	for g := range 4 {
		f.waitBudget(fmt.Sprintf("group-%d", g), 1)
	}
	return id, node, f
}

func writeKubeconfig(b *testing.B, e *env) string {
	b.Helper()
	dir := b.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, e.srv.CACert, 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: u, user: {token: %q}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, e.srv.URL, ca, e.srv.AdminToken)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkDrain100PodsVsKubectl drains identical nodes with the worker (under
// its RBAC role) and with `kubectl drain` (as admin: kubectl also reads the
// node by name, which the worker's minimal role does not allow), in turn, and
// reports the worker's wall time as a ratio of kubectl's. The worker runs
// twice: with its production policy (1s between refused evictions) and with
// kubectl's hard-coded 5s, which isolates what the policy buys from what the
// shared drain library does. Run with -benchtime=1x: one iteration drains
// three nodes of 100 pods.
func BenchmarkDrain100PodsVsKubectl(b *testing.B) {
	e := shared.Get(b, startEnv)
	kubectl, err := kubectlBinary()
	if err != nil {
		b.Skipf("no kubectl (tools/kube-apiserver/build.sh builds it): %v", err)
	}
	kubeconfig := writeKubeconfig(b, e)
	workerDrain := func(w *drain.Worker) time.Duration {
		b.StopTimer()
		id, node, f := benchNode(b, e)
		b.StartTimer()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := w.Drain(ctx, drain.In{EC2InstanceID: id})
		cancel()
		took := time.Since(start)
		b.StopTimer()
		if err != nil || out.PodsEvicted != 100 {
			b.Fatalf("worker drain = %+v, %v", out, err)
		}
		if left := f.podsOn(node); len(left) != 0 {
			b.Fatalf("worker left %d pods", len(left))
		}
		return took
	}
	prod := drain.New(drain.Config{}, drain.Deps{Kube: e.worker})
	sameRetry := drain.New(drain.Config{EvictRetryDelay: 5 * time.Second}, drain.Deps{Kube: e.worker})
	var workerTime, sameRetryTime, kubectlTime time.Duration
	b.ResetTimer()
	for range b.N {
		workerTime += workerDrain(prod)
		sameRetryTime += workerDrain(sameRetry)

		_, node, f := benchNode(b, e)
		b.StartTimer()
		start := time.Now()
		cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "drain", node,
			"--ignore-daemonsets", "--delete-emptydir-data", "--timeout=5m")
		outb, err := cmd.CombinedOutput()
		kubectlTime += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("kubectl drain: %v\n%s", err, outb)
		}
		if left := f.podsOn(node); len(left) != 0 {
			b.Fatalf("kubectl left %d pods", len(left))
		}
	}
	n := float64(b.N)
	b.ReportMetric(workerTime.Seconds()/n, "worker-s/op")
	b.ReportMetric(kubectlTime.Seconds()/n, "kubectl-s/op")
	b.ReportMetric(workerTime.Seconds()/kubectlTime.Seconds(), "worker/kubectl")
	b.ReportMetric(sameRetryTime.Seconds()/kubectlTime.Seconds(), "worker-5s-retry/kubectl")
}
