package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustSucceed(t *testing.T, w *world, s Spec, res Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Status != StatusSucceeded {
		t.Fatalf("status %s (%s)", res.Status, res.StopReason)
	}
	if v := invariantViolations(w, s, res, err); len(v) > 0 {
		t.Fatalf("invariants:\n%s", joinLines(v))
	}
}

func TestRun_batchModeUpdatesEveryOutOfDateInstanceInPlannedBatches(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, azs: 2, delay: 20 * time.Second})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	plan, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if res.Count(InstanceUpdated) != 4 {
		t.Fatalf("updated %d of 4", res.Count(InstanceUpdated))
	}
	if got, want := strings.Join(flat(res.Batches), ","), strings.Join(flat(plan.Batches), ","); got != want {
		t.Fatalf("batches executed %v, planned %v", res.Batches, plan.Batches)
	}
	for _, o := range res.Instances {
		if o.Version != "v2" || o.PhaseDurations[PhaseDraining] < 20*time.Second {
			t.Fatalf("%s: version %s, draining %s", o.ID, o.Version, o.PhaseDurations[PhaseDraining])
		}
	}
}

func flat(b [][]string) []string {
	var out []string
	for _, x := range b {
		out = append(out, x...)
	}
	return out
}

func TestRun_nothingOutOfDateIsANoopWithoutAPICalls(t *testing.T) {
	w := newWorld(fleetOpts{n: 3, version: "v2"})
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	if err != nil || res.Status != StatusNoop {
		t.Fatalf("status %s, err %v", res.Status, err)
	}
	if len(w.calls) != 0 {
		t.Fatalf("calls made: %v", w.calls)
	}
}

func TestRun_invalidSpecFailsBeforeAnyCall(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	s := baseSpec(w)
	s.Strategy.MinHealthyPercent = 100
	res, _, err := simulate(t, w, s, 0)
	var verr *ValidationError
	if !errors.As(err, &verr) || res.Status != StatusFailed {
		t.Fatalf("status %s, err %v", res.Status, err)
	}
	if !strings.Contains(err.Error(), "min_healthy_percent must be at most 50 for 2 instances") {
		t.Fatalf("error does not say what would work: %v", err)
	}
	if len(w.calls) != 0 {
		t.Fatalf("calls made: %v", w.calls)
	}
}

func statusOf(res Result, id string) InstanceOutcome {
	for _, o := range res.Instances {
		if o.ID == id {
			return o
		}
	}
	return InstanceOutcome{}
}

func checkInvariants(t *testing.T, w *world, s Spec, res Result, runErr error) {
	t.Helper()
	if v := invariantViolations(w, s, res, runErr); len(v) > 0 {
		t.Fatalf("invariants:\n%s", joinLines(v))
	}
}

func TestRun_failedStepWithoutRollbackStaysOutOfServiceAndStopsTheRollout(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	w.failStep["i-0001"] = "deploy"
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Previous = nil
	s.Sensitive = []string{"s3cr3t-token"}
	res, rec, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if res.Status != StatusFailed || !strings.Contains(res.StopReason, "1 instance failed, more than the 0 tolerated") {
		t.Fatalf("status %s, stop reason %q", res.Status, res.StopReason)
	}
	o := statusOf(res, "i-0001")
	if o.Status != InstanceFailed || !o.OutOfService || w.insts["i-0001"].tags[TagPhase] != "step:deploy" {
		t.Fatalf("failed instance: %+v, tags %v", o, w.insts["i-0001"].tags)
	}
	if statusOf(res, "i-0000").Status != InstanceUpdated || statusOf(res, "i-0002").Status != InstancePending {
		t.Fatalf("others: %+v", res.Instances)
	}
	var ierr *InstanceError
	if !errors.As(err, &ierr) || ierr.InstanceID != "i-0001" || ierr.ExitCode != 3 || ierr.Step != "deploy" || !ierr.LeftOutOfService {
		t.Fatalf("error %v", err)
	}
	for _, text := range []string{err.Error(), eventsText(rec)} {
		if strings.Contains(text, "s3cr3t-token") || !strings.Contains(err.Error(), masked) {
			t.Fatalf("sensitive value not masked: %s", text)
		}
	}
}

func eventsText(r *recorder) string {
	var b strings.Builder
	for _, e := range r.events {
		b.WriteString(e.Message + "\n")
	}
	return b.String()
}

func TestRun_failureBeyondToleranceRollsBackUpdatedAndFailedInstancesNewestFirst(t *testing.T) {
	w := newWorld(fleetOpts{n: 5})
	w.failStep["i-0003"] = "start"
	s := baseSpec(w)
	s.Strategy.Order = OrderSorted
	s.Failure.Rollback = true
	res, rec, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if res.Status != StatusRolledBack || err == nil {
		t.Fatalf("status %s, err %v", res.Status, err)
	}
	for _, id := range []string{"i-0000", "i-0001", "i-0002", "i-0003"} {
		if o := statusOf(res, id); o.Status != InstanceRolledBack || o.Version != "v1" {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	if statusOf(res, "i-0003").Err == nil {
		t.Fatal("the instance that failed lost its error when rolled back")
	}
	if statusOf(res, "i-0004").Status != InstancePending {
		t.Fatalf("i-0004 should not be reached: %+v", statusOf(res, "i-0004"))
	}
	// Rollback of the updated ones is newest first: i-0002, i-0001, i-0000.
	var order []string
	for _, e := range rec.kinds(EventInstanceDone) {
		if strings.Contains(e.Message, "rolled back") && e.InstanceID != "i-0003" {
			order = append(order, e.InstanceID)
		}
	}
	if strings.Join(order, ",") != "i-0002,i-0001,i-0000" {
		t.Fatalf("rollback order %v", order)
	}
	if len(rec.kinds(EventRollbackStarted)) == 0 {
		t.Fatal("no rollback_started event")
	}
}

func TestRun_toleratedFailureDoesNotStopTheRollout(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	w.failStep["i-0001"] = "verify"
	s := baseSpec(w)
	s.Previous = nil
	s.Failure.MaxFailedInstances = 1
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if res.Status != StatusFailed || res.StopReason != "" || err == nil {
		t.Fatalf("status %s, stop %q, err %v", res.Status, res.StopReason, err)
	}
	if res.Count(InstanceUpdated) != 3 || res.Count(InstanceFailed) != 1 {
		t.Fatalf("updated %d, failed %d", res.Count(InstanceUpdated), res.Count(InstanceFailed))
	}
	if v := endsSettled(res); len(v) > 0 {
		t.Fatal(joinLines(v))
	}
}

func TestRun_instanceThatNeverGetsHealthyIsDeregisteredAfterTheHealthTimeout(t *testing.T) {
	w := newWorld(fleetOpts{n: 3})
	w.badVersion["i-0000"] = "v2"
	s := baseSpec(w)
	s.Previous = nil
	s.Release.Steps = s.Release.Steps[:3] // no verify step: only health checks can tell
	s.Strategy.HealthTimeout = 2 * time.Minute
	s.Strategy.Order = OrderSorted
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0000")
	var ierr *InstanceError
	if o.Status != InstanceFailed || !o.OutOfService || !errors.As(err, &ierr) || ierr.Phase != PhaseJoining {
		t.Fatalf("outcome %+v, err %v", o, err)
	}
	if d := o.PhaseDurations[PhaseJoining]; d < 2*time.Minute || d > 2*time.Minute+15*time.Second {
		t.Fatalf("joining lasted %s, want about the 2m health timeout", d)
	}
	if len(w.tgs[w.tgARN[0]].regs) == 0 || w.inService(w.insts["i-0000"]) {
		t.Fatal("unhealthy instance left registered")
	}
}

func TestRun_instanceThatNeverGetsHealthyIsRolledBackWhenRollbackIsOn(t *testing.T) {
	w := newWorld(fleetOpts{n: 3})
	w.badVersion["i-0000"] = "v2"
	s := baseSpec(w)
	s.Release.Steps = s.Release.Steps[:3]
	s.Strategy.HealthTimeout = 2 * time.Minute
	s.Strategy.Order = OrderSorted
	s.Failure.Rollback = true
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if o := statusOf(res, "i-0000"); o.Status != InstanceRolledBack || !w.inService(w.insts["i-0000"]) {
		t.Fatalf("outcome %+v", o)
	}
}

func TestRun_alarmStopsSchedulingButLetsInFlightInstancesFinish(t *testing.T) {
	w := newWorld(fleetOpts{n: 6})
	w.alarmAt = epoch.Add(time.Minute) // during batch 1
	s := baseSpec(w)
	s.Previous = nil
	s.Strategy.BatchSize = 2
	s.Strategy.Order = OrderSorted
	s.Failure.AlarmNames = []string{"web-5xx"}
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if res.Status != StatusFailed || !strings.Contains(res.StopReason, "alarm in ALARM: web-5xx") || err == nil {
		t.Fatalf("status %s, stop %q", res.Status, res.StopReason)
	}
	if res.Count(InstanceUpdated) != 2 || res.Count(InstancePending) != 4 {
		t.Fatalf("updated %d, pending %d", res.Count(InstanceUpdated), res.Count(InstancePending))
	}
}

func TestRun_alarmAlreadyFiringStopsBeforeAnythingLeaves(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	w.alarmAt = epoch
	s := baseSpec(w)
	s.Failure.AlarmNames = []string{"web-5xx"}
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if res.Count(InstancePending) != 2 || w.countCalls("Deregister") != 0 {
		t.Fatalf("pending %d, calls %v", res.Count(InstancePending), w.calls)
	}
}

func TestRun_cancelDuringDrainingRejoinsHealthyInstancesAsInterrupted(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, delay: 60 * time.Second})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	res, _, err := simulate(t, w, s, 30*time.Second)
	checkInvariants(t, w, s, res, err)
	if res.Status != StatusCancelled || err == nil {
		t.Fatalf("status %s, err %v", res.Status, err)
	}
	if res.Count(InstanceInterrupted) != 2 || res.Count(InstancePending) != 2 {
		t.Fatalf("%+v", res.Instances)
	}
	if w.countCalls("Send") != 0 {
		t.Fatalf("a step started after cancellation: %v", w.calls)
	}
}

func TestRun_cancelDuringAStepLetsItFinishThenRejoinsWhatIsHealthy(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	s := baseSpec(w)
	// Cancel while "stop" runs: it finishes, "deploy" never starts, the app
	// is stopped, so the instance cannot rejoin and is left out, reported.
	res, _, err := simulate(t, w, s, 5*time.Second)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0000")
	if res.Status != StatusCancelled || o.Status != InstanceFailed || !o.OutOfService {
		t.Fatalf("status %s, outcome %+v", res.Status, o)
	}
	if w.countCalls("Send deploy") != 0 {
		t.Fatal("deploy step started after cancellation")
	}
}

func TestRun_cancelGraceCancelsHungStepsAndLeavesThemOut(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	w.hangStep["i-0000"] = "stop"
	s := baseSpec(w)
	s.Strategy.CancelGracePeriod = 20 * time.Second
	start := w.now()
	res, _, err := simulate(t, w, s, 5*time.Second)
	checkInvariants(t, w, s, res, err)
	if w.countCalls("Cancel") != 1 || res.FinishedAt.Sub(start) > 5*time.Minute {
		t.Fatalf("cancel calls %d, finished after %s", w.countCalls("Cancel"), res.FinishedAt.Sub(start))
	}
}

func TestRun_cancelDuringBakeKeepsTheNewVersion(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	s := baseSpec(w)
	s.Strategy.BakeTime = 10 * time.Minute
	res, _, err := simulate(t, w, s, 5*time.Minute)
	checkInvariants(t, w, s, res, err)
	if o := statusOf(res, res.Batches[0][0]); o.Status != InstanceUpdated {
		t.Fatalf("outcome %+v", o)
	}
}

func TestRun_hungStepTimesOutAndIsCancelled(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	w.hangStep["i-0000"] = "deploy"
	s := baseSpec(w)
	s.Previous = nil
	s.Strategy.Order = OrderSorted
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	var ierr *InstanceError
	if !errors.As(err, &ierr) || ierr.Status != string(InvocationTimedOut) || strings.Contains(err.Error(), "exit code") {
		t.Fatalf("err %v", err)
	}
	if d := statusOf(res, "i-0000").PhaseDurations["step:deploy"]; d < 5*time.Minute || d > 7*time.Minute {
		t.Fatalf("deploy step lasted %s, want its 5m timeout plus delivery margin", d)
	}
}

func TestRun_drainTimeoutBoundsTheWaitForDraining(t *testing.T) {
	w := newWorld(fleetOpts{n: 2, delay: 300 * time.Second})
	s := baseSpec(w)
	s.Strategy.DrainTimeout = time.Minute
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if d := res.Instances[0].PhaseDurations[PhaseDraining]; d != time.Minute {
		t.Fatalf("draining took %s, want the 1m drain timeout", d)
	}
}

func TestRun_untaggableInstancesNeverLeave(t *testing.T) {
	w := newWorld(fleetOpts{n: 2})
	w.failTags = true
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	if err == nil || w.countCalls("Deregister") != 0 {
		t.Fatalf("err %v, calls %v", err, w.calls)
	}
	if o := res.Instances[0]; o.Status != InstanceFailed || o.OutOfService {
		t.Fatalf("outcome %+v", o)
	}
}

// The happy path writes tags three times per batch: rolling:phase=draining
// (with the rollout id and targets) before leaving, rolling:version at the
// end, and the removal of the out-of-service tags; no per-step phase tags.
func TestRun_callsAreBatchedPerTargetGroupStepAndPhase(t *testing.T) {
	w := newWorld(fleetOpts{n: 6, tgs: 2, portsPerTG: 2})
	s := baseSpec(w)
	s.Strategy.BatchSize = 3
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	batches := len(res.Batches)
	if batches != 2 {
		t.Fatalf("batches %v", res.Batches)
	}
	for prefix, want := range map[string]int{
		"Deregister ":        2 * batches, // one per target group per batch
		"Register ":          2 * batches,
		"Send ":              4 * batches, // one per step per batch
		"SetTags 3 draining": batches,
		"SetTags ":           2 * batches, // draining, then the version
		"RemoveTags 3":       batches,
	} {
		if got := w.countCalls(prefix); got != want {
			t.Errorf("%q calls: %d, want %d", prefix, got, want)
		}
	}
	for _, c := range w.calls {
		if strings.HasPrefix(c, "Deregister ") && !strings.HasSuffix(c, " 6") {
			t.Errorf("deregister not batched (3 instances x 2 ports): %s", c)
		}
	}
}

func TestRun_stepsBecomeRunShellScriptWithExecutionTimeout(t *testing.T) {
	w := newWorld(fleetOpts{n: 1})
	s := baseSpec(w)
	s.Strategy.MinHealthyPercent = 0
	_, _, _ = simulate(t, w, s, 0)
	var deploy *fakeCmd
	for _, c := range w.cmds {
		if c.step == "deploy" {
			deploy = c
		}
	}
	if deploy == nil || deploy.cmd.DocumentName != "AWS-RunShellScript" ||
		strings.Join(deploy.cmd.Parameters["executionTimeout"], "") != "300" ||
		strings.Join(deploy.cmd.Parameters["commands"], "") != "install v2" {
		t.Fatalf("command %+v", deploy)
	}
}
