// Package sandbox starts, in one call and on loopback only, everything a
// cpwarden workflow touches, and seeds it as a realistic control plane: a
// 3-member etcd cluster with TLS whose members are the control-plane
// instances of an Auto Scaling group (moto_server), a real kube-apiserver on
// an etcd of its own with the three control-plane nodes, workloads behind
// PodDisruptionBudgets and DaemonSets, an S3 store for the backups, the
// workers' credentials in Secrets Manager and the recovery parameters in SSM.
//
// The instances moto runs live in a VPC of 127.0.0.0/16, each with the
// private address its etcd member listens on (127.0.0.11, .12, .13 by
// default), so the workers' own discovery (instance → private IP → etcd peer
// URL, private DNS name → node and member name) runs unchanged and nothing
// ever dials an address outside loopback.
//
// moto 5.2 answers CompleteLifecycleAction and RecordLifecycleActionHeartbeat
// with HTTP 500, so the AWS endpoint the sandbox hands out is a small proxy
// in front of moto that serves those two calls itself (see BeginTermination)
// and forwards every other request.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"k8s.io/client-go/kubernetes"

	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/internal/sandbox/s3store"
)

// Options configure Start. The zero value is usable.
type Options struct {
	// ClusterName names the cluster; empty means "sandbox".
	ClusterName string
	// Dir holds the sandbox's files (etcd data, certificates, logs); empty
	// means a temporary directory that Close removes.
	Dir string
	// Progress receives one line per component as it comes up; nil
	// discards them.
	Progress io.Writer
	// AddressOffset places the control-plane instances (and their etcd
	// members) on 127.0.0.(AddressOffset+1..3); 0 means 10.
	AddressOffset int
	// KubeAPIServer is the kube-apiserver binary; empty means
	// kubeapi.Binary() (the build cache).
	KubeAPIServer string
	// StartTimeout bounds Start; 0 means 3 minutes.
	StartTimeout time.Duration
}

// Instance is one control-plane instance: an EC2 instance in the group,
// its Kubernetes node and its etcd member.
type Instance struct {
	ID               string
	AvailabilityZone string
	// PrivateIP is the instance's address in moto, and the loopback address
	// its etcd member listens on.
	PrivateIP string
	// PrivateDNSName is the node name and the etcd member name, as kubeadm
	// names them on AWS.
	PrivateDNSName string
	// ClientURL and PeerURL are its etcd member's URLs.
	ClientURL, PeerURL string
}

// NodeName is the instance's Kubernetes node (and etcd member) name.
func (i Instance) NodeName() string { return i.PrivateDNSName }

// Sandbox is a running sandbox. Its exported fields are read-only.
type Sandbox struct {
	ClusterName string
	// Instances are the control-plane instances, in address order.
	Instances []Instance
	// Group and Hook name the control-plane Auto Scaling group and its
	// terminate lifecycle hook.
	Group, Hook string
	// Bucket and Prefix locate the backups.
	Bucket, Prefix string
	// EtcdTLSSecretARN and KubeSecretARN are the Secrets Manager secrets
	// the workers read their credentials from.
	EtcdTLSSecretARN, KubeSecretARN string
	// AWSEndpoint serves Auto Scaling, EC2, SSM and Secrets Manager; S3
	// is served at S3Endpoint.
	AWSEndpoint, S3Endpoint string
	// Dir holds the sandbox's files.
	Dir string

	Etcd *etcdcluster.Cluster
	Kube *kubeapi.Local
	S3   *s3store.Store
	Moto *moto.Server

	standIn      *lifecycleStandIn
	proxy        *loopbackServer
	stopStandIns func()
	ownDir       bool
	log          *slog.Logger
	logFile      *os.File
	closeOnce    sync.Once
}

// ErrMissingTool wraps the error of a sandbox that cannot start because a
// tool is not installed (kube-apiserver not built, moto_server absent);
// errors.Is with kubeapi.ErrNotBuilt or moto.ErrNotInstalled tells which.
var ErrMissingTool = errors.New("sandbox: a required tool is missing")

// Start starts and seeds a sandbox. Close it when done.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	// Components pick free ports by listening and closing; on a busy
	// machine another process can take one before the component binds it.
	// That race is rare, and a fresh attempt picks other ports.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var sb *Sandbox
		if sb, err = start(ctx, opts); err == nil || !strings.Contains(err.Error(), "address already in use") || ctx.Err() != nil {
			return sb, err
		}
	}
	return nil, err
}

func start(ctx context.Context, opts Options) (_ *Sandbox, err error) {
	if opts.ClusterName == "" {
		opts.ClusterName = "sandbox"
	}
	if opts.AddressOffset == 0 {
		opts.AddressOffset = 10
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	if opts.KubeAPIServer == "" {
		bin, err := kubeapi.Binary()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMissingTool, err)
		}
		opts.KubeAPIServer = bin
	}
	if _, err := moto.Binary(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMissingTool, err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	sb := &Sandbox{
		ClusterName: opts.ClusterName,
		Group:       opts.ClusterName + "-control-plane",
		Hook:        "cpwarden-terminate",
		Bucket:      opts.ClusterName + "-etcd-backups",
		Prefix:      "etcd-backups/",
		Dir:         opts.Dir,
	}
	if sb.Dir == "" {
		if sb.Dir, err = os.MkdirTemp("", "cpwarden-sandbox-"); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		sb.ownDir = true
	}
	logFile, err := os.OpenFile(filepath.Join(sb.Dir, "sandbox.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	sb.logFile = logFile
	sb.log = slog.New(slog.NewTextHandler(logFile, nil))
	defer func() {
		if err != nil {
			sb.Close()
		}
	}()
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}

	// The instances' addresses and names are fixed before anything starts:
	// moto gives an instance launched with a private IP the private DNS name
	// ip-a-b-c-d.ec2.internal, which kubeadm takes as node and member name.
	for i := range 3 {
		ip := fmt.Sprintf("127.0.0.%d", opts.AddressOffset+1+i)
		sb.Instances = append(sb.Instances, Instance{
			AvailabilityZone: zone,
			PrivateIP:        ip,
			PrivateDNSName:   privateDNSName(ip),
		})
	}

	// etcd, the API server, S3 and moto start in parallel, and moto is
	// seeded as soon as it and etcd are up (moto's first EC2 call alone
	// takes seconds): together they take about as long as the API server.
	type result struct {
		what string
		took time.Duration
		err  error
	}
	results := make(chan result, 5)
	start := func(what string, f func() error) chan error {
		done := make(chan error, 1)
		go func() {
			t := time.Now()
			err := f()
			done <- err
			results <- result{what, time.Since(t), err}
		}()
		return done
	}
	etcdUp := start("etcd: 3 members with TLS on "+sb.Instances[0].PrivateIP+"-"+sb.Instances[2].PrivateIP, func() error {
		var names []string
		for _, in := range sb.Instances {
			names = append(names, in.PrivateDNSName)
		}
		dir := filepath.Join(sb.Dir, "etcd")
		_ = os.RemoveAll(dir) // a failed attempt's members must not be rejoined
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		c, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: names, AddressOffset: opts.AddressOffset, Dir: dir})
		sb.Etcd = c
		if err != nil {
			return err
		}
		for i, m := range c.Members() {
			sb.Instances[i].ClientURL, sb.Instances[i].PeerURL = m.ClientURL, m.PeerURL
		}
		return seedEtcd(ctx, c)
	})
	start("kube-apiserver on an etcd of its own", func() error {
		l, err := kubeapi.StartLocal(ctx, kubeapi.Options{Binary: opts.KubeAPIServer, Log: logFile})
		sb.Kube = l
		return err
	})
	start("S3 store (gofakes3)", func() error {
		s, err := s3store.Start(ctx, s3store.Options{Buckets: []string{sb.Bucket}})
		sb.S3 = s
		return err
	})
	motoUp := start("moto_server (Auto Scaling, EC2, SSM, Secrets Manager)", func() error {
		// moto takes seconds to bind the port it was given; on an address
		// of its own no other component can pick that port meanwhile.
		m, err := moto.Start(ctx, moto.Options{Host: motoHost})
		sb.Moto = m
		return err
	})
	start("AWS: Auto Scaling group, lifecycle hook, secrets, SSM parameters", func() error {
		etcdErr, motoErr := <-etcdUp, <-motoUp
		if etcdErr != nil || motoErr != nil {
			return errors.New("not seeded")
		}
		motoURL, err := url.Parse(sb.Moto.Endpoint)
		if err != nil {
			return err
		}
		sb.standIn = newLifecycleStandIn(motoURL, sb.afterCompletion, sb.log)
		if sb.proxy, err = serveLoopback(sb.standIn); err != nil {
			return err
		}
		sb.AWSEndpoint = sb.proxy.URL
		return sb.seedAWS(ctx)
	})
	var errs []error
	for range 5 {
		r := <-results
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.what, r.err))
			continue
		}
		progress("  up  %-66s %5.1fs", r.what, r.took.Seconds())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	sb.S3Endpoint = sb.S3.URL

	t := time.Now()
	if err := sb.seedKube(ctx); err != nil {
		return nil, fmt.Errorf("sandbox: seed Kubernetes: %w", err)
	}
	progress("  up  %-66s %5.1fs", "Kubernetes: 3 control-plane nodes, workloads, PodDisruptionBudgets", time.Since(t).Seconds())
	return sb, nil
}

// motoHost is moto_server's loopback address, apart from the API server
// and etcd ports chosen on 127.0.0.1 while moto starts.
const motoHost = "127.0.0.2"

// zone is the availability zone of the sandbox's one subnet.
const zone = "us-east-1a"

func privateDNSName(ip string) string {
	b := []byte("ip-" + ip)
	for i := range b {
		if b[i] == '.' {
			b[i] = '-'
		}
	}
	return string(b) + ".ec2.internal"
}

// Close stops everything Start started and removes the temporary
// directory. It is safe to call more than once.
func (sb *Sandbox) Close() {
	sb.closeOnce.Do(func() {
		if sb.stopStandIns != nil {
			sb.stopStandIns()
		}
		if sb.proxy != nil {
			sb.proxy.Close()
		}
		var wg sync.WaitGroup
		if sb.Kube != nil {
			wg.Go(func() { _ = sb.Kube.Stop() })
		}
		if sb.Etcd != nil {
			wg.Go(sb.Etcd.Close)
		}
		if sb.S3 != nil {
			wg.Go(sb.S3.Close)
		}
		if sb.Moto != nil {
			wg.Go(func() { _ = sb.Moto.Stop() })
		}
		wg.Wait()
		if sb.logFile != nil {
			_ = sb.logFile.Close()
		}
		if sb.ownDir {
			_ = os.RemoveAll(sb.Dir)
		}
	})
}

// AWSConfig is an SDK configuration for the sandbox's AWS endpoint (Auto
// Scaling, EC2, SSM, Secrets Manager; the lifecycle stand-in in front of
// moto).
func (sb *Sandbox) AWSConfig() aws.Config { return moto.Config(sb.AWSEndpoint) }

// S3Config is an SDK configuration for the sandbox's S3 store.
func (sb *Sandbox) S3Config() aws.Config { return sb.S3.Config() }

// S3Client is a real S3 client for the store (path-style).
func (sb *Sandbox) S3Client() *s3.Client { return sb.S3.Client() }

// AutoScaling, EC2, SSM and SecretsManager are clients of the sandbox's AWS
// endpoint.
func (sb *Sandbox) AutoScaling() *autoscaling.Client {
	return autoscaling.NewFromConfig(sb.AWSConfig())
}

// EC2 returns an EC2 client of the sandbox.
func (sb *Sandbox) EC2() *ec2.Client { return ec2.NewFromConfig(sb.AWSConfig()) }

// SSM returns an SSM client of the sandbox.
func (sb *Sandbox) SSM() *ssm.Client { return ssm.NewFromConfig(sb.AWSConfig()) }

// SecretsManager returns a Secrets Manager client of the sandbox.
func (sb *Sandbox) SecretsManager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(sb.AWSConfig())
}

// Admin returns a cluster-admin Kubernetes client.
func (sb *Sandbox) Admin() (kubernetes.Interface, error) { return sb.Kube.Admin() }

// Instance returns the instance with the given ID, or false.
func (sb *Sandbox) Instance(id string) (Instance, bool) {
	for _, in := range sb.Instances {
		if in.ID == id {
			return in, true
		}
	}
	return Instance{}, false
}

// Settings are the values of the workers' environment variables
// (internal/envnames) for this sandbox: what the template would set on the
// Lambda functions of a stack for this cluster, plus the local-only
// variables. The etcd endpoints are discovered from the Auto Scaling group
// as in production; the members' client ports are random, so
// CPWARDEN_LOCAL_INSTANCE_ENDPOINTS gives each instance's endpoint (on the
// instance's own private address) instead of <private IP>:ETCD_CLIENT_PORT.
func (sb *Sandbox) Settings() map[envnames.Var]string {
	var eps []string
	for _, in := range sb.Instances {
		eps = append(eps, in.ID+"="+in.ClientURL)
	}
	return map[envnames.Var]string{
		envnames.ClusterName:             sb.ClusterName,
		envnames.ControlPlaneASG:         sb.Group,
		envnames.EtcdTLSSecretARN:        sb.EtcdTLSSecretARN,
		envnames.EtcdEndpoints:           "",
		envnames.EtcdClientPort:          "2379",
		envnames.KubeSecretARN:           sb.KubeSecretARN,
		envnames.DrainUnmanagedPods:      "refuse",
		envnames.BackupBucket:            sb.Bucket,
		envnames.BackupPrefix:            sb.Prefix,
		envnames.RetentionKeepLast:       "4",
		envnames.RetentionHourlyHours:    "24",
		envnames.RetentionDailyDays:      "7",
		envnames.RetentionWeeklyWeeks:    "4",
		envnames.RecoveryThreshold:       strconv.Itoa(RecoveryThreshold),
		envnames.RecoveryCooldownSeconds: "3600",
		envnames.LogLevel:                "info",
		envnames.LocalS3PathStyle:        "true",
		envnames.LocalInstanceEndpoints:  strings.Join(eps, ","),
	}
}

// RecoveryThreshold is the sandbox's RECOVERY_THRESHOLD: consecutive
// quorum-lost probes before recovery starts.
const RecoveryThreshold = 3

// AWSEnv is the environment that points the AWS SDK of a worker process at
// the sandbox: the endpoint, S3's own endpoint, a region and static
// credentials (moto and the store accept any).
func (sb *Sandbox) AWSEnv() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":      sb.AWSEndpoint,
		"AWS_ENDPOINT_URL_S3":   sb.S3Endpoint,
		"AWS_REGION":            moto.Region,
		"AWS_DEFAULT_REGION":    moto.Region,
		"AWS_ACCESS_KEY_ID":     "testing",
		"AWS_SECRET_ACCESS_KEY": "testing",
		// Never a proxy: every endpoint is on loopback.
		"NO_PROXY": "127.0.0.1,localhost",
	}
}

// StopMembers stops the etcd members of the named instances (node names),
// as if the instances' etcd crashed; RestartMembers brings them back.
func (sb *Sandbox) StopMembers(names ...string) error {
	for _, n := range names {
		if err := sb.Etcd.Stop(n); err != nil {
			return err
		}
	}
	return nil
}

// RestartMembers restarts stopped members, all at once: a member waits for
// a quorum before it is ready, so one at a time could wait forever.
func (sb *Sandbox) RestartMembers(ctx context.Context, names ...string) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { errs[i] = sb.Etcd.Restart(ctx, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// EtcdClientSecret is the JSON of the etcd TLS secret (envnames
// ETCD_TLS_SECRET_ARN): the client certificate, its key and the CA, in PEM.
type EtcdClientSecret struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	CA   string `json:"ca"`
}

func (sb *Sandbox) etcdSecret() ([]byte, error) {
	return json.Marshal(EtcdClientSecret{
		Cert: string(sb.Etcd.ClientCert.CertPEM),
		Key:  string(sb.Etcd.ClientCert.KeyPEM),
		CA:   string(sb.Etcd.CA.CertPEM),
	})
}
