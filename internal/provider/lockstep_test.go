package provider

import (
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// strategy.lockstep reaches the engine and the plan: the summary says so,
// the rollout runs, and both plans are empty after it.
func TestAccLockstep_batchModeInLockstepRollsOutAndThePlanSaysSo(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(4, "v1")
	c := realFleetRun(t, f, tg, "batch_size = 2\n    lockstep = true", "")
	c.applyThenEmpty("adopting the fleet", "-var", "app_version=v1")
	out := c.expectUpdate("a version bump", "-var", "app_version=v2")
	if !strings.Contains(out, "2 batches, every step in lockstep") {
		t.Fatalf("the plan does not say the steps run in lockstep:\n%s", out)
	}
	c.applyThenEmpty("the rollout", "-var", "app_version=v2")
	if n := len(f.sim.Recorder().Calls("RegisterTargets")); n != 2 {
		t.Errorf("%d RegisterTargets calls, want 2 (one per batch)", n)
	}
}

func TestScheduleLines_lockstepIsNamedInBatchModeOnly(t *testing.T) {
	sched := rollout.Schedule{OutOfDate: []string{"i-0a", "i-0b"}, Batches: [][]string{{"i-0a"}, {"i-0b"}},
		MinInService: 1, ExpectedDuration: 4 * time.Minute}
	spec := rollout.Spec{Release: rollout.Release{Version: "v2"}, Strategy: rollout.Strategy{Lockstep: true}}
	summary, _ := scheduleLines(3, spec, sched, 2, false)
	if want := "#3 v2: 2 of 2 instances out of date, 2 batches, every step in lockstep, at least 1 of 2 in service, expected 4m0s"; summary != want {
		t.Errorf("summary\n %s\nwant\n %s", summary, want)
	}
	spec.Strategy.Lockstep = false
	if summary, _ := scheduleLines(3, spec, sched, 2, false); strings.Contains(summary, "lockstep") {
		t.Errorf("own pace named lockstep: %s", summary)
	}
}
