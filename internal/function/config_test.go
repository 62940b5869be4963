package function

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/function/functiontest"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
)

// validEnv is a complete, valid environment for handler h.
func validEnv(h workers.Handler) map[string]string { return functiontest.ValidEnv(h) }

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// lookup reads env as os.LookupEnv reads the process environment.
func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestEveryHandlerLoadsItsTemplateEnvironment(t *testing.T) {
	for _, h := range workers.All {
		t.Run(string(h), func(t *testing.T) {
			cfg, err := LoadConfig(lookup(validEnv(h)))
			if err != nil {
				t.Fatalf("valid environment refused: %v", err)
			}
			if cfg.Handler != h || cfg.Cluster != "prod-1" {
				t.Fatalf("got handler %q cluster %q", cfg.Handler, cfg.Cluster)
			}
		})
	}
}

// TestConfigReadsOnlyTheTemplateVariables: a function reads the variables
// the template sets on it (and the local-only ones), so what runs locally is
// configured exactly like what runs in AWS.
func TestConfigReadsOnlyTheTemplateVariables(t *testing.T) {
	for _, h := range workers.All {
		env := validEnv(h)
		read := map[string]bool{}
		_, err := LoadConfig(func(k string) (string, bool) { read[k] = true; v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		allowed := map[string]bool{HandlerVar: true}
		for _, v := range workers.EnvOf(h) {
			allowed[string(v)] = true
		}
		for _, v := range envnames.Local {
			allowed[string(v)] = true
		}
		for k := range read {
			if !allowed[k] {
				t.Errorf("%s reads %s, which the template does not set on it", h, k)
			}
		}
		for _, v := range workers.EnvOf(h) {
			if !read[string(v)] {
				t.Errorf("%s ignores %s, which the template sets on it", h, v)
			}
		}
	}
}

func TestVariablesOfOtherFunctionsAreIgnored(t *testing.T) {
	env := validEnv(workers.Drain)
	env[string(envnames.BackupPrefix)] = "no-slash"
	env[string(envnames.RetentionKeepLast)] = "x"
	if _, err := LoadConfig(lookup(env)); err != nil {
		t.Fatalf("drain failed on variables it does not use: %v", err)
	}
	env = validEnv(workers.HealthProbe)
	env[string(envnames.DrainUnmanagedPods)] = "force"
	cfg, err := LoadConfig(lookup(env))
	if err != nil {
		t.Fatalf("health-probe failed on the drain's policy: %v", err)
	}
	if cfg.DeleteUnmanagedPods {
		t.Fatal("health-probe took the drain's policy")
	}
}

// TestDrainUnmanagedPodsPolicy: DRAIN_UNMANAGED_PODS names one of the two
// policies; unset or empty it is the template's default, refuse.
func TestDrainUnmanagedPodsPolicy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		value      string
		set        bool
		wantDelete bool
	}{
		{name: "unset", set: false, wantDelete: false},
		{name: "empty", value: "", set: true, wantDelete: false},
		{name: "refuse", value: "refuse", set: true, wantDelete: false},
		{name: "delete", value: "delete", set: true, wantDelete: true},
		{name: "delete with spaces", value: " delete ", set: true, wantDelete: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv(workers.Drain)
			delete(env, string(envnames.DrainUnmanagedPods))
			if tc.set {
				env[string(envnames.DrainUnmanagedPods)] = tc.value
			}
			cfg, err := LoadConfig(lookup(env))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if cfg.DeleteUnmanagedPods != tc.wantDelete {
				t.Fatalf("DeleteUnmanagedPods = %v, want %v", cfg.DeleteUnmanagedPods, tc.wantDelete)
			}
		})
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		name    string
		handler workers.Handler
		set     map[string]string // "" deletes
		want    string            // the whole line for that variable
	}{
		{"handler missing", "", map[string]string{HandlerVar: ""}, `_HANDLER: required (the function's Handler setting; one of ` + handlerList() + `)`},
		{"handler unknown", "", map[string]string{HandlerVar: "backups"}, `_HANDLER: "backups" is not a cpwarden handler (valid: ` + handlerList() + `)`},
		{"cluster missing", workers.CompleteLifecycle, map[string]string{"CLUSTER_NAME": ""}, `CLUSTER_NAME: required`},
		{"cluster malformed", workers.Backup, map[string]string{"CLUSTER_NAME": "prod/1"}, `CLUSTER_NAME: "prod/1" is not a cluster name (1-128 letters, digits, '.', '_' or '-', starting with a letter or digit)`},
		{"log level unknown", workers.Drain, map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{"log level with offset", workers.Drain, map[string]string{"LOG_LEVEL": "info+2"}, `LOG_LEVEL: "info+2" is not one of debug, info, warn, error`},
		{"etcd secret missing", workers.RemoveMember, map[string]string{"ETCD_TLS_SECRET_ARN": ""}, `ETCD_TLS_SECRET_ARN: required`},
		{"etcd secret missing for backup", workers.Backup, map[string]string{"ETCD_TLS_SECRET_ARN": ""}, `ETCD_TLS_SECRET_ARN: required`},
		{"etcd secret missing for the probe", workers.HealthProbe, map[string]string{"ETCD_TLS_SECRET_ARN": ""}, `ETCD_TLS_SECRET_ARN: required`},
		{"endpoint not https", workers.RemoveMember, map[string]string{"ETCD_ENDPOINTS": "http://10.0.0.1:2379"}, `ETCD_ENDPOINTS: "http://10.0.0.1:2379" is not an https://host:port URL`},
		{"endpoint without port", workers.Backup, map[string]string{"ETCD_ENDPOINTS": "https://10.0.0.1:2379,https://10.0.0.2"}, `ETCD_ENDPOINTS: "https://10.0.0.2" is not an https://host:port URL`},
		{"endpoint not a URL", workers.HealthProbe, map[string]string{"ETCD_ENDPOINTS": "10.0.0.1:2379"}, `ETCD_ENDPOINTS: "10.0.0.1:2379" is not an https://host:port URL`},
		{"client port not a number", workers.RemoveMember, map[string]string{"ETCD_CLIENT_PORT": "x"}, `ETCD_CLIENT_PORT: "x" is not an integer`},
		{"client port zero", workers.RemoveMember, map[string]string{"ETCD_CLIENT_PORT": "0"}, `ETCD_CLIENT_PORT: 0 is out of range [1, 65535]`},
		{"client port too big", workers.HealthProbe, map[string]string{"ETCD_CLIENT_PORT": "70000"}, `ETCD_CLIENT_PORT: 70000 is out of range [1, 65535]`},
		{"no group and no endpoints", workers.RemoveMember, map[string]string{"CONTROL_PLANE_ASG": ""}, `CONTROL_PLANE_ASG: required when ETCD_ENDPOINTS is empty (the etcd endpoints are discovered from the group)`},
		{"probe without group", workers.HealthProbe, map[string]string{"CONTROL_PLANE_ASG": "", "ETCD_ENDPOINTS": "https://127.0.0.2:2379"}, `CONTROL_PLANE_ASG: required`},
		{"trigger without group", workers.TriggerRecovery, map[string]string{"CONTROL_PLANE_ASG": ""}, `CONTROL_PLANE_ASG: required`},
		{"report without group", workers.ReportRecovered, map[string]string{"CONTROL_PLANE_ASG": ""}, `CONTROL_PLANE_ASG: required`},
		{"unmanaged-pod policy unknown", workers.Drain, map[string]string{"DRAIN_UNMANAGED_PODS": "force"}, `DRAIN_UNMANAGED_PODS: "force" is not refuse or delete`},
		{"unmanaged-pod policy in capitals", workers.Drain, map[string]string{"DRAIN_UNMANAGED_PODS": "Delete"}, `DRAIN_UNMANAGED_PODS: "Delete" is not refuse or delete`},
		{"unmanaged-pod policy as a bool", workers.Drain, map[string]string{"DRAIN_UNMANAGED_PODS": "true"}, `DRAIN_UNMANAGED_PODS: "true" is not refuse or delete`},
		{"kube secret missing", workers.Drain, map[string]string{"KUBE_SECRET_ARN": ""}, `KUBE_SECRET_ARN: required`},
		{"kube secret missing for the probe", workers.HealthProbe, map[string]string{"KUBE_SECRET_ARN": ""}, `KUBE_SECRET_ARN: required`},
		{"bucket missing", workers.VerifyBackup, map[string]string{"BACKUP_BUCKET": ""}, `BACKUP_BUCKET: required`},
		{"bucket missing for recovery", workers.TriggerRecovery, map[string]string{"BACKUP_BUCKET": ""}, `BACKUP_BUCKET: required`},
		{"prefix without slash", workers.Backup, map[string]string{"BACKUP_PREFIX": "backups"}, `BACKUP_PREFIX: "backups" must be empty or end with '/' (and not start with one)`},
		{"prefix with leading slash", workers.PruneBackups, map[string]string{"BACKUP_PREFIX": "/backups/"}, `BACKUP_PREFIX: "/backups/" must be empty or end with '/' (and not start with one)`},
		{"keep-last not a number", workers.PruneBackups, map[string]string{"RETENTION_KEEP_LAST": "x"}, `RETENTION_KEEP_LAST: "x" is not an integer`},
		{"keep-last zero", workers.PruneBackups, map[string]string{"RETENTION_KEEP_LAST": "0"}, `RETENTION_KEEP_LAST: 0 is out of range [1, 1000000]`},
		{"hourly negative", workers.PruneBackups, map[string]string{"RETENTION_HOURLY_HOURS": "-1"}, `RETENTION_HOURLY_HOURS: -1 is out of range [0, 1000000]`},
		{"daily fractional", workers.PruneBackups, map[string]string{"RETENTION_DAILY_DAYS": "1.5"}, `RETENTION_DAILY_DAYS: "1.5" is not an integer`},
		{"weekly not a number", workers.PruneBackups, map[string]string{"RETENTION_WEEKLY_WEEKS": "four"}, `RETENTION_WEEKLY_WEEKS: "four" is not an integer`},
		{"threshold zero", workers.HealthProbe, map[string]string{"RECOVERY_THRESHOLD": "0"}, `RECOVERY_THRESHOLD: 0 is out of range [1, 1000000]`},
		{"threshold not a number", workers.TriggerRecovery, map[string]string{"RECOVERY_THRESHOLD": "three"}, `RECOVERY_THRESHOLD: "three" is not an integer`},
		{"cool-down not a number", workers.TriggerRecovery, map[string]string{"RECOVERY_COOLDOWN_SECONDS": "1h"}, `RECOVERY_COOLDOWN_SECONDS: "1h" is not an integer`},
		{"cool-down negative", workers.HealthProbe, map[string]string{"RECOVERY_COOLDOWN_SECONDS": "-5"}, `RECOVERY_COOLDOWN_SECONDS: -5 is out of range [0, 31622400]`},
		{"path style not a bool", workers.Backup, map[string]string{"CPWARDEN_LOCAL_S3_PATH_STYLE": "yes please"}, `CPWARDEN_LOCAL_S3_PATH_STYLE: "yes please" is not true or false`},
		{"instance endpoint not loopback", workers.RemoveMember, map[string]string{"CPWARDEN_LOCAL_INSTANCE_ENDPOINTS": "i-1=https://10.0.0.5:2379"}, `CPWARDEN_LOCAL_INSTANCE_ENDPOINTS: i-1: "https://10.0.0.5:2379" is not on a loopback address (127.0.0.0/8): this variable is for local runs only`},
		{"instance endpoint by name", workers.Backup, map[string]string{"CPWARDEN_LOCAL_INSTANCE_ENDPOINTS": "i-1=https://localhost:2379"}, `CPWARDEN_LOCAL_INSTANCE_ENDPOINTS: i-1: "https://localhost:2379" is not on a loopback address (127.0.0.0/8): this variable is for local runs only`},
		{"instance endpoint without id", workers.HealthProbe, map[string]string{"CPWARDEN_LOCAL_INSTANCE_ENDPOINTS": "https://127.0.0.2:2379"}, `CPWARDEN_LOCAL_INSTANCE_ENDPOINTS: "https://127.0.0.2:2379" is not <instance-id>=<url>`},
		{"instance endpoint not https", workers.RemoveMember, map[string]string{"CPWARDEN_LOCAL_INSTANCE_ENDPOINTS": "i-1=http://127.0.0.2:2379"}, `CPWARDEN_LOCAL_INSTANCE_ENDPOINTS: i-1: "http://127.0.0.2:2379" is not an https://ip:port URL`},
		{"instance listed twice", workers.RemoveMember, map[string]string{"CPWARDEN_LOCAL_INSTANCE_ENDPOINTS": "i-1=https://127.0.0.2:2379,i-1=https://127.0.0.3:2379"}, `CPWARDEN_LOCAL_INSTANCE_ENDPOINTS: i-1 listed twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.handler
			if h == "" {
				h = workers.Drain
			}
			env := validEnv(h)
			maps.Copy(env, c.set)
			_, err := LoadConfig(lookup(env))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if !slices.Contains(lines, c.want) {
				t.Fatalf("error:\n%v\nwant the line:\n%s", err, c.want)
			}
			if len(lines) != 1 {
				t.Fatalf("one bad variable gave %d lines:\n%v", len(lines), err)
			}
		})
	}
}

func handlerList() string {
	var names []string
	for _, h := range workers.All {
		names = append(names, string(h))
	}
	return strings.Join(names, ", ")
}

func TestAllConfigErrorsAreReportedAtOnce(t *testing.T) {
	env := validEnv(workers.HealthProbe)
	env["CLUSTER_NAME"] = ""
	env["ETCD_CLIENT_PORT"] = "port"
	env["RECOVERY_THRESHOLD"] = "0"
	_, err := LoadConfig(lookup(env))
	if err == nil {
		t.Fatal("no error")
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("%T holds no config error", err)
	}
	var vars []string
	for _, line := range strings.Split(err.Error(), "\n") {
		v, _, _ := strings.Cut(line, ":")
		vars = append(vars, v)
	}
	want := []string{"CLUSTER_NAME", "ETCD_CLIENT_PORT", "RECOVERY_THRESHOLD"}
	if !slices.Equal(vars, want) {
		t.Fatalf("variables named: %v, want %v", vars, want)
	}
}

func TestConfigValuesAndDefaults(t *testing.T) {
	t.Run("values as set", func(t *testing.T) {
		env := validEnv(workers.HealthProbe)
		maps.Copy(env, map[string]string{
			"LOG_LEVEL": "DEBUG", "ETCD_ENDPOINTS": " https://127.0.0.2:2379, https://127.0.0.3:2379 ",
			"ETCD_CLIENT_PORT": "12379", "RECOVERY_THRESHOLD": "2", "RECOVERY_COOLDOWN_SECONDS": "0",
			"CPWARDEN_LOCAL_S3_PATH_STYLE":      "true",
			"CPWARDEN_LOCAL_INSTANCE_ENDPOINTS": "i-0a=https://127.0.0.2:40001, i-0b=https://127.0.0.3:40002",
		})
		cfg, err := LoadConfig(lookup(env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.LogLevel.String() != "DEBUG" || cfg.EtcdClientPort != 12379 || cfg.RecoveryThreshold != 2 ||
			cfg.RecoveryCooldown != 0 || !cfg.S3PathStyle || cfg.ASG != "prod-1-control-plane" || cfg.KubeSecret == "" {
			t.Fatalf("config = %+v", cfg)
		}
		if !slices.Equal(cfg.EtcdEndpoints, []string{"https://127.0.0.2:2379", "https://127.0.0.3:2379"}) {
			t.Fatalf("endpoints = %q", cfg.EtcdEndpoints)
		}
		if len(cfg.InstanceEndpoints) != 2 || cfg.InstanceEndpoints["i-0b"].Host != "127.0.0.3:40002" {
			t.Fatalf("instance endpoints = %v", cfg.InstanceEndpoints)
		}
	})
	t.Run("defaults are the template's", func(t *testing.T) {
		env := map[string]string{HandlerVar: string(workers.PruneBackups), "CLUSTER_NAME": "c", "BACKUP_BUCKET": "b"}
		cfg, err := LoadConfig(lookup(env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Retention != (backup.Retention{Newest: 24, Hourly: 24, Daily: 7, Weekly: 8}) || cfg.Prefix != "backups/" {
			t.Fatalf("retention %+v prefix %q", cfg.Retention, cfg.Prefix)
		}
		// Set but empty is the template's empty parameter: no prefix.
		env["BACKUP_PREFIX"] = ""
		if cfg, err = LoadConfig(lookup(env)); err != nil || cfg.Prefix != "" {
			t.Fatalf("an empty BACKUP_PREFIX gave prefix %q (%v), want none", cfg.Prefix, err)
		}
		env = map[string]string{HandlerVar: string(workers.HealthProbe), "CLUSTER_NAME": "c", "BACKUP_BUCKET": "b",
			"CONTROL_PLANE_ASG": "g", "ETCD_TLS_SECRET_ARN": "e", "KUBE_SECRET_ARN": "k"}
		cfg, err = LoadConfig(lookup(env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.RecoveryThreshold != 5 || cfg.RecoveryCooldown != time.Hour || cfg.EtcdClientPort != 2379 || cfg.LogLevel.String() != "INFO" {
			t.Fatalf("defaults: %+v", cfg)
		}
	})
	t.Run("local variables only where they apply", func(t *testing.T) {
		env := validEnv(workers.CompleteLifecycle)
		env["CPWARDEN_LOCAL_S3_PATH_STYLE"] = "not a bool"
		env["CPWARDEN_LOCAL_INSTANCE_ENDPOINTS"] = "garbage"
		if _, err := LoadConfig(lookup(env)); err != nil {
			t.Fatalf("complete-lifecycle uses neither S3 nor etcd, yet: %v", err)
		}
	})
}
