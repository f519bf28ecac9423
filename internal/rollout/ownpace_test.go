package rollout

import (
	"strings"
	"testing"
	"time"
)

// ownPaceWorld is 6 instances in two target groups, 3 a batch (a 50 %
// floor), steps of 10 s, sorted order: batch 1 is i-0000..i-0002, batch 2
// i-0003..i-0005. slow is the extra run time of each step on i-0003.
func ownPaceWorld(slow time.Duration) (*world, Spec) {
	w := newWorld(fleetOpts{n: 6, tgs: 2})
	if slow > 0 {
		w.slow["i-0003"] = slow
	}
	s := baseSpec(w)
	s.Strategy.BatchSize = 3
	s.Strategy.Order = OrderSorted
	return w, s
}

// In batch mode a slow member does not hold the others' next step: once the
// steps' times are known (after the first batch), i-0004 and i-0005 go
// through their four 10 s steps while i-0003 (20 s each) is still in its
// second, then wait for it to rejoin together. In lockstep every step waits
// for i-0003.
func TestRun_batchModeLetsASlowMemberNotHoldTheOthersNextStep(t *testing.T) {
	for _, lockstep := range []bool{false, true} {
		w, s := ownPaceWorld(10 * time.Second)
		s.Strategy.Lockstep = lockstep
		res, _, err := simulate(t, w, s, 0)
		mustSucceed(t, w, s, res, err)
		checkInvariants(t, w, s, res, err)
		fast, slow := statusOf(res, "i-0004").PhaseDurations, statusOf(res, "i-0003").PhaseDurations
		if lockstep {
			if fast["step:stop"] < 20*time.Second {
				t.Errorf("lockstep: i-0004's stop took %s, want it to wait for i-0003's 20 s", fast["step:stop"])
			}
			continue
		}
		for _, step := range []string{"step:stop", "step:deploy", "step:start"} {
			if d := fast[step]; d > 14*time.Second {
				t.Errorf("own pace: i-0004's %s took %s, want about its own 10 s (i-0003's took %s)", step, d, slow[step])
			}
		}
		// The fast ones' last step ends when the batch rejoins: they wait
		// for i-0003 there, once.
		if fast["step:verify"] < 30*time.Second {
			t.Errorf("own pace: i-0004 did not wait for the batch to rejoin: verify %s", fast["step:verify"])
		}
		if !strings.Contains(strings.Join(w.calls, "\n"), "Send deploy 2") {
			t.Errorf("own pace: the fast members were never sent a step without i-0003: %v", w.calls)
		}
	}
}

// A batch whose members ran their steps at their own pace still leaves
// and rejoins together: one Deregister and one Register per target group
// per batch, and the next batch leaves only once the batch is done.
func TestRun_batchModeAtItsOwnPaceRegistersEachBatchOncePerTargetGroup(t *testing.T) {
	w, s := ownPaceWorld(0)
	lognormalSteps(w, 10*time.Second)
	res, rec, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	checkInvariants(t, w, s, res, err)
	if n := w.countCalls("Register"); n != 2*2 {
		t.Errorf("%d Register calls, want 4 (2 batches x 2 target groups): %v", n, w.calls)
	}
	if n := w.countCalls("Deregister"); n != 2*2 {
		t.Errorf("%d Deregister calls, want 4", n)
	}
	for _, c := range w.calls {
		if strings.HasPrefix(c, "Register ") && !strings.HasSuffix(c, " 3") {
			t.Errorf("%q: a batch rejoined in parts", c)
		}
	}
	first := rec.kinds(EventBatchFinished)
	second := rec.kinds(EventBatchStarted)
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("batches started %d, finished %d", len(second), len(first))
	}
	if statusOf(res, "i-0003").StartedAt.Before(statusOf(res, "i-0000").FinishedAt) {
		t.Errorf("batch 2 left at %s, before batch 1 was done at %s", statusOf(res, "i-0003").StartedAt, statusOf(res, "i-0000").FinishedAt)
	}
}

// A member whose step fails mid-batch, at its own pace, follows the
// failure policy (here: one failure tolerated, left out of service,
// reported); the rest of its batch goes on with its steps and rejoins
// together, in one Register per target group.
func TestRun_batchModeAtItsOwnPaceFailsAMemberMidStepAndTheRestRejoinTogether(t *testing.T) {
	w, s := ownPaceWorld(10 * time.Second)
	w.failStep["i-0004"] = "deploy"
	s.Failure.MaxFailedInstances = 1
	res, _, err := simulate(t, w, s, 0)
	checkInvariants(t, w, s, res, err)
	o := statusOf(res, "i-0004")
	if o.Status != InstanceFailed || !o.OutOfService || w.insts["i-0004"].tags[TagPhase] != "step:deploy" {
		t.Fatalf("failed member: %+v, tags %v", o, w.insts["i-0004"].tags)
	}
	for _, id := range []string{"i-0000", "i-0001", "i-0002", "i-0003", "i-0005"} {
		if st := statusOf(res, id).Status; st != InstanceUpdated {
			t.Errorf("%s: %s, want updated", id, st)
		}
	}
	var batch2 []string
	for _, c := range w.calls {
		if strings.HasPrefix(c, "Register ") {
			batch2 = append(batch2, c)
		}
	}
	if len(batch2) != 4 || !strings.HasSuffix(batch2[2], " 2") || !strings.HasSuffix(batch2[3], " 2") {
		t.Errorf("registrations %v, want batch 2's two survivors in one call per target group", batch2)
	}
}

// Cancelled while a batch's members are at different steps, every member
// is put back once its running step has stopped: all registered, none left
// out (these steps never stop the application).
func TestRun_batchModeAtItsOwnPaceCancelledMidBatchLeavesEveryInstanceRegistered(t *testing.T) {
	w, s := ownPaceWorld(20 * time.Second)
	s.Release.Steps = []Step{
		{Name: "fetch", Commands: []string{"echo fetch"}},
		{Name: "unpack", Commands: []string{"install v2"}},
		{Name: "link", Commands: []string{"echo link"}},
		{Name: "check", Commands: []string{"echo check"}},
	}
	// Batch 1 takes about 41 s of steps (each polled at 2, 3, 4.5, 6.75 and
	// 10.1 s, nothing known yet) and 20 s to be healthy: batch 2 leaves at
	// about 62 s, its fast members are in their third step (sent at about
	// 83 s) while i-0003 is in its second (sent at about 83 s too, 20 s).
	res, _, err := simulate(t, w, s, 88*time.Second)
	checkInvariants(t, w, s, res, err)
	if res.Status != StatusCancelled {
		t.Fatalf("status %s", res.Status)
	}
	for _, id := range w.ids {
		if !w.inService(w.insts[id]) {
			t.Errorf("%s is out of service after the cancellation: %+v", id, statusOf(res, id))
		}
		if o := statusOf(res, id); o.OutOfService {
			t.Errorf("%s reported out of service: %+v", id, o)
		}
	}
	if n := w.countCalls("Send link 2"); n != 1 {
		t.Errorf("the fast members had not reached a later step than i-0003 when cancelled (%d sends of link to 2): %v", n, w.calls)
	}
}
