package rollout

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The stages a group of instances goes through, in order, each in its own
// file:
//
//	leave.go   stageLeave, stageDrain       tag, enter standby / deregister, wait drained
//	steps.go   stageSend, stageStepWait     send each step, poll it, learn its time
//	join.go    stageJoin, stageHealth       register / exit standby, wait healthy
//	bake.go    stageBake                    stay healthy for bake_time
//	finish.go  stageFinish                  write the version, drop the phase tags
//
// This file owns the dispatch (advanceGroups, runStage), how groups start,
// and the phase tags every stage writes. When each stage looks again is
// timing.go's; window mode's fragments are window.go's; what happens to an
// instance that fails in any stage is failure.go's.

// stage is where a group is in the per-instance phases. Each stage makes its
// port calls once for the whole group, then sets the group's wake-up time to
// when the outcome is expected (not to a fixed short timer).
type stage int

const (
	stageLeave    stage = iota // tag, enter standby / deregister
	stageDrain                 // wait until no registration is left
	stageSend                  // send the next step (or move to join)
	stageStepWait              // poll the step's invocations
	stageJoin                  // register / exit standby
	stageHealth                // wait healthy in every target group
	stageBake                  // stay healthy for bake_time
	stageFinish                // write the version tag, drop the phase tags
)

func (e *engine) startRecovery() {
	var ids []string
	for _, id := range e.order {
		if st := e.insts[id]; st.inst.Tags[TagPhase] != "" && !st.gone {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		e.phase = phaseDeploying
		return
	}
	e.phase = phaseRecovering
	e.emit(Event{Kind: EventInstancePhase, Message: fmt.Sprintf(
		"recovering %d instances left out of service by an earlier run: %s", len(ids), strings.Join(ids, ", "))})
	now := e.clock.Now()
	for _, id := range ids {
		e.insts[id].out = true
		e.insts[id].outcome.StartedAt = now
	}
	e.groups = append(e.groups, &group{kind: kindRestore, members: ids, stage: stageJoin, wakeAt: now})
}

// startGroup takes instances out of the queue and starts them on their way.
func (e *engine) startGroup(ids []string, k kind, now time.Time) {
	take := map[string]bool{}
	for _, id := range ids {
		take[id] = true
	}
	var rest []string
	for _, id := range e.queue {
		if !take[id] {
			rest = append(rest, id)
		}
	}
	e.queue = rest
	g := &group{kind: k, members: ids, stage: stageLeave, wakeAt: now}
	switch k {
	case kindDeploy:
		e.deployGroups++
		g.batch = e.deployGroups
		g.canary = e.deployGroups == 1 && e.spec.Strategy.CanarySize > 0
		g.steps = e.spec.Release.Steps
		g.version = e.spec.Release.Version
		g.release = e.spec.Release.ID
		e.batches = append(e.batches, ids)
	case kindRollback:
		g.steps = e.spec.Previous.Steps
		g.version = e.spec.Previous.Version
		g.release = e.spec.Previous.ID
		g.batch = e.insts[ids[0]].outcome.Batch
	}
	for _, id := range ids {
		st := e.insts[id]
		st.out = true
		if k == kindDeploy {
			st.outcome.Batch = g.batch
			st.outcome.StartedAt = now
		}
	}
	e.groups = append(e.groups, g)
	if k == kindDeploy {
		// Emitted once the members count as out, so that its Progress
		// shows the capacity the batch leaves in service.
		e.emit(Event{Kind: EventBatchStarted, Batch: g.batch, Instances: ids, Message: fmt.Sprintf("batch %d: %s", g.batch, strings.Join(ids, ", "))})
	}
}

// advanceGroups runs every group whose wait is over, one stage at a time,
// until none is due; the groups due together run their stages at once.
// Groups split off during the pass (rollback, restore) run from the next
// iteration. Where members go at their own pace (window mode, batch mode
// unless lockstep), groups due at the same point are merged first
// (coalesce) so they share their calls, and steps are sent last, after
// every poll of the moment: the members that a poll finds done then send
// their next step with the others that reached it.
func (e *engine) advanceGroups(now time.Time) {
	inPass := map[*group]bool{}
	for _, g := range e.groups {
		inPass[g] = true
	}
	polled := map[*group]bool{}
	due := func(g *group) bool {
		if !inPass[g] || len(g.members) == 0 || g.stage > stageFinish {
			return false
		}
		return !g.wakeAt.After(now) || e.pulledIn(g, now) && !polled[g]
	}
	run := func(g *group) {
		if g.stage == stageStepWait {
			polled[g] = true // at most once per pass when pulled in
		}
		e.runStage(g, now)
	}
	e.pollDue = due
	defer func() { e.pollDue = nil }()
	sendsLast := e.ownPace()
	for {
		e.coalesce(now)
		var round []*group
		for _, g := range e.groups {
			if due(g) && (!sendsLast || g.stage != stageSend) {
				round = append(round, g)
			}
		}
		if len(round) == 0 {
			for _, g := range e.groups {
				if due(g) {
					round = append(round, g)
				}
			}
		}
		if len(round) == 0 {
			break
		}
		// The round's stages run at once: their calls are in flight
		// together (fanout.go).
		stages := make([]func(), len(round))
		for i, g := range round {
			stages[i] = func() { run(g) }
		}
		e.together(stages...)
	}
	kept := e.groups[:0]
	for _, g := range e.groups {
		if len(g.members) > 0 && g.stage <= stageFinish {
			kept = append(kept, g)
		}
	}
	e.groups = kept
}

func (e *engine) runStage(g *group, now time.Time) {
	g.fresh = false
	switch g.stage {
	case stageLeave:
		e.leave(g, now)
	case stageDrain:
		e.waitDrained(g, now)
	case stageSend:
		e.sendStep(g, now)
	case stageStepWait:
		e.waitStep(g, now)
	case stageJoin:
		e.join(g, now)
	case stageHealth:
		e.waitHealthy(g, now)
	case stageBake:
		e.bake(g, now)
	case stageFinish:
		e.finishGroup(g, now)
	}
}

func (g *group) phaseName(p string) string {
	if g.kind == kindRollback {
		return PhaseRollback
	}
	return p
}

func withoutPhaseTags(tags map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		if k != TagPhase && k != TagRollout && k != TagTargets {
			out[k] = v
		}
	}
	return out
}

// setPhaseTag names the phase an instance left out of service stopped in.
func (e *engine) setPhaseTag(ids []string, phase string) {
	if err := e.ports.Tags.SetTags(e.ctx, ids, map[string]string{TagPhase: phase}); err != nil {
		// The instances already carry a phase tag from leaving, so they stay
		// recognisable as out of service; only the detail is stale.
		e.emit(Event{Kind: EventInstancePhase, Phase: phase, Message: "could not update " + TagPhase + ": " + err.Error()})
	}
}

func (e *engine) enterPhase(ids []string, phase string, batch int, now time.Time) {
	for _, id := range ids {
		st := e.insts[id]
		e.closePhase(st, now)
		st.phase, st.since = phase, now
		st.outcome.Phase = phase
		e.emit(Event{Kind: EventInstancePhase, Batch: batch, InstanceID: id, Phase: phase, Message: id + ": " + phase})
	}
}

func (e *engine) closePhase(st *instState, now time.Time) {
	if st.phase == "" {
		return
	}
	if st.outcome.PhaseDurations == nil {
		st.outcome.PhaseDurations = map[string]time.Duration{}
	}
	st.outcome.PhaseDurations[st.phase] += now.Sub(st.since)
	st.phase = ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// targetGroupsOf lists the target group of every registration of ids, one
// entry per registration: the timing policy's input (timing.go).
func (e *engine) targetGroupsOf(ids []string) []TargetGroup {
	var tgs []TargetGroup
	for _, id := range ids {
		for arn := range e.insts[id].targets {
			tgs = append(tgs, e.tgs[arn])
		}
	}
	return tgs
}
