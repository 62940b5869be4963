package drain

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// classifyKube classifies a Kubernetes API error once, naming the operation
// that failed.
func classifyKube(err error, op string) error {
	if err == nil {
		return nil
	}
	return faults.Wrap(kubeErrorName(err), err, "drain: "+op)
}

// kubeErrorName is the ASL error name of a Kubernetes API error:
// Kube.Unavailable for what a later attempt may not meet (the server down,
// slow or overloaded, a connection cut), Worker.Internal for a refusal of
// our credentials (retrying cannot fix RBAC), and Drain.Incomplete for
// anything else the drain library reports about pods (e.g. an eviction the
// server rejected), since pods are then left on the node.
func kubeErrorName(err error) string {
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case apierrors.IsUnauthorized(err),
		apierrors.IsForbidden(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return faults.Internal
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err) && !isPDBRefusal(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return faults.KubeUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.As(err, &netErr), errors.As(err, &urlErr):
		return faults.KubeUnavailable
	}
	return faults.DrainIncomplete
}

// isPDBRefusal reports the 429 the eviction API answers when a
// PodDisruptionBudget allows no disruption: the budget's verdict, not an
// overloaded server.
func isPDBRefusal(err error) bool {
	return apierrors.HasStatusCause(err, "DisruptionBudget")
}
