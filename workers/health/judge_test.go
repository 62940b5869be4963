package health

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func members(ids ...uint64) []*pb.Member {
	var ms []*pb.Member
	for _, id := range ids {
		ms = append(ms, &pb.Member{ID: id, Name: string(rune('a' + id - 1))})
	}
	return ms
}

func answered(ep string, id uint64, list []*pb.Member) EndpointProbe {
	return EndpointProbe{Endpoint: ep, MemberID: id, Leader: 1, Members: list}
}

func down(ep string) EndpointProbe {
	err := context.DeadlineExceeded
	return EndpointProbe{Endpoint: ep, StatusErr: err, AlarmErr: err, ReadErr: err, MembersErr: err}
}

func TestJudge(t *testing.T) {
	three := members(1, 2, 3)
	learner := members(1, 2, 3, 4)
	learner[3].IsLearner = true
	tests := []struct {
		name                  string
		probes                []EndpointProbe
		voters, healthy, need int
		lost                  bool
	}{
		{name: "all answer", probes: []EndpointProbe{answered("e1", 1, three), answered("e2", 2, three), answered("e3", 3, three)},
			voters: 3, healthy: 3, need: 2},
		{name: "one down", probes: []EndpointProbe{answered("e1", 1, three), answered("e2", 2, three), down("e3")},
			voters: 3, healthy: 2, need: 2},
		{name: "two down", probes: []EndpointProbe{answered("e1", 1, three), down("e2"), down("e3")},
			voters: 3, healthy: 1, need: 2, lost: true},
		{name: "nobody answers: each endpoint a voter", probes: []EndpointProbe{down("e1"), down("e2"), down("e3")},
			voters: 3, healthy: 0, need: 2, lost: true},
		{name: "a member not probed is an unhealthy voter", probes: []EndpointProbe{answered("e1", 1, three), answered("e2", 2, three)},
			voters: 3, healthy: 2, need: 2},
		{name: "learners do not vote", probes: []EndpointProbe{answered("e1", 1, learner), answered("e2", 2, learner), down("e3"), {Endpoint: "e4", MemberID: 4, Learner: true, Members: learner}},
			voters: 3, healthy: 2, need: 2},
		{name: "a failed linearizable read is unhealthy", probes: []EndpointProbe{answered("e1", 1, three), {Endpoint: "e2", MemberID: 2, Members: three, ReadErr: errors.New("timeout")}, down("e3")},
			voters: 3, healthy: 1, need: 2, lost: true},
		{name: "an alarm makes every member unhealthy", probes: []EndpointProbe{
			{Endpoint: "e1", MemberID: 1, Members: three, Alarms: []*pb.AlarmMember{{MemberID: 2, Alarm: pb.AlarmType_NOSPACE}}},
			answered("e2", 2, three), answered("e3", 3, three)},
			voters: 3, healthy: 0, need: 2, lost: true},
		{name: "the member list most endpoints report wins", probes: []EndpointProbe{answered("e1", 1, members(1)), answered("e2", 2, three), answered("e3", 3, three)},
			voters: 3, healthy: 3, need: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := Judge(tt.probes)
			if q.Voters != tt.voters || q.HealthyVoters != tt.healthy || q.Needed != tt.need || q.Lost != tt.lost {
				t.Fatalf("Judge = voters %d healthy %d needed %d lost %v; members %+v", q.Voters, q.HealthyVoters, q.Needed, q.Lost, q.Members)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ok, lost := Quorum{}, Quorum{Lost: true}
	tests := []struct {
		name     string
		q        Quorum
		st       state
		action   string
		failures int
	}{
		{"healthy stays quiet", ok, state{}, ActionNone, 0},
		{"healthy after failures reports recovery", ok, state{failures: 2}, ActionReportRecovered, 0},
		{"healthy in restore mode checks the restore", ok, state{restoreMode: true}, ActionReportRecovered, 0},
		{"first loss is a blip", lost, state{}, ActionNone, 1},
		{"threshold reached triggers", lost, state{failures: 2}, ActionTriggerRecovery, 3},
		{"beyond threshold after cool-down triggers", lost, state{failures: 9, triggeredAt: now.Add(-2 * time.Hour)}, ActionTriggerRecovery, 10},
		{"restore in progress never triggers again", lost, state{failures: 5, restoreMode: true}, ActionNone, 6},
		{"cool-down holds", lost, state{failures: 5, triggeredAt: now.Add(-30 * time.Minute)}, ActionNone, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.q, tt.st, 3, time.Hour, now)
			if d.action != tt.action || d.failures != tt.failures {
				t.Fatalf("decide = %+v, want %s with %d failures", d, tt.action, tt.failures)
			}
		})
	}
}

// TestConfigDefaults: zero fields take the template's defaults, and a
// cool-down set to zero is none, not the default.
func TestConfigDefaults(t *testing.T) {
	var c Config
	if c.threshold() != DefaultFailureThreshold || DefaultFailureThreshold != 5 {
		t.Fatalf("threshold = %d, want DefaultFailureThreshold (5)", c.threshold())
	}
	if c.coolDown() != DefaultCoolDown || DefaultCoolDown != time.Hour {
		t.Fatalf("cool-down = %s, want DefaultCoolDown (1h)", c.coolDown())
	}
	none := time.Duration(0)
	c.CoolDown = &none
	if c.coolDown() != 0 {
		t.Fatalf("cool-down of &0 = %s, want none", c.coolDown())
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	d := decide(Quorum{Lost: true}, state{failures: 5, triggeredAt: now.Add(-time.Second)}, 3, c.coolDown(), now)
	if d.action != ActionTriggerRecovery {
		t.Fatalf("without a cool-down, decide = %+v, want %s", d, ActionTriggerRecovery)
	}
	negative := -time.Second
	c.CoolDown = &negative
	c.ClusterName, c.AutoScalingGroup = "c", "g"
	if err := c.check(); err == nil {
		t.Fatal("a negative cool-down passed the check")
	}
}
