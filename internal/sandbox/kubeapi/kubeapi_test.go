package kubeapi

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestBinaryPrefersTheEnvironmentAndExplainsHowToBuild(t *testing.T) {
	t.Setenv("CPWARDEN_CACHE", t.TempDir())
	t.Setenv(EnvBinary, "")
	if _, err := Binary(); !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "make kube-apiserver") {
		t.Fatalf("Binary() with an empty cache = %v, want ErrNotBuilt naming make kube-apiserver", err)
	}
	fake := filepath.Join(t.TempDir(), "kube-apiserver")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBinary, fake)
	if got, err := Binary(); err != nil || got != fake {
		t.Fatalf("Binary() = %q, %v; want %q", got, err, fake)
	}
	t.Setenv(EnvBinary, fake+".missing")
	if _, err := Binary(); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Binary() with a missing override = %v, want ErrNotBuilt", err)
	}
}

func TestStartRequiresEtcd(t *testing.T) {
	if _, err := Start(t.Context(), Options{Binary: "/bin/true"}); err == nil {
		t.Fatal("Start without etcd servers succeeded")
	}
}

func TestServerAuthenticatesAndAuthorizes(t *testing.T) {
	s := server(t)
	ctx := t.Context()
	admin, err := s.Admin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("admin cannot list namespaces: %v", err)
	}

	// Anonymous callers may ask for readiness, and nothing else.
	anon, err := rest.HTTPClientFor(s.AnonymousConfig())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := anon.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("anonymous /readyz = %s, want 200", resp.Status)
	}
	anonClient := kubernetes.NewForConfigOrDie(s.AnonymousConfig())
	if _, err := anonClient.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("anonymous list pods error = %v, want Forbidden", err)
	}

	// A real ServiceAccount token is subject to RBAC.
	tok, err := s.ServiceAccountToken(ctx, "kubeapi-test", "probe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(s.TokenConfig(tok))
	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview: %v", err)
	}
	if got := review.Status.UserInfo.Username; got != "system:serviceaccount:kubeapi-test:probe" {
		t.Fatalf("token authenticates as %q", got)
	}
	if _, err := sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound ServiceAccount list nodes error = %v, want Forbidden", err)
	}

	bad := kubernetes.NewForConfigOrDie(s.TokenConfig("not-a-token"))
	if _, err := bad.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("bad token error = %v, want Unauthorized", err)
	}
}

func TestStaticTokensCarryTheirGroups(t *testing.T) {
	dir := t.TempDir()
	f, err := writeFiles(dir, []Token{{Token: "t1", User: "alice", Groups: []string{"g1", "g2"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.tokens)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "t1,alice,alice,\"g1,g2\"\n") {
		t.Fatalf("token file lacks alice's line:\n%s", b)
	}
	if _, err := writeFiles(t.TempDir(), []Token{{Token: "a,b", User: "x"}}); err == nil {
		t.Fatal("a token with a comma was accepted")
	}
}

func newPod(ns, name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/pause"}},
		},
	}
}

func runStandIns(t *testing.T, client kubernetes.Interface, k *Kubelet) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = k.Run(ctx); done <- struct{}{} }()
	go func() { _ = (&DisruptionController{Client: client}).Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
}

func TestKubeletStandInRunsPodsAndFinishesTerminations(t *testing.T) {
	s := server(t)
	ctx := t.Context()
	client, _ := s.Admin()
	ns := "kubelet-test"
	if err := EnsureNamespace(ctx, client, ns); err != nil {
		t.Fatal(err)
	}
	runStandIns(t, client, &Kubelet{Client: client, TerminationDelay: 300 * time.Millisecond})

	if _, err := client.CoreV1().Pods(ns).Create(ctx, newPod(ns, "bound", "node-a", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, newPod(ns, "unbound", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "bound", metav1.GetOptions{})
		return err == nil && podRunningAndReady(p), err
	})
	if err != nil {
		t.Fatalf("bound pod never became Running and Ready: %v", err)
	}
	if p, _ := client.CoreV1().Pods(ns).Get(ctx, "unbound", metav1.GetOptions{}); p == nil || p.Status.Phase == corev1.PodRunning {
		t.Fatal("a pod bound to no node was started")
	}

	start := time.Now()
	if err := client.CoreV1().Pods(ns).Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := client.CoreV1().Pods(ns).Get(ctx, "bound", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("a graceful delete should leave the pod terminating first: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods(ns).Get(ctx, "bound", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("terminating pod was never removed: %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("pod removed after %v, before its TerminationDelay", took)
	}
}

func TestDisruptionStandInMakesEvictionHonourTheBudget(t *testing.T) {
	s := server(t)
	ctx := t.Context()
	client, _ := s.Admin()
	ns := "disruption-test"
	if err := EnsureNamespace(ctx, client, ns); err != nil {
		t.Fatal(err)
	}
	// Terminating pods linger a while, so the budget is seen spent.
	runStandIns(t, client, &Kubelet{Client: client, TerminationDelay: time.Second})
	labels := map[string]string{"app": "web"}
	for _, name := range []string{"web-1", "web-2", "web-3"} {
		if _, err := client.CoreV1().Pods(ns).Create(ctx, newPod(ns, name, "node-b", labels), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAllowed := func(want int32) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && got.Status.ObservedGeneration == got.Generation && got.Status.DisruptionsAllowed == want && got.Status.CurrentHealthy == got.Status.ExpectedPods-1+want, err
		})
		if err != nil {
			got, _ := client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
			t.Fatalf("budget never allowed %d disruptions: %v; status %+v", want, err, got.Status)
		}
	}
	evict := func(name string) error {
		return client.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
	waitAllowed(1)
	if err := evict("web-1"); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	if err := evict("web-2"); !apierrors.IsTooManyRequests(err) || !apierrors.HasStatusCause(err, policyv1.DisruptionBudgetCause) {
		t.Fatalf("second eviction while web-1 terminates = %v, want 429 from the disruption budget", err)
	}
	// Once web-1 is gone the budget (now over two pods) allows one again.
	waitAllowed(1)
	if err := evict("web-2"); err != nil {
		t.Fatalf("eviction after web-1 went: %v", err)
	}
}

func TestComputeDisruptionStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ready := func(name string) *corev1.Pod {
		p := newPod("ns", name, "n", nil)
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		return p
	}
	terminating := func(name string) *corev1.Pod {
		p := ready(name)
		p.DeletionTimestamp = &metav1.Time{Time: now}
		return p
	}
	pending := func(name string) *corev1.Pod { return newPod("ns", name, "n", nil) }
	intOr := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	tests := []struct {
		name              string
		spec              policyv1.PodDisruptionBudgetSpec
		disrupted         map[string]metav1.Time
		pods              []*corev1.Pod
		wantAllowed       int32
		wantHealthy       int32
		wantDesired       int32
		wantDisruptedKeys int
	}{
		{name: "minAvailable leaves one to evict", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOr(intstr.FromInt32(2))},
			pods: []*corev1.Pod{ready("a"), ready("b"), ready("c")}, wantAllowed: 1, wantHealthy: 3, wantDesired: 2},
		{name: "unready and terminating pods are not healthy", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOr(intstr.FromInt32(1))},
			pods: []*corev1.Pod{pending("a"), terminating("b"), ready("c")}, wantAllowed: 0, wantHealthy: 1, wantDesired: 1},
		{name: "maxUnavailable counts existing pods", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOr(intstr.FromInt32(1))},
			pods: []*corev1.Pod{ready("a"), ready("b"), terminating("c")}, wantAllowed: 0, wantHealthy: 2, wantDesired: 2},
		{name: "percentages round up", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOr(intstr.FromString("50%"))},
			pods: []*corev1.Pod{ready("a"), ready("b"), ready("c")}, wantAllowed: 1, wantHealthy: 3, wantDesired: 2},
		{name: "a recorded eviction is not healthy until it expires", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOr(intstr.FromInt32(1))},
			disrupted: map[string]metav1.Time{"a": {Time: now.Add(-time.Minute)}, "gone": {Time: now}, "old": {Time: now.Add(-3 * time.Minute)}},
			pods:      []*corev1.Pod{ready("a"), ready("b"), ready("old")}, wantAllowed: 0, wantHealthy: 2, wantDesired: 2, wantDisruptedKeys: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: tt.spec,
				Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: tt.disrupted}}
			st, _ := ComputeDisruptionStatus(pdb, tt.pods, now)
			if st.DisruptionsAllowed != tt.wantAllowed || st.CurrentHealthy != tt.wantHealthy || st.DesiredHealthy != tt.wantDesired ||
				len(st.DisruptedPods) != tt.wantDisruptedKeys || st.ObservedGeneration != 3 {
				t.Fatalf("status = allowed %d healthy %d desired %d disrupted %v observed %d",
					st.DisruptionsAllowed, st.CurrentHealthy, st.DesiredHealthy, st.DisruptedPods, st.ObservedGeneration)
			}
		})
	}
}
