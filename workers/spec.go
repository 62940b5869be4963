package workers

import (
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/health"
	"github.com/cpwarden/cpwarden/workers/lifecycle"
	"github.com/cpwarden/cpwarden/workers/member"
)

// The CloudWatch namespaces of the workers' metrics (docs/contracts.md).
const (
	NamespaceLifecycle = "K8sCluster/EtcdLifecycle"
	NamespaceBackup    = "K8sCluster/EtcdBackup"
	NamespaceHealth    = "K8sCluster/Health"
)

// Spec is everything about one handler that the rest of the project needs:
// the function core reads its environment from Env, the state machines take
// the Task timeout from TimeoutSeconds, and the template builds the function
// (environment, timeout, memory, VPC) and the dashboard from it. Adding a
// handler is one Spec here and one case in internal/function's Build.
type Spec struct {
	Handler Handler
	// Namespace is the CloudWatch namespace of the handler's metrics, step
	// metrics included.
	Namespace string
	// Env lists the variables the template sets on the function: what its
	// configuration may read, and nothing it must not know.
	Env []envnames.Var
	// TimeoutSeconds is the Lambda function's timeout.
	TimeoutSeconds int
	// MemoryMiB is the function's memory; 0 is the template's default.
	MemoryMiB int
	// TmpMiB is the function's ephemeral storage (/tmp); 0 is Lambda's
	// default (512 MiB).
	TmpMiB int
	// InVPC says the worker reaches etcd or the Kubernetes API inside the
	// cluster's network. The others only call AWS APIs and run outside the
	// VPC: no network interface, a faster cold start, no NAT needed.
	InVPC bool
	// Metrics are the business metrics the worker emits besides its step
	// metrics, named by the worker's own constants.
	Metrics []Metric
}

// Metric is one business metric: its name and CloudWatch unit.
type Metric struct {
	Name string
	Unit cwtypes.StandardUnit
}

func count(name string) Metric        { return Metric{name, cwtypes.StandardUnitCount} }
func milliseconds(name string) Metric { return Metric{name, cwtypes.StandardUnitMilliseconds} }

var (
	common = []envnames.Var{envnames.ClusterName, envnames.LogLevel}
	etcd   = []envnames.Var{envnames.ControlPlaneASG, envnames.EtcdTLSSecretARN, envnames.EtcdEndpoints, envnames.EtcdClientPort}
	bucket = []envnames.Var{envnames.BackupBucket, envnames.BackupPrefix}
)

func env(parts ...[]envnames.Var) []envnames.Var {
	out := append([]envnames.Var(nil), common...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// specs is the table, in the stable order of All.
var specs = []Spec{
	{
		Handler: Drain, Namespace: NamespaceLifecycle, InVPC: true,
		Env: env([]envnames.Var{envnames.KubeSecretARN, envnames.DrainUnmanagedPods}),
		// Drain budgets each call from the Lambda's remaining time and
		// stops in time to report Drain.Incomplete with the pods left.
		TimeoutSeconds: 120,
		Metrics:        []Metric{count(drain.MetricSuccess), count(drain.MetricFailure)},
	},
	{
		Handler: RemoveMember, Namespace: NamespaceLifecycle, InVPC: true,
		Env: env(etcd), TimeoutSeconds: 60,
		Metrics: []Metric{count(member.MetricRemovalSuccess), count(member.MetricRemovalFailure), count(member.MetricQuorumRisk)},
	},
	{
		Handler: CompleteLifecycle, Namespace: NamespaceLifecycle,
		Env: env(), TimeoutSeconds: 15,
		Metrics: []Metric{milliseconds(lifecycle.MetricLifecycleHandlerDuration)},
	},
	{
		Handler: LifecycleHeartbeat, Namespace: NamespaceLifecycle,
		Env: env(), TimeoutSeconds: 15,
	},
	{
		// Streams a whole etcd database through S3 with bounded buffers.
		Handler: Backup, Namespace: NamespaceBackup, InVPC: true,
		Env: env(etcd, bucket), TimeoutSeconds: 900, MemoryMiB: 512,
		Metrics: []Metric{
			milliseconds(backup.MetricDuration), count(backup.MetricFailure),
			{backup.MetricSizeBytes, cwtypes.StandardUnitBytes},
		},
	},
	{
		// Downloads and restores a snapshot with etcdutl: the snapshot and a
		// data dir go to /tmp.
		Handler: VerifyBackup, Namespace: NamespaceBackup,
		Env: env(bucket), TimeoutSeconds: 900, MemoryMiB: 1024, TmpMiB: 4096,
		Metrics: []Metric{count(backup.MetricSuccess), count(backup.MetricFailure)},
	},
	{
		Handler: PruneBackups, Namespace: NamespaceBackup,
		Env: env(bucket, []envnames.Var{
			envnames.RetentionKeepLast, envnames.RetentionHourlyHours, envnames.RetentionDailyDays, envnames.RetentionWeeklyWeeks,
		}),
		TimeoutSeconds: 300,
	},
	{
		Handler: HealthProbe, Namespace: NamespaceHealth, InVPC: true,
		Env:            env(etcd, []envnames.Var{envnames.KubeSecretARN}, bucket, []envnames.Var{envnames.RecoveryThreshold, envnames.RecoveryCooldownSeconds}),
		TimeoutSeconds: 20,
		Metrics: []Metric{
			count(health.MetricHealthyInstances), count(health.MetricConsecutiveFailures), milliseconds(health.MetricCheckDuration),
		},
	},
	{
		// It checks the threshold again against Parameter Store, so it must
		// know the same threshold as the probe.
		Handler: TriggerRecovery, Namespace: NamespaceHealth,
		Env:            env([]envnames.Var{envnames.ControlPlaneASG}, bucket, []envnames.Var{envnames.RecoveryThreshold, envnames.RecoveryCooldownSeconds}),
		TimeoutSeconds: 20,
		Metrics:        []Metric{count(health.MetricRecoveryTriggered)},
	},
	{
		// The health worker's configuration names the group for every call.
		Handler: ReportRecovered, Namespace: NamespaceHealth,
		Env: env([]envnames.Var{envnames.ControlPlaneASG}), TimeoutSeconds: 20,
		Metrics: []Metric{count(health.MetricClusterRecovered)},
	},
}

// Specs returns every handler's spec in the order of All.
func Specs() []Spec { return append([]Spec(nil), specs...) }

// SpecOf returns h's spec; ok is false for an unknown handler.
func SpecOf(h Handler) (s Spec, ok bool) {
	for _, s := range specs {
		if s.Handler == h {
			return s, true
		}
	}
	return Spec{}, false
}

// EnvOf returns the variables the template sets on h's function (Spec.Env);
// nil for an unknown handler.
func EnvOf(h Handler) []envnames.Var {
	s, _ := SpecOf(h)
	return s.Env
}
