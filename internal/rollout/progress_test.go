package rollout

import (
	"slices"
	"testing"
	"time"
)

// Reports say "batch 3 of 13, 10 in service, floor 9" from the events alone.
func TestEvents_rolloutLevelEventsCarryProgressAndBatchMembers(t *testing.T) {
	w := newWorld(fleetOpts{n: 6, azs: 2, delay: 20 * time.Second})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Strategy.MinHealthyPercent = 50
	res, rec, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)

	started := rec.kinds(EventRolloutStarted)
	if len(started) != 1 || started[0].Progress == nil || started[0].Progress.Batches != 3 || started[0].Progress.Pending != 6 {
		t.Fatalf("rollout_started progress = %+v, want 3 batches and 6 pending", started)
	}
	batches := rec.kinds(EventBatchStarted)
	if len(batches) != 3 {
		t.Fatalf("%d batch_started events, want 3", len(batches))
	}
	for i, e := range batches {
		p := e.Progress
		// Emitted once the members are out: 4 of 6 in service, floor 3.
		if p == nil || e.Batch != i+1 || p.Batches != 3 || p.InService != 4 || p.Floor != 3 || p.Fleet != 6 || len(e.Instances) != 2 {
			t.Fatalf("batch_started %d: %+v progress %+v", i+1, e, p)
		}
		if !slices.Equal(e.Instances, res.Batches[i]) {
			t.Errorf("batch_started %d names %v, executed %v", i+1, e.Instances, res.Batches[i])
		}
	}
	finished := rec.kinds(EventBatchFinished)
	if len(finished) != 3 {
		t.Fatalf("%d batch_finished events, want 3", len(finished))
	}
	for i, e := range finished {
		p := e.Progress
		if p == nil || p.InService != 6 || p.Updated != 2*(i+1) || p.Pending != 6-2*(i+1) || !slices.Equal(e.Instances, res.Batches[i]) {
			t.Fatalf("batch_finished %d: %+v progress %+v", i+1, e, p)
		}
	}
	for _, e := range rec.events {
		if (e.Kind == EventInstancePhase || e.Kind == EventPoll || e.Kind == EventInstanceDone) && e.Progress != nil {
			t.Fatalf("per-instance event %s carries progress", e.Kind)
		}
	}
}

// Once a failure stops scheduling, no further batch is expected.
func TestEvents_aStoppedRolloutExpectsNoMoreBatches(t *testing.T) {
	w := newWorld(fleetOpts{n: 6, azs: 2})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Failure.Rollback = true
	w.failStep[w.fleet().Instances[0].ID] = "verify"
	s.Strategy.Order = OrderSorted
	res, rec, _ := simulate(t, w, s, 0)
	if res.Status != StatusRolledBack {
		t.Fatalf("status %s, want rolled_back", res.Status)
	}
	failed := rec.kinds(EventInstanceFailed)
	if len(failed) == 0 || failed[0].Progress == nil {
		t.Fatalf("instance_failed without progress: %+v", failed)
	}
	rb := rec.kinds(EventRollbackStarted)
	if len(rb) == 0 || len(rb[0].Instances) == 0 {
		t.Fatalf("rollback_started names no instance: %+v", rb)
	}
	last := rec.kinds(EventRolloutFinished)
	if p := last[len(last)-1].Progress; p == nil || p.Batches != len(res.Batches) || p.RolledBack != res.Count(InstanceRolledBack) {
		t.Fatalf("rollout_finished progress %+v, executed %d batches, rolled back %d", p, len(res.Batches), res.Count(InstanceRolledBack))
	}
}
