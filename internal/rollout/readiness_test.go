package rollout

import (
	"strings"
	"testing"
)

// An instance whose SSM agent went offline after the plan is found before
// its batch leaves: it is left out (skipped, with a warning) and the others
// are deployed; it is never drained for nothing.
func TestRun_anInstanceNotReadyWhenItsBatchLeavesIsLeftOut(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	w.readiness = true
	w.agentOffline["i-0003"] = true
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	res, _, err := simulate(t, w, s, 0)
	if err != nil {
		t.Fatalf("the rollout failed: %v", err)
	}
	if o := statusOf(res, "i-0003"); o.Status != InstanceSkipped {
		t.Fatalf("i-0003: %+v, want skipped", o)
	}
	if res.Count(InstanceUpdated) != 3 || !strings.Contains(strings.Join(res.Warnings, " "), "i-0003 was not ready") {
		t.Fatalf("updated %d, warnings %v", res.Count(InstanceUpdated), res.Warnings)
	}
	if n := w.countCalls("Unready"); n == 0 || n > 4 {
		t.Fatalf("%d readiness checks for 4 batches of one", n)
	}
	for _, c := range w.calls {
		if strings.HasPrefix(c, "Deregister") && strings.Contains(c, "i-0003") {
			t.Fatalf("the unready instance was drained: %s", c)
		}
	}
}

func TestRun_failOnUnreadyStopsBeforeTheUnreadyInstanceLeaves(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	w.readiness = true
	w.agentOffline["i-0002"] = true
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Failure.FailOnUnready = true
	s.Failure.Rollback = false
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if err == nil || !strings.Contains(err.Error(), "not ready") || !strings.Contains(err.Error(), "i-0002") {
		t.Fatalf("err %v, want the rollout stopped naming i-0002", err)
	}
	if len(w.installs["i-0002"]) != 0 {
		t.Fatalf("i-0002 was deployed: %v", w.installs["i-0002"])
	}
}

// Unready and stopped instances known before the run are not scheduled; a
// stopped one does not count in the fleet either.
func TestPlanSchedule_leavesOutUnreadyAndStoppedInstances(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Fleet.Instances[1].Unready = "status checks impaired"
	s.Fleet.Instances[2].State = "stopped"
	sched, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(sched.OutOfDate, ",")
	if got != "i-0000,i-0003" {
		t.Fatalf("scheduled %s, want i-0000,i-0003", got)
	}
	// 3 in the fleet (the stopped one is outside it), 50%: 2 stay in.
	if sched.MinInService != 2 {
		t.Fatalf("floor %d, want 2 of 3", sched.MinInService)
	}
	res, _, err := simulate(t, w, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if statusOf(res, "i-0001").Status != InstanceSkipped || statusOf(res, "i-0002").Status != InstanceSkipped {
		t.Fatalf("instances: %+v", res.Instances)
	}
}
