package rollout

import (
	"strings"
	"testing"
	"time"
)

// Faults found by the provider's fault matrix and SIGINT test, replayed on
// the fake world so each fix has a fast test of its own.

func TestRun_undeliverableStepPutsTheUntouchedInstanceBackInService(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	w.agentOffline["i-0001"] = true // SSM cannot reach it: no step runs
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Failure.Rollback = true
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if err == nil || !strings.Contains(err.Error(), "Undeliverable") {
		t.Fatalf("err %v, want the undeliverable step named", err)
	}
	o := statusOf(res, "i-0001")
	if o.Status != InstanceFailed || o.OutOfService {
		t.Fatalf("i-0001: %+v, want failed but not out of service", o)
	}
	inst := w.insts["i-0001"]
	if !w.inService(inst) || inst.version != "v1" || inst.tags[TagPhase] != "" || len(w.installs["i-0001"]) != 0 {
		t.Fatalf("i-0001 in service %v, runs %s, tags %v, installs %v", w.inService(inst), inst.version, inst.tags, w.installs["i-0001"])
	}
	if res.Status != StatusRolledBack || statusOf(res, "i-0000").Status != InstanceRolledBack {
		t.Fatalf("status %s, i-0000 %s: the failure must still stop and roll back", res.Status, statusOf(res, "i-0000").Status)
	}
}

func TestRun_agentLostAfterAStepStoppedTheAppLeavesTheInstanceOutTagged(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	w.offlineAfter["i-0001"] = "stop" // "stop" ran, then SSM lost the agent
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Previous = nil
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0001")
	if o.Status != InstanceFailed || !o.OutOfService || w.insts["i-0001"].tags[TagPhase] == "" {
		t.Fatalf("i-0001: %+v, tags %v: an instance whose app is stopped must stay out, tagged", o, w.insts["i-0001"].tags)
	}
	if err == nil || !strings.Contains(err.Error(), "Undeliverable") {
		t.Fatalf("err %v", err)
	}
}

func TestRun_plainInstanceTerminatedDuringItsStepsIsDroppedAndTheRolloutGoesOn(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, delay: 0})
	// "stop" is sent at 0s and would finish at 10s: the instance dies
	// while it runs, so SSM reports the invocation Undeliverable.
	w.terminateAt["i-0000"] = epoch.Add(5 * time.Second)
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Failure.Rollback = true
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0000")
	if o.Status != InstanceGone || o.OutOfService || o.Err != nil {
		t.Fatalf("i-0000: %+v, want gone, not out of service, no error", o)
	}
	if err != nil || res.Count(InstanceUpdated) != 3 {
		t.Fatalf("a termination failed the rollout: %v (%d updated)", err, res.Count(InstanceUpdated))
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "i-0000 left the fleet") || !strings.Contains(w, "instance terminated") {
		t.Fatalf("warnings do not say i-0000 was terminated and dropped: %q", w)
	}
	if n := w.countCalls("InstanceStates"); n == 0 {
		t.Fatalf("EC2 was never asked: %v", w.calls)
	}
}

func TestRun_terminatedPlainInstanceIsRecognisedWithoutTheLoadBalancerSayingSo(t *testing.T) {
	// Without the Instances port the same failure is only a failed step:
	// this is what the port adds (the load balancer is not asked here,
	// since the instance is out of its target groups while its steps run).
	run := func(withEC2 bool) (InstanceOutcome, Result) {
		w := newWorld(fleetOpts{n: 3})
		w.terminateAt["i-0000"] = epoch.Add(5 * time.Second)
		s := baseSpec(w)
		s.Previous = nil
		s.Strategy.Order = OrderSorted
		w.noEC2 = !withEC2
		res, _, err := simulate(t, w, s, 0)
		checkInvariants(t, w, s, res, err)
		return statusOf(res, "i-0000"), res
	}
	if o, res := run(true); o.Status != InstanceGone || !strings.Contains(strings.Join(res.Warnings, " "), "instance terminated") {
		t.Fatalf("with EC2: %+v, warnings %v", o, res.Warnings)
	}
	if o, res := run(false); strings.Contains(strings.Join(res.Warnings, " "), "instance terminated") {
		t.Fatalf("without EC2 the engine cannot know while the steps run, yet says: %+v %v", o, res.Warnings)
	}
}

func TestRun_deletedTargetGroupIsDroppedAndInstancesRejoinTheOthers(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, tgs: 2})
	second := w.tgARN[1]
	w.deleteTGAt[second] = epoch.Add(15 * time.Second) // while batch 1 runs its steps
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Failure.Rollback = true
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if err == nil || !strings.Contains(err.Error(), second) || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("err %v, want the deleted target group named", err)
	}
	for _, o := range res.Instances {
		if o.OutOfService || o.Status == InstanceFailed {
			t.Fatalf("%s: %+v: a deleted target group is no failure of its instances", o.ID, o)
		}
	}
	for _, id := range w.ids {
		if inst := w.insts[id]; !w.inService(inst) {
			t.Fatalf("%s is not in service in the remaining group (tags %v)", id, inst.tags)
		}
	}
	if res.Count(InstancePending) == 0 {
		t.Fatalf("the run went on scheduling after the fleet changed: %+v", res.Instances)
	}
}

func TestRun_unreadableHealthLeavesRejoinedInstancesRegisteredAndReportsThem(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	w.healthDownFrom = epoch.Add(time.Second) // right after the first departure
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Failure.Rollback = true
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0000")
	if o.Status != InstanceFailed || o.OutOfService || !strings.Contains(o.Err.Error(), "Throttling") {
		t.Fatalf("i-0000: %+v, want failed, not out of service, the throttling named", o)
	}
	inst := w.insts["i-0000"]
	if !w.inService(inst) || inst.tags[TagPhase] != "" {
		t.Fatalf("i-0000 in service %v, tags %v: it must stay registered", w.inService(inst), inst.tags)
	}
	// Never seen healthy on v2: the tag keeps v1 so the next run deploys
	// it again, and the Result says what the tag says.
	if inst.tags[TagVersion] != "v1" || o.Version != "v1" {
		t.Fatalf("i-0000 runs %s, tagged %s, reported %s", inst.version, inst.tags[TagVersion], o.Version)
	}
	if w.countCalls("Deregister") != 1 {
		t.Fatalf("deregistered again: %v", w.calls)
	}
}

func TestRun_cancelWhileDrainingRejoinsWithinTheGracePeriodNotAfterTheDelay(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, delay: 5 * time.Minute})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Strategy.CancelGracePeriod = 30 * time.Second
	cancelAt := 10 * time.Second
	res, _, err := simulate(t, w, s, cancelAt)
	checkInvariants(t, w, s, res, err)
	if res.Status != StatusCancelled || res.Count(InstanceInterrupted) != 2 {
		t.Fatalf("status %s, %+v", res.Status, res.Instances)
	}
	// Rejoining takes healthy_threshold x interval (20 s) and a poll.
	if took := res.FinishedAt.Sub(epoch.Add(cancelAt)); took > s.Strategy.CancelGracePeriod+30*time.Second {
		t.Fatalf("cleanup took %s after the cancel: it waited for the 5m deregistration delay", took)
	}
}

func TestRun_unreadableHealthAfterARollbackKeepsTheInstanceRegisteredTaggedWithThePreviousVersion(t *testing.T) {
	setup := func() (*world, Spec) {
		w := newWorld(fleetOpts{n: 2})
		w.failStep["i-0001"] = "deploy" // stops the run: i-0000, updated, is rolled back
		s := baseSpec(w)
		s.Strategy.Order = OrderSorted
		s.Strategy.MinHealthyPercent = 0
		s.Failure.Rollback = true
		return w, s
	}
	// A first run finds when i-0000's rollback starts; the world is
	// deterministic, so the second run gets there at the same moment.
	w, s := setup()
	_, rec, _ := simulate(t, w, s, 0)
	var rollbackAt time.Time
	for _, e := range rec.kinds(EventInstancePhase) {
		if e.InstanceID == "i-0000" && e.Phase == PhaseRollback {
			rollbackAt = e.Time
			break
		}
	}
	if rollbackAt.IsZero() {
		t.Fatal("i-0000 was never rolled back")
	}
	w, s = setup()
	// From just after it left (the departure itself needs a health read).
	w.healthDownFrom, w.healthDownUntil = rollbackAt.Add(time.Second), rollbackAt.Add(time.Hour)
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0000")
	if o.Status != InstanceFailed || o.OutOfService || !strings.Contains(o.Err.Error(), "health could not be read") {
		t.Fatalf("i-0000: %+v", o)
	}
	inst := w.insts["i-0000"]
	// The previous release's steps all ran: the tag says v1 (it said v2),
	// so the next run deploys v2 again.
	if !w.inService(inst) || inst.version != "v1" || inst.tags[TagVersion] != "v1" || o.Version != "v1" || inst.tags[TagPhase] != "" {
		t.Fatalf("i-0000 in service %v, runs %s, tags %v, reported %s", w.inService(inst), inst.version, inst.tags, o.Version)
	}
}
