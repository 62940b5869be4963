package main

// Tests of the real binary: built with the release flags, run directly or
// under the Lambda Runtime Interface Emulator, against moto (Auto Scaling,
// EC2, Secrets Manager), an S3 store and a TLS etcd cluster on loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/function"
	"github.com/cpwarden/cpwarden/internal/function/functiontest"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/internal/sandbox/rie"
	"github.com/cpwarden/cpwarden/internal/sandbox/s3store"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
	"github.com/cpwarden/cpwarden/internal/secrets"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/member"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error

	// One moto server serves the package; each test has a group of its own.
	motoSrv sandboxtest.Shared[*moto.Server]
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = motoSrv.Stop()
	os.Exit(code)
}

// bootstrapBinary builds the binary once per test run (a few seconds when
// the build cache is warm).
func bootstrapBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		// The shared cache path: the sandbox and the benchmark build the
		// same binary there, and Build replaces it atomically.
		binPath, buildErr = rie.Build(ctx, rie.BuildOptions{})
	})
	if buildErr != nil {
		t.Fatalf("build the bootstrap: %v", buildErr)
	}
	return binPath
}

// awsEnv points the SDK at emulators (moto.ClientEnv).
func awsEnv(endpoint string) map[string]string { return moto.ClientEnv(endpoint) }

func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// TestInitFailsNamingTheVariable runs the binary as Lambda would start it,
// without a Runtime API: a bad environment must fail before lambda.Start,
// with a non-zero status and the variable named on stderr.
func TestInitFailsNamingTheVariable(t *testing.T) {
	bin := bootstrapBinary(t)
	base := func(h workers.Handler) map[string]string {
		env := functiontest.ValidEnv(h)
		for k, v := range awsEnv("http://127.0.0.1:1") {
			env[k] = v
		}
		return env
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no handler", map[string]string{"CLUSTER_NAME": "c"}, "_HANDLER: required"},
		{"unknown handler", map[string]string{"_HANDLER": "backup"}, `_HANDLER: "backup" is not a cpwarden handler (valid: drain,`},
		{"missing cluster name", withEnv(base(workers.VerifyBackup), "CLUSTER_NAME", ""), "CLUSTER_NAME: required"},
		{"malformed retention", withEnv(base(workers.PruneBackups), "RETENTION_KEEP_LAST", "x"), `RETENTION_KEEP_LAST: "x" is not an integer`},
		{"malformed endpoints", withEnv(base(workers.RemoveMember), "ETCD_ENDPOINTS", "etcd-1:2379"), `ETCD_ENDPOINTS: "etcd-1:2379" is not an https://host:port URL`},
		{"no region", withEnv(base(workers.CompleteLifecycle), "AWS_REGION", ""), "AWS_REGION: required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = envList(c.env)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("stderr does not name the problem %q:\n%s", c.want, stderr.String())
			}
		})
	}
}

func withEnv(env map[string]string, k, v string) map[string]string {
	env[k] = v
	return env
}

// TestInitErrorReachesTheInvokerUnderRIE: under the emulator the init error
// is what the invocation fails with, as on Lambda.
func TestInitErrorReachesTheInvokerUnderRIE(t *testing.T) {
	bin := bootstrapBinary(t)
	cases := []struct {
		name     string
		handler  workers.Handler
		set      map[string]string
		wantType string
		wantMsg  string
	}{
		{"unknown handler", "backup", nil, function.HandlerNotFoundType, `_HANDLER: "backup" is not a cpwarden handler`},
		{"malformed retention", workers.PruneBackups, map[string]string{"RETENTION_KEEP_LAST": "x"}, function.InitErrorType, `RETENTION_KEEP_LAST: "x" is not an integer`},
		{"missing secret", workers.RemoveMember, map[string]string{"ETCD_TLS_SECRET_ARN": ""}, function.InitErrorType, "ETCD_TLS_SECRET_ARN: required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := awsEnv("http://127.0.0.1:1")
			h := c.handler
			if h.Valid() {
				for k, v := range functiontest.ValidEnv(h) {
					env[k] = v
				}
			}
			for k, v := range c.set {
				env[k] = v
			}
			delete(env, function.HandlerVar)
			var out testnet.Buffer
			f := sandboxtest.Function(t, rie.Options{Bootstrap: bin, Handler: string(h), Env: env, Output: &out})
			_, err := f.Invoke(t.Context(), []byte(`{}`))
			var fe *rie.FunctionError
			if !errors.As(err, &fe) || fe.Type != c.wantType || !strings.Contains(fe.Message, c.wantMsg) {
				t.Fatalf("err = %v, want %s naming %q", err, c.wantType, c.wantMsg)
			}
			if !strings.Contains(out.String(), c.wantMsg) {
				t.Fatalf("the function's stderr does not say it:\n%s", out.String())
			}
			if inits := f.Inits(); len(inits) == 0 || inits[0].Status != "error" {
				t.Fatalf("inits = %+v, want a failed init", inits)
			}
		})
	}
}

// controlPlane is a cluster as the workers see it in AWS: an Auto Scaling
// group in moto whose instances run etcd members named after their private
// DNS names (as kubeadm names them), listening on 127.0.0.x; the etcd TLS
// secret in Secrets Manager; a bucket in an S3 store.
type controlPlane struct {
	moto      *moto.Server
	store     *s3store.Store
	etcd      *etcdcluster.Cluster
	group     string
	instances []string
	secretARN string
	cluster   string
}

const testBucket = "etcd-backups"

func newControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	ctx := t.Context()
	m := motoSrv.Get(t, sandboxtest.StartMoto)
	store, err := s3store.Start(ctx, s3store.Options{Buckets: []string{testBucket}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	cp := &controlPlane{moto: m, store: store, group: fmt.Sprintf("prod-1-cp-%d", time.Now().UnixNano()), cluster: "prod-1"}

	g := sandboxtest.SeedGroup(t, m, cp.group, 3)
	cp.instances = g.IDs()
	cp.etcd, err = etcdcluster.Start(ctx, etcdcluster.Options{Names: g.DNSNames(), AddressOffset: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.etcd.Close)

	value, _ := json.Marshal(secrets.EtcdSecret{
		Cert: string(cp.etcd.ClientCert.CertPEM),
		Key:  string(cp.etcd.ClientCert.KeyPEM),
		CA:   string(cp.etcd.CA.CertPEM),
	})
	sec, err := m.SecretsManager().CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(fmt.Sprintf("etcd-%d", time.Now().UnixNano())), SecretString: aws.String(string(value)),
	})
	if err != nil {
		t.Fatal(err)
	}
	cp.secretARN = aws.ToString(sec.ARN)
	return cp
}

// instanceEndpoints is CPWARDEN_LOCAL_INSTANCE_ENDPOINTS for the cluster.
func (cp *controlPlane) instanceEndpoints() string {
	var parts []string
	for i, id := range cp.instances {
		parts = append(parts, id+"="+cp.etcd.Members()[i].ClientURL)
	}
	return strings.Join(parts, ",")
}

// env is the environment of handler h's function for this cluster.
func (cp *controlPlane) env(h workers.Handler) map[string]string {
	env := awsEnv(cp.moto.Endpoint)
	// S3 by host name, which only path-style addressing can serve.
	env["AWS_ENDPOINT_URL_S3"] = strings.Replace(cp.store.URL, "127.0.0.1", "localhost", 1)
	env["CPWARDEN_LOCAL_S3_PATH_STYLE"] = "true"
	env["CPWARDEN_LOCAL_INSTANCE_ENDPOINTS"] = cp.instanceEndpoints()
	env["CLUSTER_NAME"] = cp.cluster
	env["CONTROL_PLANE_ASG"] = cp.group
	env["ETCD_TLS_SECRET_ARN"] = cp.secretARN
	env["BACKUP_BUCKET"] = testBucket
	env["BACKUP_PREFIX"] = "etcd/"
	env["LOG_LEVEL"] = "debug"
	return env
}

func (cp *controlPlane) start(t *testing.T, h workers.Handler, env map[string]string, out *testnet.Buffer) *rie.Function {
	t.Helper()
	return sandboxtest.Function(t, rie.Options{
		Bootstrap:    bootstrapBinary(t),
		Handler:      string(h),
		FunctionName: "cpwarden-" + cp.cluster + "-" + string(h),
		Env:          env,
		Output:       out,
		Timeout:      2 * time.Minute,
	})
}

func invokeJSON[Out any](t *testing.T, f *rie.Function, in any) (Out, error) {
	t.Helper()
	var out Out
	payload, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b, err := f.Invoke(ctx, payload)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return out, nil
}

// metric asserts that the output holds exactly one value of name in
// namespace, with both contract dimension sets, and returns it.
func metric(t *testing.T, output, namespace, name, function string) float64 {
	t.Helper()
	recs, err := emf.DecodeAll(strings.NewReader(output))
	if err != nil {
		t.Fatalf("decode EMF: %v", err)
	}
	var value float64
	for _, dims := range [][]string{{"ClusterName"}, {"ClusterName", "FunctionName"}} {
		found := emf.Find(recs, name, dims...)
		if len(found) != 1 || found[0].Namespace != namespace {
			t.Fatalf("%s %s with %v: %d records\n%s", namespace, name, dims, len(found), output)
		}
		for _, d := range found[0].Datum.Dimensions {
			switch aws.ToString(d.Name) {
			case "ClusterName":
				if aws.ToString(d.Value) != "prod-1" {
					t.Fatalf("%s: ClusterName %q", name, aws.ToString(d.Value))
				}
			case "FunctionName":
				if aws.ToString(d.Value) != function {
					t.Fatalf("%s: FunctionName %q, want %q", name, aws.ToString(d.Value), function)
				}
			}
		}
		value = aws.ToFloat64(found[0].Datum.Value)
	}
	return value
}

// TestRemoveMemberUnderRIE removes the member of an instance known by its
// ID alone, through the real binary: the etcd TLS secret from Secrets
// Manager, the endpoints discovered from the Auto Scaling group and mapped
// to loopback by CPWARDEN_LOCAL_INSTANCE_ENDPOINTS, the errors named as the
// workflow matches them.
func TestRemoveMemberUnderRIE(t *testing.T) {
	cp := newControlPlane(t)
	var out testnet.Buffer
	fn := "cpwarden-prod-1-remove-member"
	f := cp.start(t, workers.RemoveMember, cp.env(workers.RemoveMember), &out)

	// Bad input: the errorType Step Functions sees is the ASL name.
	_, err := invokeJSON[member.Out](t, f, map[string]any{"ClusterName": cp.cluster})
	var fe *rie.FunctionError
	if !errors.As(err, &fe) || fe.Type != faults.InputInvalid {
		t.Fatalf("input without an instance: %v, want %s", err, faults.InputInvalid)
	}

	// As the lifecycle workflow does: Etcd.QuorumAtRisk is waited out and
	// retried. etcd refuses a removal until its leader has been connected
	// to the others for 5 s, which a fresh cluster, or a leader the worker
	// just moved away from the departing member, has not.
	target := cp.instances[2]
	var got member.Out
	attempts := 0
	for deadline := time.Now().Add(time.Minute); ; {
		attempts++
		got, err = invokeJSON[member.Out](t, f, map[string]any{"ClusterName": cp.cluster, "InstanceId": target})
		if !errors.As(err, &fe) || fe.Type != faults.EtcdQuorumAtRisk || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		t.Fatalf("remove-member: %v\n%s", err, out.String())
	}
	if !got.Removed || got.MemberName != cp.etcd.Members()[2].Name || got.VotersAfter != 2 {
		t.Fatalf("out = %+v", got)
	}
	if err := cp.etcd.WaitStopped(t.Context(), got.MemberName); err != nil {
		t.Fatalf("the removed member did not stop: %v", err)
	}
	// Repeating it is harmless (Step Functions retries after a timeout).
	again, err := invokeJSON[member.Out](t, f, map[string]any{"ClusterName": cp.cluster, "InstanceId": target})
	if err != nil || !again.AlreadyRemoved {
		t.Fatalf("second removal: %+v, %v", again, err)
	}
	if v := metric(t, out.String(), "K8sCluster/EtcdLifecycle", "ColdStart", fn); v != 1 {
		t.Fatalf("ColdStart = %v", v)
	}
	recs, _ := emf.DecodeAll(strings.NewReader(out.String()))
	if n := len(emf.Find(recs, "RemoveMemberSuccess", "ClusterName")); n != 2 {
		t.Fatalf("%d RemoveMemberSuccess records, want 2", n)
	}
	// The bad input and each refusal the loop waited out.
	if n := len(emf.Find(recs, "RemoveMemberFailure", "ClusterName", "FunctionName")); n != attempts {
		t.Fatalf("%d RemoveMemberFailure records, want %d", n, attempts)
	}
	if n := len(f.Inits()); n != 1 {
		t.Fatalf("%d inits for one container", n)
	}
}

// TestSecretErrorsNameTheVariableUnderRIE: a secret that does not exist is a
// configuration error (Input.Invalid, not retried) naming the variable, and
// the container keeps serving: the next invocation tries again.
func TestSecretErrorsNameTheVariableUnderRIE(t *testing.T) {
	cp := newControlPlane(t)
	env := cp.env(workers.Backup)
	env["ETCD_TLS_SECRET_ARN"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
	var out testnet.Buffer
	f := cp.start(t, workers.Backup, env, &out)
	for range 2 {
		_, err := invokeJSON[backup.Out](t, f, map[string]any{"ClusterName": cp.cluster})
		var fe *rie.FunctionError
		if !errors.As(err, &fe) || fe.Type != faults.InputInvalid || !strings.HasPrefix(fe.Message, "ETCD_TLS_SECRET_ARN: ") {
			t.Fatalf("err = %v, want %s starting with the variable", err, faults.InputInvalid)
		}
	}
	if n := len(f.Inits()); n != 1 {
		t.Fatalf("%d inits: a failed secret read must not cost the container", n)
	}
}

// TestBackupAndVerifyUnderRIE takes a backup and verifies (publishes) it
// through two functions of the real binary, and checks the metrics the
// contract names.
func TestBackupAndVerifyUnderRIE(t *testing.T) {
	cp := newControlPlane(t)
	cli, err := cp.etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i := range 50 {
		if _, err := cli.Put(t.Context(), fmt.Sprintf("/registry/test/%03d", i), strings.Repeat("v", 100)); err != nil {
			t.Fatal(err)
		}
	}

	var takeOut, verifyOut testnet.Buffer
	take := cp.start(t, workers.Backup, cp.env(workers.Backup), &takeOut)
	staged, err := invokeJSON[backup.Out](t, take, map[string]any{"ClusterName": cp.cluster})
	if err != nil {
		t.Fatalf("take-backup: %v\n%s", err, takeOut.String())
	}
	if staged.StagingKey == "" || staged.Bytes <= 0 || !strings.HasPrefix(staged.Key, "etcd/prod-1/etcd-snapshot-") {
		t.Fatalf("take-backup out = %+v", staged)
	}

	verify := cp.start(t, workers.VerifyBackup, cp.env(workers.VerifyBackup), &verifyOut)
	verified, err := invokeJSON[backup.VerifyOut](t, verify, backup.VerifyIn{
		ClusterName: cp.cluster, Key: staged.Key, StagingKey: staged.StagingKey, SHA256: staged.SHA256,
	})
	if err != nil {
		t.Fatalf("verify-backup: %v\n%s", err, verifyOut.String())
	}
	if !verified.Published || verified.Keys < 50 || verified.Key != staged.Key {
		t.Fatalf("verify-backup out = %+v", verified)
	}
	head, err := cp.store.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(staged.Key)})
	if err != nil || head.Metadata["revision"] == "" {
		t.Fatalf("published backup: %v %v", head, err)
	}

	metric(t, takeOut.String(), "K8sCluster/EtcdBackup", "TakeBackupSuccess", "cpwarden-prod-1-take-backup")
	if v := metric(t, takeOut.String(), "K8sCluster/EtcdBackup", "BackupSizeBytes", "cpwarden-prod-1-take-backup"); v != float64(staged.Bytes) {
		t.Fatalf("BackupSizeBytes = %v, want %d", v, staged.Bytes)
	}
	metric(t, verifyOut.String(), "K8sCluster/EtcdBackup", "VerifyBackupSuccess", "cpwarden-prod-1-verify-backup")
	metric(t, verifyOut.String(), "K8sCluster/EtcdBackup", "BackupSuccess", "cpwarden-prod-1-verify-backup")
}
