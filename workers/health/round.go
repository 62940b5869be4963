package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
)

// healthKey is read (linearizably) to prove a member serves reads through
// raft; it need not exist. etcdctl's endpoint health reads "health".
const healthKey = "health"

// EndpointProbe is what one member endpoint answered within its deadline.
type EndpointProbe struct {
	Endpoint string
	// MemberID is the member behind the endpoint, from its Status header;
	// zero when Status failed.
	MemberID uint64
	Leader   uint64
	Learner  bool
	// Members is the member list as this endpoint sees it (serializable,
	// so a member without quorum still answers).
	Members []*etcdserverpb.Member
	Alarms  []*etcdserverpb.AlarmMember
	// StatusErr, AlarmErr and ReadErr are the failures of each call.
	StatusErr, AlarmErr, ReadErr, MembersErr error
}

// Prober probes every member endpoint in parallel, each under its own
// deadline.
type Prober struct {
	Dialer  Dialer
	Timeout time.Duration
}

// Round probes endpoints concurrently and returns one result per endpoint,
// in input order. It returns when every probe has answered or timed out: no
// later than Timeout after it was called (plus scheduling).
func (p Prober) Round(ctx context.Context, endpoints []string) []EndpointProbe {
	out := make([]EndpointProbe, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, p.Timeout)
			defer cancel()
			out[i] = p.probe(pctx, ep)
		})
	}
	wg.Wait()
	return out
}

func (p Prober) probe(ctx context.Context, ep string) EndpointProbe {
	res := EndpointProbe{Endpoint: ep}
	cli, err := p.Dialer.Dial(ctx, []string{ep})
	if err != nil {
		res.StatusErr, res.AlarmErr, res.ReadErr, res.MembersErr = err, err, err, err
		return res
	}
	// Close may wait for in-flight streams; never let it hold the round.
	defer func() { go cli.Close() }()

	// A member that cannot be connected to answers nothing: its other
	// calls stop when Status finds that out.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			res.StatusErr = err
			if errors.Is(err, etcdconn.ErrUnreachable) {
				stop()
			}
			return
		}
		res.MemberID, res.Leader, res.Learner = st.Header.GetMemberId(), st.Leader, st.IsLearner
		if len(st.Errors) > 0 {
			res.StatusErr = fmt.Errorf("member reports errors: %s", strings.Join(st.Errors, "; "))
		}
	})
	wg.Go(func() {
		al, err := cli.AlarmList(ctx)
		if err != nil {
			res.AlarmErr = err
			return
		}
		res.Alarms = al.Alarms
	})
	wg.Go(func() {
		_, err := cli.Get(ctx, healthKey)
		// Permission denied still proves the read went through raft.
		if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
			res.ReadErr = err
		}
	})
	wg.Go(func() {
		ml, err := cli.MemberList(ctx, clientv3.WithSerializable())
		if err != nil {
			res.MembersErr = err
			return
		}
		res.Members = ml.Members
	})
	wg.Wait()
	return res
}

// MemberHealth is one etcd member's verdict.
type MemberHealth struct {
	Name     string `json:"Name"`
	ID       string `json:"ID"`
	Endpoint string `json:"Endpoint,omitempty"`
	Learner  bool   `json:"Learner,omitempty"`
	Leader   bool   `json:"Leader,omitempty"`
	Healthy  bool   `json:"Healthy"`
	// Reason says why a member is unhealthy.
	Reason string `json:"Reason,omitempty"`

	peerHosts []string
}

// Quorum is the verdict on etcd as a whole.
type Quorum struct {
	Members       []MemberHealth
	Voters        int
	HealthyVoters int
	Needed        int
	Lost          bool
	// Alarms are the active NOSPACE or CORRUPT alarms, "NOSPACE@<id>".
	Alarms []string
}

// Judge turns a round's answers into per-member health and the quorum
// verdict. The member list comes from the endpoints themselves (the one
// seen by the most endpoints wins), so a member whose endpoint is not
// probed, or does not answer, counts as an unhealthy voter: the
// conservative side. When no endpoint answers, each endpoint is taken for a
// voter.
//
// A NOSPACE or CORRUPT alarm makes every member unhealthy: etcd replicates
// alarms through raft and then refuses writes (NOSPACE) or everything
// (CORRUPT) on every member.
func Judge(probes []EndpointProbe) Quorum {
	var q Quorum
	members := memberList(probes)
	byID := map[uint64]EndpointProbe{}
	for _, p := range probes {
		if p.MemberID != 0 {
			byID[p.MemberID] = p
		}
	}
	var alarmed []string
	for _, p := range probes {
		for _, a := range p.Alarms {
			if a.Alarm == etcdserverpb.AlarmType_NOSPACE || a.Alarm == etcdserverpb.AlarmType_CORRUPT {
				alarmed = append(alarmed, fmt.Sprintf("%s@%x", a.Alarm, a.MemberID))
			}
		}
	}
	slices.Sort(alarmed)
	q.Alarms = slices.Compact(alarmed)

	if len(members) == 0 {
		// Nobody answered: one unknown voter per endpoint.
		for _, p := range probes {
			q.Members = append(q.Members, MemberHealth{Endpoint: p.Endpoint, Reason: reason(p)})
		}
	}
	for _, m := range members {
		mh := MemberHealth{Name: m.Name, ID: strconv.FormatUint(m.ID, 16), Learner: m.IsLearner, peerHosts: hosts(m.PeerURLs)}
		p, probed := byID[m.ID]
		switch {
		case !probed:
			mh.Reason = "no probed endpoint answered as this member"
			if ep := endpointFor(m, probes); ep != nil {
				mh.Endpoint, mh.Reason = ep.Endpoint, reason(*ep)
			}
		default:
			mh.Endpoint = p.Endpoint
			mh.Leader = p.Leader == m.ID
			mh.Reason = reason(p)
			if mh.Reason == "" && len(q.Alarms) > 0 {
				mh.Reason = "cluster alarm " + strings.Join(q.Alarms, ",")
			}
			mh.Healthy = mh.Reason == ""
		}
		q.Members = append(q.Members, mh)
	}
	for _, m := range q.Members {
		if m.Learner {
			continue
		}
		q.Voters++
		if m.Healthy {
			q.HealthyVoters++
		}
	}
	q.Needed = q.Voters/2 + 1
	q.Lost = q.HealthyVoters < q.Needed
	return q
}

// memberList picks the member list most endpoints agree on.
func memberList(probes []EndpointProbe) []*etcdserverpb.Member {
	type seen struct {
		list  []*etcdserverpb.Member
		count int
	}
	var lists []seen
	for _, p := range probes {
		if len(p.Members) == 0 {
			continue
		}
		key := memberKey(p.Members)
		found := false
		for i := range lists {
			if memberKey(lists[i].list) == key {
				lists[i].count++
				found = true
			}
		}
		if !found {
			lists = append(lists, seen{list: p.Members, count: 1})
		}
	}
	if len(lists) == 0 {
		return nil
	}
	best := lists[0]
	for _, l := range lists[1:] {
		if l.count > best.count {
			best = l
		}
	}
	out := slices.Clone(best.list)
	slices.SortFunc(out, func(a, b *etcdserverpb.Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func memberKey(ms []*etcdserverpb.Member) string {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, fmt.Sprintf("%x:%t", m.ID, m.IsLearner))
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// endpointFor finds the probe of one of m's client URLs, for the reason of
// a member that did not answer.
func endpointFor(m *etcdserverpb.Member, probes []EndpointProbe) *EndpointProbe {
	for i, p := range probes {
		if slices.Contains(m.ClientURLs, p.Endpoint) {
			return &probes[i]
		}
	}
	return nil
}

// reason is "" for a member whose probes all passed, else the first failure.
func reason(p EndpointProbe) string {
	switch {
	case p.StatusErr != nil:
		return "status: " + short(p.StatusErr)
	case p.Learner:
		return "learner"
	case p.ReadErr != nil:
		return "linearizable read: " + short(p.ReadErr)
	case p.AlarmErr != nil:
		return "alarm list: " + short(p.AlarmErr)
	}
	return ""
}

func short(err error) string {
	s := err.Error()
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(s, "DeadlineExceeded") {
		return "no answer within the probe deadline"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func hosts(urls []string) []string {
	var out []string
	for _, u := range urls {
		if pu, err := url.Parse(u); err == nil {
			if h, _, err := net.SplitHostPort(pu.Host); err == nil {
				out = append(out, h)
			} else {
				out = append(out, pu.Host)
			}
		}
	}
	return out
}
