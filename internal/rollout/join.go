package rollout

import (
	"errors"
	"fmt"
	"time"
)

// Stage 3, join and health (stageJoin, stageHealth): put the members back
// (Register, ExitStandby), retrying a failed registration at every read,
// and wait until every registration is healthy, then start the bake. Owns
// the registrations going back.

// join puts the members back: Register for the registrations the engine
// removed, ExitStandby for Auto Scaling members.
func (e *engine) join(g *group, now time.Time) {
	if g.kind != kindRollback {
		e.enterPhase(g.members, PhaseJoining, g.batch, now)
	}
	// A registration that fails is retried at every health poll until the
	// health deadline: a transient error must not leave a healthy
	// instance out of service.
	g.joinErr = e.register(g.members)
	e.dropGoneUnjoined(g)
	if len(g.members) == 0 {
		return
	}
	expected, timeout := healthWait(e.targetGroupsOf(g.members), e.spec.Strategy, g.kind == kindRestore)
	// Timed from when the registrations came back: the health checks
	// started when AWS got them.
	joined := e.clock.Now()
	g.stage = stageHealth
	g.since = joined
	g.healthTimeout = timeout
	g.deadline = joined.Add(timeout)
	g.wakeAt = joined.Add(expected)
	if len(g.joinErr) > 0 {
		g.wakeAt = joined.Add(registerRetry(expected)) // retry registering soon
	}
}

// register puts instances back in their target groups: Register for the
// registrations the engine removed (one call per target group), ExitStandby
// for Auto Scaling members in standby (one call per group). It returns the
// error of each instance that could not be put back.
func (e *engine) register(ids []string) map[string]error {
	errs := map[string]error{}
	own := e.ownTargets(ids)
	arns := sortedKeys(own)
	byASG := map[string][]string{}
	for _, id := range ids {
		st := e.insts[id]
		if st.inst.AutoScalingGroup != "" && st.inStandby {
			byASG[st.inst.AutoScalingGroup] = append(byASG[st.inst.AutoScalingGroup], id)
		}
	}
	names := sortedKeys(byASG)
	// Every target group's registration and every group's ExitStandby at
	// once.
	regFailed := make([]map[string]error, len(arns))
	exitFailed := make([]map[string]error, len(names))
	var calls []func()
	for i, arn := range arns {
		targets := own[arn]
		calls = append(calls, func() {
			regFailed[i] = e.eachInstance(targetIDs(targets), func(ids []string) error {
				return e.ports.LB.Register(e.ctx, arn, targetsOf(targets, ids))
			})
		})
	}
	for i, name := range names {
		calls = append(calls, func() {
			exitFailed[i] = e.eachInstance(byASG[name], func(ids []string) error { return e.ports.Standby.ExitStandby(e.ctx, name, ids) })
		})
	}
	e.together(calls...)
	for i, arn := range arns {
		for _, id := range sortedKeys(regFailed[i]) {
			err := regFailed[i][id]
			if e.targetGroupDeleted(arn, err) {
				continue // nothing to join there; the other groups decide
			}
			errs[id] = fmt.Errorf("registering in %s: %w", arn, err)
		}
	}
	for i, name := range names {
		for _, id := range byASG[name] {
			if err, bad := exitFailed[i][id]; bad {
				errs[id] = fmt.Errorf("exiting standby in %s: %w", name, err)
				continue
			}
			e.exitedStandby(id)
		}
	}
	return errs
}

// dropGoneUnjoined: an instance that cannot be registered again may have
// been terminated (AWS answers InvalidTarget); such an instance is gone,
// not worth retrying until the health deadline.
func (e *engine) dropGoneUnjoined(g *group) {
	if len(g.joinErr) == 0 {
		return
	}
	gone := e.goneAmong(sortedKeys(g.joinErr))
	for _, id := range sortedKeys(gone) {
		delete(g.joinErr, id)
		e.fail(g, []string{id}, failure{phase: PhaseJoining, gone: true, err: errors.New(gone[id])})
	}
}

func (e *engine) waitHealthy(g *group, now time.Time) {
	if len(g.joinErr) > 0 {
		before := len(g.joinErr)
		g.joinErr = e.register(sortedKeys(g.joinErr))
		e.dropGoneUnjoined(g)
		if len(g.joinErr) < before {
			// The health checks of a late registration start now.
			g.deadline = maxTime(g.deadline, now.Add(g.healthTimeout))
		}
	}
	obs := e.observe(g)
	var waiting []string
	for _, id := range append([]string(nil), g.members...) {
		o := obs[id]
		if err, unjoined := g.joinErr[id]; unjoined && o.gone == "" {
			if now.Before(g.deadline.Add(unknownBound(g.healthTimeout))) {
				waiting = append(waiting, id)
			} else {
				delete(g.joinErr, id)
				e.fail(g, []string{id}, failure{phase: PhaseJoining, err: err})
			}
			continue
		}
		switch {
		case o.gone != "":
			e.fail(g, []string{id}, failure{phase: PhaseJoining, err: fmt.Errorf("%s", o.gone), gone: true})
		case o.unknown && now.Before(g.deadline.Add(unknownBound(g.healthTimeout))):
			// A failed read at the deadline says nothing: read again.
			waiting = append(waiting, id)
		case o.unknown && !o.seenUnhealthy:
			// Nothing that could be read says it is unhealthy.
			e.fail(g, []string{id}, failure{phase: PhaseJoining, keepIn: true, err: fmt.Errorf(
				"health could not be read for %s; left registered for the load balancer's health checks to decide: %s",
				now.Sub(g.since).Round(time.Second), o.why)})
		case !o.healthy && !now.Before(g.deadline):
			e.fail(g, []string{id}, failure{phase: PhaseJoining, err: fmt.Errorf("not healthy in every target group after %s: %s",
				now.Sub(g.since).Round(time.Second), o.why)})
		case !o.healthy:
			waiting = append(waiting, id)
		}
	}
	if len(g.members) == 0 {
		return
	}
	if len(waiting) > 0 {
		if ready := without(g.members, waiting); len(ready) > 0 && e.windowed() {
			ng := e.splitOff(g, ready)
			ng.stage, ng.wakeAt = stageHealth, now // re-observed (cached) and moved on at once
		}
		g.wakeAt = now.Add(healthPoll(e.targetGroupsOf(g.members)))
		if now.Before(g.deadline) && g.wakeAt.After(g.deadline) {
			g.wakeAt = g.deadline
		}
		return
	}
	if g.kind != kindDeploy || e.spec.Strategy.BakeTime <= 0 {
		g.stage = stageFinish
		g.wakeAt = now
		return
	}
	e.enterPhase(g.members, PhaseBaking, g.batch, now)
	g.stage = stageBake
	g.bakeEnd = now.Add(e.spec.Strategy.BakeTime)
	g.wakeAt = minTime(g.bakeEnd, now.Add(bakePoll(e.targetGroupsOf(g.members))))
}
