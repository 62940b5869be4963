// Package drain is the first step of the lifecycle workflow: it finds the
// Kubernetes node of a departing EC2 instance, cordons it and evicts its pods
// with kubectl's drain library, inside a time budget shorter than the
// Lambda's and the lifecycle hook's, so PodDisruptionBudgets are honoured and
// a drain that cannot finish says so (Drain.Incomplete, with the pods left
// and the budgets blocking them) instead of being killed mid-way. The state
// machine then heartbeats the hook and calls drain again; repeating a drain
// is harmless.
package drain

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	kubedrain "k8s.io/kubectl/pkg/drain"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/instanceid"
	"github.com/cpwarden/cpwarden/internal/workeropt"
)

// Business metrics (namespace K8sCluster/EtcdLifecycle, docs/contracts.md).
const (
	MetricSuccess = "NodeDrainSuccess"
	MetricFailure = "NodeDrainFailure"
)

// The unmanaged-pod policies: what a drain does with the pods on the node
// that no controller owns. They are the values of the stack's UnmanagedPods
// parameter and of the drain function's DRAIN_UNMANAGED_PODS
// (Config.DeleteUnmanagedPods, see ParseUnmanagedPods).
const (
	// UnmanagedPodsRefuse refuses to drain a node that has such pods:
	// Drain.Incomplete naming them, nothing evicted, as `kubectl drain`
	// without --force.
	UnmanagedPodsRefuse = "refuse"
	// UnmanagedPodsDelete evicts them with the other pods, each after its
	// own grace period, as `kubectl drain --force`. Nothing recreates them:
	// they are lost.
	UnmanagedPodsDelete = "delete"
	// DefaultUnmanagedPods is the policy of the zero Config, and the
	// template's default.
	DefaultUnmanagedPods = UnmanagedPodsRefuse
)

// ParseUnmanagedPods returns Config.DeleteUnmanagedPods for a policy name;
// ok is false for anything but UnmanagedPodsRefuse and UnmanagedPodsDelete
// (exactly, in lower case: a policy that loses pods is not guessed at).
func ParseUnmanagedPods(policy string) (deleteUnmanaged, ok bool) {
	switch policy {
	case UnmanagedPodsRefuse:
		return false, true
	case UnmanagedPodsDelete:
		return true, true
	}
	return false, false
}

// Config holds the drain policy. The zero value is the production policy.
type Config struct {
	// DeleteUnmanagedPods lets the drain evict pods that no controller
	// owns (UnmanagedPodsDelete); nothing recreates them. False
	// (UnmanagedPodsRefuse, the default) refuses to drain a node that has
	// such pods (Drain.Incomplete naming them), as `kubectl drain` does
	// without --force.
	DeleteUnmanagedPods bool
	// DisableEviction deletes pods instead of evicting them, bypassing
	// PodDisruptionBudgets. It needs the `delete` verb on pods, which the
	// shipped RBAC role does not grant.
	DisableEviction bool
	// EvictRetryDelay is the pause after an eviction the API refused (429:
	// a PodDisruptionBudget allows no disruption now) before trying again.
	// Zero means 1s. It must stay below Reserve: an eviction loop notices
	// the end of the budget only between retries.
	EvictRetryDelay time.Duration
	// MaxBudget caps one invocation's drain time; zero means no cap beyond
	// the input deadline and the Lambda's remaining time.
	MaxBudget time.Duration
	// Reserve is kept back from the Lambda's remaining time (the context
	// deadline) to report the outcome, list the pods left and flush
	// metrics. Zero means 5s.
	Reserve time.Duration
	// Now is the clock the budget is computed with; nil means time.Now.
	Now func() time.Time
	// Logger receives the drain's progress; nil discards it.
	Logger *slog.Logger
}

func (c Config) evictRetryDelay() time.Duration {
	return workeropt.Positive(c.EvictRetryDelay, time.Second)
}

func (c Config) reserve() time.Duration { return workeropt.Positive(c.Reserve, 5*time.Second) }

// Deps are the worker's clients. Kube is required; EC2 is optional
// (without it, a node is found by providerID and NodeName only).
type Deps struct {
	Kube kubernetes.Interface
	EC2  Instances
}

// Worker drains nodes. Create it with New, which sets cfg.Now and
// cfg.Logger.
type Worker struct {
	cfg  Config
	deps Deps
}

// New returns a Worker.
func New(cfg Config, deps Deps) *Worker {
	cfg.Now, cfg.Logger = workeropt.Clock(cfg.Now), workeropt.Logger(cfg.Logger)
	return &Worker{cfg: cfg, deps: deps}
}

// In is the drain step's input. Field names follow the EventBridge lifecycle
// event's detail, so the state machine passes EC2InstanceId through.
type In struct {
	// EC2InstanceId is the departing instance (i-0123456789abcdef0).
	EC2InstanceID string `json:"EC2InstanceId"`
	// NodeName is the node's name when the caller knows it; optional.
	NodeName string `json:"NodeName,omitempty"`
	// Deadline (RFC 3339) is when the workflow stops waiting for this
	// drain, typically a little before the lifecycle hook's timeout.
	// Optional: without it the budget comes from the Lambda's remaining
	// time alone.
	Deadline string `json:"Deadline,omitempty"`
}

// Out is the drain step's result.
type Out struct {
	// NodeName is the node drained, empty when none was found.
	NodeName string `json:"NodeName,omitempty"`
	// NodeNotFound reports that no node belongs to the instance: nothing
	// to drain, which counts as success.
	NodeNotFound bool `json:"NodeNotFound"`
	// PodsEvicted counts the pods evicted (or deleted) by this invocation.
	PodsEvicted int `json:"PodsEvicted"`
	// Warnings is the drain library's account of pods it treated
	// specially: DaemonSet pods left in place, emptyDir data deleted,
	// unmanaged pods evicted.
	Warnings string `json:"Warnings,omitempty"`
	// BudgetMilliseconds is the time this invocation allowed itself.
	BudgetMilliseconds int64 `json:"BudgetMilliseconds"`
}

// input is In validated.
type input struct {
	instanceID, nodeName string
	deadline             time.Time
}

func parseIn(in In) (input, error) {
	v := input{instanceID: in.EC2InstanceID, nodeName: in.NodeName}
	switch {
	case in.EC2InstanceID == "" && in.NodeName == "":
		return v, faults.New(faults.InputInvalid, "drain: EC2InstanceId or NodeName is required")
	case in.EC2InstanceID != "" && !instanceid.Valid(in.EC2InstanceID):
		return v, faults.New(faults.InputInvalid, "drain: EC2InstanceId %q is not an instance id (%s)", in.EC2InstanceID, instanceid.Example)
	case len(in.NodeName) > 253:
		return v, faults.New(faults.InputInvalid, "drain: NodeName is longer than 253 characters")
	}
	if in.Deadline != "" {
		t, err := time.Parse(time.RFC3339, in.Deadline)
		if err != nil {
			return v, faults.New(faults.InputInvalid, "drain: Deadline %q is not RFC 3339: %w", in.Deadline, err)
		}
		v.deadline = t
	}
	return v, nil
}

// Drain finds the instance's node, cordons it and evicts its pods within
// the budget. A missing node is success (NodeNotFound). Pods left when the
// budget runs out: Drain.Incomplete. Bad input: Input.Invalid. An
// unreachable API server: Kube.Unavailable.
func (w *Worker) Drain(ctx context.Context, in In) (out Out, err error) {
	defer func() {
		m := emf.FromContext(ctx)
		if err != nil {
			_ = m.PutMetric(MetricFailure, 1, cwtypes.StandardUnitCount)
		} else {
			_ = m.PutMetric(MetricSuccess, 1, cwtypes.StandardUnitCount)
		}
	}()
	if w == nil || w.deps.Kube == nil {
		return Out{}, faults.New(faults.Internal, "drain: worker has no Kubernetes client")
	}
	v, err := parseIn(in)
	if err != nil {
		return Out{}, err
	}
	start := w.cfg.Now()
	budget := w.budget(ctx, v.deadline, start)
	out.BudgetMilliseconds = budget.Milliseconds()
	log := w.cfg.Logger.With("instance", v.instanceID)
	if budget <= 0 {
		return out, faults.New(faults.DrainIncomplete, "drain: no time left (deadline %s)", in.Deadline)
	}
	bctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	node, err := w.findNode(bctx, v)
	if err != nil {
		return out, err
	}
	if node == nil {
		out.NodeNotFound = true
		log.InfoContext(ctx, "no node for instance: nothing to drain", "nodeName", v.nodeName)
		return out, nil
	}
	out.NodeName = node.Name
	log = log.With("node", node.Name)

	var evicted atomic.Int64
	helper := w.helper(bctx, budget, log, &evicted)
	if err := kubedrain.RunCordonOrUncordon(helper, node, true); err != nil {
		return out, classifyKube(err, "cordon node "+node.Name)
	}

	list, errs := helper.GetPodsForDeletion(node.Name)
	if list != nil {
		out.Warnings = list.Warnings()
	}
	if len(errs) > 0 {
		return out, refused(node.Name, errors.Join(errs...))
	}
	pods := list.Pods()
	log.InfoContext(ctx, "draining", "pods", len(pods), "budget", budget)
	derr := helper.DeleteOrEvictPods(pods)
	out.PodsEvicted = int(evicted.Load())
	if derr == nil {
		log.InfoContext(ctx, "drained", "evicted", out.PodsEvicted, "took", w.cfg.Now().Sub(start))
		return out, nil
	}
	// Out of budget, or an eviction the server refused for good: either
	// way pods are left, and the cause names them.
	if name := kubeErrorName(derr); bctx.Err() == nil && name != faults.DrainIncomplete {
		return out, faults.Wrap(name, derr, "drain node "+node.Name)
	}
	return out, w.incomplete(ctx, helper, node.Name, w.cfg.Now().Sub(start), derr)
}

// budget is the time this invocation may spend draining: up to the input
// deadline, the Lambda's deadline less the reserve, and MaxBudget, whichever
// comes first.
func (w *Worker) budget(ctx context.Context, deadline, now time.Time) time.Duration {
	end := time.Time{}
	earlier := func(t time.Time) {
		if end.IsZero() || t.Before(end) {
			end = t
		}
	}
	if !deadline.IsZero() {
		earlier(deadline)
	}
	if d, ok := ctx.Deadline(); ok {
		earlier(d.Add(-w.cfg.reserve()))
	}
	if w.cfg.MaxBudget > 0 {
		earlier(now.Add(w.cfg.MaxBudget))
	}
	if end.IsZero() {
		// No deadline at all (a drain run by hand): still bounded, so a
		// budget that never allows a disruption cannot hang forever.
		return 15 * time.Minute
	}
	return end.Sub(now)
}

func (w *Worker) helper(ctx context.Context, budget time.Duration, log *slog.Logger, evicted *atomic.Int64) *kubedrain.Helper {
	return &kubedrain.Helper{
		Ctx:    ctx,
		Client: w.deps.Kube,
		Force:  w.cfg.DeleteUnmanagedPods,
		// Negative: each pod's own terminationGracePeriodSeconds.
		GracePeriodSeconds:   -1,
		IgnoreAllDaemonSets:  true,
		DeleteEmptyDirData:   true,
		DisableEviction:      w.cfg.DisableEviction,
		Timeout:              budget,
		EvictErrorRetryDelay: w.cfg.evictRetryDelay(),
		ChunkSize:            500,
		Out:                  logWriter(ctx, log, slog.LevelInfo),
		ErrOut:               logWriter(ctx, log, slog.LevelWarn),
		OnPodDeletionOrEvictionFinished: func(_ *corev1.Pod, _ bool, err error) {
			if err == nil {
				evicted.Add(1)
			}
		},
	}
}

// logWriter turns the drain helper's line-oriented progress output into
// log records. The helper writes from several goroutines.
func logWriter(ctx context.Context, log *slog.Logger, level slog.Level) io.Writer {
	return &lineLogger{ctx: ctx, log: log, level: level}
}

type lineLogger struct {
	ctx   context.Context
	log   *slog.Logger
	level slog.Level
	mu    sync.Mutex
	buf   []byte
}

// Write logs each complete line; it never fails, as progress output must
// never fail a drain.
func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Log(l.ctx, l.level, string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}
