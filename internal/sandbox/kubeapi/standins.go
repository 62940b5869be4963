package kubeapi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Kubelet stands in for the kubelets of every node, doing the two things a
// drain depends on: it reports pods bound to a node as Running and Ready
// (an eviction of a pod that is not ready bypasses its PodDisruptionBudget,
// so an unready fixture would test nothing), and it finishes the termination
// of pods being deleted, which a real kubelet does after stopping the
// containers (kubectl's drain waits until evicted pods are gone).
type Kubelet struct {
	// Client must be allowed to update pod status and delete pods.
	Client kubernetes.Interface
	// TerminationDelay is how long a terminating pod stays before it is
	// removed, measured from the deletion request; zero removes it at once.
	// A real kubelet takes up to the pod's grace period.
	TerminationDelay time.Duration
	// Workers is the number of pods handled concurrently; zero means 4.
	Workers int
}

// Run works until ctx is done. It returns an error only when its informer
// cannot start.
func (k *Kubelet) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(k.Client, 0)
	pods := factory.Core().V1().Pods()
	lister := pods.Lister()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Second))
	defer queue.ShutDown()
	if _, err := pods.Informer().AddEventHandler(enqueueKey(queue)); err != nil {
		return fmt.Errorf("kubeapi: kubelet stand-in: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		return ctx.Err()
	}
	terminating := &firstSeen{at: map[types.UID]time.Time{}}
	runWorkers(ctx, queue, k.Workers, func(key string) (time.Duration, error) {
		return k.sync(ctx, lister, terminating, key)
	})
	return nil
}

// firstSeen remembers when each terminating pod was first seen: the API's
// deletionTimestamp has one-second resolution, too coarse to time a
// sub-second TerminationDelay from.
type firstSeen struct {
	mu sync.Mutex
	at map[types.UID]time.Time
}

func (f *firstSeen) since(uid types.UID) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.at[uid]
	if !ok {
		t = time.Now()
		f.at[uid] = t
	}
	return time.Since(t)
}

func (f *firstSeen) forget(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.at, uid)
}

// sync brings one pod forward; a positive duration asks to look again later.
func (k *Kubelet) sync(ctx context.Context, lister corelisters.PodLister, terminating *firstSeen, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pod.Spec.NodeName == "" {
		return 0, nil // unscheduled: no kubelet owns it
	}
	if pod.DeletionTimestamp != nil {
		if wait := k.TerminationDelay - terminating.since(pod.UID); wait > 0 {
			return wait, nil
		}
		zero := int64(0)
		err := k.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			terminating.forget(pod.UID) // gone, or replaced by a new pod of the same name
			return 0, nil
		}
		return 0, err
	}
	if podRunningAndReady(pod) {
		return 0, nil
	}
	running := pod.DeepCopy()
	now := metav1.Now()
	running.Status.Phase = corev1.PodRunning
	if running.Status.StartTime == nil {
		running.Status.StartTime = &now
	}
	running.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	running.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		running.Status.ContainerStatuses = append(running.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptr(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err = k.Client.CoreV1().Pods(ns).UpdateStatus(ctx, running, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	return 0, err // a conflict is retried with the newer pod
}

func podRunningAndReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// DisruptionController stands in for the controller-manager's disruption
// controller: it keeps every PodDisruptionBudget's status current as pods
// come, become ready, terminate and go, so the eviction API enforces the
// budget as in a real cluster. (With a stale status the API answers every
// eviction with 429 "still being processed".)
//
// It differs from the real controller in one way: the expected pod count is
// the number of matching pods that exist, terminating ones included, not the
// scale of their controllers (no ReplicaSet controller runs here to recreate
// evicted pods, so "expected" shrinks as evicted pods go). For minAvailable
// as a number, which does not depend on the expected count, the result is the
// real controller's.
type DisruptionController struct {
	// Client must be allowed to update PodDisruptionBudget status.
	Client kubernetes.Interface
	// Workers is the number of budgets handled concurrently; zero means 2.
	Workers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// disruptedPodTimeout is how long the real controller trusts an eviction
// recorded in status.disruptedPods before it counts the pod as healthy
// again (pkg/controller/disruption's DeletionTimeout).
const disruptedPodTimeout = 2 * time.Minute

// Run works until ctx is done. It returns an error only when its informers
// cannot start.
func (d *DisruptionController) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(d.Client, 0)
	pods := factory.Core().V1().Pods()
	pdbs := factory.Policy().V1().PodDisruptionBudgets()
	podLister, pdbLister := pods.Lister(), pdbs.Lister()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Second))
	defer queue.ShutDown()

	// Any change to a pod may change every budget of its namespace.
	enqueueNamespace := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		list, err := pdbLister.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
		if err != nil {
			return
		}
		for _, pdb := range list {
			queue.Add(pdb.Namespace + "/" + pdb.Name)
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueNamespace,
		UpdateFunc: func(_, obj any) { enqueueNamespace(obj) },
		DeleteFunc: enqueueNamespace,
	}); err != nil {
		return fmt.Errorf("kubeapi: disruption stand-in: %w", err)
	}
	if _, err := pdbs.Informer().AddEventHandler(enqueueKey(queue)); err != nil {
		return fmt.Errorf("kubeapi: disruption stand-in: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced, pdbs.Informer().HasSynced) {
		return ctx.Err()
	}
	workers := d.Workers
	if workers == 0 {
		workers = 2
	}
	runWorkers(ctx, queue, workers, func(key string) (time.Duration, error) {
		return d.sync(ctx, podLister, pdbLister, key)
	})
	return nil
}

func (d *DisruptionController) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *DisruptionController) sync(ctx context.Context, podLister corelisters.PodLister, pdbLister policylisters.PodDisruptionBudgetLister, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pdb, err := pdbLister.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var pods []*corev1.Pod
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && !sel.Empty() {
		if pods, err = podLister.Pods(ns).List(sel); err != nil {
			return 0, err
		}
	}
	status, recheck := ComputeDisruptionStatus(pdb, pods, d.now())
	if apiequality.Semantic.DeepEqual(status, pdb.Status) {
		return recheck, nil
	}
	updated := pdb.DeepCopy()
	updated.Status = status
	_, err = d.Client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	// A conflict means an eviction changed the status meanwhile; the
	// informer brings the newer budget and the key is retried.
	return recheck, err
}

// ComputeDisruptionStatus is the status the stand-in writes for pdb given
// the pods its selector matches, at now; recheck > 0 asks to compute again
// then (when an eviction recorded in disruptedPods expires).
func ComputeDisruptionStatus(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (policyv1.PodDisruptionBudgetStatus, time.Duration) {
	status := policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		Conditions:         append([]metav1.Condition(nil), pdb.Status.Conditions...),
	}
	var recheck time.Duration
	existing := make(map[string]bool, len(pods))
	for _, p := range pods {
		existing[p.Name] = p.DeletionTimestamp == nil
	}
	// Keep the evictions the API recorded until the pod is terminating or
	// gone, or the record expires: until then the pod must not count as
	// healthy, or a second eviction could slip through before the first
	// pod's deletion is visible.
	for pod, at := range pdb.Status.DisruptedPods {
		left := at.Add(disruptedPodTimeout).Sub(now)
		if !existing[pod] || left <= 0 {
			continue
		}
		if status.DisruptedPods == nil {
			status.DisruptedPods = map[string]metav1.Time{}
		}
		status.DisruptedPods[pod] = at
		if recheck == 0 || left < recheck {
			recheck = left
		}
	}
	expected := int32(len(pods))
	var healthy int32
	for _, p := range pods {
		if _, disrupted := status.DisruptedPods[p.Name]; p.DeletionTimestamp == nil && !disrupted && podRunningAndReady(p) {
			healthy++
		}
	}
	var desired int32
	switch {
	case pdb.Spec.MinAvailable != nil:
		desired = scaled(pdb.Spec.MinAvailable, expected)
	case pdb.Spec.MaxUnavailable != nil:
		desired = max(0, expected-scaled(pdb.Spec.MaxUnavailable, expected))
	}
	status.ExpectedPods = expected
	status.CurrentHealthy = healthy
	status.DesiredHealthy = desired
	status.DisruptionsAllowed = max(0, healthy-desired)
	cond := metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionTrue,
		Reason:             policyv1.SufficientPodsReason,
		ObservedGeneration: pdb.Generation,
		LastTransitionTime: metav1.NewTime(now),
	}
	if status.DisruptionsAllowed == 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, policyv1.InsufficientPodsReason
	}
	apimeta.SetStatusCondition(&status.Conditions, cond)
	return status, recheck
}

// scaled resolves an int-or-percent against total, rounding percentages up
// as the disruption controller does.
func scaled(v *intstr.IntOrString, total int32) int32 {
	if v.Type == intstr.Int {
		return v.IntVal
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(total), true)
	if err != nil {
		return math.MaxInt32 // unparsable: allow no disruption
	}
	return int32(n)
}

func enqueueKey(queue workqueue.TypedRateLimitingInterface[string]) cache.ResourceEventHandler {
	add := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(_, obj any) { add(obj) },
		DeleteFunc: add,
	}
}

// runWorkers processes queue with n goroutines until ctx is done. sync
// handle returns a delay to look at a key again later, or an error to retry it with
// back-off.
func runWorkers(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], n int, handle func(string) (time.Duration, error)) {
	if n <= 0 {
		n = 4
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				key, shutdown := queue.Get()
				if shutdown {
					return
				}
				again, err := handle(key)
				switch {
				case err != nil && ctx.Err() == nil:
					queue.AddRateLimited(key)
				case again > 0:
					queue.Forget(key)
					queue.AddAfter(key, again)
				default:
					queue.Forget(key)
				}
				queue.Done(key)
			}
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

// StandIns runs a Kubelet and a DisruptionController over client until ctx
// is done; wait blocks until both have stopped.
func StandIns(ctx context.Context, client kubernetes.Interface) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := (&Kubelet{Client: client}).Run(ctx); err != nil && ctx.Err() == nil {
			slog.Error("kubelet stand-in stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := (&DisruptionController{Client: client}).Run(ctx); err != nil && ctx.Err() == nil {
			slog.Error("disruption controller stand-in stopped", "err", err)
		}
	})
	return wg.Wait
}

func ptr[T any](v T) *T { return &v }
