package rollout

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// What may leave next: decide is a pure function of the engine's state
// and returns its decision as data (who leaves, as what kind, or why
// scheduling stops); apply carries it out. The capacity floor is enforced
// here and nowhere else (nextDeparture, through schedule.go's takeNext).

// decideAndApply decides and applies until nothing changes.
func (e *engine) decideAndApply(now time.Time) {
	for {
		d := e.decide(now)
		if !e.apply(d, now) {
			return
		}
	}
}

// decision is what the loop does next, computed from the engine's state
// without side effects.
type decision struct {
	start         []string // instances to take out now, as one group
	kind          kind
	stop          string // stop scheduling, with this reason
	endRecovery   bool   // earlier runs' instances are settled: start deploying
	beginRollback bool
	finish        bool
	zoneDone      bool // the current zone is done: start the zone bake
}

// decide is the scheduler: given the engine's state at now, it returns what
// to do, or the zero decision for "wait".
func (e *engine) decide(now time.Time) decision {
	inFlight, deploying := 0, 0
	for _, g := range e.groups {
		inFlight += len(g.members)
		if g.kind == kindDeploy {
			deploying++
		}
	}
	switch e.phase {
	case phaseRecovering:
		if len(e.groups) == 0 {
			return decision{endRecovery: true}
		}
		return decision{}
	case phaseDeploying:
		if e.cancelled {
			return decision{stop: "cancelled"}
		}
		if len(e.queue) == 0 {
			if len(e.groups) == 0 {
				return decision{finish: true}
			}
			return decision{}
		}
		return e.nextDeparture(now, inFlight, kindDeploy)
	case phaseStopping:
		if deploying > 0 || (len(e.groups) > 0 && !e.rollbackWanted()) {
			return decision{}
		}
		if e.rollbackWanted() && !e.rollbackDone {
			return decision{beginRollback: true}
		}
		if len(e.groups) == 0 {
			return decision{finish: true}
		}
		return decision{}
	case phaseRollingBack:
		if len(e.queue) == 0 || e.cancelled {
			if len(e.groups) == 0 {
				return decision{finish: true}
			}
			return decision{}
		}
		return e.nextDeparture(now, inFlight, kindRollback)
	}
	return decision{}
}

// nextDeparture picks the instances that may leave now. Batch mode waits for
// the previous batch (and the pause); window mode fills free slots as soon as
// the capacity floor allows; both take the queue in order and never let the
// in-service count drop below the floor.
func (e *engine) nextDeparture(now time.Time, inFlight int, k kind) decision {
	head, hold := e.zoneGate(now, k)
	if hold != nil {
		return *hold
	}
	if now.Before(e.pauseUntil) {
		return decision{}
	}
	for _, g := range e.groups {
		if g.canary {
			return decision{} // the canary runs alone
		}
	}
	st := e.spec.Strategy
	alive := e.aliveCount()
	limit := batchLimit(st, alive)
	canary := k == kindDeploy && e.deployGroups == 0 && st.CanarySize > 0
	if canary {
		limit = st.CanarySize
	}
	if st.Mode == ModeWindow && !canary {
		limit -= inFlight
	} else if inFlight > 0 {
		return decision{}
	}
	if limit <= 0 {
		return decision{}
	}
	costly := make([]bool, head)
	group := make([]string, head)
	for i, id := range e.queue[:head] {
		s := e.insts[id]
		costly[i] = s.available
		if s.viaStandby && !s.inStandby {
			group[i] = s.inst.AutoScalingGroup
		}
	}
	spare := e.inServiceCount() - minInService(alive, st.MinHealthyPercent)
	take := takeNext(costly, limit, spare, group, e.standbyRoomNow())
	if len(take) == 0 {
		if inFlight == 0 {
			return decision{stop: fmt.Sprintf("capacity floor: none of the %d remaining instances may leave: %s",
				len(e.queue), floorError(alive, e.inServiceCount(), st.MinHealthyPercent, minInService(alive, st.MinHealthyPercent)))}
		}
		return decision{}
	}
	start, _ := pick(e.queue, take)
	return decision{start: start, kind: k}
}

// standbyRoomNow is each Auto Scaling group's room for more members in
// standby: desired − min at the start, less the members this run has in
// standby, plus those found in standby that it has taken out.
func (e *engine) standbyRoomNow() map[string]int {
	room := make(map[string]int, len(e.asgs))
	for name, g := range e.asgs {
		r := standbyRoom(g)
		if r >= 0 {
			r = max(r-e.standbyHeld[name]+e.standbyFreed[name], 0)
		}
		room[name] = r
	}
	return room
}

// apply carries a decision out; it reports whether the loop should decide
// again at once (something changed).
func (e *engine) apply(d decision, now time.Time) bool {
	switch {
	case d.endRecovery:
		e.phase = phaseDeploying
		e.queue = e.pendingQueue()
		return true
	case d.finish:
		e.phase = phaseDone
		return false
	case d.stop != "":
		e.stop(d.stop)
		return true
	case d.beginRollback:
		e.beginRollback()
		return true
	case d.zoneDone:
		e.startZoneBake(now)
		return true
	case len(d.start) > 0:
		if !e.refreshed {
			// The decision rested on what the engine last saw; look at the
			// fleet again (one call per target group, at once, with the
			// departing instances' readiness) and decide afresh, so an
			// instance that failed on its own is not counted as capacity.
			// Without a fresh view nothing leaves: try again soon.
			if d.kind == kindDeploy {
				if ask := e.readinessAsk(d.start, now); len(ask) > 0 {
					e.together(func() { e.refreshReads() }, func() { e.checkReadiness(ask, now) })
				}
			}
			e.refreshed = true
			if !e.refreshAvailability(now) {
				e.pauseUntil = maxTime(e.pauseUntil, now.Add(lookSoon))
				return false
			}
			return true
		}
		if d.kind == kindDeploy && e.alarmFiring() {
			return true // stopped; decide again
		}
		start := d.start
		if d.kind == kindDeploy {
			if start = e.readyAmong(start, now); len(start) == 0 {
				return true
			}
		}
		if d.kind == kindDeploy {
			e.enterZone(start)
		}
		e.startGroup(start, d.kind, now)
		return true
	}
	return false
}

// pendingQueue drops from the queue what recovery settled (recovered on the
// version) and keeps the order.
func (e *engine) pendingQueue() []string {
	var q []string
	for _, id := range e.queue {
		st := e.insts[id]
		if st.outcome.Status == InstancePending && !st.gone {
			q = append(q, id)
		}
	}
	return q
}

func (e *engine) stop(reason string) {
	switch e.phase {
	case phaseDeploying, phaseRecovering:
		e.phase = phaseStopping
	case phaseRollingBack:
		// Nothing more may leave: the rest keep the new version.
		e.queue = nil
	}
	if e.stopReason == "" {
		e.stopReason = reason
	}
	e.emit(Event{Kind: EventStopped, Message: "stopping: " + reason})
}

func (e *engine) rollbackWanted() bool {
	return e.spec.Failure.Rollback && e.spec.Previous != nil && !e.cancelled && e.stopReason != "" &&
		!strings.HasPrefix(e.stopReason, "cancelled")
}

// beginRollback queues, newest first, every instance this run updated.
func (e *engine) beginRollback() {
	e.rollbackDone = true
	var ids []string
	for _, id := range e.order {
		if st := e.insts[id]; st.updated > 0 && st.outcome.Status == InstanceUpdated {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return e.insts[ids[i]].updated > e.insts[ids[j]].updated })
	e.queue = ids
	e.pauseUntil = time.Time{}
	e.phase = phaseRollingBack
	e.emit(Event{Kind: EventRollbackStarted, Instances: ids, Message: fmt.Sprintf(
		"rolling %d updated instances back to %s", len(ids), e.spec.Previous.Version)})
}

// aliveCount is the fleet size the capacity floor is counted on: the
// engine's instances still there, and instances that joined the target
// groups since the rollout started (a scale-out, an Auto Scaling
// replacement), which are part of the fleet as soon as they register.
func (e *engine) aliveCount() int {
	n := len(e.newcomers)
	for _, st := range e.insts {
		// A surge's instances are extra: the floor is over the fleet without them.
		if !st.gone && st.inst.Tags[TagSurge] == "" {
			n++
		}
	}
	return n
}

func (e *engine) inServiceCount() int {
	n := 0
	for _, healthy := range e.newcomers {
		if healthy {
			n++
		}
	}
	for _, st := range e.insts {
		if st.available && !st.out && !st.gone {
			n++
		}
	}
	return n
}
