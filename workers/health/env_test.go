package health_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/internal/sandbox/s3store"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/health"
)

// One moto server and one S3 store serve the whole package; each test has
// a cluster name, an Auto Scaling group and an etcd cluster of its own.
var (
	motoSrv sandboxtest.Shared[*moto.Server]
	stores  sandboxtest.Shared[sharedStore]
)

const bucket = "cpwarden-backups"

const probeTimeout = 3 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	_ = motoSrv.Stop()
	_ = stores.Stop()
	os.Exit(code)
}

// sharedStore is the package's S3 store, as Shared stops it.
type sharedStore struct{ *s3store.Store }

func (s sharedStore) Stop() error { s.Close(); return nil }

func startStore(ctx context.Context) (sharedStore, error) {
	st, err := s3store.Start(ctx, s3store.Options{Buckets: []string{bucket}})
	return sharedStore{st}, err
}

func awsServices(t testing.TB) (*moto.Server, *s3store.Store) {
	t.Helper()
	return motoSrv.Get(t, sandboxtest.StartMoto), stores.Get(t, startStore).Store
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// controlPlane is a test's cluster: an Auto Scaling group of n InService
// instances in moto, and an etcd cluster whose members are named after the
// instances' private DNS names, as kubeadm names them. The members listen
// on 127.0.0.x: nothing dials the 10.x addresses moto invents.
type controlPlane struct {
	name      string
	group     string
	instances []string // instance IDs, in member order
	etcd      *etcdcluster.Cluster
	moto      *moto.Server
	store     *s3store.Store
}

func newControlPlane(t *testing.T, n int, opts etcdcluster.Options) *controlPlane {
	t.Helper()
	m, st := awsServices(t)
	ctx := t.Context()
	cp := &controlPlane{name: "c-" + suffix(), moto: m, store: st}
	cp.group = cp.name + "-cp"
	g := sandboxtest.SeedGroup(t, m, cp.group, n)
	cp.instances = g.IDs()
	opts.Names = append(opts.Names, g.DNSNames()...)
	var err error
	cp.etcd, err = etcdcluster.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(cp.etcd.Close)
	return cp
}

func (cp *controlPlane) memberName(i int) string { return cp.etcd.Members()[i].Name }

// endpoints are every member's client URL, running or not: what discovery
// from the Auto Scaling group would return.
func (cp *controlPlane) endpoints() []string {
	var eps []string
	for _, m := range cp.etcd.Members() {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

func (cp *controlPlane) config() health.Config {
	return health.Config{
		ClusterName:      cp.name,
		AutoScalingGroup: cp.group,
		Bucket:           bucket,
		Prefix:           "etcd/",
		FailureThreshold: 3,
		CoolDown:         new(time.Hour),
		// Generous: these tests run in parallel with other packages under
		// -race on two cores, where a healthy member can take a second to
		// answer. A probe of a dead member takes the whole deadline.
		ProbeTimeout: probeTimeout,
		// moto answers in milliseconds, unless the machine is swamped.
		AWSTimeout: 30 * time.Second,
	}
}

func (cp *controlPlane) deps(peers health.Peers, api health.APIServer) health.Deps {
	if peers == nil {
		peers = etcdconn.StaticPeers(cp.endpoints())
	}
	return health.Deps{
		Peers: peers,
		Etcd:  etcdconn.As[health.Etcd]{Dialer: etcdconn.Dialer{TLS: cp.etcd.ClientTLS(), FailFast: true}},
		API:   api,
		ASG:   cp.moto.AutoScaling(),
		EC2:   cp.moto.EC2(),
		SSM:   cp.moto.SSM(),
		S3:    cp.store.Client(),
	}
}

func (cp *controlPlane) worker(t *testing.T) *health.Worker {
	t.Helper()
	return health.New(cp.config(), cp.deps(nil, nil))
}

func (cp *controlPlane) param(t *testing.T, suffix string) string {
	t.Helper()
	out, err := cp.moto.SSM().GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/" + cp.name + suffix)})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Parameter.Value)
}

func (cp *controlPlane) setParam(t *testing.T, suffix, value string) {
	t.Helper()
	if _, err := cp.moto.SSM().PutParameter(t.Context(), &ssm.PutParameterInput{
		Name: aws.String("/" + cp.name + suffix), Value: aws.String(value), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
}

// putBackup stores an object under the cluster's backup prefix at time at;
// verified ones carry the sha256 metadata the backup worker publishes.
func (cp *controlPlane) putBackup(t testing.TB, at time.Time, verified bool) string {
	t.Helper()
	key := "etcd/" + cp.name + "/etcd-snapshot-" + at.UTC().Format("20060102-150405") + ".db"
	meta := map[string]string{"hash": "1", "revision": "2", "size": "3"}
	if verified {
		meta["sha256"] = "0123abcd"
	}
	if _, err := cp.store.Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("snapshot")), Metadata: meta,
	}); err != nil {
		t.Fatal(err)
	}
	return key
}

// step runs a worker function under the EMF step middleware, as the
// bootstrap does, and returns its result and metrics.
func step[In, Out any](t *testing.T, h workers.Handler, fn func(context.Context, In) (Out, error), in In) (Out, error, []emf.Record) {
	t.Helper()
	var buf bytes.Buffer
	wrapped := emf.Step(string(h), h.Namespace(), fn, emf.WithWriter(&buf), emf.WithDimension("ClusterName", "test"))
	out, err := wrapped(t.Context(), in)
	recs, derr := emf.DecodeAll(&buf)
	if derr != nil {
		t.Fatalf("decode metrics: %v", derr)
	}
	for _, r := range recs {
		if r.Namespace != "K8sCluster/Health" {
			t.Fatalf("metric %s in namespace %q", r.Name(), r.Namespace)
		}
	}
	return out, err, recs
}

func metric(recs []emf.Record, name string) (float64, bool) {
	found := emf.Find(recs, name, "ClusterName")
	if len(found) == 0 {
		return 0, false
	}
	var sum float64
	for _, r := range found {
		sum += r.Sum()
	}
	return sum, true
}
