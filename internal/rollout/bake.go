package rollout

import (
	"fmt"
	"time"
)

// Stage 4, bake (stageBake): the members stay healthy for bake_time; a
// member that becomes unhealthy fails, one whose health cannot be read is
// read again up to a bound. Owns nothing but the bake's end.

func (e *engine) bake(g *group, now time.Time) {
	obs := e.observe(g)
	unknown := false
	for _, id := range append([]string(nil), g.members...) {
		o := obs[id]
		switch {
		case o.gone != "":
			e.fail(g, []string{id}, failure{phase: PhaseBaking, err: fmt.Errorf("%s", o.gone), gone: true})
		case o.unknown && !o.seenUnhealthy:
			// A failed read says nothing about the instance: read again.
			// Past the bound it is reported failed but left registered: it
			// was healthy when last seen, and the load balancer's own
			// checks take it out of traffic if it is not.
			if !now.Before(g.bakeEnd.Add(unknownBound(healthTimeout(e.spec.Strategy)))) {
				e.fail(g, []string{id}, failure{phase: PhaseBaking, keepIn: true, err: fmt.Errorf(
					"health unknown after baking; left registered for the load balancer's health checks to decide: %s", o.why)})
			} else {
				unknown = true
			}
		case !o.healthy:
			e.fail(g, []string{id}, failure{phase: PhaseBaking, err: fmt.Errorf("became unhealthy while baking: %s", o.why)})
		}
	}
	if len(g.members) == 0 {
		return
	}
	if (now.Before(g.bakeEnd) && !e.cancelled) || unknown {
		g.wakeAt = now.Add(bakePoll(e.targetGroupsOf(g.members)))
		if unknown {
			g.wakeAt = now.Add(lookSoon) // a read failed: try again soon
		}
		if now.Before(g.bakeEnd) {
			g.wakeAt = minTime(g.bakeEnd, g.wakeAt)
		}
		return
	}
	g.stage = stageFinish
	g.wakeAt = now
}
