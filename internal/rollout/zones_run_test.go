package rollout

import (
	"strings"
	"testing"
	"time"
)

// zoneWorld is six instances over az-a (i-0000, i-0003), az-b (i-0001,
// i-0004) and az-c (i-0002, i-0005); the zones tie on size, so they go by
// name.
func zoneWorld(mode Mode, bake time.Duration) (*world, Spec) {
	w := newWorld(fleetOpts{n: 6, azs: 3, delay: 5 * time.Second})
	s := baseSpec(w)
	s.Strategy.Order, s.Strategy.Mode, s.Strategy.ZoneBakeTime = OrderZoneByZone, mode, bake
	s.Strategy.BatchSize, s.Strategy.MinHealthyPercent = 2, 60
	s.Failure.AlarmNames, s.Failure.Rollback = []string{"web-5xx"}, true
	return w, s
}

// touched reports, from the world's own record, whether the rollout did
// anything to the instance: sent it a command, changed a registration or
// its tags.
func touched(w *world, id string) []string {
	var what []string
	for _, c := range w.cmds {
		if _, ok := c.invs[id]; ok {
			what = append(what, "command "+c.step)
		}
	}
	long := w.start.Add(-time.Hour)
	for _, arn := range w.tgARN {
		for _, p := range w.insts[id].home[arn] {
			r, ok := w.tgs[arn].regs[Target{InstanceID: id, Port: p}]
			if !ok || !r.registeredAt.Equal(long) || !r.deregisteredAt.IsZero() {
				what = append(what, "registration")
			}
		}
	}
	for k, v := range w.insts[id].tags {
		if k != TagVersion || v != "v1" {
			what = append(what, "tag "+k)
		}
	}
	return what
}

// firstCommand is when the world first ran a command on any of ids.
func firstCommand(w *world, ids ...string) time.Time {
	var first time.Time
	for _, c := range w.cmds {
		for _, id := range ids {
			if inv, ok := c.invs[id]; ok && (first.IsZero() || inv.start.Before(first)) {
				first = inv.start
			}
		}
	}
	return first
}

// lastDone is when the last of ids was reported done.
func lastDone(rec *recorder, ids ...string) time.Time {
	var last time.Time
	for _, e := range rec.kinds(EventInstanceDone) {
		for _, id := range ids {
			if e.InstanceID == id && e.Time.After(last) {
				last = e.Time
			}
		}
	}
	return last
}

func TestRun_zoneByZoneBakesBetweenZonesAndKeepsTheFloor(t *testing.T) {
	for _, mode := range []Mode{ModeBatch, ModeWindow} {
		t.Run(string(mode), func(t *testing.T) {
			bake := 4 * time.Minute
			w, s := zoneWorld(mode, bake)
			res, rec, err := simulate(t, w, s, 0)
			mustSucceed(t, w, s, res, err)
			a, b, c := []string{"i-0000", "i-0003"}, []string{"i-0001", "i-0004"}, []string{"i-0002", "i-0005"}
			if at, done := firstCommand(w, b...), lastDone(rec, a...); at.Before(done.Add(bake)) {
				t.Errorf("az-b's first command at %s, az-a done at %s: before the %s bake passed", at.Sub(w.start), done.Sub(w.start), bake)
			}
			if at, done := firstCommand(w, c...), lastDone(rec, b...); at.Before(done.Add(bake)) {
				t.Errorf("az-c's first command at %s, az-b done at %s: before the %s bake passed", at.Sub(w.start), done.Sub(w.start), bake)
			}
			// No bake after the last zone.
			if end, done := res.FinishedAt, lastDone(rec, c...); end.Sub(done) >= bake {
				t.Errorf("the rollout ended %s after its last zone", end.Sub(done))
			}
			// 60% of 6: 4 stay in service, so 2 at once.
			if w.minSeen < 4 || len(w.violations) > 0 {
				t.Errorf("in service fell to %d; violations %v", w.minSeen, w.violations)
			}
			if len(rec.kinds(EventZoneBaking)) != 2 {
				t.Errorf("zone bake events %d, want 2", len(rec.kinds(EventZoneBaking)))
			}
		})
	}
}

func TestRun_zoneByZoneFailureInTheFirstZoneTouchesNoOtherZone(t *testing.T) {
	for _, mode := range []Mode{ModeBatch, ModeWindow} {
		t.Run(string(mode), func(t *testing.T) {
			// Three may leave at once (50% of 6), more than az-a has; its
			// first instance is slow to fail, so the slot its second frees
			// early must not go to another zone (window mode) and no batch
			// may fill up from the next zone (batch mode).
			w, s := zoneWorld(mode, time.Minute)
			s.Strategy.BatchSize, s.Strategy.MinHealthyPercent = 3, 50
			w.slow["i-0000"] = 3 * time.Minute
			w.failStep["i-0000"] = "deploy"
			res, _, err := simulate(t, w, s, 0)
			if err == nil || res.Status != StatusRolledBack {
				t.Fatalf("status %s, err %v; want rolled back", res.Status, err)
			}
			for _, id := range []string{"i-0001", "i-0004", "i-0002", "i-0005"} {
				if what := touched(w, id); len(what) > 0 {
					t.Errorf("%s (another zone) was touched: %s", id, strings.Join(what, ", "))
				}
			}
			if v := invariantViolations(w, s, res, err); len(v) > 0 {
				t.Fatalf("invariants:\n%s", joinLines(v))
			}
		})
	}
}

func TestRun_zoneByZoneAlarmDuringTheZoneBakeStopsBeforeTheNextZone(t *testing.T) {
	// When az-a is done, from a run without the alarm.
	w, s := zoneWorld(ModeBatch, 10*time.Minute)
	_, rec, err := simulate(t, w, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	doneA := lastDone(rec, "i-0000", "i-0003").Sub(w.start)

	w, s = zoneWorld(ModeBatch, 10*time.Minute)
	w.alarmAt = w.start.Add(doneA + 2*time.Minute) // in the bake
	res, rec, err := simulate(t, w, s, 0)
	if err == nil || !strings.Contains(res.StopReason, "alarm in ALARM: web-5xx") {
		t.Fatalf("status %s (%s), err %v; want stopped by the alarm", res.Status, res.StopReason, err)
	}
	// Seen within the alarm check interval, not at the bake's end.
	stopped := rec.kinds(EventStopped)
	if len(stopped) == 0 || stopped[0].Time.Sub(w.start) > doneA+2*time.Minute+alarmCheckInterval {
		t.Errorf("stopped at %v, alarm at %s", stopped, doneA+2*time.Minute)
	}
	for _, id := range []string{"i-0001", "i-0004", "i-0002", "i-0005"} {
		if what := touched(w, id); len(what) > 0 {
			t.Errorf("%s (another zone) was touched: %s", id, strings.Join(what, ", "))
		}
	}
	if res.Count(InstanceRolledBack) != 2 {
		t.Errorf("rolled back %d, want az-a's 2", res.Count(InstanceRolledBack))
	}
}

func TestRun_zoneByZoneResumesInTheZoneWhereItStopped(t *testing.T) {
	w, s := zoneWorld(ModeBatch, time.Minute)
	s.Strategy.BatchSize = 1
	s.Failure.Rollback = false
	w.failStep["i-0004"] = "deploy" // az-b's second instance, after i-0001
	res, _, err := simulate(t, w, s, 0)
	if err == nil || res.Status != StatusFailed {
		t.Fatalf("status %s, err %v; want failed", res.Status, err)
	}
	if what := touched(w, "i-0002"); len(what) > 0 {
		t.Fatalf("az-c touched in the first run: %v", what)
	}

	// The next apply: the fault is gone; az-b (begun) comes before az-c.
	delete(w.failStep, "i-0004")
	w.cmds = map[string]*fakeCmd{}
	s.RolloutID, s.Fleet = "ro-2", w.fleet()
	plan, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Zones[0] != "az-b" || plan.OutOfDate[0] != "i-0004" {
		t.Fatalf("resumed plan %v in zones %v, want az-b's i-0004 first", plan.Batches, plan.Zones)
	}
	res, rec, err := simulate(t, w, s, 0)
	if err != nil || res.Status != StatusSucceeded || len(w.violations) > 0 {
		t.Fatalf("status %s, err %v, violations %v", res.Status, err, w.violations)
	}
	if at, done := firstCommand(w, "i-0002", "i-0005"), lastDone(rec, "i-0004"); at.Before(done.Add(time.Minute)) {
		t.Errorf("az-c started at %s, before az-b was done (%s) and baked", at.Sub(w.start), done.Sub(w.start))
	}
}
