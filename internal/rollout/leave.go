package rollout

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Stage 1, leave (stageLeave, stageDrain): write the out-of-service tags,
// take the members out of their target groups (EnterStandby for Auto
// Scaling members, Deregister for the rest) and wait until no registration
// is left. Owns the instances' registrations while they are out.

// leave writes the out-of-service tags first (so a crash leaves a trace),
// then takes the members out: EnterStandby for Auto Scaling members (the
// group deregisters them from its attached target groups), Deregister for
// every other registration.
func (e *engine) leave(g *group, now time.Time) {
	phase := g.phaseName(PhaseDraining)
	e.enterPhase(g.members, phase, g.batch, now)
	byValue := map[string][]string{}
	for _, id := range g.members {
		v := EncodeTargets(e.insts[id].targets)
		byValue[v] = append(byValue[v], id)
	}
	// One tag write per distinct rolling:targets value, all at once.
	values := sortedKeys(byValue)
	tagFailed := make([]map[string]error, len(values))
	writes := make([]func(), len(values))
	for i, v := range values {
		tags := map[string]string{TagPhase: phase, TagRollout: e.spec.RolloutID, TagTargets: v}
		writes[i] = func() {
			tagFailed[i] = e.eachInstance(byValue[v], func(ids []string) error { return e.ports.Tags.SetTags(e.ctx, ids, tags) })
		}
	}
	e.together(writes...)
	for i := range values {
		failed := tagFailed[i]
		for _, id := range sortedKeys(failed) {
			err := failed[id]
			if errors.Is(err, ErrNotFound) {
				e.fail(g, []string{id}, failure{phase: PhaseDraining, err: fmt.Errorf("instance no longer exists: %w", err), gone: true})
				continue
			}
			// Untagged instances must not leave: nothing would say they are out.
			e.fail(g, []string{id}, failure{phase: PhaseDraining, err: fmt.Errorf("tagging before leaving: %w", err), untouched: true})
		}
	}
	if len(g.members) == 0 {
		return
	}
	// Standby per Auto Scaling group and deregistration per target group,
	// all at once: they do not depend on each other.
	byASG := map[string][]string{}
	for _, id := range g.members {
		st := e.insts[id]
		if st.viaStandby && !st.inStandby {
			byASG[st.inst.AutoScalingGroup] = append(byASG[st.inst.AutoScalingGroup], id)
		}
	}
	names := sortedKeys(byASG)
	own := e.ownTargets(g.members)
	arns := sortedKeys(own)
	standbyFailed := make([]map[string]error, len(names))
	deregFailed := make([]map[string]error, len(arns))
	var calls []func()
	for i, name := range names {
		calls = append(calls, func() {
			standbyFailed[i] = e.eachInstance(byASG[name], func(ids []string) error { return e.ports.Standby.EnterStandby(e.ctx, name, ids) })
		})
	}
	for i, arn := range arns {
		targets := own[arn]
		calls = append(calls, func() {
			deregFailed[i] = e.eachInstance(targetIDs(targets), func(ids []string) error {
				return e.ports.LB.Deregister(e.ctx, arn, targetsOf(targets, ids))
			})
		})
	}
	e.together(calls...)
	for i, name := range names {
		for _, id := range byASG[name] {
			if err, bad := standbyFailed[i][id]; bad {
				e.fail(g, []string{id}, failure{phase: PhaseDraining, err: fmt.Errorf("entering standby in %s: %w", name, err), restore: true})
				continue
			}
			e.enteredStandby(id)
		}
	}
	for i, arn := range arns {
		failed := deregFailed[i]
		for _, id := range sortedKeys(failed) {
			err := failed[id]
			if e.targetGroupDeleted(arn, err) {
				continue // nothing to leave; the instance goes on
			}
			e.fail(g, []string{id}, failure{phase: PhaseDraining, err: fmt.Errorf("deregistering from %s: %w", arn, err), restore: true})
		}
	}
	if len(g.members) == 0 {
		return
	}
	expected, bound := drainWait(e.targetGroupsOf(g.members), e.spec.Strategy)
	// Timed from when the calls came back, not from the start of the
	// pass: AWS started the delay when it got them, a round trip or two
	// after the pass began, and a look before it is over costs a poll
	// interval.
	left := e.clock.Now()
	g.stage = stageDrain
	g.deadline = left.Add(bound)
	g.wakeAt = left.Add(expected)
}

// enteredStandby and exitedStandby keep the count of each group's members
// in standby (standbyRoomNow).
func (e *engine) enteredStandby(id string) {
	st := e.insts[id]
	st.inStandby, st.enteredStandby = true, true
	e.standbyHeld[st.inst.AutoScalingGroup]++
}

func (e *engine) exitedStandby(id string) {
	st := e.insts[id]
	if st.enteredStandby {
		e.standbyHeld[st.inst.AutoScalingGroup]--
	} else {
		e.standbyFreed[st.inst.AutoScalingGroup]++
	}
	st.inStandby, st.enteredStandby = false, false
}

// ownTargets are the registrations the engine itself must deregister or
// register, per target group: all of them, except those an Auto Scaling
// group handles through standby.
func (e *engine) ownTargets(ids []string) map[string][]Target {
	out := map[string][]Target{}
	for _, id := range ids {
		st := e.insts[id]
		for arn, ts := range st.targets {
			if (st.viaStandby || st.inStandby) && st.attached[arn] {
				continue // standby takes it out of (and back into) these
			}
			out[arn] = append(out[arn], ts...)
		}
	}
	return out
}

// eachInstance makes one call for all ids and, only if it fails, one call
// per instance, so that one bad instance (terminated, say: AWS rejects the
// whole call) does not keep the healthy ones of its batch out. It returns the
// error of each instance that still failed.
func (e *engine) eachInstance(ids []string, call func(ids []string) error) map[string]error {
	if len(ids) == 0 {
		return nil
	}
	err := call(ids)
	if err == nil {
		return nil
	}
	failed := map[string]error{}
	if len(ids) == 1 {
		failed[ids[0]] = err
		return failed
	}
	for _, id := range ids {
		if err := call([]string{id}); err != nil {
			failed[id] = err
		}
	}
	return failed
}

func targetsOf(ts []Target, ids []string) []Target {
	keep := map[string]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	var out []Target
	for _, t := range ts {
		if keep[t.InstanceID] {
			out = append(out, t)
		}
	}
	return out
}

func targetIDs(ts []Target) []string {
	seen := map[string]bool{}
	var ids []string
	for _, t := range ts {
		if !seen[t.InstanceID] {
			seen[t.InstanceID] = true
			ids = append(ids, t.InstanceID)
		}
	}
	return ids
}

// waitDrained moves on once every registration of every member is gone or
// unused (and Auto Scaling members are in Standby), or when the drain bound
// has passed: the instances are already deregistered then, so going on only
// cuts the last connections short.
func (e *engine) waitDrained(g *group, now time.Time) {
	if e.cancelled && g.kind != kindRestore {
		e.restoreAfterCancel(g, g.members)
		return
	}
	obs := e.observe(g)
	var waiting []string
	for _, id := range g.members {
		o := obs[id]
		if o.gone != "" {
			e.fail(g, []string{id}, failure{phase: PhaseDraining, err: fmt.Errorf("%s", o.gone), gone: true})
			continue
		}
		if !o.drained {
			waiting = append(waiting, id)
		}
	}
	if len(g.members) == 0 {
		return
	}
	if len(waiting) > 0 && now.Before(g.deadline) {
		if ready := without(g.members, waiting); len(ready) > 0 && e.windowed() {
			ng := e.splitOff(g, ready)
			ng.stage, ng.wakeAt = stageSend, now
		}
		// Past the deregistration delay draining is over any moment now
		// (the first look came as it ended): look again soon.
		g.wakeAt = now.Add(drainPollAgain(g.deadline.Sub(now)))
		return
	}
	if len(waiting) > 0 {
		e.emit(Event{Kind: EventInstancePhase, Batch: g.batch, Phase: PhaseDraining, Message: fmt.Sprintf(
			"draining not finished by the drain bound, going on: %s", strings.Join(waiting, ", "))})
	}
	g.stage = stageSend
	g.wakeAt = now
}
