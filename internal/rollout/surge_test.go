package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// surgeWorld is six instances of asg-a (min 2, desired 6, max 10) behind one
// target group, on v1.
func surgeWorld() *world {
	w := newWorld(fleetOpts{n: 6, azs: 2, asgEvery: 1, asgMin: 2, asgDesired: 6, delay: 20 * time.Second})
	w.asgs["asg-a"].max = 10
	w.floorOf = 6
	return w
}

func surgeSpec(w *world, surge int) Spec {
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Strategy.MinHealthyPercent = 100
	s.Strategy.MaxSurge = surge
	return s
}

func callIndex(w *world, prefix string) int {
	for i, c := range w.calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	return -1
}

func TestRun_surgeAtAFullFloorRollsEveryInstanceAndRestoresTheGroup(t *testing.T) {
	w := surgeWorld()
	res, rec, err := simulate(t, w, surgeSpec(w, 2), 0)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Status != StatusSucceeded || res.Count(InstanceUpdated) != 6 || len(res.Instances) != 6 {
		t.Fatalf("result %s, %d updated of %d reported: %+v", res.Status, res.Count(InstanceUpdated), len(res.Instances), res.Instances)
	}
	if len(w.violations) > 0 {
		t.Fatalf("floor of 6 breached: %v", w.violations)
	}
	if w.minSeen < 6 {
		t.Fatalf("in service fell to %d, below the original 6", w.minSeen)
	}
	for _, id := range w.ids[:6] {
		if v := w.insts[id].version; v != "v2" {
			t.Errorf("%s on %s", id, v)
		}
	}
	g := w.asgs["asg-a"]
	if g.desired != 6 || g.record != "" {
		t.Fatalf("group after the rollout: desired %d, record %q", g.desired, g.record)
	}
	for _, id := range []string{"i-s001", "i-s002"} {
		inst := w.insts[id]
		if !inst.terminated || inst.version != "v2" || inst.tags[TagSurge] != "ro-1" {
			t.Errorf("surge instance %s: terminated %v, on %s, tags %v", id, inst.terminated, inst.version, inst.tags)
		}
	}
	// Recorded before raised; the surge's instances deployed in the first batch.
	if r, s := callIndex(w, "RecordSurge"), callIndex(w, "SetDesiredCapacity"); r < 0 || s < r {
		t.Fatalf("RecordSurge at %d, SetDesiredCapacity at %d: %v", r, s, w.calls)
	}
	if first := strings.Join(res.Batches[0], ","); (first != "i-s001,i-s002" && first != "i-s002,i-s001") || len(res.Batches) != 4 {
		t.Fatalf("batches %v: the surge's two first, then three of the others", res.Batches)
	}
	if len(rec.kinds(EventSurge)) < 3 {
		t.Fatalf("surge events %+v", rec.kinds(EventSurge))
	}
}

func TestRun_surgeInstancesThatNeverGetHealthyFailTheSurgeAndItIsUndone(t *testing.T) {
	w := surgeWorld()
	w.launchNeverHealthy = true
	s := surgeSpec(w, 2)
	res, _, err := simulate(t, w, s, 0)
	var re *RunError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "not InService and healthy within 15m0s") ||
		!strings.Contains(err.Error(), "the surge was undone") {
		t.Fatalf("error %v", err)
	}
	if res.Status != StatusFailed || res.Count(InstancePending) != 6 {
		t.Fatalf("result %s, %d pending", res.Status, res.Count(InstancePending))
	}
	if n := w.countCalls("Send"); n != 0 {
		t.Fatalf("%d commands sent: nothing may be deployed when the surge fails", n)
	}
	g := w.asgs["asg-a"]
	if g.desired != 6 || g.record != "" || !w.insts["i-s001"].terminated || !w.insts["i-s002"].terminated {
		t.Fatalf("not undone: desired %d, record %q, %v", g.desired, g.record, w.calls)
	}
	// Nothing of the fleet left its target groups.
	for _, id := range w.ids[:6] {
		if !w.inService(w.insts[id]) {
			t.Errorf("%s out of service", id)
		}
	}
}

func TestRun_surgeRefusesAGroupChangedSinceThePlanWithoutChangingAnything(t *testing.T) {
	w := surgeWorld()
	s := surgeSpec(w, 2) // planned from desired 6
	w.asgs["asg-a"].max = 7
	_, _, err := simulate(t, w, s, 0)
	if err == nil || !strings.Contains(err.Error(), "changed since the plan: desired capacity 6 and max_size 7 now") {
		t.Fatalf("error %v", err)
	}
	for _, mutating := range []string{"RecordSurge", "SetDesiredCapacity", "EnterStandby", "Deregister", "Send", "SuspendProcesses"} {
		if n := w.countCalls(mutating); n != 0 {
			t.Errorf("%d %s calls", n, mutating)
		}
	}
}

func TestRun_cancelledDuringTheSurgeWaitUndoesIt(t *testing.T) {
	w := surgeWorld()
	res, _, err := simulate(t, w, surgeSpec(w, 2), 10*time.Second)
	if err == nil || res.Status != StatusCancelled {
		t.Fatalf("status %s, error %v", res.Status, err)
	}
	if g := w.asgs["asg-a"]; g.desired != 6 || g.record != "" || w.countCalls("TerminateInstance") != 2 {
		t.Fatalf("not undone: desired %d, record %q", g.desired, g.record)
	}
}

func TestRun_cancelledMidRolloutStillRemovesTheSurge(t *testing.T) {
	w := surgeWorld()
	res, _, err := simulate(t, w, surgeSpec(w, 2), 4*time.Minute)
	if err == nil || res.Status != StatusCancelled {
		t.Fatalf("status %s, error %v", res.Status, err)
	}
	if n := res.Count(InstanceUpdated); n == 0 || n == 6 {
		t.Fatalf("%d updated: the cancellation must come mid-rollout", n)
	}
	// Instances the cancellation left out of service wait in Standby,
	// outside the desired capacity, for the next run to recover them.
	standby := 0
	for _, id := range w.ids[:6] {
		if w.insts[id].lifecycle == "Standby" {
			standby++
		}
	}
	if g := w.asgs["asg-a"]; g.desired+standby != 6 || g.record != "" || !w.insts["i-s001"].terminated || !w.insts["i-s002"].terminated {
		t.Fatalf("not undone: desired %d + %d in standby, record %q", g.desired, standby, g.record)
	}
	// The surge goes even though the instances left out of service then
	// leave fewer than the floor: it is undone whatever the outcome, and
	// the error names those instances. Until then the floor held.
	for _, v := range w.violations {
		if !strings.HasPrefix(v, "TerminateInstance") {
			t.Fatalf("floor breached: %v", w.violations)
		}
	}
}

// A crash left rollout ro-0's surge whole: its record (desired 6) on the
// group, desired 8, its two tagged instances in service. The next run with
// the same surge takes it over (no new launch): it rewrites the record,
// deploys the two first, and terminates them at its end.
func TestRun_anEarlierRolloutsWholeSurgeIsTakenOver(t *testing.T) {
	w := surgeWorld()
	first := surgeSpec(w, 2)
	first.RolloutID = "ro-0"
	w.mu.Lock()
	g := w.asgs["asg-a"]
	g.record = SurgeRecord{RolloutID: "ro-0", Desired: 6, Count: 2}.String()
	w.mu.Unlock()
	if err := w.SetDesiredCapacity(t.Context(), "asg-a", 8); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	for _, id := range []string{"i-s001", "i-s002"} {
		w.insts[id].tags[TagSurge] = "ro-0"
	}
	w.calls = nil
	s := surgeSpec(w, 2)
	if len(s.Fleet.AutoScalingGroups) != 1 || s.Fleet.AutoScalingGroups[0].Surge == nil {
		t.Fatalf("the fleet does not show the record: %+v", s.Fleet.AutoScalingGroups)
	}
	res, _, err := simulate(t, w, s, 0)
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("Run: %s %v", res.Status, err)
	}
	if n := w.countCalls("SetDesiredCapacity"); n != 0 || callIndex(w, "RecordSurge asg-a rollout=ro-1 desired=6 surge=2") != 0 {
		t.Fatalf("%d SetDesiredCapacity calls; calls %v", n, w.calls)
	}
	for _, id := range []string{"i-s001", "i-s002"} {
		if inst := w.insts[id]; !inst.terminated || inst.version != "v2" || inst.tags[TagSurge] != "ro-1" {
			t.Errorf("%s: terminated %v, on %s, tags %v", id, inst.terminated, inst.version, inst.tags)
		}
	}
	if g.desired != 6 || g.record != "" {
		t.Fatalf("group: desired %d, record %q", g.desired, g.record)
	}
	for _, o := range res.Instances {
		if strings.HasPrefix(o.ID, "i-s") {
			t.Errorf("surge instance %s reported as part of the fleet", o.ID)
		}
	}
}

// A crash right after the desired capacity was raised: the record is on the
// group but the new instances were never tagged. The next run takes the
// members the fleet does not know (or that carry no rolling:version) for
// the surge's, never the fleet's own.
func TestRun_anUntaggedSurgeIsUndoneWithoutTouchingTheFleet(t *testing.T) {
	w := surgeWorld()
	w.asgs["asg-a"].record = SurgeRecord{RolloutID: "ro-0", Desired: 6, Count: 2}.String()
	if err := w.SetDesiredCapacity(t.Context(), "asg-a", 8); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(5 * time.Second) // launching: not registered yet
	w.calls = nil
	res, _, err := simulate(t, w, surgeSpec(w, 2), 0)
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("Run: %s %v", res.Status, err)
	}
	for _, id := range w.ids[:6] {
		if inst := w.insts[id]; inst.terminated || inst.version != "v2" {
			t.Errorf("fleet instance %s: terminated %v, on %s", id, inst.terminated, inst.version)
		}
	}
	if !w.insts["i-s001"].terminated || !w.insts["i-s002"].terminated {
		t.Fatalf("the untagged surge instances survive: %v", w.calls)
	}
	if g := w.asgs["asg-a"]; g.desired != 6 || g.record != "" {
		t.Fatalf("group: desired %d, record %q", g.desired, g.record)
	}
	if callIndex(w, "TerminateInstance i-s00") > callIndex(w, "RecordSurge") {
		t.Fatalf("the earlier surge must go first: %v", w.calls)
	}
}

// A crash mid-rollout: two of the fleet's instances in standby (out of the
// desired capacity), the surge's two on v2. The next run undoes that surge
// without taking the standby ones for extra capacity, surges again from the
// group's real capacity (6), and ends with all six on v2 and desired 6.
func TestRun_anEarlierSurgeWithInstancesInStandbyIsUndoneFromTheRealCapacity(t *testing.T) {
	w := surgeWorld()
	ctx := t.Context()
	w.asgs["asg-a"].record = SurgeRecord{RolloutID: "ro-0", Desired: 6, Count: 2}.String()
	if err := w.SetDesiredCapacity(ctx, "asg-a", 8); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute)
	for _, id := range []string{"i-s001", "i-s002"} {
		w.insts[id].tags[TagSurge], w.insts[id].tags[TagVersion] = "ro-0", "v2"
	}
	if err := w.EnterStandby(ctx, "asg-a", w.ids[:2]); err != nil {
		t.Fatal(err)
	}
	for _, id := range w.ids[:2] {
		w.insts[id].tags[TagPhase] = PhaseDraining
	}
	w.clock.Advance(time.Minute)
	w.calls, w.violations = nil, nil
	res, _, err := simulate(t, w, surgeSpec(w, 2), 0)
	if err != nil || res.Status != StatusSucceeded {
		t.Fatalf("Run: %s %v", res.Status, err)
	}
	for _, id := range w.ids[:6] {
		if inst := w.insts[id]; inst.terminated || inst.version != "v2" || w.lifecycle(inst) != "InService" {
			t.Errorf("fleet instance %s: terminated %v, on %s, %s", id, inst.terminated, inst.version, w.lifecycle(inst))
		}
	}
	if g := w.asgs["asg-a"]; g.desired != 6 || g.record != "" {
		t.Fatalf("group: desired %d, record %q; calls %v", g.desired, g.record, w.calls)
	}
}
