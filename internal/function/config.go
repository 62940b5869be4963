package function

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/health"
)

// HandlerVar is the variable Lambda sets to the function's Handler setting.
const HandlerVar = "_HANDLER"

// Config is everything a function reads from the environment, parsed and
// checked. Each handler reads only the variables the template sets on its
// function (workers.Spec.Env) and the local-only ones that apply to it.
type Config struct {
	Handler  workers.Handler
	Cluster  string
	LogLevel slog.Level

	ASG            string
	EtcdTLSSecret  string
	EtcdEndpoints  []string
	EtcdClientPort int
	KubeSecret     string

	// DeleteUnmanagedPods is the drain's policy for pods no controller
	// owns: drain.Config.DeleteUnmanagedPods.
	DeleteUnmanagedPods bool

	Bucket    string
	Prefix    string
	Retention backup.Retention

	RecoveryThreshold int
	RecoveryCooldown  time.Duration

	// Local-only (envnames.Local).
	S3PathStyle       bool
	InstanceEndpoints map[string]*url.URL
}

// ConfigError is one variable's problem. Its message starts with the
// variable's name, so an operator reading the init failure knows which
// setting of which function to fix.
type ConfigError struct {
	Var    string
	Reason string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Reason }

// clusterNamePattern is what the workers accept (an SSM path segment, an S3
// key segment, a metric dimension value); the template's own pattern is
// stricter, so every deployed name passes.
var clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// LoadConfig reads and checks the environment of one function through
// lookup (os.LookupEnv in the bootstrap). It reports every problem at once,
// one line each, each naming its variable. A variable that is unset takes
// the template's default for it, so a function run by hand behaves like the
// deployed one; set to the empty string, it means what the template's empty
// parameter means.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	getenv := func(k string) string {
		v, _ := lookup(k)
		return v
	}
	// The optional settings start from the workers' defaults, which are
	// the template's: a function run by hand, without every variable,
	// behaves like the deployed one.
	cfg := Config{
		LogLevel:          slog.LevelInfo,
		EtcdClientPort:    etcdconn.DefaultClientPort,
		Retention:         backup.DefaultRetention(),
		RecoveryThreshold: health.DefaultFailureThreshold,
		RecoveryCooldown:  health.DefaultCoolDown,
	}
	h := workers.Handler(strings.TrimSpace(getenv(HandlerVar)))
	if !h.Valid() {
		return cfg, &HandlerError{got: string(h)}
	}
	cfg.Handler = h

	var errs []error
	fail := func(v envnames.Var, format string, args ...any) {
		errs = append(errs, &ConfigError{Var: string(v), Reason: fmt.Sprintf(format, args...)})
	}
	required := func(v envnames.Var, raw string, dst *string) {
		if raw == "" {
			fail(v, "required")
		}
		*dst = raw
	}
	vars := workers.EnvOf(h)
	for _, v := range vars {
		raw := strings.TrimSpace(getenv(string(v)))
		switch v {
		case envnames.ClusterName:
			switch {
			case raw == "":
				fail(v, "required")
			case !clusterNamePattern.MatchString(raw):
				fail(v, "%q is not a cluster name (1-128 letters, digits, '.', '_' or '-', starting with a letter or digit)", raw)
			default:
				cfg.Cluster = raw
			}
		case envnames.LogLevel:
			if raw == "" {
				continue
			}
			if err := cfg.LogLevel.UnmarshalText([]byte(raw)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(raw)) {
				fail(v, "%q is not one of debug, info, warn, error", raw)
			}
		case envnames.ControlPlaneASG:
			cfg.ASG = raw
		case envnames.EtcdTLSSecretARN:
			required(v, raw, &cfg.EtcdTLSSecret)
		case envnames.EtcdEndpoints:
			eps, err := parseEndpoints(raw)
			if err != nil {
				fail(v, "%v", err)
			}
			cfg.EtcdEndpoints = eps
		case envnames.EtcdClientPort:
			setInt(&cfg.EtcdClientPort, raw, 1, 65535, v, fail)
		case envnames.KubeSecretARN:
			required(v, raw, &cfg.KubeSecret)
		case envnames.DrainUnmanagedPods:
			if raw == "" {
				raw = drain.DefaultUnmanagedPods
			}
			del, ok := drain.ParseUnmanagedPods(raw)
			if !ok {
				fail(v, "%q is not %s or %s", raw, drain.UnmanagedPodsRefuse, drain.UnmanagedPodsDelete)
			}
			cfg.DeleteUnmanagedPods = del
		case envnames.BackupBucket:
			required(v, raw, &cfg.Bucket)
		case envnames.BackupPrefix:
			// Not trimmed: a key prefix is taken as written. Empty is a
			// prefix (none); unset is the template's default.
			raw, set := lookup(string(v))
			if !set {
				raw = backup.DefaultPrefix
			}
			if raw != "" && (!strings.HasSuffix(raw, "/") || strings.HasPrefix(raw, "/")) {
				fail(v, "%q must be empty or end with '/' (and not start with one)", raw)
			}
			cfg.Prefix = raw
		case envnames.RetentionKeepLast:
			setInt(&cfg.Retention.Newest, raw, 1, 1_000_000, v, fail)
		case envnames.RetentionHourlyHours:
			setInt(&cfg.Retention.Hourly, raw, 0, 1_000_000, v, fail)
		case envnames.RetentionDailyDays:
			setInt(&cfg.Retention.Daily, raw, 0, 1_000_000, v, fail)
		case envnames.RetentionWeeklyWeeks:
			setInt(&cfg.Retention.Weekly, raw, 0, 1_000_000, v, fail)
		case envnames.RecoveryThreshold:
			setInt(&cfg.RecoveryThreshold, raw, 1, 1_000_000, v, fail)
		case envnames.RecoveryCooldownSeconds:
			if raw != "" {
				n, err := intIn(raw, 0, 366*24*3600)
				if err != nil {
					fail(v, "%v", err)
				}
				cfg.RecoveryCooldown = time.Duration(n) * time.Second
			}
		}
	}

	// Settings that only make sense together.
	if slices.Contains(vars, envnames.EtcdEndpoints) && cfg.ASG == "" && len(cfg.EtcdEndpoints) == 0 {
		fail(envnames.ControlPlaneASG, "required when %s is empty (the etcd endpoints are discovered from the group)", envnames.EtcdEndpoints)
	}
	if h == workers.HealthProbe || h == workers.TriggerRecovery || h == workers.ReportRecovered {
		if cfg.ASG == "" && !hasErrorFor(errs, envnames.ControlPlaneASG) {
			fail(envnames.ControlPlaneASG, "required")
		}
	}

	// Local-only variables, read only by the handlers they concern.
	if slices.Contains(vars, envnames.BackupBucket) {
		if raw := strings.TrimSpace(getenv(string(envnames.LocalS3PathStyle))); raw != "" {
			b, err := strconv.ParseBool(raw)
			if err != nil {
				fail(envnames.LocalS3PathStyle, "%q is not true or false", raw)
			}
			cfg.S3PathStyle = b
		}
	}
	if slices.Contains(vars, envnames.EtcdEndpoints) {
		m, err := parseInstanceEndpoints(getenv(string(envnames.LocalInstanceEndpoints)))
		if err != nil {
			fail(envnames.LocalInstanceEndpoints, "%v", err)
		}
		cfg.InstanceEndpoints = m
	}
	return cfg, errors.Join(errs...)
}

func hasErrorFor(errs []error, v envnames.Var) bool {
	for _, err := range errs {
		var ce *ConfigError
		if errors.As(err, &ce) && ce.Var == string(v) {
			return true
		}
	}
	return false
}

// HandlerError is an unknown or missing _HANDLER.
type HandlerError struct{ got string }

func (e *HandlerError) Error() string {
	names := make([]string, len(workers.All))
	for i, h := range workers.All {
		names[i] = string(h)
	}
	valid := strings.Join(names, ", ")
	if e.got == "" {
		return HandlerVar + ": required (the function's Handler setting; one of " + valid + ")"
	}
	return fmt.Sprintf("%s: %q is not a cpwarden handler (valid: %s)", HandlerVar, e.got, valid)
}

func intIn(raw string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", raw)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}

func setInt(dst *int, raw string, lo, hi int, v envnames.Var, fail func(envnames.Var, string, ...any)) {
	if raw == "" {
		return
	}
	n, err := intIn(raw, lo, hi)
	if err != nil {
		fail(v, "%v", err)
		return
	}
	*dst = n
}

// parseEndpoints reads a comma-separated list of https:// etcd client URLs.
func parseEndpoints(raw string) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("%q is not an https://host:port URL", s)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseInstanceEndpoints reads "i-1=https://127.0.0.2:2379,i-2=...". Every
// URL must be https on a loopback address: the variable exists for local
// runs against emulators, and a production address in it is a mistake.
func parseInstanceEndpoints(raw string) (map[string]*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	m := map[string]*url.URL{}
	for _, entry := range strings.Split(raw, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, s, ok := strings.Cut(entry, "=")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return nil, fmt.Errorf("%q is not <instance-id>=<url>", entry)
		}
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme != "https" || u.Port() == "" {
			return nil, fmt.Errorf("%s: %q is not an https://ip:port URL", id, s)
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("%s: %q is not on a loopback address (127.0.0.0/8): this variable is for local runs only", id, s)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("%s listed twice", id)
		}
		m[id] = u
	}
	return m, nil
}
