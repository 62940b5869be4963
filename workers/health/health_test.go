package health_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
	"github.com/cpwarden/cpwarden/workers"
	"github.com/cpwarden/cpwarden/workers/health"
)

func probe(t *testing.T, w *health.Worker) health.ProbeOut {
	t.Helper()
	out, err, recs := step(t, workers.HealthProbe, w.Probe, health.ProbeIn{})
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	// Contract: both on every probe, with the values the output reports.
	if v, ok := metric(recs, health.MetricHealthyInstances); !ok || v != float64(out.HealthyInstances) {
		t.Fatalf("HealthyControlPlaneInstances = %v (present %v), output says %d", v, ok, out.HealthyInstances)
	}
	if v, ok := metric(recs, health.MetricConsecutiveFailures); !ok || v != float64(out.ConsecutiveFailures) {
		t.Fatalf("ConsecutiveHealthFailures = %v (present %v), output says %d", v, ok, out.ConsecutiveFailures)
	}
	if _, ok := metric(recs, health.MetricCheckDuration); !ok {
		t.Fatal("no HealthCheckDuration")
	}
	return out
}

func TestProbeOfAHealthyControlPlane(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 3, etcdcluster.Options{})
	out := probe(t, cp.worker(t))
	if out.QuorumLost || out.Voters != 3 || out.HealthyVoters != 3 || out.InServiceInstances != 3 || out.HealthyInstances != 3 ||
		out.Action != health.ActionNone || out.ConsecutiveFailures != 0 || !out.APIReady {
		t.Fatalf("probe = %+v", out)
	}
	leaders := 0
	for _, m := range out.Members {
		if !m.Healthy {
			t.Errorf("member %s unhealthy: %s", m.Name, m.Reason)
		}
		if m.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders reported", leaders)
	}
	if got := cp.param(t, "/health/failure-count"); got != "" {
		t.Errorf("failure-count written (%q) though nothing failed", got)
	}
}

func TestProbeWithOneMemberStoppedKeepsQuorum(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 3, etcdcluster.Options{})
	if err := cp.etcd.Stop(cp.memberName(2)); err != nil {
		t.Fatal(err)
	}
	out := probe(t, cp.worker(t))
	if out.QuorumLost || out.Voters != 3 || out.HealthyVoters != 2 || out.HealthyInstances != 2 || out.InServiceInstances != 3 || out.Action != health.ActionNone {
		t.Fatalf("probe = %+v", out)
	}
	for _, m := range out.Members {
		if m.Name == cp.memberName(2) && (m.Healthy || m.Reason == "") {
			t.Fatalf("stopped member reported %+v", m)
		}
	}
}

// The whole story: quorum lost for N probes starts exactly one recovery,
// from the newest verified backup; quorum back while the restoring node has
// not finished keeps restore mode; initialized=true lets it clear.
func TestQuorumLossRecoversOnceAndClearsRestoreModeOnlyWhenInitialized(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 3, etcdcluster.Options{})
	now := time.Now().UTC()
	cp.putBackup(t, now.Add(-3*time.Hour), true)
	want := cp.putBackup(t, now.Add(-2*time.Hour), true)
	cp.putBackup(t, now.Add(-time.Hour), false)    // newest, but never verified
	cp.setParam(t, "/cluster/initialized", "true") // the original bootstrap's
	w := cp.worker(t)
	for _, i := range []int{1, 2} {
		if err := cp.etcd.Stop(cp.memberName(i)); err != nil {
			t.Fatal(err)
		}
	}

	triggered := 0
	for n := 1; n <= 5; n++ {
		start := time.Now()
		out := probe(t, w)
		if took := time.Since(start); took > probeTimeout+5*time.Second {
			t.Errorf("probe %d took %v with a %v probe deadline", n, took, probeTimeout)
		}
		if !out.QuorumLost || out.HealthyVoters != 0 || out.ConsecutiveFailures != n {
			t.Fatalf("probe %d = %+v, want quorum lost with %d failures", n, out, n)
		}
		wantAction := health.ActionNone
		if n == 3 {
			wantAction = health.ActionTriggerRecovery
		}
		if out.Action != wantAction {
			t.Fatalf("probe %d action %s (%s), want %s", n, out.Action, out.Reason, wantAction)
		}
		if out.Action == health.ActionTriggerRecovery {
			res, err, recs := step(t, workers.TriggerRecovery, w.TriggerRecovery, health.TriggerIn{ConsecutiveFailures: out.ConsecutiveFailures})
			if err != nil || !res.Triggered || res.BackupKey != want {
				t.Fatalf("TriggerRecovery = %+v, %v; want triggered from %s", res, err, want)
			}
			if v, _ := metric(recs, health.MetricRecoveryTriggered); v != 1 {
				t.Fatalf("AutoRecoveryTriggered = %v", v)
			}
			triggered++
		}
	}
	// A repeated or stale trigger starts nothing more.
	again, err, recs := step(t, workers.TriggerRecovery, w.TriggerRecovery, health.TriggerIn{})
	if err != nil || again.Triggered {
		t.Fatalf("second TriggerRecovery = %+v, %v; want no second restore", again, err)
	}
	if _, ok := metric(recs, health.MetricRecoveryTriggered); ok {
		t.Fatal("AutoRecoveryTriggered emitted by a refused trigger")
	}
	if triggered != 1 {
		t.Fatalf("%d recoveries triggered", triggered)
	}
	for suffix, want := range map[string]string{
		"/cluster/restore-mode":   "true",
		"/cluster/restore-backup": want,
		"/cluster/initialized":    "false",
		"/health/failure-count":   "5",
	} {
		if got := cp.param(t, suffix); got != want {
			t.Errorf("%s = %q, want %q", suffix, got, want)
		}
	}
	if at, err := time.Parse(time.RFC3339, cp.param(t, "/cluster/restore-triggered-at")); err != nil || time.Since(at) > time.Minute {
		t.Errorf("restore-triggered-at %v, %v", at, err)
	}

	// Quorum comes back before the restoring node says it is done.
	for _, i := range []int{1, 2} {
		if err := cp.etcd.Restart(t.Context(), cp.memberName(i)); err != nil {
			t.Fatal(err)
		}
	}
	out := probe(t, w)
	if out.QuorumLost || out.Action != health.ActionReportRecovered || out.PreviousFailures != 5 || out.ConsecutiveFailures != 0 {
		t.Fatalf("probe after restart = %+v", out)
	}
	rec, err, recs := step(t, workers.ReportRecovered, w.ReportRecovered, health.RecoveredIn{PreviousFailures: out.PreviousFailures})
	if err != nil || !rec.Recovered || rec.RestoreModeCleared || !rec.RestorePending {
		t.Fatalf("ReportRecovered = %+v, %v; want recovered with restore still pending", rec, err)
	}
	if v, _ := metric(recs, health.MetricClusterRecovered); v != 1 {
		t.Fatalf("ClusterRecovered = %v", v)
	}
	if got := cp.param(t, "/cluster/restore-mode"); got != "true" {
		t.Fatalf("restore mode cleared (%q) before initialized=true", got)
	}

	// Healthy again, restore still pending: ReportRecovered again, but no
	// second ClusterRecovered.
	out = probe(t, w)
	if out.Action != health.ActionReportRecovered || out.PreviousFailures != 0 {
		t.Fatalf("probe while restore pending = %+v", out)
	}
	rec, _, recs = step(t, workers.ReportRecovered, w.ReportRecovered, health.RecoveredIn{PreviousFailures: out.PreviousFailures})
	if rec.Recovered || !rec.RestorePending {
		t.Fatalf("ReportRecovered = %+v", rec)
	}
	if _, ok := metric(recs, health.MetricClusterRecovered); ok {
		t.Fatal("ClusterRecovered emitted twice for one recovery")
	}

	// The restoring node finishes.
	cp.setParam(t, "/cluster/initialized", "true")
	out = probe(t, w)
	rec, err, _ = step(t, workers.ReportRecovered, w.ReportRecovered, health.RecoveredIn{PreviousFailures: out.PreviousFailures})
	if err != nil || !rec.RestoreModeCleared || rec.RestorePending {
		t.Fatalf("ReportRecovered after initialized = %+v, %v", rec, err)
	}
	if got := cp.param(t, "/cluster/restore-mode"); got != "false" {
		t.Fatalf("restore-mode = %q after initialized=true", got)
	}
	out = probe(t, w)
	if out.Action != health.ActionNone {
		t.Fatalf("probe after recovery = %+v", out)
	}
}

func TestNoRecoveryWithoutAVerifiedBackupOrWithinTheCoolDown(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 3, etcdcluster.Options{})
	cp.putBackup(t, time.Now().Add(-time.Hour), false)
	cp.setParam(t, "/health/failure-count", "7")
	w := cp.worker(t)
	res, err, recs := step(t, workers.TriggerRecovery, w.TriggerRecovery, health.TriggerIn{})
	if err != nil || res.Triggered || !strings.Contains(res.Reason, "no verified backup") {
		t.Fatalf("TriggerRecovery = %+v, %v; want refused for lack of a verified backup", res, err)
	}
	if _, ok := metric(recs, health.MetricRecoveryTriggered); ok {
		t.Fatal("AutoRecoveryTriggered emitted")
	}
	if got := cp.param(t, "/cluster/restore-mode"); got != "" {
		t.Fatalf("restore-mode = %q", got)
	}

	cp.putBackup(t, time.Now().Add(-2*time.Hour), true)
	cp.setParam(t, "/cluster/restore-triggered-at", time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339))
	res, err, _ = step(t, workers.TriggerRecovery, w.TriggerRecovery, health.TriggerIn{})
	if err != nil || res.Triggered || !strings.Contains(res.Reason, "cool-down") {
		t.Fatalf("TriggerRecovery within the cool-down = %+v, %v", res, err)
	}
}

func TestNoSpaceAlarmMakesTheClusterUnhealthy(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 3, etcdcluster.Options{QuotaBackendBytes: 4 << 20})
	_, err := cp.etcd.Fill(t.Context(), "/fill/", 16<<20, 256<<10)
	if !errors.Is(err, rpctypes.ErrNoSpace) && !errors.Is(err, rpctypes.ErrGRPCNoSpace) {
		t.Fatalf("Fill = %v, want NOSPACE", err)
	}
	out := probe(t, cp.worker(t))
	if !out.QuorumLost || out.HealthyVoters != 0 || out.HealthyInstances != 0 || out.ConsecutiveFailures != 1 {
		t.Fatalf("probe = %+v, want every member unhealthy", out)
	}
	if len(out.Alarms) == 0 || !strings.HasPrefix(out.Alarms[0], "NOSPACE@") {
		t.Fatalf("alarms = %v", out.Alarms)
	}
	for _, m := range out.Members {
		if !strings.Contains(m.Reason, "NOSPACE") {
			t.Errorf("member %s reason %q does not name the alarm", m.Name, m.Reason)
		}
	}
}

// A member that accepts connections and never answers, and an API server
// that does the same, cost the round its deadline and no more.
func TestHungEndpointsNeverStretchTheRound(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 3, etcdcluster.Options{})
	hung := "https://" + testnet.Blackhole(t)
	peers := etcdconn.StaticPeers(append(cp.endpoints(), hung))
	api, err := health.NewReadyz((&restConfig{Host: "https://" + testnet.Blackhole(t)}).config())
	if err != nil {
		t.Fatal(err)
	}
	w := health.New(cp.config(), cp.deps(peers, api))
	start := time.Now()
	out := probe(t, w)
	took := time.Since(start)
	if out.QuorumLost || out.HealthyVoters != 3 || out.APIReady || out.HealthyInstances != 0 {
		t.Fatalf("probe = %+v", out)
	}
	if !strings.Contains(out.APIError, "deadline") {
		t.Errorf("APIError %q", out.APIError)
	}
	// SSM round trips to moto follow the probe deadline. A probe that
	// waited on the hung endpoints would take gRPC's or TCP's own timeouts
	// (tens of seconds, or forever).
	if took > probeTimeout+5*time.Second {
		t.Fatalf("probe took %v with a %v probe deadline", took, probeTimeout)
	}
}

func TestUnreachableEtcdIsQuorumLostNotAnError(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 3, etcdcluster.Options{})
	refused := "https://" + testnet.FreeAddr(t)
	w := health.New(cp.config(), cp.deps(etcdconn.StaticPeers{refused, "https://" + testnet.Blackhole(t)}, nil))
	out := probe(t, w)
	if !out.QuorumLost || out.Voters != 2 || out.ConsecutiveFailures != 1 {
		t.Fatalf("probe = %+v", out)
	}
}

// TestARefusedMemberStopsItsProbeAtOnce: a member whose port refuses
// connections is reported unreachable by Status, and its other calls are
// stopped (cancelled) rather than waiting out the deadline, as clientv3's
// wait-for-ready calls would; a healthy member in the same round is not
// affected.
func TestARefusedMemberStopsItsProbeAtOnce(t *testing.T) {
	t.Parallel()
	c, err := etcdcluster.Start(t.Context(), etcdcluster.Options{Names: []string{"solo"}, AddressOffset: 70})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	refused := "https://" + testnet.FreeAddr(t)
	p := health.Prober{Dialer: etcdconn.As[health.Etcd]{Dialer: etcdconn.Dialer{TLS: c.ClientTLS(), FailFast: true}}, Timeout: 30 * time.Second}
	probes := p.Round(t.Context(), []string{c.Endpoints()[0], refused})
	ok, down := probes[0], probes[1]
	if ok.StatusErr != nil || ok.AlarmErr != nil || ok.ReadErr != nil || ok.MembersErr != nil {
		t.Fatalf("healthy member: %+v", ok)
	}
	if !errors.Is(down.StatusErr, etcdconn.ErrUnreachable) {
		t.Fatalf("refused member: Status error %v, want ErrUnreachable", down.StatusErr)
	}
	for name, err := range map[string]error{"AlarmList": down.AlarmErr, "Get": down.ReadErr, "MemberList": down.MembersErr} {
		if err == nil || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline") {
			t.Errorf("refused member: %s error %v, want it stopped before the deadline", name, err)
		}
	}
}

type failingPeers struct{ err error }

func (f failingPeers) Peers(context.Context) ([]string, error) { return nil, f.err }

func TestFailingDiscoveryIsEtcdUnavailable(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 1, etcdcluster.Options{})
	w := health.New(cp.config(), cp.deps(failingPeers{errors.New("no route to the member list")}, nil))
	_, err, recs := step(t, workers.HealthProbe, w.Probe, health.ProbeIn{})
	if !faults.Is(err, faults.EtcdUnavailable) {
		t.Fatalf("error = %v (%s), want Etcd.Unavailable", err, faults.Name(err))
	}
	if got := cp.param(t, "/health/failure-count"); got != "" {
		t.Fatalf("a probe that could not judge changed the failure count to %q", got)
	}
	if _, ok := metric(recs, health.MetricCheckDuration); !ok {
		t.Fatal("no HealthCheckDuration for a failed probe")
	}
}

func TestBadConfigurationAndInputAreInputInvalid(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t, 1, etcdcluster.Options{})
	tests := map[string]struct {
		cfg func(*health.Config)
		in  health.ProbeIn
	}{
		"cluster name with a slash": {cfg: func(c *health.Config) { c.ClusterName = "a/b" }},
		"empty cluster name":        {cfg: func(c *health.Config) { c.ClusterName = "" }},
		"no group":                  {cfg: func(c *health.Config) { c.AutoScalingGroup = "" }},
		"unknown group":             {cfg: func(c *health.Config) { c.AutoScalingGroup = "nope-" + cp.name }},
		"negative threshold":        {cfg: func(c *health.Config) {}, in: health.ProbeIn{Override: &health.Override{FailureThreshold: -1}}},
		"huge probe timeout":        {cfg: func(c *health.Config) {}, in: health.ProbeIn{Override: &health.Override{ProbeTimeoutMilliseconds: 3_600_000}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := cp.config()
			tt.cfg(&cfg)
			w := health.New(cfg, cp.deps(nil, nil))
			if _, err := w.Probe(t.Context(), tt.in); !faults.Is(err, faults.InputInvalid) {
				t.Fatalf("Probe error = %v (%s), want Input.Invalid", err, faults.Name(err))
			}
		})
	}
}

func TestAPIServerReadinessOnARealAPIServer(t *testing.T) {
	t.Parallel()
	srv := sandboxtest.Kube(t, kubeapi.Options{})
	cfg := srv.AnonymousConfig() // /readyz is open to anyone
	r, err := health.NewReadyz(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(t.Context()); err != nil {
		t.Fatalf("Ready on a running API server: %v", err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := r.Ready(ctx); err == nil {
		t.Fatal("Ready on a stopped API server succeeded")
	}
}
