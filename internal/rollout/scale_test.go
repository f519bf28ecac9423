package rollout

import (
	"context"
	"testing"
	"time"
)

func TestRun_alreadyCancelledContextTouchesNothing(t *testing.T) {
	w := newWorld(fleetOpts{n: 3})
	s := baseSpec(w)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, s, w.ports(nil))
	if err == nil || res.Status != StatusCancelled || res.Count(InstancePending) != 3 || len(w.calls) != 0 {
		t.Fatalf("status %s, err %v, calls %v", res.Status, err, w.calls)
	}
}

func TestRun_thousandInstancesStayWithinTheAPICallBudget(t *testing.T) {
	w := newWorld(fleetOpts{n: 1000, azs: 3, tgs: 3, delay: 30 * time.Second})
	s := baseSpec(w)
	s.Strategy = Strategy{BatchPercent: 5, MinHealthyPercent: 90, Mode: ModeWindow, BakeTime: 30 * time.Second}
	wall := time.Now()
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if took := time.Since(wall); took > 20*time.Second {
		t.Fatalf("simulating 1000 instances took %s of wall time", took)
	}
	groups := len(res.Batches)
	if groups > 40 {
		t.Fatalf("%d departures for 1000 instances in windows of 50", groups)
	}
	// Batched: per departure one Deregister and one Register per target
	// group, one Send per step.
	if got := w.countCalls("Deregister "); got != 3*groups {
		t.Fatalf("Deregister calls %d for %d departures", got, groups)
	}
	if got := w.countCalls("Send "); got != 4*groups {
		t.Fatalf("Send calls %d for %d departures", got, groups)
	}
	// Health polls are shared between groups: on average well under one
	// DescribeTargetHealth per target group per simulated 5 seconds.
	took := res.FinishedAt.Sub(res.StartedAt)
	if got, budget := w.countCalls("TargetHealth "), int(3*took/(5*time.Second)); got > budget {
		t.Fatalf("TargetHealth calls %d over %s, budget %d", got, took, budget)
	}
	t.Logf("1000 instances: %d departures, %s simulated, %d API calls", groups, took, len(w.calls))
}
