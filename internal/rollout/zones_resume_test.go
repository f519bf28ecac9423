package rollout

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// resumedZoneWorld is zoneWorld after a rollout of v2 that finished az-a and
// az-b and was stopped (Ctrl-C, a kill, a timeout) in the zone bake before
// az-c: az-c's instances are still on v1.
func resumedZoneWorld(bake time.Duration) (*world, Spec) { return resumedZoneWorldIn(ModeBatch, bake) }

func resumedZoneWorldIn(mode Mode, bake time.Duration) (*world, Spec) {
	w, s := zoneWorld(mode, bake)
	for _, id := range []string{"i-0000", "i-0003", "i-0001", "i-0004"} {
		w.insts[id].version, w.insts[id].tags[TagVersion] = "v2", "v2"
	}
	s.Fleet = w.fleet()
	return w, s
}

// The apply after that must bake before az-c: the bake the stopped rollout
// owed, alarms watched, is not skipped because the zones before were
// finished by another apply.
func TestRun_zoneByZoneResumedAfterFinishedZonesBakesBeforeTheNextZone(t *testing.T) {
	for _, mode := range []Mode{ModeBatch, ModeWindow} {
		t.Run(string(mode), func(t *testing.T) {
			bake := 10 * time.Minute
			w, s := resumedZoneWorldIn(mode, bake)
			res, rec, err := simulate(t, w, s, 0)
			mustSucceed(t, w, s, res, err)
			first := firstCommand(w, "i-0002", "i-0005")
			if got := first.Sub(w.start); got < bake {
				t.Fatalf("az-c's first command %s after the start: the owed %s zone bake was skipped", got, bake)
			}
			if len(rec.kinds(EventZoneBaking)) != 1 {
				t.Fatalf("zone baking events %+v, want the one owed before az-c", rec.kinds(EventZoneBaking))
			}
		})
	}
}

func TestPlanSchedule_zoneByZoneResumedOwesTheBakeBeforeTheNextZone(t *testing.T) {
	bake := 10 * time.Minute
	_, s := resumedZoneWorld(bake)
	sched, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"az-a", "az-b"}; !reflect.DeepEqual(sched.BakeFirst, want) {
		t.Fatalf("BakeFirst %v, want %v", sched.BakeFirst, want)
	}
	s.Strategy.ZoneBakeTime = 0
	without, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if without.BakeFirst != nil || sched.ExpectedDuration-without.ExpectedDuration != bake {
		t.Fatalf("expected %s with the bake, %s without (BakeFirst %v): the owed bake must count once",
			sched.ExpectedDuration, without.ExpectedDuration, without.BakeFirst)
	}
}

// Not owed: a zone begun (some of it on v2) goes first and goes on without
// a bake, and a first rollout (nothing on v2) starts at once.
func TestPlanSchedule_zoneByZoneOwesNoBakeInABegunZoneOrAFreshRollout(t *testing.T) {
	w, s := zoneWorld(ModeBatch, 10*time.Minute)
	if sched, err := PlanSchedule(s); err != nil || sched.BakeFirst != nil {
		t.Fatalf("fresh rollout: BakeFirst %v, err %v", sched.BakeFirst, err)
	}
	for _, id := range []string{"i-0000", "i-0003", "i-0001"} { // az-a done, az-b begun
		w.insts[id].version, w.insts[id].tags[TagVersion] = "v2", "v2"
	}
	s.Fleet = w.fleet()
	sched, err := PlanSchedule(s)
	if err != nil || sched.BakeFirst != nil || sched.Zones[0] != "az-b" {
		t.Fatalf("begun zone: BakeFirst %v, zones %v, err %v", sched.BakeFirst, sched.Zones, err)
	}
}

// A zone begun by a rollout that failed in it, its failed instance left out
// of service on the old version: that rollout had baked the zone before, so
// the next apply goes on in the zone at once.
func TestPlanSchedule_zoneByZoneOwesNoBakeWhereAnInstanceWasLeftOut(t *testing.T) {
	w, s := resumedZoneWorld(10 * time.Minute) // az-a, az-b done; az-c next
	w.leaveOut("i-0002", PhaseStep, "v1", true)
	s.Fleet = w.fleet()
	sched, err := PlanSchedule(s)
	if err != nil || sched.BakeFirst != nil {
		t.Fatalf("BakeFirst %v, err %v: az-c was begun", sched.BakeFirst, err)
	}
}

// The owed bake watches the alarms as any zone bake does: one in ALARM stops
// the rollout before az-c is touched.
func TestRun_zoneByZoneOwedBakeStopsOnAnAlarmBeforeTheNextZone(t *testing.T) {
	w, s := resumedZoneWorld(10 * time.Minute)
	w.alarmAt = w.start.Add(3 * time.Minute)
	res, _, err := simulate(t, w, s, 0)
	if err == nil || !strings.Contains(res.StopReason, "alarm in ALARM: web-5xx") {
		t.Fatalf("status %s (%s), err %v; want stopped by the alarm in the owed bake", res.Status, res.StopReason, err)
	}
	for _, id := range []string{"i-0002", "i-0005"} {
		if what := touched(w, id); len(what) > 0 {
			t.Errorf("%s (az-c) touched: %v", id, what)
		}
	}
}

// After a rollout of the version succeeded (Spec.Converged), a zone whose
// only instance was replaced is a drift fix: its zone was baked, nothing is
// owed.
func TestPlanSchedule_zoneByZoneOwesNoBakeAfterTheVersionConverged(t *testing.T) {
	_, s := resumedZoneWorld(10 * time.Minute)
	s.Converged = true
	if sched, err := PlanSchedule(s); err != nil || sched.BakeFirst != nil {
		t.Fatalf("BakeFirst %v, err %v: the last rollout of v2 succeeded", sched.BakeFirst, err)
	}
}
