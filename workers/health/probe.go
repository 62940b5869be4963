package health

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// ProbeIn is the probe's input: the scheduled event, whose fields are
// ignored, except an optional override object.
type ProbeIn struct {
	Override *Override `json:"Override,omitempty"`
}

// Override changes the configured policy for one probe.
type Override struct {
	FailureThreshold         int `json:"FailureThreshold,omitempty"`
	ProbeTimeoutMilliseconds int `json:"ProbeTimeoutMilliseconds,omitempty"`
}

// ProbeOut is the probe's verdict and the action it asks for.
type ProbeOut struct {
	ClusterName string `json:"ClusterName"`
	// Action is None, TriggerRecovery or ReportRecovered, for the
	// workflow's Choice state.
	Action string `json:"Action"`
	// Reason explains the action.
	Reason string `json:"Reason,omitempty"`
	// QuorumLost: fewer healthy voters than a quorum.
	QuorumLost    bool `json:"QuorumLost"`
	Voters        int  `json:"Voters"`
	HealthyVoters int  `json:"HealthyVoters"`
	APIReady      bool `json:"APIReady"`
	// APIError says why the API server is not ready.
	APIError string `json:"APIError,omitempty"`
	// InServiceInstances is the group's InService count; HealthyInstances
	// those whose etcd member is healthy, while the API server is ready.
	InServiceInstances int `json:"InServiceInstances"`
	HealthyInstances   int `json:"HealthyInstances"`
	// ConsecutiveFailures counts quorum-lost probes up to this one;
	// PreviousFailures is the count before it.
	ConsecutiveFailures  int            `json:"ConsecutiveFailures"`
	PreviousFailures     int            `json:"PreviousFailures"`
	RestoreMode          bool           `json:"RestoreMode"`
	Members              []MemberHealth `json:"Members"`
	Alarms               []string       `json:"Alarms,omitempty"`
	DurationMilliseconds int64          `json:"DurationMilliseconds"`
}

// Probe checks the control plane once and decides what the workflow does
// next. Unhealthy etcd or API server is its result, not its error; errors
// are for what keeps it from judging: bad configuration (Input.Invalid) and
// failing AWS APIs (AWS.Throttled when transient).
func (w *Worker) Probe(ctx context.Context, in ProbeIn) (ProbeOut, error) {
	start := w.now()
	m := emf.FromContext(ctx)
	defer func() {
		_ = m.PutMetric(MetricCheckDuration, float64(w.now().Sub(start))/float64(time.Millisecond), cwtypes.StandardUnitMilliseconds)
	}()
	out := ProbeOut{ClusterName: w.cfg.ClusterName, Action: ActionNone}
	if err := w.ready(w.deps.Peers, w.deps.Etcd, w.deps.ASG, w.deps.EC2, w.deps.SSM); err != nil {
		return out, err
	}
	threshold, timeout := w.cfg.threshold(), w.cfg.probeTimeout()
	if o := in.Override; o != nil {
		if o.FailureThreshold < 0 || o.ProbeTimeoutMilliseconds < 0 || o.ProbeTimeoutMilliseconds > 60_000 {
			return out, faults.New(faults.InputInvalid, "health: override out of range (threshold %d, timeout %d ms)", o.FailureThreshold, o.ProbeTimeoutMilliseconds)
		}
		if o.FailureThreshold > 0 {
			threshold = o.FailureThreshold
		}
		if o.ProbeTimeoutMilliseconds > 0 {
			timeout = time.Duration(o.ProbeTimeoutMilliseconds) * time.Millisecond
		}
	}

	r, err := w.round(ctx, timeout)
	if err != nil {
		return out, err
	}
	out.Voters, out.HealthyVoters, out.QuorumLost = r.quorum.Voters, r.quorum.HealthyVoters, r.quorum.Lost
	out.Members, out.Alarms = r.quorum.Members, r.quorum.Alarms
	out.APIReady = r.apiErr == nil
	if r.apiErr != nil {
		out.APIError = short(r.apiErr)
	}
	out.InServiceInstances = len(r.instances)
	if out.APIReady {
		for _, i := range r.instances {
			for _, mh := range out.Members {
				if mh.Healthy && matches(i, mh) {
					out.HealthyInstances++
					break
				}
			}
		}
	}

	sctx, cancel := context.WithTimeout(ctx, w.cfg.awsTimeout())
	defer cancel()
	st, err := w.readState(sctx)
	if err != nil {
		return out, err
	}
	d := decide(r.quorum, st, threshold, w.cfg.coolDown(), w.now())
	out.Action, out.Reason = d.action, d.reason
	out.PreviousFailures, out.ConsecutiveFailures, out.RestoreMode = st.failures, d.failures, st.restoreMode
	if d.failures != st.failures {
		if err := w.put(sctx, paramFailureCount(w.cfg.ClusterName), strconv.Itoa(d.failures)); err != nil {
			return out, err
		}
	}
	_ = m.PutMetric(MetricHealthyInstances, float64(out.HealthyInstances), cwtypes.StandardUnitCount)
	_ = m.PutMetric(MetricConsecutiveFailures, float64(out.ConsecutiveFailures), cwtypes.StandardUnitCount)
	out.DurationMilliseconds = w.now().Sub(start).Milliseconds()
	w.log.InfoContext(ctx, "health probe", "cluster", w.cfg.ClusterName, "action", out.Action, "reason", out.Reason,
		"voters", out.Voters, "healthyVoters", out.HealthyVoters, "apiReady", out.APIReady,
		"inService", out.InServiceInstances, "healthyInstances", out.HealthyInstances, "failures", out.ConsecutiveFailures)
	return out, nil
}

// roundResult is what one probe round saw.
type roundResult struct {
	quorum    Quorum
	apiErr    error
	instances []etcdconn.Instance
}

// round runs the etcd, API server and Auto Scaling probes in parallel: each
// etcd member and the API server under the probe deadline, discovery and
// Auto Scaling under the AWS one.
func (w *Worker) round(ctx context.Context, timeout time.Duration) (roundResult, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	actx, acancel := context.WithTimeout(ctx, w.cfg.awsTimeout())
	defer acancel()
	var (
		r                 roundResult
		peersErr, instErr error
		wg                sync.WaitGroup
	)
	wg.Go(func() {
		// Discovery may call AWS (etcdconn.ASGDiscovery); each member probe
		// then has the full probe deadline.
		peers, err := w.deps.Peers.Peers(actx)
		if err != nil {
			peersErr = err
			return
		}
		r.quorum = Judge(Prober{Dialer: w.deps.Etcd, Timeout: timeout}.Round(ctx, peers))
	})
	wg.Go(func() {
		if w.deps.API == nil {
			return
		}
		if err := w.deps.API.Ready(rctx); err != nil {
			r.apiErr = err
		}
	})
	wg.Go(func() {
		r.instances, instErr = w.inService(actx)
	})
	wg.Wait()
	if peersErr != nil {
		var fe *faults.Error
		if errors.As(peersErr, &fe) {
			return r, peersErr
		}
		return r, faults.Wrap(faults.EtcdUnavailable, peersErr, "health: discover etcd members")
	}
	return r, instErr
}

// decision is what the probe asks for, and the failure count it records.
type decision struct {
	failures int
	action   string
	reason   string
}

// decide applies the recovery policy. Recovery is asked for once: after
// threshold consecutive quorum-lost probes, not while a restore is in
// progress (restore mode set), and not within the cool-down of the last
// one. Health after failures, or while restore mode is set, goes to
// ReportRecovered, which alone may clear restore mode.
func decide(q Quorum, st state, threshold int, coolDown time.Duration, now time.Time) decision {
	if !q.Lost {
		d := decision{failures: 0, action: ActionNone, reason: "quorum held"}
		switch {
		case st.failures > 0:
			d.action, d.reason = ActionReportRecovered, "quorum back after "+strconv.Itoa(st.failures)+" failed probes"
		case st.restoreMode:
			d.action, d.reason = ActionReportRecovered, "restore mode set: check whether the restore finished"
		}
		return d
	}
	d := decision{failures: st.failures + 1, action: ActionNone}
	switch {
	case d.failures < threshold:
		d.reason = "quorum lost; " + strconv.Itoa(d.failures) + " of " + strconv.Itoa(threshold) + " probes before recovery"
	case st.restoreMode:
		d.reason = "quorum lost; restore already in progress"
	case !st.triggeredAt.IsZero() && now.Sub(st.triggeredAt) < coolDown:
		d.reason = "quorum lost; last recovery at " + st.triggeredAt.Format(time.RFC3339) + " is within the cool-down"
	default:
		d.action, d.reason = ActionTriggerRecovery, "quorum lost for "+strconv.Itoa(d.failures)+" consecutive probes"
	}
	return d
}
