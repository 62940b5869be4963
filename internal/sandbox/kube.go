package sandbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/workers/drain"
)

// The seeded workloads. Web's budget allows no disruption until a third
// replica exists (AddReplica), so a drain of the node holding one of its
// pods is blocked first, then allowed.
const (
	AppsNamespace = "apps"
	// BlockingApp is the ReplicaSet whose PodDisruptionBudget
	// (minAvailable 2, 2 replicas) blocks the drain of a node holding one
	// of its pods.
	BlockingApp = "web"
)

// seedKube applies the drain worker's RBAC, stores its ServiceAccount token
// as the workers' Kubernetes secret, creates the control-plane nodes and the
// workloads, and starts the kubelet and disruption controller stand-ins.
func (sb *Sandbox) seedKube(ctx context.Context) error {
	admin, err := sb.Kube.Admin()
	if err != nil {
		return err
	}
	if err := kubeapi.ApplyManifest(ctx, admin, drain.RBACManifest()); err != nil {
		return fmt.Errorf("apply the drain worker's RBAC: %w", err)
	}
	token, err := sb.Kube.ServiceAccountToken(ctx, drain.ServiceAccountNamespace, drain.ServiceAccountName, 24*time.Hour)
	if err != nil {
		return err
	}
	if err := sb.putKubeSecret(ctx, token); err != nil {
		return err
	}

	runCtx, stop := context.WithCancel(context.Background())
	wait := kubeapi.StandIns(runCtx, admin)
	sb.stopStandIns = func() { stop(); wait() }

	nodes := make([]*corev1.Node, len(sb.Instances))
	for i, in := range sb.Instances {
		if nodes[i], err = createNode(ctx, admin, in); err != nil {
			return err
		}
	}
	for _, ns := range []string{AppsNamespace, "kube-system"} {
		if err := kubeapi.EnsureNamespace(ctx, admin, ns); err != nil {
			return err
		}
	}
	// Static pods: the kubelet's mirror pods of etcd and the API server,
	// which a drain leaves alone.
	for _, n := range nodes {
		for _, c := range []string{"etcd", "kube-apiserver"} {
			p := pod("kube-system", c+"-"+shortName(n.Name), n.Name, map[string]string{"component": c, "tier": "control-plane"})
			p.Annotations = map[string]string{"kubernetes.io/config.mirror": "sandbox", "kubernetes.io/config.source": "file"}
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID, Controller: ptr(true)}}
			if _, err := admin.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create mirror pod %s: %w", p.Name, err)
			}
		}
	}
	if err := createDaemonSet(ctx, admin, "kube-system", "kube-proxy", nodes); err != nil {
		return err
	}
	names := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, nodes[i].Name)
		}
		return out
	}
	for _, w := range []struct {
		ns, name string
		on       []string
		budget   *policyv1.PodDisruptionBudgetSpec
		emptyDir bool
	}{
		{ns: "kube-system", name: "coredns", on: names(1, 2), budget: &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1))}},
		{ns: AppsNamespace, name: BlockingApp, on: names(0, 1), budget: &policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(2))}},
		{ns: AppsNamespace, name: "queue-worker", on: names(0, 2), budget: &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1))}},
		{ns: AppsNamespace, name: "cache", on: names(0), emptyDir: true},
	} {
		if err := createReplicaSet(ctx, admin, w.ns, w.name, w.on, w.emptyDir); err != nil {
			return err
		}
		if w.budget != nil {
			spec := *w.budget
			spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}}
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.ns}, Spec: spec}
			if _, err := admin.PolicyV1().PodDisruptionBudgets(w.ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create PodDisruptionBudget %s/%s: %w", w.ns, w.name, err)
			}
		}
	}
	return waitSettled(ctx, admin)
}

func createNode(ctx context.Context, client kubernetes.Interface, in Instance) (*corev1.Node, error) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: in.PrivateDNSName,
			Labels: map[string]string{
				"kubernetes.io/hostname":                in.PrivateDNSName,
				"kubernetes.io/os":                      "linux",
				"node-role.kubernetes.io/control-plane": "",
				"topology.kubernetes.io/zone":           in.AvailabilityZone,
				"node.kubernetes.io/instance-type":      "t3.large",
			},
		},
		Spec: corev1.NodeSpec{ProviderID: "aws:///" + in.AvailabilityZone + "/" + in.ID},
	}
	n, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create node %s: %w", in.PrivateDNSName, err)
	}
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
	n.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: in.PrivateIP},
		{Type: corev1.NodeInternalDNS, Address: in.PrivateDNSName},
		{Type: corev1.NodeHostName, Address: in.PrivateDNSName},
	}
	if n, err = client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("set node %s ready: %w", in.PrivateDNSName, err)
	}
	return n, nil
}

func pod(ns, name, node string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr(int64(5)),
			Containers:                    []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
			Tolerations:                   []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

func createDaemonSet(ctx context.Context, client kubernetes.Interface, ns, name string, nodes []*corev1.Node) error {
	labels := map[string]string{"k8s-app": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod(ns, "", "", nil).Spec},
		},
	}
	ds, err := client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create DaemonSet %s/%s: %w", ns, name, err)
	}
	for _, n := range nodes {
		p := pod(ns, name+"-"+shortName(n.Name), n.Name, labels)
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr(true)}}
		if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %w", p.Name, err)
		}
	}
	return nil
}

// shortName is the first label of a node name: ip-127-0-0-11.
func shortName(node string) string {
	s, _, _ := strings.Cut(node, ".")
	return s
}

// createReplicaSet creates a ReplicaSet and one pod of it on each node. No
// controller-manager runs, so the pods are created here, as the
// ReplicaSet controller and the scheduler would have placed them.
func createReplicaSet(ctx context.Context, client kubernetes.Interface, ns, name string, nodes []string, emptyDir bool) error {
	labels := map[string]string{"app": name}
	tmpl := pod(ns, "", "", labels)
	if emptyDir {
		tmpl.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(int32(len(nodes))),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec},
		},
	}
	rs, err := client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create ReplicaSet %s/%s: %w", ns, name, err)
	}
	for i, n := range nodes {
		if err := createReplica(ctx, client, rs, fmt.Sprintf("%s-%d", name, i), n); err != nil {
			return err
		}
	}
	return nil
}

func createReplica(ctx context.Context, client kubernetes.Interface, rs *appsv1.ReplicaSet, name, node string) error {
	p := pod(rs.Namespace, name, node, rs.Spec.Template.Labels)
	p.Spec = *rs.Spec.Template.Spec.DeepCopy()
	p.Spec.NodeName = node
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}
	if _, err := client.CoreV1().Pods(rs.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod %s/%s: %w", rs.Namespace, name, err)
	}
	return nil
}

// AddReplica adds a pod to ReplicaSet ns/name on node, as scaling it up
// would, and waits until the pod is ready and the ReplicaSet's budget
// counts it. For BlockingApp this is what lets a blocked drain go on.
func (sb *Sandbox) AddReplica(ctx context.Context, ns, name, node string) (string, error) {
	admin, err := sb.Kube.Admin()
	if err != nil {
		return "", err
	}
	rs, err := admin.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	n := *rs.Spec.Replicas
	rs.Spec.Replicas = ptr(n + 1)
	if rs, err = admin.AppsV1().ReplicaSets(ns).Update(ctx, rs, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("sandbox: scale %s/%s: %w", ns, name, err)
	}
	// Pods are named <app>-<n>; an evicted pod's name may be taken again.
	podName := fmt.Sprintf("%s-%d", name, n)
	for i := 0; ; i++ {
		_, err := admin.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("sandbox: %w", err)
		}
		podName = fmt.Sprintf("%s-%d-%d", name, n, i)
	}
	if err := createReplica(ctx, admin, rs, podName, node); err != nil {
		return "", err
	}
	return podName, waitSettled(ctx, admin)
}

// waitSettled waits until every pod bound to a node is running and ready
// (the kubelet stand-in's work) and every budget's status is current (the
// disruption stand-in's): before that, evictions would either bypass a
// budget or be refused as "still being processed".
func waitSettled(ctx context.Context, client kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	last := ""
	for {
		last = unsettled(ctx, client)
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workloads not settled: %s: %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func unsettled(ctx context.Context, client kubernetes.Interface) string {
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if p.Status.Phase != corev1.PodRunning || !ready {
			return "pod " + p.Namespace + "/" + p.Name + " not ready"
		}
	}
	pdbs, err := client.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	for _, b := range pdbs.Items {
		if b.Status.ObservedGeneration != b.Generation {
			return "budget " + b.Namespace + "/" + b.Name + " not observed"
		}
		// Every matching pod is ready by now: the status must count them.
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil {
			return err.Error()
		}
		n := 0
		for _, p := range pods.Items {
			if p.Namespace == b.Namespace && p.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Labels)) {
				n++
			}
		}
		if int(b.Status.CurrentHealthy) != n {
			return fmt.Sprintf("budget %s/%s counts %d healthy pods of %d", b.Namespace, b.Name, b.Status.CurrentHealthy, n)
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
