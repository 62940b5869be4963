package drain_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/internal/secrets"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/drain"
)

// env is one API server shared by the package's tests and benchmarks, with
// the kubelet and disruption controller stand-ins running and the worker's
// RBAC manifest applied. Each test uses nodes and a namespace of its own.
type env struct {
	srv    *kubeapi.Local
	admin  kubernetes.Interface
	worker kubernetes.Interface // the drain ServiceAccount, under exactly rbac.yaml
	token  string
	// stopStandIns stops the stand-ins and waits for them to return.
	stopStandIns func()
}

var shared sandboxtest.Shared[*env]

func TestMain(m *testing.M) {
	code := m.Run()
	_ = shared.Stop()
	os.Exit(code)
}

// Stop stops the stand-ins, then the API server.
func (e *env) Stop() error {
	e.stopStandIns()
	return e.srv.Stop()
}

func startEnv(ctx context.Context) (*env, error) {
	srv, err := kubeapi.StartLocal(ctx, kubeapi.Options{})
	if err != nil {
		return nil, err
	}
	e := &env{srv: srv}
	fail := func(err error) (*env, error) { srv.Stop(); return nil, err }
	if e.admin, err = srv.Admin(); err != nil {
		return fail(err)
	}
	if err := kubeapi.ApplyManifest(ctx, e.admin, drain.RBACManifest()); err != nil {
		return fail(err)
	}
	if e.token, err = srv.ServiceAccountToken(ctx, drain.ServiceAccountNamespace, drain.ServiceAccountName, time.Hour); err != nil {
		return fail(err)
	}
	if e.worker, err = kubernetes.NewForConfig(workerConfig(srv.Server, e.token)); err != nil {
		return fail(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	waitStandIns := kubeapi.StandIns(runCtx, e.admin)
	e.stopStandIns = func() {
		cancel()
		waitStandIns()
	}
	return e, nil
}

// workerConfig is the client configuration the bootstrap would build from
// the Secrets Manager secret, through the same parser.
func workerConfig(s *kubeapi.Server, token string) *rest.Config {
	cfg, err := secrets.ParseKube([]byte(fmt.Sprintf(`{"endpoint":%q,"ca":%q,"token":%q}`, s.URL, s.CACert, token)))
	if err != nil {
		panic(err) // the test's own fixture: a bug here is a bug in the test
	}
	return cfg
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func instanceID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return "i-" + hex.EncodeToString(b)[:17]
}

// fixture builds nodes and pods in a namespace of its own.
type fixture struct {
	tb     testing.TB
	ctx    context.Context
	client kubernetes.Interface
	ns     string
}

func newFixture(tb testing.TB, e *env) *fixture {
	tb.Helper()
	f := &fixture{tb: tb, ctx: context.Background(), client: e.admin, ns: "t-" + randomSuffix()}
	if err := kubeapi.EnsureNamespace(f.ctx, e.admin, f.ns); err != nil {
		tb.Fatal(err)
	}
	return f
}

func (f *fixture) node(name, instance string) *corev1.Node {
	f.tb.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if instance != "" {
		n.Spec.ProviderID = "aws:///us-east-1a/" + instance
	}
	got, err := f.client.CoreV1().Nodes().Create(f.ctx, n, metav1.CreateOptions{})
	if err != nil {
		f.tb.Fatal(err)
	}
	return got
}

type podOpt func(*corev1.Pod)

// managed gives the pod a controller (a ReplicaSet that need not exist: the
// drain library only asks whether a controller is declared).
func managed(p *corev1.Pod) {
	p.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs-" + p.Name, UID: types.UID("uid-" + p.Name), Controller: ptr(true),
	}}
}

func withLabels(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Labels = l } }

func withEmptyDir(p *corev1.Pod) {
	p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
}

func withGrace(s int64) podOpt {
	return func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = &s }
}

func mirror(p *corev1.Pod) {
	p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "static-" + p.Name}
}

func (f *fixture) pod(name, node string, opts ...podOpt) *corev1.Pod {
	f.tb.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/pause"}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	got, err := f.client.CoreV1().Pods(f.ns).Create(f.ctx, p, metav1.CreateOptions{})
	if err != nil {
		f.tb.Fatalf("create pod %s: %v", name, err)
	}
	return got
}

// daemonSetPod creates a DaemonSet (no controller runs to create its pods)
// and a pod it owns on node.
func (f *fixture) daemonSetPod(name, node string) *corev1.Pod {
	f.tb.Helper()
	labels := map[string]string{"ds": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/pause"}}},
			},
		},
	}
	got, err := f.client.AppsV1().DaemonSets(f.ns).Create(f.ctx, ds, metav1.CreateOptions{})
	if err != nil {
		f.tb.Fatal(err)
	}
	return f.pod(name+"-pod", node, withLabels(labels), func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: got.Name, UID: got.UID, Controller: ptr(true)}}
	})
}

// waitReady waits until every pod on node is Running and Ready (the kubelet
// stand-in's doing): eviction of a pod that is not ready ignores budgets.
func (f *fixture) waitReady(node string, want int) {
	f.tb.Helper()
	err := wait.PollUntilContextTimeout(f.ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pods := f.podsOn(node)
		ready := 0
		for _, p := range pods {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == want && len(pods) == want, nil
	})
	if err != nil {
		f.tb.Fatalf("pods on %s never all ready: %v", node, err)
	}
}

func (f *fixture) podsOn(node string) []corev1.Pod {
	f.tb.Helper()
	list, err := f.client.CoreV1().Pods(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		f.tb.Fatal(err)
	}
	return list.Items
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

// graceWatch records the grace period each pod of a namespace is given when
// its deletion starts (the eviction's DeletionGracePeriodSeconds).
type graceWatch struct {
	f      *fixture
	w      watch.Interface
	mu     sync.Mutex
	graces map[string]int64
	done   chan struct{}
}

// watchGraces starts recording; the watch ends with the test.
func (f *fixture) watchGraces() *graceWatch {
	f.tb.Helper()
	w, err := f.client.CoreV1().Pods(f.ns).Watch(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.tb.Fatal(err)
	}
	g := &graceWatch{f: f, w: w, graces: map[string]int64{}, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && p.DeletionGracePeriodSeconds != nil {
				g.mu.Lock()
				if _, seen := g.graces[p.Name]; !seen {
					g.graces[p.Name] = *p.DeletionGracePeriodSeconds
				}
				g.mu.Unlock()
			}
		}
	}()
	f.tb.Cleanup(func() { w.Stop(); <-g.done })
	return g
}

// of waits until the deletion of pod name has been seen and returns the
// grace period it was given.
func (g *graceWatch) of(name string) int64 {
	g.f.tb.Helper()
	var grace int64
	err := wait.PollUntilContextTimeout(g.f.ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		v, ok := g.graces[name]
		grace = v
		return ok, nil
	})
	if err != nil {
		g.f.tb.Fatalf("the deletion of pod %s was never seen: %v", name, err)
	}
	return grace
}

// waitBudget waits until the stand-in has brought a budget's status up to
// date with allowed disruptions.
func (f *fixture) waitBudget(name string, allowed int32) {
	f.tb.Helper()
	err := wait.PollUntilContextTimeout(f.ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		b, err := f.client.PolicyV1().PodDisruptionBudgets(f.ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.DisruptionsAllowed == allowed, nil
	})
	if err != nil {
		f.tb.Fatalf("budget %s never allowed %d disruptions: %v", name, allowed, err)
	}
}

// run invokes the worker the way the bootstrap does, under the EMF step
// middleware, and returns its result with the metrics it printed.
func run(t testing.TB, w *drain.Worker, ctx context.Context, in drain.In) (drain.Out, error, []emf.Record) {
	t.Helper()
	var buf bytes.Buffer
	h := emf.Step(string(workers.Drain), workers.Drain.Namespace(), w.Drain, emf.WithWriter(&buf), emf.WithDimension("ClusterName", "test"))
	out, err := h(ctx, in)
	recs, derr := emf.DecodeAll(&buf)
	if derr != nil {
		t.Fatalf("decode metrics: %v\n%s", derr, buf.String())
	}
	return out, err, recs
}

func metricSum(recs []emf.Record, name string) float64 {
	var sum float64
	for _, r := range emf.Find(recs, name, "ClusterName") {
		sum += r.Sum()
	}
	return sum
}

func ptr[T any](v T) *T { return &v }
