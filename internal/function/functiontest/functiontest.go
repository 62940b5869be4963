// Package functiontest holds test fixtures of the function core: a complete,
// valid environment for each handler, as the template sets it.
package functiontest

import (
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/workers"
)

// ValidEnv is a complete, valid environment for handler h: every variable
// the template sets on its function.
func ValidEnv(h workers.Handler) map[string]string {
	all := map[envnames.Var]string{
		envnames.ClusterName:             "prod-1",
		envnames.LogLevel:                "info",
		envnames.ControlPlaneASG:         "prod-1-control-plane",
		envnames.EtcdTLSSecretARN:        "arn:aws:secretsmanager:us-east-1:123456789012:secret:etcd-AbCdEf",
		envnames.EtcdEndpoints:           "",
		envnames.EtcdClientPort:          "2379",
		envnames.KubeSecretARN:           "arn:aws:secretsmanager:us-east-1:123456789012:secret:kube-AbCdEf",
		envnames.DrainUnmanagedPods:      "refuse",
		envnames.BackupBucket:            "prod-1-etcd-backups",
		envnames.BackupPrefix:            "backups/",
		envnames.RetentionKeepLast:       "24",
		envnames.RetentionHourlyHours:    "24",
		envnames.RetentionDailyDays:      "7",
		envnames.RetentionWeeklyWeeks:    "8",
		envnames.RecoveryThreshold:       "5",
		envnames.RecoveryCooldownSeconds: "3600",
	}
	env := map[string]string{"_HANDLER": string(h)}
	for _, v := range workers.EnvOf(h) {
		env[string(v)] = all[v]
	}
	return env
}
