package rollout

import (
	"testing"
	"time"
)

// A rollout records what its steps took (TagSteps, with the version, in
// the same call), and the next plan's expected duration uses it: 10 s
// steps are not estimated at the nominal 30 s, and the estimate is then
// what the next rollout takes, give or take the polls.
func TestRun_recordsStepTimesForTheNextPlansEstimate(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, delay: 30 * time.Second})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	want := "stop=10.00/0.00 deploy=10.00/0.00 start=10.00/0.00 verify=10.00/0.00"
	for _, id := range w.ids {
		if got := w.insts[id].tags[TagSteps]; got != want {
			t.Fatalf("%s: %s=%q, want %q", id, TagSteps, got, want)
		}
	}
	if n := w.countCalls("SetTags"); n != 2*2 {
		t.Fatalf("%d SetTags calls, want two per batch (leaving, done): the step times ride along", n)
	}

	// The next release, with the steps' names: the plan knows their pace.
	next := baseSpec(w)
	next.Release.Version = "v3"
	next.Release.Steps[1].Commands = []string{"install v3"}
	next.Strategy.BatchSize = 2
	plan, err := PlanSchedule(next)
	if err != nil {
		t.Fatal(err)
	}
	// Per batch: 30 s drain + 4 x 10 s + 2 x 10 s health = 90 s.
	if plan.ExpectedDuration != 2*90*time.Second {
		t.Fatalf("expected %s, want 3m0s from the recorded 10 s steps", plan.ExpectedDuration)
	}
	res, _, err = simulate(t, w, next, 0)
	mustSucceed(t, w, next, res, err)
	if took := res.FinishedAt.Sub(res.StartedAt); took < plan.ExpectedDuration || took > plan.ExpectedDuration*110/100 {
		t.Fatalf("took %s, estimated %s", took, plan.ExpectedDuration)
	}
}
