package rollout

import (
	"strings"
	"testing"
	"time"
)

func TestRun_windowModeDoesNotLetOneSlowInstanceHoldOthersBack(t *testing.T) {
	build := func() *world {
		w := newWorld(fleetOpts{n: 6})
		w.slow["i-0000"] = 3 * time.Minute
		return w
	}
	run := func(mode Mode) (Result, *world, Spec) {
		w := build()
		s := baseSpec(w)
		s.Strategy.Mode = mode
		s.Strategy.BatchSize = 2
		s.Strategy.MinHealthyPercent = 60
		s.Strategy.Order = OrderSorted
		res, _, err := simulate(t, w, s, 0)
		mustSucceed(t, w, s, res, err)
		return res, w, s
	}
	batch, _, _ := run(ModeBatch)
	window, w, _ := run(ModeWindow)
	bd, wd := batch.FinishedAt.Sub(batch.StartedAt), window.FinishedAt.Sub(window.StartedAt)
	if wd >= bd {
		t.Fatalf("window mode took %s, batch mode %s", wd, bd)
	}
	// While i-0000 is slow, the other slot keeps moving instances one by one.
	if len(window.Batches) < 4 || window.Batches[0][0] != "i-0000" {
		t.Fatalf("window departures %v", window.Batches)
	}
	// The in-service count never dropped below the floor (checked by the world).
	if w.minSeen < minInService(6, 60) {
		t.Fatalf("in service dropped to %d", w.minSeen)
	}
}

func TestRun_windowModeGroupsSimultaneousDeparturesIntoOneSetOfCalls(t *testing.T) {
	w := newWorld(fleetOpts{n: 6})
	s := baseSpec(w)
	s.Strategy.Mode = ModeWindow
	s.Strategy.BatchSize = 3
	s.Strategy.MinHealthyPercent = 50
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if len(res.Batches) != 2 || len(res.Batches[0]) != 3 {
		t.Fatalf("departures %v, want two groups of three", res.Batches)
	}
	if got := w.countCalls("Send stop"); got != 2 {
		t.Fatalf("Send stop calls %d, want 2", got)
	}
}

func TestRun_canaryRunsAloneThenPauses(t *testing.T) {
	w := newWorld(fleetOpts{n: 5})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Strategy.MinHealthyPercent = 60
	s.Strategy.CanarySize = 1
	s.Strategy.CanaryPause = 5 * time.Minute
	s.Strategy.Mode = ModeWindow
	res, rec, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if len(res.Batches[0]) != 1 {
		t.Fatalf("canary batch %v", res.Batches[0])
	}
	starts := rec.kinds(EventBatchStarted)
	var canaryDone time.Time
	for _, e := range rec.kinds(EventBatchFinished) {
		if e.Batch == 1 {
			canaryDone = e.Time
		}
	}
	if gap := starts[1].Time.Sub(canaryDone); gap != 5*time.Minute {
		t.Fatalf("second batch started %s after the canary finished, want the 5m pause", gap)
	}
}

func TestRun_pauseBetweenBatchesInBatchMode(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	s := baseSpec(w)
	s.Strategy.PauseBetweenBatches = 3 * time.Minute
	res, rec, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	fin, starts := rec.kinds(EventBatchFinished), rec.kinds(EventBatchStarted)
	if gap := starts[1].Time.Sub(fin[0].Time); gap != 3*time.Minute {
		t.Fatalf("pause %s", gap)
	}
}

func TestRun_shortStepsAreNotHeldForTheNominalStepTime(t *testing.T) {
	w := newWorld(fleetOpts{n: 3})
	w.stepTime = 3 * time.Second
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	// First batch: polls at 2s and 4s see the 3s step done. Later batches
	// poll once, at the 4s learned from the first.
	for _, o := range res.Instances {
		if d := o.PhaseDurations["step:deploy"]; d > 4*time.Second {
			t.Fatalf("%s: a 3s step held for %s", o.ID, d)
		}
	}
	if got := w.countCalls("Invocations"); got > 4*2+2*4 {
		t.Fatalf("%d Invocations calls for 4 steps x 3 batches", got)
	}
}

func TestRun_expectedDurationMatchesASimulatedRollout(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, delay: 30 * time.Second})
	w.stepTime = 30 * time.Second // exactly the nominal estimate
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Strategy.BakeTime = time.Minute
	plan, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	// The only overhead is seeing each step done up to one poll late: a
	// few seconds per step, well under 5% here.
	if took := res.FinishedAt.Sub(res.StartedAt); took < plan.ExpectedDuration || took > plan.ExpectedDuration*105/100 {
		t.Fatalf("took %s, planned %s: the engine adds time beyond the AWS bound", took, plan.ExpectedDuration)
	}
}

func TestRun_autoScalingMembersUseStandbyAndProcessesAreSuspendedThenResumed(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, tgs: 2, asgEvery: 1})
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if w.countCalls("EnterStandby asg-a") != 4 || w.countCalls("ExitStandby asg-a") != 4 {
		t.Fatalf("standby calls: %v", w.calls)
	}
	// tg0 is attached to the group (standby handles it); tg1 is ours.
	if w.countCalls("Deregister "+w.tgARN[0]) != 0 || w.countCalls("Deregister "+w.tgARN[1]) != 4 {
		t.Fatalf("deregister calls: %v", w.calls)
	}
	if w.countCalls("SuspendProcesses asg-a") != 1 || w.countCalls("ResumeProcesses asg-a") != 1 {
		t.Fatalf("suspend/resume calls: %v", w.calls)
	}
}

func TestRun_processesAreResumedEvenWhenTheRolloutFails(t *testing.T) {
	w := newWorld(fleetOpts{n: 2, asgEvery: 1})
	w.failStep["i-0000"] = "deploy"
	w.failStep["i-0001"] = "deploy"
	s := baseSpec(w)
	s.Previous = nil
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if w.countCalls("ResumeProcesses") != 1 {
		t.Fatalf("calls %v", w.calls)
	}
}

func TestRun_terminatedAutoScalingInstanceIsReportedGoneAndDoesNotWedgeTheRun(t *testing.T) {
	w := newWorld(fleetOpts{n: 3, asgEvery: 1})
	w.terminateAt["i-0000"] = epoch.Add(40 * time.Second) // during its steps
	s := baseSpec(w)
	s.Previous = nil
	s.Strategy.MinHealthyPercent = 66
	s.Strategy.Order = OrderSorted
	s.Failure.MaxFailedInstances = 1
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0000")
	if o.Status != InstanceGone || o.OutOfService || !strings.Contains(strings.Join(res.Warnings, " "), "no longer in its Auto Scaling group") {
		t.Fatalf("gone instance: %+v, warnings %v", o, res.Warnings)
	}
	// With 2 instances left, 66% needs 2 in service... of the 2 alive:
	// ceil(2*0.66) = 2, so nothing more may move: the run stops, not hangs.
	if res.Count(InstanceUpdated)+res.Count(InstancePending) != 2 || err == nil {
		t.Fatalf("others: %+v", res.Instances)
	}
}

func TestRun_terminatedInstanceSeenByTargetHealthIsGone(t *testing.T) {
	w := newWorld(fleetOpts{n: 3, delay: time.Minute})
	w.terminateAt["i-0000"] = epoch.Add(10 * time.Second) // while draining
	s := baseSpec(w)
	s.Previous = nil
	s.Strategy.Order = OrderSorted
	s.Failure.MaxFailedInstances = 1
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0000")
	if o.Status != InstanceGone || o.OutOfService || !strings.Contains(strings.Join(res.Warnings, " "), "Target.InvalidState") {
		t.Fatalf("gone instance: %+v, warnings %v", o, res.Warnings)
	}
	if res.Count(InstanceUpdated) != 2 {
		t.Fatalf("others: %+v", res.Instances)
	}
}

func TestRun_instanceTerminatedBeforeTheRunIsNeitherDeployedNorCounted(t *testing.T) {
	// Three instances at 50%: with the terminated one counted, 2 must stay
	// in service and nothing could move; counted out, 1 may move at a time.
	w := newWorld(fleetOpts{n: 3})
	w.terminateAt["i-0002"] = epoch
	s := baseSpec(w)
	s.Strategy.MinHealthyPercent = 50
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if o := statusOf(res, "i-0002"); o.Status != InstanceGone || len(w.installs["i-0002"]) != 0 {
		t.Fatalf("terminated instance: %+v", o)
	}
	if res.Count(InstanceUpdated) != 2 {
		t.Fatalf("updated %d", res.Count(InstanceUpdated))
	}
}

func TestRun_oneTerminatedInstanceDoesNotFailTheRestOfItsBatch(t *testing.T) {
	w := newWorld(fleetOpts{n: 3})
	// "stop" finishes at 10s and is seen done at the 10.125s poll (polls at
	// 2s, 3s, 4.5s, 6.75s, 10.125s): the instance dies between the two, so
	// "deploy" is sent to a terminated instance.
	w.terminateAt["i-0001"] = epoch.Add(10*time.Second + 50*time.Millisecond)
	s := baseSpec(w)
	s.Previous = nil
	s.Strategy.BatchSize = 3
	s.Strategy.MinHealthyPercent = 0
	s.Failure.MaxFailedInstances = 1
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if res.Count(InstanceUpdated) != 2 || statusOf(res, "i-0001").Status != InstanceGone || err != nil {
		t.Fatalf("instances %+v", res.Instances)
	}
	// SSM rejected the batch; the engine sent to each instance on its own.
	if got := w.countCalls("Send deploy"); got != 1+3 {
		t.Fatalf("Send deploy calls %d, want the batch then one per instance", got)
	}
}

func TestRun_nothingLeavesWhileFleetHealthCannotBeRead(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	w.failHealthReads = 3
	s := baseSpec(w)
	res, rec, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	first := rec.kinds(EventBatchStarted)[0]
	if got := first.Time.Sub(epoch); got != 3*time.Second {
		t.Fatalf("first departure at %s, want after the 3 failed reads (1s apart)", got)
	}
}

func TestRun_stopsWithAClearReasonWhenTheFloorLetsNothingMoreLeave(t *testing.T) {
	// 4 instances at 75%: 3 must stay in service. i-0000 is down, so it goes
	// first at no cost; it fails (tolerated) and stays out, and then none of
	// the three healthy ones may leave.
	w := newWorld(fleetOpts{n: 4, unhealthy: map[int]bool{0: true}})
	w.badVersion["i-0000"] = "v2"
	s := baseSpec(w)
	s.Previous = nil
	s.Strategy.MinHealthyPercent = 75
	s.Failure.MaxFailedInstances = 1
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if !strings.Contains(res.StopReason, "capacity floor: none of the 3 remaining instances may leave") || err == nil {
		t.Fatalf("stop reason %q, err %v", res.StopReason, err)
	}
	if res.Count(InstancePending) != 3 {
		t.Fatalf("instances %+v", res.Instances)
	}
}
