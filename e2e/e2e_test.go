package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/local/runner"
	"github.com/cpwarden/cpwarden/internal/local/scenario"
	"github.com/cpwarden/cpwarden/internal/local/workerset"
	"github.com/cpwarden/cpwarden/internal/replay"
	"github.com/cpwarden/cpwarden/internal/sandbox"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// The paths the scenario's executions must take, in order.
var wantPaths = []struct {
	workflow string
	path     []string
}{
	{"backup", []string{"HasOverride", "NoOverride", "BuildRequest", "Backup", "Verify", "Prune"}},
	{"lifecycle", []string{"ClassifyEvent", "CheckTransition", "Prepare",
		"Drain", "CountDrainRound", "DrainDeadline", "HeartbeatDuringDrain", // blocked by the budget
		"Drain", "HeartbeatAfterDrain",
		"RemoveMember", "CountQuorumRound", "QuorumDeadline", "WaitForQuorum", "HeartbeatDuringQuorumWait", // refused: quorum at risk
		"RemoveMember", "Complete"}},
	{"health", []string{"HasOverride", "NoOverride", "Probe", "Decide", "Done"}},
	{"health", []string{"HasOverride", "NoOverride", "Probe", "Decide", "Done"}},
	{"backup", []string{"HasOverride", "NoOverride", "BuildRequest", "Backup", "BackupFailed"}},
	{"health", []string{"HasOverride", "NoOverride", "Probe", "Decide", "Done"}},
	{"health", []string{"HasOverride", "NoOverride", "Probe", "Decide", "TriggerRecovery"}},
	{"health", []string{"HasOverride", "NoOverride", "Probe", "Decide", "ReportRecovered"}},
}

// contract is docs/contracts.md's metrics table.
var contract = []struct {
	namespace, name string
	unit            types.StandardUnit
	function        workers.Handler
}{
	{"K8sCluster/EtcdLifecycle", "NodeDrainSuccess", types.StandardUnitCount, workers.Drain},
	{"K8sCluster/EtcdLifecycle", "NodeDrainFailure", types.StandardUnitCount, workers.Drain},
	{"K8sCluster/EtcdLifecycle", "EtcdMemberRemovalSuccess", types.StandardUnitCount, workers.RemoveMember},
	{"K8sCluster/EtcdLifecycle", "EtcdMemberRemovalFailure", types.StandardUnitCount, workers.RemoveMember},
	{"K8sCluster/EtcdLifecycle", "QuorumRiskDetected", types.StandardUnitCount, workers.RemoveMember},
	{"K8sCluster/EtcdLifecycle", "LifecycleHandlerDuration", types.StandardUnitMilliseconds, workers.CompleteLifecycle},
	{"K8sCluster/EtcdBackup", "BackupSuccess", types.StandardUnitCount, ""},
	{"K8sCluster/EtcdBackup", "BackupFailure", types.StandardUnitCount, workers.Backup},
	{"K8sCluster/EtcdBackup", "BackupDuration", types.StandardUnitMilliseconds, workers.Backup},
	{"K8sCluster/EtcdBackup", "BackupSizeBytes", types.StandardUnitBytes, workers.Backup},
	{"K8sCluster/Health", "HealthyControlPlaneInstances", types.StandardUnitCount, workers.HealthProbe},
	{"K8sCluster/Health", "ConsecutiveHealthFailures", types.StandardUnitCount, workers.HealthProbe},
	{"K8sCluster/Health", "AutoRecoveryTriggered", types.StandardUnitCount, workers.TriggerRecovery},
	{"K8sCluster/Health", "ClusterRecovered", types.StandardUnitCount, workers.ReportRecovered},
	{"K8sCluster/Health", "HealthCheckDuration", types.StandardUnitMilliseconds, workers.HealthProbe},
}

func TestDemoScenarioThroughTheLambdaBinary(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	sb, err := sandbox.Start(ctx, sandbox.Options{})
	sandboxtest.Require(t, err, "start the sandbox")
	t.Cleanup(sb.Close)
	workerLog := &testnet.Buffer{}
	set, err := workerset.Lambda(ctx, workerset.Config{
		Settings: sb.Settings(), Timeout: scenario.Timeouts, AWSEnv: sb.AWSEnv(), Log: workerLog,
	})
	sandboxtest.Require(t, err, "start the bootstrap under the emulator")
	t.Cleanup(func() { _ = set.Close() })
	t.Logf("sandbox and functions up in %s", time.Since(start).Round(time.Second))

	var story bytes.Buffer
	res, err := scenario.Run(ctx, scenario.Options{Sandbox: sb, Workers: set, Out: &story})
	t.Logf("scenario (%s):\n%s", time.Since(start).Round(time.Second), story.String())
	if err != nil {
		t.Logf("worker log tail:\n%s", tail(workerLog.String(), 60))
		t.Fatalf("scenario: %v", err)
	}

	t.Run("paths", func(t *testing.T) { checkPaths(t, res) })
	t.Run("etcd", func(t *testing.T) { checkEtcd(t, sb, res) })
	t.Run("kubernetes", func(t *testing.T) { checkKubernetes(t, sb, res) })
	t.Run("lifecycle action", func(t *testing.T) { checkLifecycleAction(t, sb, res) })
	t.Run("s3", func(t *testing.T) { checkBackupRestores(t, sb, res) })
	t.Run("ssm", func(t *testing.T) { checkRecoveryParameters(t, sb, res, start) })
	t.Run("metrics", func(t *testing.T) { checkMetrics(t, sb, res) })
	t.Run("replay", func(t *testing.T) { checkReplay(t, sb, res) })
}

func checkPaths(t *testing.T, res *scenario.Result) {
	if len(res.Executions) != len(wantPaths) {
		t.Fatalf("%d executions, want %d", len(res.Executions), len(wantPaths))
	}
	for i, want := range wantPaths {
		e := res.Executions[i]
		if e.Workflow != want.workflow || !slices.Equal(e.Path, want.path) {
			t.Errorf("execution %d (%s, %s): path %v, want %s %v", i+1, e.Workflow, e.Title, e.Path, want.workflow, want.path)
		}
	}
	// The first drain was blocked by the budget of the blocking app: its
	// failure names the pod left.
	lc := res.Executions[1]
	var causes []string
	for _, ev := range lc.Events {
		if d := ev.LambdaFunctionFailedEventDetails; d != nil {
			causes = append(causes, d.Error+": "+d.Cause)
		}
	}
	if len(causes) < 2 || !strings.HasPrefix(causes[0], "Drain.Incomplete") || !strings.Contains(causes[0], sandbox.BlockingApp+"-0") ||
		!strings.HasPrefix(causes[1], "Etcd.QuorumAtRisk") {
		t.Errorf("lifecycle task failures %q, want Drain.Incomplete naming %s-0, then Etcd.QuorumAtRisk", causes, sandbox.BlockingApp)
	}
}

func checkEtcd(t *testing.T, sb *sandbox.Sandbox, res *scenario.Result) {
	cli, err := sb.Etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ml.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	want := []string{sb.Instances[1].NodeName(), sb.Instances[2].NodeName()}
	if !slices.Equal(names, want) {
		t.Errorf("etcd members %v, want %v (%s removed)", names, want, res.Departed.NodeName())
	}
	if sb.Etcd.Running(res.Departed.NodeName()) {
		t.Errorf("the departed member %s still runs", res.Departed.NodeName())
	}
	// The cluster serves its data again after the restore.
	got, err := cli.Get(ctx, sandbox.SeedPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || got.Count != sandbox.SeedKeys {
		t.Errorf("seeded keys after the restore: %v %v, want %d", got, err, sandbox.SeedKeys)
	}
}

func checkKubernetes(t *testing.T, sb *sandbox.Sandbox, res *scenario.Result) {
	ctx := t.Context()
	admin, err := sb.Admin()
	if err != nil {
		t.Fatal(err)
	}
	node, err := admin.CoreV1().Nodes().Get(ctx, res.Departed.NodeName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !node.Spec.Unschedulable {
		t.Errorf("node %s is not cordoned", node.Name)
	}
	pods, err := admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web := map[string]string{}
	for _, p := range pods.Items {
		if p.Namespace == sandbox.AppsNamespace && p.Labels["app"] == sandbox.BlockingApp {
			web[p.Name] = p.Spec.NodeName
		}
		if p.Spec.NodeName != node.Name {
			continue
		}
		// Only what a drain leaves: DaemonSet pods and static (mirror) pods.
		ctrl := metav1.GetControllerOf(&p)
		if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; !mirror && (ctrl == nil || ctrl.Kind != "DaemonSet") {
			t.Errorf("pod %s/%s is still on the drained node", p.Namespace, p.Name)
		}
	}
	// The budget (minAvailable 2) held: the blocked pod went only after a
	// replacement ran, and two replicas run elsewhere now.
	if _, ok := web[sandbox.BlockingApp+"-0"]; ok {
		t.Errorf("%s-0 was not evicted", sandbox.BlockingApp)
	}
	if len(web) != 2 || web[res.AddedReplica] != sb.Instances[2].NodeName() {
		t.Errorf("%s pods %v, want 2 with the added %s on %s", sandbox.BlockingApp, web, res.AddedReplica, sb.Instances[2].NodeName())
	}
	pdb, err := admin.PolicyV1().PodDisruptionBudgets(sandbox.AppsNamespace).Get(ctx, sandbox.BlockingApp, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Status.CurrentHealthy < 2 {
		t.Errorf("%s budget has %d healthy pods, below its minAvailable 2", sandbox.BlockingApp, pdb.Status.CurrentHealthy)
	}
}

func checkLifecycleAction(t *testing.T, sb *sandbox.Sandbox, res *scenario.Result) {
	done := sb.CompletedLifecycleActions()
	if len(done) != 1 || done[0].InstanceID != res.Departed.ID || done[0].Result != "CONTINUE" || done[0].Heartbeats < 2 {
		t.Errorf("completed lifecycle actions %+v, want one CONTINUE of %s after heartbeats", done, res.Departed.ID)
	}
	if p := sb.PendingLifecycleActions(); len(p) != 0 {
		t.Errorf("lifecycle actions left pending: %+v", p)
	}
}

// checkBackupRestores downloads the published backup, restores it with
// etcdutl, starts an etcd on the restored data and reads the keys back.
func checkBackupRestores(t *testing.T, sb *sandbox.Sandbox, res *scenario.Result) {
	ctx := t.Context()
	list, err := sb.S3Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(sb.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	// One backup: the failed one left nothing, staged or published.
	if len(keys) != 1 || keys[0] != res.BackupKey {
		t.Fatalf("bucket holds %v, want only the backup %s", keys, res.BackupKey)
	}
	obj, err := sb.S3Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(sb.Bucket), Key: aws.String(res.BackupKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "snapshot.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFrom(obj.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mgr := snapshot.NewV3(zap.NewNop())
	st, err := mgr.Status(path)
	if err != nil {
		t.Fatalf("snapshot status: %v", err)
	}
	if obj.Metadata["revision"] != strconv.FormatInt(st.Revision, 10) || obj.Metadata["hash"] != fmt.Sprintf("%x", st.Hash) || obj.Metadata["sha256"] == "" {
		t.Errorf("metadata %v does not describe the snapshot (revision %d, hash %x)", obj.Metadata, st.Revision, st.Hash)
	}
	peer := "http://" + testnet.FreeAddr(t)
	restored := filepath.Join(dir, "restored")
	if err := mgr.Restore(snapshot.RestoreConfig{
		SnapshotPath: path, Name: "restored", OutputDataDir: restored,
		PeerURLs: []string{peer}, InitialCluster: "restored=" + peer, InitialClusterToken: "e2e-restore",
	}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "restored", restored
	pu, _ := url.Parse(peer)
	cu, _ := url.Parse("http://" + testnet.FreeAddr(t))
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.InitialCluster = "restored=" + peer
	cfg.ListenMetricsUrls = nil
	cfg.Logger, cfg.LogOutputs = "zap", []string{filepath.Join(dir, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start etcd on the restored data: %v", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("restored etcd not ready")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{cu.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	got, err := cli.Get(ctx, sandbox.SeedPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Kvs) != sandbox.SeedKeys || !strings.Contains(string(got.Kvs[0].Value), `"kind":"ConfigMap"`) {
		t.Errorf("restored backup holds %d seeded keys, want %d", len(got.Kvs), sandbox.SeedKeys)
	}
}

func checkRecoveryParameters(t *testing.T, sb *sandbox.Sandbox, res *scenario.Result, start time.Time) {
	p, err := scenario.RecoveryParameters(t.Context(), sb)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"failure-count": "0", "restore-mode": "false", "restore-backup": res.BackupKey, "initialized": "true"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("parameter %s = %q, want %q", k, p[k], v)
		}
	}
	at, err := time.Parse(time.RFC3339, p["restore-triggered-at"])
	if err != nil || at.Before(start.Truncate(time.Second)) || at.After(time.Now()) {
		t.Errorf("restore-triggered-at %q is not a time of this run", p["restore-triggered-at"])
	}
}

func checkMetrics(t *testing.T, sb *sandbox.Sandbox, res *scenario.Result) {
	recs := res.Metrics
	for _, c := range contract {
		t.Run(c.name, func(t *testing.T) {
			for _, dims := range [][]string{{"ClusterName"}, {"ClusterName", "FunctionName"}} {
				found := emf.Find(recs, c.name, dims...)
				if len(found) == 0 {
					t.Fatalf("no %s datum with dimensions %v", c.name, dims)
				}
				for _, r := range found {
					if r.Namespace != c.namespace || r.Datum.Unit != c.unit {
						t.Errorf("%s in %s with unit %s, want %s, %s", c.name, r.Namespace, r.Datum.Unit, c.namespace, c.unit)
					}
					if v, _ := r.Dimension("ClusterName"); v != sb.ClusterName {
						t.Errorf("%s ClusterName=%q", c.name, v)
					}
					if fn, ok := r.Dimension("FunctionName"); ok && c.function != "" && fn != workerset.FunctionName(c.function) {
						t.Errorf("%s FunctionName=%q, want %q", c.name, fn, workerset.FunctionName(c.function))
					}
				}
			}
		})
	}
	sum := func(name string) float64 {
		var s float64
		for _, r := range emf.Find(recs, name, "ClusterName") {
			s += r.Sum()
		}
		return s
	}
	count := func(name string) int {
		n := 0
		for _, r := range emf.Find(recs, name, "ClusterName") {
			n += len(r.Samples())
		}
		return n
	}
	// Every probe reports the two per-probe metrics: as many samples as
	// the health executions invoked the probe.
	probes := invocations(res, "Probe")
	for _, m := range []string{"HealthyControlPlaneInstances", "ConsecutiveHealthFailures", "HealthCheckDuration"} {
		if n := count(m); n != probes {
			t.Errorf("%s has %d samples, the probe ran %d times", m, n, probes)
		}
	}
	for name, want := range map[string]float64{
		"AutoRecoveryTriggered": 1, "ClusterRecovered": 1, "QuorumRiskDetected": 1,
		"EtcdMemberRemovalSuccess": 1, "EtcdMemberRemovalFailure": 1, "NodeDrainSuccess": 1, "NodeDrainFailure": 1,
		// 1 + 2 + 3 + 0: the consecutive failures each probe counted.
		"ConsecutiveHealthFailures": 6,
	} {
		if got := sum(name); got != want {
			t.Errorf("%s sums to %v, want %v", name, got, want)
		}
	}
	if got := sum("BackupFailure"); got != float64(invocations(res, "Backup")-1) {
		t.Errorf("BackupFailure sums to %v, want one per failed backup invocation (%d)", got, invocations(res, "Backup")-1)
	}
	if lc := emf.Find(recs, "LifecycleHandlerDuration", "ClusterName"); len(lc) != 1 || lc[0].Sum() <= 0 ||
		lc[0].Sum() > float64(res.Executions[1].Wall.Milliseconds()+1000) {
		t.Errorf("LifecycleHandlerDuration %v, want one sample within the lifecycle execution's %s", lc, res.Executions[1].Wall)
	}
	// Each handler's step metrics, from the binary's EMF middleware.
	for _, h := range workers.All {
		if got := count(h.Step() + "Success"); got == 0 {
			t.Errorf("no %sSuccess", h.Step())
		}
		for _, r := range emf.Find(recs, h.Step()+"Duration", "ClusterName", "FunctionName") {
			if r.Namespace != h.Namespace() || r.Datum.Unit != types.StandardUnitMilliseconds {
				t.Errorf("%sDuration in %s (%s)", h.Step(), r.Namespace, r.Datum.Unit)
			}
		}
	}
}

// invocations counts the invocations of the named Task state across the
// scenario's executions.
func invocations(res *scenario.Result, state string) int {
	n := 0
	for _, e := range res.Executions {
		for _, v := range replay.Visits(e.Events) {
			if v.State == state {
				n += len(v.TaskInputs)
			}
		}
	}
	return n
}

// checkReplay replays each recorded execution against the current
// definition (no divergence), then against changed definitions (the
// divergence at the changed state).
func checkReplay(t *testing.T, sb *sandbox.Sandbox, res *scenario.Result) {
	def := func(t *testing.T, name string) *asl.StateMachine {
		w, _ := statemachines.ByName(name)
		sm, err := runner.Deployed(w, sb.ClusterName)
		if err != nil {
			t.Fatal(err)
		}
		return sm
	}
	for i, e := range res.Executions {
		rep, err := replay.Run(t.Context(), e.Events, replay.Options{Definition: def(t, e.Workflow)})
		if err != nil {
			t.Fatalf("replay execution %d: %v", i+1, err)
		}
		if rep.Diverged() {
			t.Errorf("replay of execution %d (%s) diverged: %v", i+1, e.Title, rep.Divergences)
		}
	}

	// The lifecycle workflow giving up on quorum after one round would have
	// abandoned the termination this execution completed.
	lifecycle := def(t, "lifecycle")
	lifecycle.State("QuorumDeadline").(*asl.Choice).Choices[0].Value = 1
	rep, err := replay.Run(t.Context(), res.Executions[1].Events, replay.Options{Definition: lifecycle})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Diverged() || rep.Divergences[0].Kind != replay.Path || rep.Divergences[0].State != "QuorumTimedOut" ||
		rep.Divergences[0].Recorded != "entered WaitForQuorum" {
		t.Errorf("replay with a one-round quorum deadline: %v, want the path to QuorumTimedOut instead of WaitForQuorum", rep.Divergences)
	}
	// A health workflow that no longer recognises the probe's request
	// would not have started the recovery.
	health := def(t, "health")
	health.State("Decide").(*asl.Choice).Choices[0].Value = "Restore"
	rep, err = replay.Run(t.Context(), res.Executions[6].Events, replay.Options{Definition: health})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Diverged() || rep.Divergences[0].Kind != replay.Path || rep.Divergences[0].Step != 4 || rep.Divergences[0].State != "Done" {
		t.Errorf("replay with a changed Decide: %v, want the path to Done at step 5", rep.Divergences)
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
