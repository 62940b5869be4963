package workerset

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"k8s.io/client-go/kubernetes"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/drain"
	"github.com/cpwarden/cpwarden/workers/drain/kubecreds"
	"github.com/cpwarden/cpwarden/workers/health"
	"github.com/cpwarden/cpwarden/workers/lifecycle"
	"github.com/cpwarden/cpwarden/workers/member"
)

// settings are the parsed Config.Settings the in-process workers need.
type settings struct {
	cluster, asg, etcdSecret, kubeSecret, bucket, prefix string
	endpoints                                            []string
	port                                                 int
	retention                                            backup.Retention
	threshold                                            int
	coolDown                                             time.Duration
	s3PathStyle                                          bool
	instanceEndpoints                                    map[string]string
}

// parseSettings reads the settings, naming the variable of any bad value.
func parseSettings(m map[envnames.Var]string) (settings, error) {
	s := settings{
		cluster: m[envnames.ClusterName], asg: m[envnames.ControlPlaneASG],
		etcdSecret: m[envnames.EtcdTLSSecretARN], kubeSecret: m[envnames.KubeSecretARN],
		bucket: m[envnames.BackupBucket], prefix: m[envnames.BackupPrefix],
		port: 2379, retention: backup.DefaultRetention(), threshold: 3, coolDown: time.Hour,
	}
	var errs []error
	num := func(v envnames.Var, dst *int, lo int) {
		raw := strings.TrimSpace(m[v])
		if raw == "" {
			return
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < lo {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer >= %d", v, raw, lo))
			return
		}
		*dst = n
	}
	num(envnames.EtcdClientPort, &s.port, 1)
	num(envnames.RetentionKeepLast, &s.retention.Newest, 1)
	num(envnames.RetentionHourlyHours, &s.retention.Hourly, 0)
	num(envnames.RetentionDailyDays, &s.retention.Daily, 0)
	num(envnames.RetentionWeeklyWeeks, &s.retention.Weekly, 0)
	num(envnames.RecoveryThreshold, &s.threshold, 1)
	cool := -1
	num(envnames.RecoveryCooldownSeconds, &cool, 0)
	switch {
	case cool == 0:
		s.coolDown = 1 // 0 means no cool-down; health.Config reads 0 as its default
	case cool > 0:
		s.coolDown = time.Duration(cool) * time.Second
	}
	for _, ep := range strings.Split(m[envnames.EtcdEndpoints], ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			s.endpoints = append(s.endpoints, ep)
		}
	}
	if raw := strings.TrimSpace(m[envnames.LocalS3PathStyle]); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", envnames.LocalS3PathStyle, raw))
		}
		s.s3PathStyle = b
	}
	if raw := strings.TrimSpace(m[envnames.LocalInstanceEndpoints]); raw != "" {
		s.instanceEndpoints = map[string]string{}
		for _, e := range strings.Split(raw, ",") {
			id, u, ok := strings.Cut(strings.TrimSpace(e), "=")
			pu, err := url.Parse(u)
			if !ok || err != nil || pu.Scheme != "https" {
				errs = append(errs, fmt.Errorf("%s: %q is not <instance-id>=https://host:port", envnames.LocalInstanceEndpoints, e))
				continue
			}
			if ip := net.ParseIP(pu.Hostname()); ip == nil || !ip.IsLoopback() {
				errs = append(errs, fmt.Errorf("%s: %q is not on a loopback address", envnames.LocalInstanceEndpoints, e))
				continue
			}
			s.instanceEndpoints[id] = u
		}
	}
	return s, errors.Join(errs...)
}

// addressMap is how discovery turns an instance into its etcd endpoint.
func (s settings) addressMap() member.AddressMap {
	if s.instanceEndpoints == nil {
		return member.ClientPort(s.port)
	}
	return func(i member.Instance) (string, string, error) {
		u, ok := s.instanceEndpoints[i.ID]
		if !ok {
			return "", "", fmt.Errorf("instance %s is not in %s", i.ID, envnames.LocalInstanceEndpoints)
		}
		pu, _ := url.Parse(u)
		return pu.Hostname(), u, nil
	}
}

// InProcess builds every worker in this process. It reads the workers'
// secrets (etcd TLS, Kubernetes credentials) from Secrets Manager now, so a
// bad secret fails here rather than in the middle of a run.
func InProcess(ctx context.Context, cfg Config) (*Set, error) {
	if err := check(cfg.Settings); err != nil {
		return nil, err
	}
	s, err := parseSettings(cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("workerset: %w", err)
	}
	out := NewOutput(cfg.Log)
	log := slog.New(slog.NewTextHandler(out, nil))
	sm := secretsmanager.NewFromConfig(cfg.AWS)
	asgc, ec2c, ssmc := autoscaling.NewFromConfig(cfg.AWS), ec2.NewFromConfig(cfg.AWS), ssm.NewFromConfig(cfg.AWS)
	s3cfg := cfg.S3
	if s3cfg.Region == "" {
		s3cfg = cfg.AWS
	}
	s3c := s3.NewFromConfig(s3cfg, func(o *s3.Options) { o.UsePathStyle = s.s3PathStyle })

	etcdTLS, err := loadEtcdTLS(ctx, sm, s.etcdSecret)
	if err != nil {
		return nil, fmt.Errorf("workerset: %s: %w", envnames.EtcdTLSSecretARN, err)
	}
	kubeCfg, err := kubecreds.Load(ctx, sm, s.kubeSecret)
	if err != nil {
		return nil, fmt.Errorf("workerset: %s: %w", envnames.KubeSecretARN, err)
	}
	kube, err := kubernetes.NewForConfig(kubeCfg)
	if err != nil {
		return nil, fmt.Errorf("workerset: %s: %w", envnames.KubeSecretARN, err)
	}
	readyz, err := health.NewReadyz(kubeCfg)
	if err != nil {
		return nil, fmt.Errorf("workerset: %w", err)
	}

	disc := member.NewASGDiscovery(s.asg, asgc, ec2c, s.addressMap())
	var peers member.Peers = disc
	if len(s.endpoints) > 0 {
		peers = member.StaticPeers(s.endpoints)
	}
	with := func(h workers.Handler) *slog.Logger { return log.With("handler", string(h)) }

	dw := drain.New(kube, ec2c, drain.Config{})
	dw.Log = with(workers.Drain)
	mw := member.New(member.Config{Logger: with(workers.RemoveMember)}, member.Deps{Peers: peers, Dialer: member.TLSDialer{TLS: etcdTLS}, Resolver: disc})
	lw := lifecycle.New(asgc)
	lw.Log = with(workers.CompleteLifecycle)
	bw := backup.New(backup.Config{Bucket: s.bucket, Prefix: s.prefix, Retention: s.retention, Logger: with(workers.Backup)},
		backup.Deps{Peers: peers, Dialer: backup.TLSDialer{TLS: etcdTLS}, S3: s3c})
	hw := health.New(health.Config{
		ClusterName: s.cluster, AutoScalingGroup: s.asg, Bucket: s.bucket, Prefix: s.prefix,
		FailureThreshold: s.threshold, CoolDown: s.coolDown,
	}, health.Deps{Peers: peers, Etcd: health.TLSDialer{TLS: etcdTLS}, API: readyz, ASG: asgc, EC2: ec2c, SSM: ssmc, S3: s3c})
	hw.Log = with(workers.HealthProbe)

	r := &registrar{fns: asl.NewFunctions(), cluster: s.cluster, out: out, log: log, cfg: cfg}
	register(r, workers.Drain, dw.Drain)
	register(r, workers.RemoveMember, mw.Remove)
	register(r, workers.CompleteLifecycle, lw.Complete)
	register(r, workers.LifecycleHeartbeat, lw.Heartbeat)
	register(r, workers.Backup, bw.Backup)
	register(r, workers.VerifyBackup, bw.Verify)
	register(r, workers.PruneBackups, bw.Prune)
	register(r, workers.HealthProbe, hw.Probe)
	register(r, workers.TriggerRecovery, hw.TriggerRecovery)
	register(r, workers.ReportRecovered, hw.ReportRecovered)
	return &Set{Mode: "in-process", resolver: r.fns, out: out}, nil
}

type registrar struct {
	fns     *asl.Functions
	cluster string
	out     *Output
	log     *slog.Logger
	cfg     Config
}

// timedOut is the error type Lambda reports for an invocation that ran past
// the function's timeout.
const timedOut = "Sandbox.Timedout"

// register makes fn handler h's function: the payload decoded inside the
// EMF step (so bad input counts as the step's failure), the step metrics
// and the worker's own, the Lambda context (request ID, function ARN, the
// timeout as deadline), and the error named as the bootstrap names it.
func register[In, Out any](r *registrar, h workers.Handler, fn func(context.Context, In) (Out, error)) {
	decoded := func(ctx context.Context, payload json.RawMessage) (Out, error) {
		var in In
		if p := bytes.TrimSpace(payload); len(p) > 0 {
			if err := json.Unmarshal(p, &in); err != nil {
				var zero Out
				return zero, faults.New(faults.InputInvalid, "%s: the input is not the JSON this step takes: %v", h, err)
			}
		}
		return fn(ctx, in)
	}
	name := FunctionName(h)
	env := func(k string) string {
		if k == "AWS_LAMBDA_FUNCTION_NAME" {
			return name
		}
		return ""
	}
	// One container per function: its first invocation is the cold start.
	container := emf.NewContainerFromEnv(env)
	timeout := r.cfg.timeout(h)
	r.fns.Handle(name, func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		ctx, cancel := withDeadline(ctx, timeout)
		defer cancel()
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
			AwsRequestID:       newRequestID(),
			InvokedFunctionArn: statemachines.LocalResource(h),
		})
		// The invocation's documents are held until it ends: Lambda stops
		// a function at its timeout, before it prints anything more.
		var docs bytes.Buffer
		step := emf.Step(h.Step(), h.Namespace(), decoded,
			emf.WithDimension("ClusterName", r.cluster),
			emf.WithContainer(container),
			emf.WithWriter(&docs),
			emf.WithSlog(r.log))
		out, err := step(ctx, payload)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, messages.InvokeResponse_Error{Type: timedOut, Message: fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())}
		}
		_, _ = r.out.Write(docs.Bytes())
		if err != nil {
			return nil, messages.InvokeResponse_Error{Type: faults.Name(err), Message: err.Error()}
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, messages.InvokeResponse_Error{Type: faults.Internal, Message: err.Error()}
		}
		return b, nil
	})
}

// etcdSecret is the etcd TLS secret's JSON (envnames ETCD_TLS_SECRET_ARN).
type etcdSecret struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	CA   string `json:"ca"`
}

func loadEtcdTLS(ctx context.Context, sm kubecreds.SecretsManager, id string) (*tls.Config, error) {
	if id == "" {
		return nil, errors.New("not set")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, err
	}
	var s etcdSecret
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &s); err != nil {
		return nil, fmt.Errorf("the secret is not a JSON object with cert, key and ca: %w", err)
	}
	pair, err := tls.X509KeyPair([]byte(s.Cert), []byte(s.Key))
	if err != nil {
		return nil, fmt.Errorf("the secret's cert and key: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(s.CA)) {
		return nil, errors.New("the secret's ca holds no PEM certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
