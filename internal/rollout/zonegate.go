package rollout

import (
	"fmt"
	"time"
)

// The engine's side of zone_by_zone (zones.go has the schedule's): the
// departures of a zone take from its instances only, and the next zone's
// first instance leaves once nothing of the zone before it is in flight
// (its failures are known by then, so a stop comes before the next zone)
// and the zone bake has passed, the alarms read all along it as while
// instances are out, and once more just before the departure (apply).

// zoneState is where a zone_by_zone rollout is among the zones.
type zoneState struct {
	current   string    // the zone the last departure took from
	bakeUntil time.Time // end of the bake after current; zero before it starts
}

// zoneGate says what of the queue's head the next deploy departure may take
// from: its first head instances (the current zone's), or nothing yet, with
// hold the decision to return instead (wait, or start the zone bake).
func (e *engine) zoneGate(now time.Time, k kind) (head int, hold *decision) {
	if e.spec.Strategy.Order != OrderZoneByZone || k != kindDeploy || len(e.queue) == 0 {
		return len(e.queue), nil
	}
	azOf := func(id string) string { return e.insts[id].inst.AZ }
	next := azOf(e.queue[0])
	z := e.zones
	switch {
	case z.current == "" || next == z.current:
		return zoneRun(e.queue, azOf), nil
	case len(e.groups) > 0:
		return 0, &decision{} // the zone is not done: every group settles first
	case z.bakeUntil.IsZero():
		return 0, &decision{zoneDone: true}
	case now.Before(z.bakeUntil):
		return 0, &decision{}
	}
	return zoneRun(e.queue, azOf), nil
}

// startZoneBake begins the wait after the current zone; the pause after
// its last batch, if longer, still holds.
func (e *engine) startZoneBake(now time.Time) {
	bake := e.spec.Strategy.ZoneBakeTime
	e.zones.bakeUntil = now.Add(bake)
	e.pauseUntil = maxTime(e.pauseUntil, e.zones.bakeUntil)
	next := ""
	if len(e.queue) > 0 {
		next = e.insts[e.queue[0]].inst.AZ
	}
	e.emit(Event{Kind: EventZoneBaking, Message: fmt.Sprintf("zone %s done: %s bake, alarms watched, before zone %s",
		e.zones.current, bake, next)})
}

// enterZone notes the zone a departure takes from.
func (e *engine) enterZone(ids []string) {
	if e.spec.Strategy.Order != OrderZoneByZone || len(ids) == 0 {
		return
	}
	if az := e.insts[ids[0]].inst.AZ; az != e.zones.current {
		e.zones = zoneState{current: az}
	}
}
