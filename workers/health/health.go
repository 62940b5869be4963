// Package health watches the control plane and starts a restore when etcd
// has lost quorum for good. Three worker functions, one per Task of the
// health workflow (Probe → Choice → TriggerRecovery | ReportRecovered):
//
//   - Probe asks etcd itself, every member in parallel and each probe under
//     its own deadline (Status, AlarmList, a linearizable read), the API
//     server (/readyz) and Auto Scaling (InService instances, under a
//     deadline of its own); counts
//     consecutive quorum-lost probes in SSM Parameter Store; and decides.
//   - TriggerRecovery writes the restore-mode parameters the instance
//     bootstrap reads, once, after N consecutive failures, outside a
//     cool-down, and only when a verified backup exists.
//   - ReportRecovered records that health is back, and clears restore mode
//     only once the restoring node has set initialized=true.
//
// A hung member, API server or AWS call never stretches a probe round past
// its deadline: a member that does not answer in time is unhealthy.
package health

import (
	"context"
	"log/slog"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/workeropt"
)

// Business metrics (namespace K8sCluster/Health, docs/contracts.md).
const (
	MetricHealthyInstances    = "HealthyControlPlaneInstances"
	MetricConsecutiveFailures = "ConsecutiveHealthFailures"
	MetricRecoveryTriggered   = "AutoRecoveryTriggered"
	MetricClusterRecovered    = "ClusterRecovered"
	MetricCheckDuration       = "HealthCheckDuration"
)

// Actions a probe asks the workflow's Choice state to take.
const (
	ActionNone            = "None"
	ActionTriggerRecovery = "TriggerRecovery"
	ActionReportRecovered = "ReportRecovered"
)

// Config is the health policy and where the cluster's state lives.
type Config struct {
	// ClusterName names the SSM parameters (/<cluster>/...) and the backup
	// keys; required.
	ClusterName string
	// AutoScalingGroup is the control-plane group; required.
	AutoScalingGroup string
	// Bucket and Prefix locate the backups
	// (<Prefix><cluster>/etcd-snapshot-YYYYMMDD-HHMMSS.db); Bucket is
	// required for recovery.
	Bucket, Prefix string
	// FailureThreshold is the number of consecutive quorum-lost probes
	// that starts a recovery; zero means DefaultFailureThreshold. One lost
	// probe is a blip.
	FailureThreshold int
	// CoolDown is the least time between two recoveries; nil means
	// DefaultCoolDown, zero means none.
	CoolDown *time.Duration
	// ProbeTimeout is the deadline of each probe; a round takes no longer.
	// Zero means 5s.
	ProbeTimeout time.Duration
	// AWSTimeout bounds the Auto Scaling and EC2 calls of a round and the
	// Parameter Store reads and writes after it. AWS latency says nothing
	// about the cluster's health, so it has a deadline of its own; zero
	// means 10s.
	AWSTimeout time.Duration
	// ListPageSize is the MaxKeys of each backup listing page; zero means
	// S3's default (1,000).
	ListPageSize int32
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Defaults of Config, the template's (RECOVERY_THRESHOLD,
// RECOVERY_COOLDOWN_SECONDS): a worker built without them behaves like the
// deployed one.
const (
	DefaultFailureThreshold = 5
	DefaultCoolDown         = time.Hour
)

func (c Config) threshold() int {
	return workeropt.Positive(c.FailureThreshold, DefaultFailureThreshold)
}

func (c Config) coolDown() time.Duration {
	if c.CoolDown != nil {
		return *c.CoolDown
	}
	return DefaultCoolDown
}

func (c Config) probeTimeout() time.Duration {
	return workeropt.Positive(c.ProbeTimeout, 5*time.Second)
}

var clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (c Config) awsTimeout() time.Duration { return workeropt.Positive(c.AWSTimeout, 10*time.Second) }

func (c Config) check() error {
	switch {
	case !clusterNamePattern.MatchString(c.ClusterName):
		return faults.New(faults.InputInvalid, "health: cluster name %q is not a valid SSM path segment", c.ClusterName)
	case c.AutoScalingGroup == "":
		return faults.New(faults.InputInvalid, "health: no control-plane Auto Scaling group configured")
	case c.FailureThreshold < 0, c.coolDown() < 0, c.ProbeTimeout < 0, c.AWSTimeout < 0, c.ListPageSize < 0:
		return faults.New(faults.InputInvalid, "health: negative threshold, cool-down or probe timeout")
	}
	return nil
}

// Peers lists the client URLs of the etcd members to probe.
// etcdconn.ASGDiscovery and etcdconn.StaticPeers satisfy it.
type Peers interface {
	Peers(ctx context.Context) ([]string, error)
}

// Etcd is what a probe uses of an etcd client; *etcdconn.Client satisfies it.
type Etcd interface {
	Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error)
	AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error)
	Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error)
	MemberList(ctx context.Context, opts ...clientv3.OpOption) (*clientv3.MemberListResponse, error)
	Close() error
}

// Dialer returns a client; the probe dials each member alone. The real
// one is etcdconn.As[Etcd] over an etcdconn.Dialer with FailFast set: it
// never blocks, so a member that does not answer fails its probe at the
// probe's deadline, and one that cannot be connected to (refused, no
// route) at once.
type Dialer interface {
	Dial(ctx context.Context, endpoints []string) (Etcd, error)
}

var _ Etcd = (*etcdconn.Client)(nil)

// APIServer tells whether the Kubernetes API server is ready.
type APIServer interface {
	Ready(ctx context.Context) error
}

// AutoScalingAPI and EC2API are what the probe uses of Auto Scaling and
// EC2, to list the group's instances in service and match them to etcd
// members by private DNS name or IP (etcdconn.ASGDiscovery).
type (
	AutoScalingAPI = etcdconn.AutoScalingAPI
	EC2API         = etcdconn.EC2API
)

// SSMAPI is the part of the SSM client the worker uses for its state.
type SSMAPI interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, opts ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// S3API is the part of the S3 client the worker uses to find backups.
type S3API interface {
	s3.ListObjectsV2APIClient
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Deps are the worker's clients. API may be nil when the API server is
// not probed (it then counts as ready).
type Deps struct {
	Peers Peers
	Etcd  Dialer
	API   APIServer
	ASG   AutoScalingAPI
	EC2   EC2API
	SSM   SSMAPI
	S3    S3API
}

// Worker probes the control plane and drives recovery.
type Worker struct {
	cfg  Config
	deps Deps
	now  func() time.Time
	log  *slog.Logger
}

// New returns a Worker. A bad Config is reported by each call, as
// Input.Invalid, so the bootstrap can build workers without failing.
func New(cfg Config, deps Deps) *Worker {
	return &Worker{cfg: cfg, deps: deps, now: workeropt.Clock(cfg.Now), log: workeropt.Logger(cfg.Logger)}
}

func (w *Worker) ready(needs ...any) error {
	if w == nil {
		return faults.New(faults.Internal, "health: nil worker")
	}
	if err := w.cfg.check(); err != nil {
		return err
	}
	for _, d := range needs {
		if d == nil {
			return faults.New(faults.Internal, "health: worker is missing a client")
		}
	}
	return nil
}
