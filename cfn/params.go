package cfn

import (
	"math"

	"github.com/awslabs/goformation/v7/cloudformation"

	"github.com/cpwarden/cpwarden/statemachines"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/health"
)

// Parameter names: deploy-time settings of one stack.
const (
	pClusterName           = "ClusterName"
	pControlPlaneAsgName   = "ControlPlaneAsgName"
	pControlPlaneSize      = "ControlPlaneSize"
	pSubnetIds             = "SubnetIds"
	pSecurityGroupIds      = "SecurityGroupIds"
	pEtcdTLSSecretArn      = "EtcdTlsSecretArn"
	pEtcdEndpoints         = "EtcdEndpoints"
	pEtcdClientPort        = "EtcdClientPort"
	pKubeSecretArn         = "KubeSecretArn"
	pSecretsKmsKeyArn      = "SecretsKmsKeyArn"
	pExistingBucket        = "ExistingBackupBucketName"
	pExistingBucketKmsKey  = "ExistingBackupKmsKeyArn"
	pBackupPrefix          = "BackupPrefix"
	pBackupInterval        = "BackupInterval"
	pHealthInterval        = "HealthCheckInterval"
	pRetentionKeepLast     = "RetentionKeepLast"
	pRetentionHourlyHours  = "RetentionHourlyHours"
	pRetentionDailyDays    = "RetentionDailyDays"
	pRetentionWeeklyWeeks  = "RetentionWeeklyWeeks"
	pNoncurrentVersionDays = "BackupNoncurrentVersionDays"
	pRecoveryThreshold     = "RecoveryThreshold"
	pRecoveryCooldown      = "RecoveryCooldownSeconds"
	pLogRetentionDays      = "LogRetentionDays"
	pLogLevel              = "LogLevel"
	pAlarmTopicArn         = "AlarmTopicArn"
	pCreateLifecycleHook   = "CreateLifecycleHook"
	pLifecycleHookName     = "LifecycleHookName"
	pHookHeartbeatTimeout  = "LifecycleHookHeartbeatTimeout"
	pHookDefaultResult     = "LifecycleHookDefaultResult"
	pUnmanagedPods         = "UnmanagedPods"
	pCodeS3Bucket          = "CodeS3Bucket"
	pCodeS3Key             = "CodeS3Key"
)

// Condition names.
const (
	cCreateBucket        = "CreateBackupBucket"
	cHasExistingKmsKey   = "HasExistingBackupKmsKey"
	cHasSecretsKmsKey    = "HasSecretsKmsKey"
	cHasAlarmTopic       = "HasAlarmTopic"
	cCreateLifecycleHook = "ShouldCreateLifecycleHook"
)

// Mapping names.
const (
	mBackupIntervals = "BackupIntervals"
	mHealthIntervals = "HealthCheckIntervals"
	mQuorum          = "Quorum"
)

const secretArnPattern = `^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`

// logRetentionDays are the values CloudWatch Logs accepts.
var logRetentionDays = []any{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// unmanagedPodsDescription describes the drain's policy for pods no
// controller owns (drain.ParseUnmanagedPods).
const unmanagedPodsDescription = "What the drain does with pods on the departing node that no controller owns (not created by a Deployment, StatefulSet, Job, DaemonSet, ...). " +
	"refuse: the node is not drained while such a pod is on it; each drain stops with Drain.Incomplete naming the pods, until someone removes them. " +
	"delete: they are evicted with the other pods, each after its own grace period, like kubectl drain --force. Nothing recreates them: they are lost."

// hookHeartbeatMinimum is the smallest hook heartbeat timeout the lifecycle
// workflow is safe with: its longest gap between heartbeats (see
// statemachines.WorstHeartbeatGapSeconds), rounded up to a minute.
func hookHeartbeatMinimum() float64 {
	return math.Ceil(statemachines.WorstHeartbeatGapSeconds()/60) * 60
}

func parameters() cloudformation.Parameters {
	str := func(desc, def, pattern, constraint string) cloudformation.Parameter {
		p := cloudformation.Parameter{Type: "String", Description: &desc}
		if def != "" || pattern != "" && matchesEmpty(pattern) {
			p.Default = def
		}
		if pattern != "" {
			p.AllowedPattern = &pattern
			p.ConstraintDescription = &constraint
		}
		return p
	}
	num := func(desc string, def, lo, hi float64) cloudformation.Parameter {
		return cloudformation.Parameter{Type: "Number", Description: &desc, Default: def, MinValue: &lo, MaxValue: &hi}
	}
	enum := func(desc string, def any, values ...any) cloudformation.Parameter {
		return cloudformation.Parameter{Type: "String", Description: &desc, Default: def, AllowedValues: values}
	}
	// The defaults of the workers' settings are the workers' own
	// (TestTemplateDefaultsAreTheFunctionDefaults checks every one).
	retention := backup.DefaultRetention()
	return cloudformation.Parameters{
		pClusterName: str("Name of the Kubernetes cluster: the ClusterName metric dimension, the SSM parameter root (/<name>/...) and the backup directory.",
			"", `^[a-zA-Z][a-zA-Z0-9-]{0,31}$`, "1-32 letters, digits or hyphens, starting with a letter."),
		pControlPlaneAsgName: str("Name of the control-plane Auto Scaling group whose instances run the etcd members.",
			"", `^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`, "An Auto Scaling group name: letters, digits, '.', '_' or '-'."),
		pControlPlaneSize: enum("Number of etcd voting members (control-plane instances); sets the quorum the health alarm checks.", "3", "1", "3", "5", "7"),
		pSubnetIds:        {Type: "List<AWS::EC2::Subnet::Id>", Description: ptr("Subnets for the functions that reach etcd and the Kubernetes API (drain, remove-member, backup, health-probe). They also need a route to the AWS APIs (NAT or VPC endpoints).")},
		pSecurityGroupIds: {Type: "List<AWS::EC2::SecurityGroup::Id>", Description: ptr("Security groups for those functions; etcd (2379) and the API server (6443) must accept them.")},
		pEtcdTLSSecretArn: str("Secrets Manager secret with the etcd client TLS material (JSON: cert, key, ca in PEM).",
			"", secretArnPattern, "A Secrets Manager secret ARN."),
		pEtcdEndpoints: str("Optional comma-separated etcd client URLs; empty discovers them from the group's instances.",
			"", `^$|^https://[A-Za-z0-9.:\[\]-]+(,https://[A-Za-z0-9.:\[\]-]+)*$`, "Empty, or comma-separated https:// URLs."),
		pEtcdClientPort: num("etcd client port on the control-plane instances.", etcdconn.DefaultClientPort, 1, 65535),
		pKubeSecretArn: str("Secrets Manager secret with the Kubernetes API access (JSON: endpoint, ca, token of the cpwarden ServiceAccount).",
			"", secretArnPattern, "A Secrets Manager secret ARN."),
		pSecretsKmsKeyArn: str("Optional customer managed KMS key encrypting the two secrets; empty when they use the AWS managed key.",
			"", `^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]{36}$`, "Empty, or a KMS key ARN."),
		pExistingBucket: str("Existing S3 bucket for the backups; empty creates a versioned, KMS-encrypted, private, TLS-only bucket.",
			"", `^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, "Empty, or an S3 bucket name."),
		pExistingBucketKmsKey: str("KMS key of the existing bucket's default encryption, if it uses a customer managed key; ignored when the stack creates the bucket.",
			"", `^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]{36}$`, "Empty, or a KMS key ARN."),
		pBackupPrefix: str("Key prefix before <cluster>/etcd-snapshot-*.db; empty, or ending with '/'.",
			backup.DefaultPrefix, `^$|^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$`, "Empty, or a key prefix ending with '/'."),
		pBackupInterval:        enum("How often to take a backup. The missing-backup alarm fires after two intervals without one.", "1h", "15m", "30m", "1h", "2h", "4h", "6h", "12h"),
		pHealthInterval:        enum("How often to probe control-plane health.", "1m", "1m", "2m", "5m"),
		pRetentionKeepLast:     num("Newest backups always kept.", float64(retention.Newest), 1, 1000),
		pRetentionHourlyHours:  num("Keep one backup per hour for this many hours.", float64(retention.Hourly), 0, 168),
		pRetentionDailyDays:    num("Keep one backup per day for this many days.", float64(retention.Daily), 0, 366),
		pRetentionWeeklyWeeks:  num("Keep one backup per week for this many weeks.", float64(retention.Weekly), 0, 520),
		pNoncurrentVersionDays: num("Days a pruned (noncurrent) backup version stays recoverable in a created bucket.", 30, 1, 3650),
		pRecoveryThreshold:     num("Consecutive quorum-lost probes before an automatic restore starts.", health.DefaultFailureThreshold, 1, 100),
		pRecoveryCooldown:      num("Minimum seconds between two automatic restores.", health.DefaultCoolDown.Seconds(), 0, 604800),
		pLogRetentionDays:      {Type: "Number", Description: ptr("Retention of every log group of the stack, in days."), Default: 30, AllowedValues: logRetentionDays},
		pLogLevel:              enum("Log level of the workers.", "info", "debug", "info", "warn", "error"),
		pAlarmTopicArn: str("Optional SNS topic the alarms notify; empty for alarms without actions.",
			"", `^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$`, "Empty, or an SNS topic ARN."),
		pCreateLifecycleHook: enum("Create the terminate lifecycle hook on the control-plane group (false when the group's own stack declares it).", "true", "true", "false"),
		pLifecycleHookName: str("Name of the terminate lifecycle hook cpwarden handles; the event rule matches only this hook.",
			"cpwarden-terminate", `^[A-Za-z0-9_/-]{1,255}$`, "Letters, digits, '_', '/' or '-'."),
		pHookHeartbeatTimeout: {Type: "Number", Default: 1800, MinValue: ptrF(hookHeartbeatMinimum()), MaxValue: ptrF(7200),
			Description: ptr("Heartbeat timeout of the lifecycle hook, in seconds. The minimum is the lifecycle workflow's worst-case gap between heartbeats (retries included)."),
		},
		pHookDefaultResult: enum("What Auto Scaling does when the hook times out (cpwarden could not answer). On a terminate hook both terminate, unless the group's instance lifecycle policy retains on abandon.", "ABANDON", "ABANDON", "CONTINUE"),
		pUnmanagedPods:     enum(unmanagedPodsDescription, drain.DefaultUnmanagedPods, drain.UnmanagedPodsRefuse, drain.UnmanagedPodsDelete),
		pCodeS3Bucket:      str("S3 bucket holding the bootstrap zip (make package).", "", `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, "An S3 bucket name."),
		pCodeS3Key:         str("S3 key of the bootstrap zip; use a content-addressed key so each build updates the functions.", "", `^[A-Za-z0-9!_.*'()/-]+\.zip$`, "An S3 key ending in .zip."),
	}
}

// matchesEmpty reports whether an allowed pattern admits the empty string,
// so the parameter is optional and gets "" as its default.
func matchesEmpty(pattern string) bool { return len(pattern) >= 3 && pattern[:3] == "^$|" }

func parameterGroups() map[string]any {
	group := func(label string, params ...string) map[string]any {
		return map[string]any{"Label": map[string]any{"default": label}, "Parameters": params}
	}
	return map[string]any{
		"AWS::CloudFormation::Interface": map[string]any{
			"ParameterGroups": []any{
				group("Cluster", pClusterName, pControlPlaneAsgName, pControlPlaneSize, pSubnetIds, pSecurityGroupIds),
				group("Access", pEtcdTLSSecretArn, pEtcdEndpoints, pEtcdClientPort, pKubeSecretArn, pSecretsKmsKeyArn),
				group("Lifecycle hook", pCreateLifecycleHook, pLifecycleHookName, pHookHeartbeatTimeout, pHookDefaultResult),
				group("Drain", pUnmanagedPods),
				group("Backups", pExistingBucket, pExistingBucketKmsKey, pBackupPrefix, pBackupInterval,
					pRetentionKeepLast, pRetentionHourlyHours, pRetentionDailyDays, pRetentionWeeklyWeeks, pNoncurrentVersionDays),
				group("Health and recovery", pHealthInterval, pRecoveryThreshold, pRecoveryCooldown),
				group("Operations", pLogRetentionDays, pLogLevel, pAlarmTopicArn),
				group("Code", pCodeS3Bucket, pCodeS3Key),
			},
		},
	}
}

func conditions() map[string]any {
	return map[string]any{
		cCreateBucket:        equals(ref(pExistingBucket), ""),
		cHasExistingKmsKey:   not(equals(ref(pExistingBucketKmsKey), "")),
		cHasSecretsKmsKey:    not(equals(ref(pSecretsKmsKeyArn), "")),
		cHasAlarmTopic:       not(equals(ref(pAlarmTopicArn), "")),
		cCreateLifecycleHook: equals(ref(pCreateLifecycleHook), "true"),
	}
}

// intervals maps a schedule parameter's values to the rule's rate and the
// period in seconds (alarms need it as a number; templates cannot compute).
type interval struct {
	key, rate string
	seconds   int
}

var backupIntervals = []interval{
	{"15m", "rate(15 minutes)", 900}, {"30m", "rate(30 minutes)", 1800}, {"1h", "rate(1 hour)", 3600},
	{"2h", "rate(2 hours)", 7200}, {"4h", "rate(4 hours)", 14400}, {"6h", "rate(6 hours)", 21600}, {"12h", "rate(12 hours)", 43200},
}

var healthIntervals = []interval{
	{"1m", "rate(1 minute)", 60}, {"2m", "rate(2 minutes)", 120}, {"5m", "rate(5 minutes)", 300},
}

func mappings() map[string]any {
	toMap := func(ivs []interval) map[string]any {
		m := map[string]any{}
		for _, iv := range ivs {
			m[iv.key] = map[string]any{"Schedule": iv.rate, "Seconds": iv.seconds}
		}
		return m
	}
	return map[string]any{
		mBackupIntervals: toMap(backupIntervals),
		mHealthIntervals: toMap(healthIntervals),
		// Quorum of a voting membership of n: n/2 + 1.
		mQuorum: map[string]any{
			"1": map[string]any{"Voters": 1},
			"3": map[string]any{"Voters": 2},
			"5": map[string]any{"Voters": 3},
			"7": map[string]any{"Voters": 4},
		},
	}
}

func ptr(s string) *string    { return &s }
func ptrF(f float64) *float64 { return &f }
func ptrI(i int) *int         { return &i }
func ptrB(b bool) *bool       { return &b }
