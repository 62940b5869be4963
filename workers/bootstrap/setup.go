package main

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

// process is what the bootstrap takes from the process it runs in.
type process struct {
	// Getenv reads the function's environment (os.Getenv in main). The AWS
	// SDK reads its own AWS_* variables from the process environment.
	Getenv func(string) string
	// Stdout receives the EMF documents: Lambda ships stdout to CloudWatch
	// Logs, which turns them into metrics.
	Stdout io.Writer
	// Stderr receives the JSON logs.
	Stderr io.Writer
}

// function is a configured Lambda function, ready for lambda.Start.
type function struct {
	Config  config
	Log     *slog.Logger
	Handler lambda.Handler
}

// setup is the bootstrap's init: it reads and checks the configuration,
// builds the AWS clients and the worker the handler names. A configuration
// error names its variable. Secrets are read later, at the first invocation
// (see lazy).
func setup(ctx context.Context, p process) (*function, error) {
	cfg, err := loadConfig(p.Getenv)
	if err != nil {
		return nil, err
	}
	// The workers name the cluster in their own records; the handler says
	// which function of the stack logged.
	log := slog.New(slog.NewJSONHandler(p.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("handler", string(cfg.Handler))
	ac, err := loadAWS(ctx)
	if err != nil {
		return nil, err
	}
	steps := []emf.StepOption{
		emf.WithDimension("ClusterName", cfg.Cluster),
		// One container for the process: ColdStart is reported once.
		emf.WithContainer(emf.NewContainerFromEnv(p.Getenv)),
		emf.WithWriter(p.Stdout),
		emf.WithSlog(log),
	}
	h, err := build(cfg, clients{cfg: ac, s3PathStyle: cfg.S3PathStyle}, log, steps)
	if err != nil {
		return nil, err
	}
	return &function{Config: cfg, Log: log, Handler: h}, nil
}

// loadAWS loads the SDK configuration the standard way (AWS_REGION, the
// credentials Lambda puts in the environment, AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> for local runs). The instance metadata
// service is switched off: Lambda has none, and locally it would be a
// request to 169.254.169.254.
func loadAWS(ctx context.Context) (aws.Config, error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS SDK configuration (AWS_* variables): %w", err)
	}
	if ac.Region == "" {
		return aws.Config{}, &configError{Var: "AWS_REGION", Reason: "required (Lambda sets it; set it for local runs)"}
	}
	return ac, nil
}

// clients builds the SDK clients, once per container.
type clients struct {
	cfg         aws.Config
	s3PathStyle bool
}

func (c clients) s3() *s3.Client {
	return s3.NewFromConfig(c.cfg, func(o *s3.Options) { o.UsePathStyle = c.s3PathStyle })
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
func discovery(cfg config, c clients) *member.ASGDiscovery {
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
func peers(cfg config, d *member.ASGDiscovery) member.Peers {
	if len(cfg.EtcdEndpoints) > 0 {
		return member.StaticPeers(cfg.EtcdEndpoints)
	}
	return d
}

// build returns the Lambda handler of cfg.Handler.
func build(cfg config, c clients, log *slog.Logger, steps []emf.StepOption) (lambda.Handler, error) {
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
		h = bind(cfg.Handler, log, steps, func(ctx context.Context, in drain.In) (drain.Out, error) {
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
		h = bind(cfg.Handler, log, steps, func(ctx context.Context, in member.In) (member.Out, error) {
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
			h = bind(cfg.Handler, log, steps, lw.Complete)
		} else {
			h = bind(cfg.Handler, log, steps, lw.Heartbeat)
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
		h = bind(cfg.Handler, log, steps, func(ctx context.Context, in backup.In) (backup.Out, error) {
			b, err := w.get(ctx)
			if err != nil {
				return backup.Out{}, err
			}
			return b.Backup(ctx, in)
		})

	case workers.VerifyBackup:
		h = bind(cfg.Handler, log, steps, backup.New(backupConfig, backup.Deps{S3: c.s3()}).Verify)

	case workers.PruneBackups:
		h = bind(cfg.Handler, log, steps, backup.New(backupConfig, backup.Deps{S3: c.s3()}).Prune)

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
		h = bind(cfg.Handler, log, steps, func(ctx context.Context, in health.ProbeIn) (health.ProbeOut, error) {
			hw, err := w.get(ctx)
			if err != nil {
				return health.ProbeOut{}, err
			}
			return hw.Probe(ctx, in)
		})

	case workers.TriggerRecovery:
		hw := health.New(healthConfig, health.Deps{SSM: c.ssm(), S3: c.s3()})
		hw.Log = log
		h = bind(cfg.Handler, log, steps, hw.TriggerRecovery)

	case workers.ReportRecovered:
		hw := health.New(healthConfig, health.Deps{SSM: c.ssm()})
		hw.Log = log
		h = bind(cfg.Handler, log, steps, hw.ReportRecovered)

	default:
		// loadConfig accepts only the handlers above; a handler added to
		// workers.All without a case here fails this package's tests.
		return nil, &handlerError{got: string(cfg.Handler)}
	}
	return h, nil
}
