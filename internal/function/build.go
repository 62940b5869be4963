package function

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/secrets"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/health"
	"github.com/cpwarden/cpwarden/workers/lifecycle"
	"github.com/cpwarden/cpwarden/workers/member"
)

// Process is what a Lambda function takes from the process it runs in.
type Process struct {
	// LookupEnv reads the function's environment (os.LookupEnv in the
	// bootstrap).
	// The AWS SDK reads its own AWS_* variables from the process
	// environment.
	LookupEnv func(string) (string, bool)
	// Stdout receives the EMF documents: Lambda ships stdout to CloudWatch
	// Logs, which turns them into metrics.
	Stdout io.Writer
	// Stderr receives the JSON logs.
	Stderr io.Writer
}

// Function is a configured Lambda function, ready for lambda.Start.
type Function struct {
	Config  Config
	Log     *slog.Logger
	Handler lambda.Handler
}

// Setup is the Lambda init of the bootstrap: it reads and checks the
// configuration, loads the AWS SDK configuration and builds the handler the
// configuration names. A configuration error names its variable. Secrets
// are read later, at the first invocation (see lazy).
func Setup(ctx context.Context, p Process) (*Function, error) {
	cfg, err := LoadConfig(p.LookupEnv)
	if err != nil {
		return nil, err
	}
	log := NewLogger(p.Stderr, cfg)
	ac, err := LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	h, err := Build(cfg, Options{
		AWS: ac, Log: log, Metrics: p.Stdout,
		// One container for the process: ColdStart is reported once.
		Container: emf.NewContainerFromEnv(func(k string) string { v, _ := p.LookupEnv(k); return v }),
	})
	if err != nil {
		return nil, err
	}
	return &Function{Config: cfg, Log: log, Handler: h}, nil
}

// NewLogger is the JSON logger of a deployed function at its configured
// level. The workers name the cluster in their own records; the handler
// attribute says which function of the stack logged.
func NewLogger(w io.Writer, cfg Config) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("handler", string(cfg.Handler))
}

// LoadAWS loads the SDK configuration the standard way (AWS_REGION, the
// credentials Lambda puts in the environment, AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> for local runs). The instance metadata
// service is switched off: Lambda has none, and locally it would be a
// request to 169.254.169.254.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS SDK configuration (AWS_* variables): %w", err)
	}
	if ac.Region == "" {
		return aws.Config{}, &ConfigError{Var: "AWS_REGION", Reason: "required (Lambda sets it; set it for local runs)"}
	}
	return ac, nil
}

// Options are what Build needs besides the configuration: where the
// function's clients, logs and metrics go. Every runner of a worker (the
// Lambda bootstrap, the local in-process runner, cpwarden run --in-process)
// builds it through Build, so they all run what is deployed.
type Options struct {
	// AWS is the SDK configuration of every client (Auto Scaling, EC2, SSM,
	// Secrets Manager, S3).
	AWS aws.Config
	// S3, when its Region is set, replaces AWS for the S3 client: a local
	// run whose S3 store is not where the other emulated APIs are.
	S3 aws.Config
	// Log receives the workers' logs; nil discards them.
	Log *slog.Logger
	// Metrics receives the EMF documents; nil means os.Stdout, as in Lambda.
	// WithMetricsWriter overrides it for one invocation.
	Metrics io.Writer
	// Container is the function's execution environment, for the ColdStart
	// metric; nil means a new one.
	Container *emf.Container
}

// clients builds the SDK clients, once per container.
type clients struct {
	cfg, s3cfg  aws.Config
	s3PathStyle bool
}

func newClients(cfg Config, o Options) clients {
	c := clients{cfg: o.AWS, s3cfg: o.AWS, s3PathStyle: cfg.S3PathStyle}
	if o.S3.Region != "" {
		c.s3cfg = o.S3
	}
	return c
}

func (c clients) s3() *s3.Client {
	return s3.NewFromConfig(c.s3cfg, func(o *s3.Options) { o.UsePathStyle = c.s3PathStyle })
}
func (c clients) asg() *autoscaling.Client { return autoscaling.NewFromConfig(c.cfg) }
func (c clients) ec2() *ec2.Client         { return ec2.NewFromConfig(c.cfg) }
func (c clients) ssm() *ssm.Client         { return ssm.NewFromConfig(c.cfg) }
func (c clients) secrets() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(c.cfg)
}

// discovery finds the etcd members of the control-plane group. It also
// resolves an instance ID to the member's address, which remove-member
// needs whatever the endpoints come from.
func discovery(cfg Config, c clients) *etcdconn.ASGDiscovery {
	m := etcdconn.ClientPort(cfg.EtcdClientPort)
	if cfg.InstanceEndpoints != nil {
		m = etcdconn.LocalEndpoints(cfg.InstanceEndpoints, string(envnames.LocalInstanceEndpoints))
	}
	return etcdconn.NewASGDiscovery(cfg.ASG, c.asg(), c.ec2(), m)
}

// peers lists the etcd endpoints: the configured ones, else discovery.
func peers(cfg Config, d *etcdconn.ASGDiscovery) member.Peers {
	if len(cfg.EtcdEndpoints) > 0 {
		return etcdconn.StaticPeers(cfg.EtcdEndpoints)
	}
	return d
}

// Build returns the Lambda handler of cfg.Handler: the worker with its real
// clients, its input decoded and its errors named as Step Functions matches
// them, wrapped in the EMF step middleware.
func Build(cfg Config, o Options) (lambda.Handler, error) {
	b := newBinder(cfg.Cluster, o)
	log := b.log
	c := newClients(cfg, o)
	sm := c.secrets()
	etcdTLS := func(ctx context.Context) (*tls.Config, error) {
		t, err := secrets.LoadEtcdTLS(ctx, sm, cfg.EtcdTLSSecret)
		if err != nil {
			return nil, secretError(string(envnames.EtcdTLSSecretARN), err)
		}
		return t, nil
	}
	kubeConfig := func(ctx context.Context) (*rest.Config, error) {
		rc, err := secrets.LoadKube(ctx, sm, cfg.KubeSecret)
		if err != nil {
			return nil, secretError(string(envnames.KubeSecretARN), err)
		}
		return rc, nil
	}
	backupConfig := backup.Config{Bucket: cfg.Bucket, Prefix: cfg.Prefix, Retention: cfg.Retention, Logger: log}
	coolDown := cfg.RecoveryCooldown
	healthConfig := health.Config{
		ClusterName:      cfg.Cluster,
		AutoScalingGroup: cfg.ASG,
		Bucket:           cfg.Bucket,
		Prefix:           cfg.Prefix,
		FailureThreshold: cfg.RecoveryThreshold,
		CoolDown:         &coolDown, // 0, which the template allows, is no cool-down
		Logger:           log,
	}

	var h lambda.Handler
	switch cfg.Handler {
	case workers.Drain:
		ec2c := c.ec2()
		h = bindLazy(b, cfg.Handler, (*drain.Worker).Drain, func(ctx context.Context) (*drain.Worker, error) {
			rc, err := kubeConfig(ctx)
			if err != nil {
				return nil, err
			}
			kube, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return nil, secretError(string(envnames.KubeSecretARN), err)
			}
			return drain.New(drainConfig(cfg, log), drain.Deps{Kube: kube, EC2: ec2c}), nil
		})

	case workers.RemoveMember:
		d := discovery(cfg, c)
		// A member on a terminating instance votes until its own removal:
		// the projection must probe it (concurrent terminations).
		d.IncludeTerminating = true
		h = bindLazy(b, cfg.Handler, (*member.Worker).Remove, func(ctx context.Context) (*member.Worker, error) {
			t, err := etcdTLS(ctx)
			if err != nil {
				return nil, err
			}
			return member.New(member.Config{Logger: log}, member.Deps{
				Peers: peers(cfg, d), Dialer: etcdconn.As[member.Etcd]{Dialer: etcdconn.Dialer{TLS: t}}, Resolver: d,
			}), nil
		})

	case workers.CompleteLifecycle, workers.LifecycleHeartbeat:
		lw := lifecycle.New(lifecycle.Config{Logger: log}, lifecycle.Deps{API: c.asg()})
		if cfg.Handler == workers.CompleteLifecycle {
			h = bind(b, cfg.Handler, lw.Complete)
		} else {
			h = bind(b, cfg.Handler, lw.Heartbeat)
		}

	case workers.Backup:
		d := discovery(cfg, c)
		s3c := c.s3()
		h = bindLazy(b, cfg.Handler, (*backup.Worker).Backup, func(ctx context.Context) (*backup.Worker, error) {
			t, err := etcdTLS(ctx)
			if err != nil {
				return nil, err
			}
			return backup.New(backupConfig, backup.Deps{
				Peers: peers(cfg, d), Dialer: etcdconn.As[backup.Etcd]{Dialer: etcdconn.Dialer{TLS: t, SnapshotBuffers: true}}, S3: s3c,
			}), nil
		})

	case workers.VerifyBackup:
		h = bind(b, cfg.Handler, backup.New(backupConfig, backup.Deps{S3: c.s3()}).Verify)

	case workers.PruneBackups:
		h = bind(b, cfg.Handler, backup.New(backupConfig, backup.Deps{S3: c.s3()}).Prune)

	case workers.HealthProbe:
		d := discovery(cfg, c)
		asg, ec2c, ssmc, s3c := c.asg(), c.ec2(), c.ssm(), c.s3()
		h = bindLazy(b, cfg.Handler, (*health.Worker).Probe, func(ctx context.Context) (*health.Worker, error) {
			t, err := etcdTLS(ctx)
			if err != nil {
				return nil, err
			}
			rc, err := kubeConfig(ctx)
			if err != nil {
				return nil, err
			}
			api, err := health.NewReadyz(rc)
			if err != nil {
				return nil, secretError(string(envnames.KubeSecretARN), err)
			}
			return health.New(healthConfig, health.Deps{
				Peers: peers(cfg, d), Etcd: etcdconn.As[health.Etcd]{Dialer: etcdconn.Dialer{TLS: t, FailFast: true}}, API: api,
				ASG: asg, EC2: ec2c, SSM: ssmc, S3: s3c,
			}), nil
		})

	case workers.TriggerRecovery:
		h = bind(b, cfg.Handler, health.New(healthConfig, health.Deps{SSM: c.ssm(), S3: c.s3()}).TriggerRecovery)

	case workers.ReportRecovered:
		h = bind(b, cfg.Handler, health.New(healthConfig, health.Deps{SSM: c.ssm()}).ReportRecovered)

	default:
		// LoadConfig accepts only the handlers above; a handler added to
		// workers.All without a case here fails this package's tests.
		return nil, &HandlerError{got: string(cfg.Handler)}
	}
	return h, nil
}

// drainConfig is the drain worker's policy from the function's
// configuration.
func drainConfig(cfg Config, log *slog.Logger) drain.Config {
	return drain.Config{DeleteUnmanagedPods: cfg.DeleteUnmanagedPods, Logger: log}
}

// bindLazy binds call on the worker build returns, built at the first
// invocation and kept (see lazy): the workers that need a secret.
func bindLazy[W, In, Out any](b binder, h workers.Handler, call func(W, context.Context, In) (Out, error), build func(context.Context) (W, error)) lambda.Handler {
	w := newLazy(build)
	return bind(b, h, func(ctx context.Context, in In) (Out, error) {
		v, err := w.get(ctx)
		if err != nil {
			var zero Out
			return zero, err
		}
		return call(v, ctx, in)
	})
}
