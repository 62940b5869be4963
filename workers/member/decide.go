package member

import (
	"fmt"
	"slices"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// MemberState is what the worker observed of one etcd member, from etcd
// itself.
type MemberState struct {
	ID      uint64
	Name    string
	Learner bool
	// Healthy: the member answered Status within the deadline, knows a
	// leader, reports no errors, and has no active alarm.
	Healthy bool
	// Leader: the healthy members name this member as their leader.
	Leader bool
	// AppliedIndex ranks healthy followers when leadership must move.
	AppliedIndex uint64
}

// State is an observed cluster: its members and the member to remove.
type State struct {
	Members []MemberState
	Target  uint64
}

// Decision is the verdict of Decide, with the numbers behind it so the
// refusal message tells an operator what to fix.
type Decision struct {
	// Absent: the target is not a member; there is nothing to remove.
	Absent bool
	// Allow: removing the target is safe now.
	Allow bool
	// Refusal is the ASL error name of a refusal (Etcd.QuorumAtRisk,
	// Etcd.LearnerJoining or Etcd.UnsafeRemoval); empty when allowed.
	Refusal string
	// Reason explains the verdict.
	Reason string
	// MoveLeaderTo is the healthy follower that must take over leadership
	// before the removal, when the target leads; 0 otherwise.
	MoveLeaderTo uint64
	// Voters before the removal; HealthyRemaining voters that stay and are
	// healthy; Needed is the quorum of the voters that stay.
	Voters, HealthyRemaining, Needed int
}

// Decide applies the removal safety rules of docs/architecture.md to an observed state.
// It is a pure function: the property test in this package checks it never
// allows a removal that leaves fewer healthy voters than a quorum of the
// voters that stay, and never refuses a removal that does not.
//
// Rules, in order:
//  1. A target that is not a member is absent (success, nothing to do).
//  2. A learner other than the target exists: refuse (Etcd.LearnerJoining),
//     the membership is mid-change and a learner does not vote; the
//     refusal passes once the learner is promoted or removed.
//  3. A learner target does not vote: removing it never costs quorum.
//  4. The target is the last voter: refuse (Etcd.UnsafeRemoval).
//  5. After removal voters-1 remain; healthy remaining voters must be at
//     least (voters-1)/2 + 1, else refuse (Etcd.QuorumAtRisk).
//  6. A leader target hands over to the healthy follower with the highest
//     applied index first.
func Decide(s State) Decision {
	i := slices.IndexFunc(s.Members, func(m MemberState) bool { return m.ID == s.Target })
	if i < 0 {
		return Decision{Absent: true, Allow: true, Reason: fmt.Sprintf("member %x is not in the cluster", s.Target)}
	}
	target := s.Members[i]
	var d Decision
	var candidates []MemberState
	for _, m := range s.Members {
		if m.Learner {
			if m.ID != target.ID {
				return Decision{Refusal: faults.EtcdLearnerJoining, Reason: fmt.Sprintf(
					"learner %s (%x) is joining the cluster; wait until it is promoted or remove it first", m.Name, m.ID)}
			}
			continue
		}
		d.Voters++
		if m.ID != target.ID && m.Healthy {
			d.HealthyRemaining++
			candidates = append(candidates, m)
		}
	}
	if target.Learner {
		d.Allow = true
		d.Reason = fmt.Sprintf("%s (%x) is a learner: it does not vote", target.Name, target.ID)
		return d
	}
	if d.Voters == 1 {
		d.Refusal = faults.EtcdUnsafeRemoval
		d.Reason = fmt.Sprintf("%s (%x) is the last voting member: removing it destroys the cluster", target.Name, target.ID)
		return d
	}
	d.Needed = (d.Voters-1)/2 + 1
	if d.HealthyRemaining < d.Needed {
		d.Refusal = faults.EtcdQuorumAtRisk
		d.Reason = fmt.Sprintf("removing %s (%x) leaves %d voters of which %d are healthy, quorum needs %d: "+
			"bring the unhealthy members back (or remove them) first", target.Name, target.ID, d.Voters-1, d.HealthyRemaining, d.Needed)
		return d
	}
	d.Allow = true
	d.Reason = fmt.Sprintf("removing %s (%x) leaves %d voters, %d healthy, quorum %d", target.Name, target.ID, d.Voters-1, d.HealthyRemaining, d.Needed)
	if target.Leader {
		best := slices.MaxFunc(candidates, func(a, b MemberState) int {
			if a.AppliedIndex != b.AppliedIndex {
				if a.AppliedIndex < b.AppliedIndex {
					return -1
				}
				return 1
			}
			// Prefer the lower ID on ties so the choice is deterministic.
			if a.ID > b.ID {
				return -1
			}
			if a.ID < b.ID {
				return 1
			}
			return 0
		})
		d.MoveLeaderTo = best.ID
	}
	return d
}
