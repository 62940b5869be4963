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
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/drain/kubecreds"
	"github.com/cpwarden/cpwarden/workers/health"
	"github.com/cpwarden/cpwarden/workers/lifecycle"
	"github.com/cpwarden/cpwarden/workers/member"
)

// Process is what a Lambda function takes from the process it runs in.
type Process struct {
	// Getenv reads the function's environment (os.Getenv in the bootstrap).
	// The AWS SDK reads its own AWS_* variables from the process
	// environment.
	Getenv func(string) string
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
	cfg, err := LoadConfig(p.Getenv)
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
		Container: emf.NewContainerFromEnv(p.Getenv),
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
func discovery(cfg Config, c clients) *member.ASGDiscovery {
	m := member.ClientPort(cfg.EtcdClientPort)
	if cfg.InstanceEndpoints != nil {
		m = func(i member.Instance) (string, string, error) {
			u, ok := cfg.InstanceEndpoints[i.ID]
			if !ok {
				return "", "", fmt.Errorf("instance %s is not in %s", i.ID, envnames.LocalInstanceEndpoints)
			}
			return u.Hostname(), u.String(), nil
		}
	}
	return member.NewASGDiscovery(cfg.ASG, c.asg(), c.ec2(), m)
}

// peers lists the etcd endpoints: the configured ones, else discovery.
func peers(cfg Config, d *member.ASGDiscovery) member.Peers {
	if len(cfg.EtcdEndpoints) > 0 {
		return member.StaticPeers(cfg.EtcdEndpoints)
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
		t, err := loadEtcdTLS(ctx, sm, cfg.EtcdTLSSecret)
		if err != nil {
			return nil, secretError(string(envnames.EtcdTLSSecretARN), err)
		}
		return t, nil
	}
	kubeConfig := func(ctx context.Context) (*rest.Config, error) {
		rc, err := kubecreds.Load(ctx, sm, cfg.KubeSecret)
		if err != nil {
			return nil, secretError(string(envnames.KubeSecretARN), err)
		}
		return rc, nil
	}
	backupConfig := backup.Config{Bucket: cfg.Bucket, Prefix: cfg.Prefix, Retention: cfg.Retention, Logger: log}
	healthConfig := health.Config{
		ClusterName:      cfg.Cluster,
		AutoScalingGroup: cfg.ASG,
		Bucket:           cfg.Bucket,
		Prefix:           cfg.Prefix,
		FailureThreshold: cfg.RecoveryThreshold,
		CoolDown:         cfg.RecoveryCooldown,
	}
	if cfg.RecoveryCooldown == 0 {
		// The template allows 0 (no cool-down); health.Config reads 0 as
		// "its default, 1 h". The smallest positive duration says what the
		// operator meant.
		healthConfig.CoolDown = 1
	}

	var h lambda.Handler
	switch cfg.Handler {
	case workers.Drain:
		ec2c := c.ec2()
		w := newLazy(func(ctx context.Context) (*drain.Worker, error) {
			rc, err := kubeConfig(ctx)
			if err != nil {
				return nil, err
			}
			kube, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return nil, secretError(string(envnames.KubeSecretARN), err)
			}
			d := drain.New(kube, ec2c, drain.Config{})
			d.Log = log
			return d, nil
		})
		h = bind(b, cfg.Handler, func(ctx context.Context, in drain.In) (drain.Out, error) {
			d, err := w.get(ctx)
			if err != nil {
				return drain.Out{}, err
			}
			return d.Drain(ctx, in)
		})

	case workers.RemoveMember:
		d := discovery(cfg, c)
		w := newLazy(func(ctx context.Context) (*member.Worker, error) {
			t, err := etcdTLS(ctx)
			if err != nil {
				return nil, err
			}
			return member.New(member.Config{Logger: log}, member.Deps{Peers: peers(cfg, d), Dialer: member.TLSDialer{TLS: t}, Resolver: d}), nil
		})
		h = bind(b, cfg.Handler, func(ctx context.Context, in member.In) (member.Out, error) {
			m, err := w.get(ctx)
			if err != nil {
				return member.Out{}, err
			}
			return m.Remove(ctx, in)
		})

	case workers.CompleteLifecycle, workers.LifecycleHeartbeat:
		lw := lifecycle.New(c.asg())
		lw.Log = log
		if cfg.Handler == workers.CompleteLifecycle {
			h = bind(b, cfg.Handler, lw.Complete)
		} else {
			h = bind(b, cfg.Handler, lw.Heartbeat)
		}

	case workers.Backup:
		d := discovery(cfg, c)
		s3c := c.s3()
		w := newLazy(func(ctx context.Context) (*backup.Worker, error) {
			t, err := etcdTLS(ctx)
			if err != nil {
				return nil, err
			}
			return backup.New(backupConfig, backup.Deps{Peers: peers(cfg, d), Dialer: backup.TLSDialer{TLS: t}, S3: s3c}), nil
		})
		h = bind(b, cfg.Handler, func(ctx context.Context, in backup.In) (backup.Out, error) {
			b, err := w.get(ctx)
			if err != nil {
				return backup.Out{}, err
			}
			return b.Backup(ctx, in)
		})

	case workers.VerifyBackup:
		h = bind(b, cfg.Handler, backup.New(backupConfig, backup.Deps{S3: c.s3()}).Verify)

	case workers.PruneBackups:
		h = bind(b, cfg.Handler, backup.New(backupConfig, backup.Deps{S3: c.s3()}).Prune)

	case workers.HealthProbe:
		d := discovery(cfg, c)
		asg, ec2c, ssmc, s3c := c.asg(), c.ec2(), c.ssm(), c.s3()
		w := newLazy(func(ctx context.Context) (*health.Worker, error) {
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
			hw := health.New(healthConfig, health.Deps{
				Peers: peers(cfg, d), Etcd: health.TLSDialer{TLS: t}, API: api,
				ASG: asg, EC2: ec2c, SSM: ssmc, S3: s3c,
			})
			hw.Log = log
			return hw, nil
		})
		h = bind(b, cfg.Handler, func(ctx context.Context, in health.ProbeIn) (health.ProbeOut, error) {
			hw, err := w.get(ctx)
			if err != nil {
				return health.ProbeOut{}, err
			}
			return hw.Probe(ctx, in)
		})

	case workers.TriggerRecovery:
		hw := health.New(healthConfig, health.Deps{SSM: c.ssm(), S3: c.s3()})
		hw.Log = log
		h = bind(b, cfg.Handler, hw.TriggerRecovery)

	case workers.ReportRecovered:
		hw := health.New(healthConfig, health.Deps{SSM: c.ssm()})
		hw.Log = log
		h = bind(b, cfg.Handler, hw.ReportRecovered)

	default:
		// LoadConfig accepts only the handlers above; a handler added to
		// workers.All without a case here fails this package's tests.
		return nil, &HandlerError{got: string(cfg.Handler)}
	}
	return h, nil
}
