package member

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/cpwarden/cpwarden/internal/faults"
)

func voter(id uint64, healthy bool) MemberState {
	return MemberState{ID: id, Name: "m" + string(rune('0'+id)), Healthy: healthy, AppliedIndex: 100}
}

func TestDecide(t *testing.T) {
	leader := func(m MemberState) MemberState { m.Leader = true; return m }
	learner := func(m MemberState) MemberState { m.Learner = true; return m }
	applied := func(m MemberState, i uint64) MemberState { m.AppliedIndex = i; return m }
	tests := []struct {
		name    string
		state   State
		allow   bool
		refusal string
		moveTo  uint64
	}{
		{"absent target is a no-op", State{Members: []MemberState{voter(1, true)}, Target: 9}, true, "", 0},
		{"follower of a healthy 3-member cluster", State{Members: []MemberState{leader(voter(1, true)), voter(2, true), voter(3, true)}, Target: 3}, true, "", 0},
		{"dead follower of 3 with the others healthy", State{Members: []MemberState{leader(voter(1, true)), voter(2, true), voter(3, false)}, Target: 3}, true, "", 0},
		{"healthy follower of 3 with one other down", State{Members: []MemberState{leader(voter(1, true)), voter(2, false), voter(3, true)}, Target: 3}, false, faults.EtcdQuorumAtRisk, 0},
		{"member of 5 with one other down", State{Members: []MemberState{leader(voter(1, true)), voter(2, false), voter(3, true), voter(4, true), voter(5, true)}, Target: 5}, true, "", 0},
		{"member of 5 with two others down", State{Members: []MemberState{leader(voter(1, true)), voter(2, false), voter(3, false), voter(4, true), voter(5, true)}, Target: 5}, false, faults.EtcdQuorumAtRisk, 0},
		{"dead member of 5 with one other down", State{Members: []MemberState{leader(voter(1, true)), voter(2, false), voter(3, true), voter(4, true), voter(5, false)}, Target: 5}, true, "", 0},
		{"leader moves to the most caught-up follower", State{Members: []MemberState{leader(voter(1, true)), applied(voter(2, true), 90), applied(voter(3, true), 120)}, Target: 1}, true, "", 3},
		{"leader tie goes to the lower ID", State{Members: []MemberState{voter(2, true), leader(voter(1, true)), voter(3, true)}, Target: 1}, true, "", 2},
		{"leader never moves to an unhealthy member", State{Members: []MemberState{leader(voter(1, true)), applied(voter(2, false), 999), voter(3, true), voter(4, true), voter(5, true)}, Target: 1}, true, "", 3},
		{"last member", State{Members: []MemberState{leader(voter(1, true))}, Target: 1}, false, faults.EtcdUnsafeRemoval, 0},
		{"another learner present", State{Members: []MemberState{leader(voter(1, true)), voter(2, true), voter(3, true), learner(voter(4, true))}, Target: 3}, false, faults.EtcdLearnerJoining, 0},
		{"the learner itself", State{Members: []MemberState{leader(voter(1, true)), voter(2, false), voter(3, false), learner(voter(4, true))}, Target: 4}, true, "", 0},
		{"two voters, the other healthy", State{Members: []MemberState{leader(voter(1, true)), voter(2, true)}, Target: 1}, true, "", 2},
		{"two voters, the other down", State{Members: []MemberState{voter(1, true), voter(2, false)}, Target: 1}, false, faults.EtcdQuorumAtRisk, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.state)
			if d.Allow != tt.allow || d.Refusal != tt.refusal || d.MoveLeaderTo != tt.moveTo {
				t.Fatalf("Decide = allow %v refusal %q move %d (%s), want allow %v refusal %q move %d",
					d.Allow, d.Refusal, d.MoveLeaderTo, d.Reason, tt.allow, tt.refusal, tt.moveTo)
			}
			if d.Reason == "" {
				t.Error("decision without a reason")
			}
		})
	}
}

// TestDecideProperty checks Decide against an independent statement of
// safety over random cluster states: a removal is safe exactly when a strict
// majority of the voters that stay is healthy (2*healthy > stay), no other
// learner exists, and a voter stays at all.
func TestDecideProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		nVoters := rapid.IntRange(0, 7).Draw(rt, "voters")
		nLearners := rapid.IntRange(0, 2).Draw(rt, "learners")
		var s State
		for i := range nVoters + nLearners {
			s.Members = append(s.Members, MemberState{
				ID:           uint64(i + 1),
				Learner:      i >= nVoters,
				Healthy:      rapid.Bool().Draw(rt, "healthy"),
				AppliedIndex: rapid.Uint64Range(0, 5).Draw(rt, "applied"),
			})
		}
		// The leader, if any, is a healthy voter (a member that does not
		// answer cannot be seen as leader by the others).
		var healthyVoters []int
		for i, m := range s.Members {
			if !m.Learner && m.Healthy {
				healthyVoters = append(healthyVoters, i)
			}
		}
		if len(healthyVoters) > 0 && rapid.Bool().Draw(rt, "hasLeader") {
			s.Members[rapid.SampledFrom(healthyVoters).Draw(rt, "leader")].Leader = true
		}
		// Target: any member, or an ID that is not a member.
		s.Target = rapid.Uint64Range(1, uint64(len(s.Members)+1)).Draw(rt, "target")

		d := Decide(s)

		var target *MemberState
		otherLearner := false
		stay, healthyStay := 0, 0
		for i := range s.Members {
			m := &s.Members[i]
			if m.ID == s.Target {
				target = m
				continue
			}
			if m.Learner {
				otherLearner = true
				continue
			}
			stay++
			if m.Healthy {
				healthyStay++
			}
		}
		switch {
		case target == nil:
			if !d.Absent || !d.Allow {
				rt.Fatalf("absent target: got %+v", d)
			}
			return
		case otherLearner:
			expect(rt, d, false, faults.EtcdLearnerJoining)
		case target.Learner:
			expect(rt, d, true, "")
		case stay == 0:
			expect(rt, d, false, faults.EtcdUnsafeRemoval)
		case 2*healthyStay > stay:
			expect(rt, d, true, "")
		default:
			expect(rt, d, false, faults.EtcdQuorumAtRisk)
		}
		// Leadership moves exactly when an allowed removal targets the
		// leader, and only to a healthy voter that stays.
		if d.Allow && target.Leader {
			var to *MemberState
			for i := range s.Members {
				if s.Members[i].ID == d.MoveLeaderTo {
					to = &s.Members[i]
				}
			}
			if to == nil || to.ID == target.ID || to.Learner || !to.Healthy {
				rt.Fatalf("leader target: MoveLeaderTo %d is not a healthy voter that stays", d.MoveLeaderTo)
			}
		} else if d.MoveLeaderTo != 0 {
			rt.Fatalf("MoveLeaderTo %d set although the target does not lead or the removal is refused", d.MoveLeaderTo)
		}
	})
}

func expect(rt *rapid.T, d Decision, allow bool, refusal string) {
	rt.Helper()
	if d.Allow != allow || d.Refusal != refusal || d.Absent {
		rt.Fatalf("Decide = allow %v refusal %q absent %v (%s), want allow %v refusal %q", d.Allow, d.Refusal, d.Absent, d.Reason, allow, refusal)
	}
}

// TestDecideConcurrentTerminationsProperty states the safety rule of
// concurrent terminations on its own, over random clusters in which some
// voters are departing (their instances are terminating, their members still
// running until removed) and some members are unknown (did not answer: never
// healthy). The departing members' removals are decided one after another,
// in a random order, each on the state the previous ones left (the removal
// lock serialises them in the worker):
//   - after every allowed removal, the healthy voters that remain are a
//     strict majority of the voters that remain;
//   - when the members that stay have a healthy majority of their own and
//     every departing member answers, every departing member is removed,
//     whatever the order.
func TestDecideConcurrentTerminationsProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 7).Draw(rt, "voters")
		type member struct {
			st        MemberState
			departing bool
		}
		var ms []member
		for i := range n {
			// unknown: the Status probe did not answer (unreachable,
			// timed out): the observation says nothing, so not healthy.
			known := rapid.Bool().Draw(rt, "answered")
			ms = append(ms, member{
				st:        MemberState{ID: uint64(i + 1), Healthy: known && rapid.Bool().Draw(rt, "healthy")},
				departing: rapid.Bool().Draw(rt, "departing"),
			})
		}
		majority := func(ms []member, keep func(member) bool) bool {
			voters, healthy := 0, 0
			for _, m := range ms {
				if keep(m) {
					voters++
					if m.st.Healthy {
						healthy++
					}
				}
			}
			return 2*healthy > voters
		}
		all := func(member) bool { return true }
		stayers := func(m member) bool { return !m.departing }
		allDepartingAnswer := true
		for _, m := range ms {
			if m.departing && !m.st.Healthy {
				allDepartingAnswer = false
			}
		}
		shouldAll := majority(ms, stayers) && allDepartingAnswer

		for {
			var left []uint64
			for _, m := range ms {
				if m.departing {
					left = append(left, m.st.ID)
				}
			}
			if len(left) == 0 {
				break
			}
			progress := false
			for _, id := range rapid.Permutation(left).Draw(rt, "order") {
				var s State
				for _, m := range ms {
					s.Members = append(s.Members, m.st)
				}
				s.Target = id
				d := Decide(s)
				if !d.Allow {
					continue
				}
				ms = slices.DeleteFunc(ms, func(m member) bool { return m.st.ID == id })
				progress = true
				if !majority(ms, all) {
					rt.Fatalf("removing %d was allowed and left %+v: the healthy voters that remain are not a majority", id, ms)
				}
			}
			if !progress {
				break
			}
		}
		for _, m := range ms {
			if m.departing && shouldAll {
				rt.Fatalf("departing member %d was never removed although the members that stay hold a healthy majority and every departing member answers: %+v", m.st.ID, ms)
			}
		}
	})
}
