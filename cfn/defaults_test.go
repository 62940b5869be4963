package cfn

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/function"
	"github.com/cpwarden/cpwarden/internal/function/functiontest"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/health"
)

// TestTemplateDefaultsAreTheFunctionDefaults: for every variable the
// template sets on a function from a parameter that has a default, the
// function core configured with that default is the function core with the
// variable unset. So a function run by hand, cpwarden run --in-process and
// the demo behave as a stack deployed with the defaults, and a default typed
// anew in one place (template, function core or worker) fails here.
func TestTemplateDefaultsAreTheFunctionDefaults(t *testing.T) {
	_, doc := generated(t)
	params := doc["Parameters"].(map[string]any)
	res := resources(doc)
	checked := map[string]bool{}
	for _, h := range workers.All {
		vars := props(res[functionID(h)])["Environment"].(map[string]any)["Variables"].(map[string]any)
		for name, value := range vars {
			ref, ok := value.(map[string]any)["Ref"].(string)
			if !ok {
				continue // computed (the bucket's name), not a parameter
			}
			def, ok := params[ref].(map[string]any)["Default"]
			if !ok {
				continue // required: nothing to default
			}
			checked[name] = true
			t.Run(string(h)+"/"+name, func(t *testing.T) {
				env := functiontest.ValidEnv(h)
				value := parameterValue(t, def)
				env[name] = value
				withDefault := load(t, env)
				delete(env, name)
				unset := load(t, env)
				if !reflect.DeepEqual(withDefault, unset) {
					t.Errorf("parameter %s defaults to %q, but a function without %s is configured differently:\nwith the default %+v\nunset            %+v",
						ref, value, name, withDefault, unset)
				}
			})
		}
	}
	// Every variable with a parameter default was compared somewhere.
	for _, v := range []string{"LOG_LEVEL", "ETCD_CLIENT_PORT", "ETCD_ENDPOINTS", "BACKUP_PREFIX", "RETENTION_KEEP_LAST",
		"RETENTION_HOURLY_HOURS", "RETENTION_DAILY_DAYS", "RETENTION_WEEKLY_WEEKS", "RECOVERY_THRESHOLD", "RECOVERY_COOLDOWN_SECONDS",
		"DRAIN_UNMANAGED_PODS"} {
		if !checked[v] {
			t.Errorf("%s was never compared with its parameter's default", v)
		}
	}
}

// TestFunctionDefaultsAreTheWorkersDefaults: the function core's unset
// values are the workers' exported defaults, the ones a worker's zero
// Config takes.
func TestFunctionDefaultsAreTheWorkersDefaults(t *testing.T) {
	env := map[string]string{function.HandlerVar: string(workers.HealthProbe), "CLUSTER_NAME": "c", "BACKUP_BUCKET": "b",
		"CONTROL_PLANE_ASG": "g", "ETCD_TLS_SECRET_ARN": "e", "KUBE_SECRET_ARN": "k"}
	cfg := load(t, env)
	want := struct {
		port, threshold int
		cool            time.Duration
		prefix          string
	}{etcdconn.DefaultClientPort, health.DefaultFailureThreshold, health.DefaultCoolDown, backup.DefaultPrefix}
	got := want
	got.port, got.threshold, got.cool, got.prefix = cfg.EtcdClientPort, cfg.RecoveryThreshold, cfg.RecoveryCooldown, cfg.Prefix
	if got != want {
		t.Errorf("function core defaults %+v, workers' %+v", got, want)
	}
	env[function.HandlerVar] = string(workers.PruneBackups)
	if cfg := load(t, env); cfg.Retention != backup.DefaultRetention() {
		t.Errorf("function core retention %+v, backup.DefaultRetention %+v", cfg.Retention, backup.DefaultRetention())
	}
	env[function.HandlerVar] = string(workers.Drain)
	if cfg := load(t, env); cfg.DeleteUnmanagedPods != (drain.Config{}).DeleteUnmanagedPods {
		t.Errorf("function core DeleteUnmanagedPods %v, the drain's zero Config %v", cfg.DeleteUnmanagedPods, (drain.Config{}).DeleteUnmanagedPods)
	}
	if del, _ := drain.ParseUnmanagedPods(drain.DefaultUnmanagedPods); del != (drain.Config{}).DeleteUnmanagedPods {
		t.Errorf("drain.DefaultUnmanagedPods %q is not the drain's zero Config", drain.DefaultUnmanagedPods)
	}
}

func load(t *testing.T, env map[string]string) function.Config {
	t.Helper()
	cfg, err := function.LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return cfg
}

// parameterValue is the environment value CloudFormation gives a parameter's
// default.
func parameterValue(t *testing.T, def any) string {
	switch d := def.(type) {
	case string:
		return d
	case float64:
		return strconv.FormatFloat(d, 'f', -1, 64)
	}
	t.Fatalf("parameter default %v (%T) is neither a string nor a number", def, def)
	return fmt.Sprint(def)
}
