package drain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubedrain "k8s.io/kubectl/pkg/drain"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// maxNamed bounds how many pods and budgets a cause names: the cause is
// read by an operator in the execution history, not parsed.
const maxNamed = 20

// reportTimeout bounds the listing done after the budget ran out.
const reportTimeout = 3 * time.Second

// remaining lists what is left on the node after a drain stopped short: the
// pods the drain would still evict (terminating ones marked) and the
// PodDisruptionBudgets that currently allow no disruption of them. It runs
// on a context of its own, since the drain's budget is spent.
func (w *Worker) remaining(ctx context.Context, helper *kubedrain.Helper, node string) (pods, pdbs []string, err error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.reportTimeout(ctx))
	defer cancel()
	h := *helper
	h.Ctx = rctx
	list, errs := h.GetPodsForDeletion(node)
	if list == nil {
		// The listing itself failed: what is left is unknown, which is
		// not "nothing".
		return nil, nil, errors.Join(errs...)
	}
	left := list.Pods()
	byNS := map[string][]corev1.Pod{}
	for _, p := range left {
		name := p.Namespace + "/" + p.Name
		if p.DeletionTimestamp != nil {
			name += " (terminating)"
		}
		pods = append(pods, name)
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
	}
	for ns, nsPods := range byNS {
		budgets, err := w.deps.Kube.PolicyV1().PodDisruptionBudgets(ns).List(rctx, metav1.ListOptions{})
		if err != nil {
			continue // naming budgets is a courtesy; the pods are the fact
		}
		for _, b := range budgets.Items {
			if b.Status.DisruptionsAllowed == 0 && selectsAny(&b, nsPods) {
				pdbs = append(pdbs, fmt.Sprintf("%s/%s (healthy %d, needs %d)", b.Namespace, b.Name, b.Status.CurrentHealthy, b.Status.DesiredHealthy))
			}
		}
	}
	slices.Sort(pods)
	slices.Sort(pdbs)
	return pods, pdbs, nil
}

func (w *Worker) reportTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); left < reportTimeout {
			return max(left, 100*time.Millisecond)
		}
	}
	return reportTimeout
}

func selectsAny(b *policyv1.PodDisruptionBudget, pods []corev1.Pod) bool {
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
	if err != nil || sel.Empty() {
		return false
	}
	for _, p := range pods {
		if p.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

// incomplete is the Drain.Incomplete error of a drain that ran out of
// budget (or was refused an eviction) with pods left.
func (w *Worker) incomplete(ctx context.Context, helper *kubedrain.Helper, node string, spent time.Duration, cause error) error {
	pods, pdbs, err := w.remaining(ctx, helper, node)
	if err != nil {
		return faults.New(faults.DrainIncomplete, "drain of node %s stopped after %s (%s); the pods left could not be listed: %v",
			node, spent.Round(100*time.Millisecond), firstLine(cause), err)
	}
	if len(pods) == 0 {
		// Everything went after all (the last pods vanished as the budget
		// ended): the drain is complete.
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "drain of node %s incomplete after %s: %d pods left: %s", node, spent.Round(100*time.Millisecond), len(pods), named(pods))
	if len(pdbs) > 0 {
		fmt.Fprintf(&b, "; blocked by PodDisruptionBudgets %s", named(pdbs))
	}
	fmt.Fprintf(&b, "; last error: %v", firstLine(cause))
	return faults.New(faults.DrainIncomplete, "%s", b.String())
}

// refused is the error for a node the drain policy refuses to drain (pods
// without a controller while DeleteUnmanagedPods is off, DaemonSet pods
// whose DaemonSet is gone, …) or whose pods cannot be listed.
func refused(node string, err error) error {
	if name := kubeErrorName(err); name != faults.DrainIncomplete {
		return faults.Wrap(name, err, "drain: list pods of node "+node)
	}
	return faults.New(faults.DrainIncomplete, "drain of node %s refused by policy: %v", node, err)
}

func named(items []string) string {
	if len(items) <= maxNamed {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(items)-maxNamed)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 500 {
		s = s[:500] + " …"
	}
	return s
}
