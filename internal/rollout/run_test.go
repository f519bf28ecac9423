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
	if v := invariantViolations(w, s, res); len(v) > 0 {
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
	res, err, _ := simulate(t, w, s, 0)
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
	res, err, _ := simulate(t, w, s, 0)
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
	res, err, _ := simulate(t, w, s, 0)
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
