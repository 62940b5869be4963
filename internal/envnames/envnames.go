// Package envnames names the environment variables the CloudFormation
// template sets on the Lambda functions and the function core reads at init.
// It is the one place both sides take the names from, so a renamed variable
// breaks the build instead of a deployment. Which function gets which
// variables is in each handler's spec (workers.Spec.Env).
package envnames

// Var is the name of one environment variable.
type Var string

// The variables. Values are strings, as Lambda passes them; the comment says
// how the bootstrap must read each one.
const (
	// ClusterName is the cluster's name: the ClusterName metric dimension,
	// the SSM parameter root (/<cluster>/...) and the backup key's
	// directory. Required by every function.
	ClusterName Var = "CLUSTER_NAME"
	// ControlPlaneASG is the control-plane Auto Scaling group's name; etcd
	// endpoints are discovered from its instances.
	ControlPlaneASG Var = "CONTROL_PLANE_ASG"
	// EtcdTLSSecretARN is the Secrets Manager secret holding the etcd
	// client certificate, key and CA (JSON: cert, key, ca in PEM).
	EtcdTLSSecretARN Var = "ETCD_TLS_SECRET_ARN"
	// EtcdEndpoints optionally lists etcd client URLs (comma-separated);
	// empty means discover them from the control-plane group's instances.
	EtcdEndpoints Var = "ETCD_ENDPOINTS"
	// EtcdClientPort is the etcd client port used with discovered
	// instance addresses (integer, default 2379).
	EtcdClientPort Var = "ETCD_CLIENT_PORT"
	// KubeSecretARN is the Secrets Manager secret holding the Kubernetes API
	// endpoint, CA and ServiceAccount token (JSON: endpoint, ca, token).
	KubeSecretARN Var = "KUBE_SECRET_ARN"
	// DrainUnmanagedPods is the drain's policy for pods no controller owns
	// (the stack's UnmanagedPods): "refuse" (the default) leaves the node
	// undrained and names them (Drain.Incomplete); "delete" evicts them
	// after their grace period like `kubectl drain --force`, and nothing
	// recreates them. Exactly one of the two, in lower case.
	DrainUnmanagedPods Var = "DRAIN_UNMANAGED_PODS"
	// BackupBucket is the S3 bucket of the etcd snapshots.
	BackupBucket Var = "BACKUP_BUCKET"
	// BackupPrefix is the key prefix before <cluster>/ (may be empty; ends
	// with "/" when not).
	BackupPrefix Var = "BACKUP_PREFIX"
	// RetentionKeepLast is how many newest backups prune always keeps
	// (integer >= 1).
	RetentionKeepLast Var = "RETENTION_KEEP_LAST"
	// RetentionHourlyHours keeps one backup per hour for this many hours
	// (integer >= 0).
	RetentionHourlyHours Var = "RETENTION_HOURLY_HOURS"
	// RetentionDailyDays keeps one backup per day for this many days
	// (integer >= 0).
	RetentionDailyDays Var = "RETENTION_DAILY_DAYS"
	// RetentionWeeklyWeeks keeps one backup per week for this many weeks
	// (integer >= 0).
	RetentionWeeklyWeeks Var = "RETENTION_WEEKLY_WEEKS"
	// RecoveryThreshold is how many consecutive quorum-lost probes start a
	// recovery (integer >= 1).
	RecoveryThreshold Var = "RECOVERY_THRESHOLD"
	// RecoveryCooldownSeconds is the minimum time between two recoveries
	// (integer seconds >= 0).
	RecoveryCooldownSeconds Var = "RECOVERY_COOLDOWN_SECONDS"
	// LogLevel is the slog level: debug, info, warn or error (default info).
	LogLevel Var = "LOG_LEVEL"
)

// All lists every variable in a stable order.
var All = []Var{
	ClusterName, ControlPlaneASG, EtcdTLSSecretARN, EtcdEndpoints, EtcdClientPort, KubeSecretARN, DrainUnmanagedPods,
	BackupBucket, BackupPrefix,
	RetentionKeepLast, RetentionHourlyHours, RetentionDailyDays, RetentionWeeklyWeeks,
	RecoveryThreshold, RecoveryCooldownSeconds, LogLevel,
}

// Local-only variables. The template never sets them; the local sandbox
// does, so that a bootstrap running under the Runtime Interface Emulator
// reaches the emulated services on loopback. Unset, they change nothing.
const (
	// LocalS3PathStyle ("true" or "false", default false) makes the S3
	// client address buckets in the path (http://localhost:port/bucket/key)
	// instead of the host name (bucket.localhost), which a local S3 store
	// cannot serve. Only an endpoint given by host name needs it: the SDK
	// already uses the path with an IP endpoint (http://127.0.0.1:port).
	LocalS3PathStyle Var = "CPWARDEN_LOCAL_S3_PATH_STYLE"
	// LocalInstanceEndpoints maps control-plane instance IDs to the etcd
	// client URL of their member, comma-separated:
	// "i-0abc=https://127.0.0.2:40123,i-0def=https://127.0.0.3:40511".
	// When set, endpoint discovery from the Auto Scaling group uses it
	// instead of <private IP>:ETCD_CLIENT_PORT, because an AWS emulator
	// invents private IPs nothing listens on. Every URL must be https on a
	// 127.0.0.0/8 address: it exists for local runs only. An instance not
	// in the map has no etcd endpoint.
	LocalInstanceEndpoints Var = "CPWARDEN_LOCAL_INSTANCE_ENDPOINTS"
)

// Local lists the local-only variables.
var Local = []Var{LocalS3PathStyle, LocalInstanceEndpoints}
