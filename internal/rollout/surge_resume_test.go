package rollout

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// A terraform killed mid-surge (kill -9 of its process group while its
// second batch was in standby) leaves the surge's instances, the group's
// undo record and two members in standby, tagged out of service. With
// min_healthy_percent = 100 the next plan must still work: the members left
// out cost no capacity, so they go first, before the new surge's instances
// (which are costly: they are in service once launched).
func TestPlanSchedule_membersLeftOutByAKilledSurgeRolloutGoFirst(t *testing.T) {
	s := asgSpec(100, Strategy{MaxSurge: 2})
	for i := range s.Fleet.Instances[:2] { // i-00, i-01: in standby, deregistered
		inst := &s.Fleet.Instances[i]
		inst.LifecycleState, inst.Targets, inst.Health = "Standby", nil, nil
		inst.Tags = map[string]string{TagVersion: "v1", TagPhase: "draining", TagRollout: "killed"}
	}
	left := instancesIn(8, "a", "b")[6:] // i-06, i-07: the killed rollout's surge, on v2 already
	for i := range left {
		left[i].AutoScalingGroup, left[i].LifecycleState = "asg-web", "InService"
		left[i].Tags = map[string]string{TagVersion: "v2", TagSurge: "killed"}
	}
	s.Fleet.Instances = append(s.Fleet.Instances, left...)
	// EnterStandby decremented the desired capacity: 6 + 2 surge - 2 standby.
	s.Fleet.AutoScalingGroups[0].DesiredCapacity = 6
	s.Fleet.AutoScalingGroups[0].Surge = &SurgeRecord{RolloutID: "killed", Desired: 6, Count: 2}
	s.RolloutID = "plan"

	sched, err := PlanSchedule(s)
	if err != nil {
		t.Fatalf("the plan after a killed surge rollout fails: %v", err)
	}
	if len(sched.Batches) == 0 || !slices.Contains(sched.Batches[0], "i-00") || !slices.Contains(sched.Batches[0], "i-01") {
		t.Fatalf("batches %v: the members left in standby must go first", sched.Batches)
	}
	if len(sched.Surge) != 1 || sched.Surge[0].Desired != 6 || sched.Surge[0].Count != 2 {
		t.Fatalf("surge %+v, want +2 from the recorded desired 6", sched.Surge)
	}
	// The killed rollout's surge is whole (its two instances up, on v2):
	// this one takes it over instead of launching another.
	if len(sched.OutOfDate) != 6 || sched.TakenOver["asg-web"] != "killed" {
		t.Fatalf("out of date %v, taken over %v: want the 6 members, the surge taken over", sched.OutOfDate, sched.TakenOver)
	}
}

// The apply after that: two members still in standby (which decremented the
// desired capacity to 4) when this rollout records its surge. The record
// must hold the capacity the group returns to with them back (6), not 4:
// they exit standby during the run (desired + 2), and an undo to 4 at the
// end would make Auto Scaling terminate two members of the fleet.
func TestRun_surgeWithMembersLeftInStandbyRestoresTheirCapacity(t *testing.T) {
	w := surgeWorld()
	w.leaveOut("i-0001", PhaseDraining, "v1", true)
	w.leaveOut("i-0002", PhaseDraining, "v1", true)
	w.asgs["asg-a"].desired = 4 // EnterStandby decremented it
	s := surgeSpec(w, 2)
	res, _, err := simulate(t, w, s, 0)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Status != StatusSucceeded {
		t.Fatalf("result %s", res.Status)
	}
	if g := w.asgs["asg-a"]; g.desired != 6 || g.record != "" {
		t.Fatalf("group after the rollout: desired %d, record %q; want 6 and none (calls %v)", g.desired, g.record, w.calls)
	}
	for _, c := range w.calls {
		if strings.HasPrefix(c, "SetDesiredCapacity asg-a 4") || strings.HasPrefix(c, "RecordSurge asg-a rollout=ro-1 desired=4") {
			t.Fatalf("%q: the members in standby are part of the group's capacity", c)
		}
	}
}

// A surge rollout stopped midway: the error's counts are the fleet's, like
// the result (the surge's instances, terminated by then, were counted as
// updated: "Rollout ... was cancelled: no instance changed" above "2
// updated"), and the status is said once, in words.
func TestRun_aStoppedSurgeRolloutCountsTheFleetNotTheTerminatedSurge(t *testing.T) {
	w := surgeWorld()
	res, _, err := simulate(t, w, surgeSpec(w, 2), 4*time.Minute)
	var re *RunError
	if !errors.As(err, &re) || res.Status != StatusCancelled {
		t.Fatalf("status %s, error %v", res.Status, err)
	}
	if re.Updated != res.Count(InstanceUpdated) || re.Pending != res.Count(InstancePending) {
		t.Fatalf("error counts %d updated, %d not reached; the fleet's result %d and %d", re.Updated, re.Pending,
			res.Count(InstanceUpdated), res.Count(InstancePending))
	}
	if first, _, _ := strings.Cut(err.Error(), "\n"); !strings.HasPrefix(first, fmt.Sprintf("rollout cancelled: %d updated", re.Updated)) {
		t.Fatalf("first line %q", first)
	}
}

func TestRunError_saysTheStatusInWords(t *testing.T) {
	err := &RunError{Status: StatusRolledBack, StopReason: "1 instance failed", RolledBack: 2}
	if got := err.Error(); !strings.HasPrefix(got, "rollout rolled back (1 instance failed): 0 updated, 2 rolled back") {
		t.Fatalf("%q", got)
	}
}
