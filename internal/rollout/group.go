package rollout

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

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

// Margins added to the expected times to get the bounds.
const (
	drainMargin    = 30 * time.Second
	deliveryMargin = time.Minute // SSM may take this long to deliver a command
	restoreMargin  = 30 * time.Second
	// unknownGrace (or the health timeout, if longer) is how long past its
	// deadline a health wait goes on when health cannot be read or an
	// instance cannot be registered: transient API errors must not leave a
	// healthy instance out.
	unknownGrace = 30 * time.Second
	// firstPollAfter is the first poll of a step not seen run before.
	firstPollAfter = 2 * time.Second
	// finishAttempts and finishRetryAfter bound the retries of the final
	// tag writes (5s, 10s, 20s, ... apart).
	finishAttempts   = 6
	finishRetryAfter = 5 * time.Second
	maxPollEvery     = 15 * time.Second
	minPollEvery     = time.Second
)

// pollEvery is the interval of polls once the expected time has passed:
// a fifth of it, between 1 s and 15 s, so a late outcome is seen soon
// without hammering the API.
func pollEvery(expected time.Duration) time.Duration {
	return min(max(expected/5, minPollEvery), maxPollEvery)
}

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
// iteration. In window mode, groups due at the same point
// are merged first (coalesce) so they share their calls, and steps are sent
// last, after every poll of the moment: the members that a poll finds done
// then send their next step with the others that reached it.
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
	sendsLast := e.windowed()
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

// pullIn is how far ahead of its own poll time a window-mode group waiting
// for a step is polled along with one that is due now: its read then
// shares the call (invocations), and the window's groups settle on a
// common poll rhythm instead of each polling on its own clock. Draining
// and health waits are not pulled in: they are polled at times computed
// from the target groups' delays, and an early read would only move their
// next one later.
const pullIn = time.Second

// pulledIn says whether g, not yet due, is polled now with the others.
func (e *engine) pulledIn(g *group, now time.Time) bool {
	return e.windowed() && !e.cancelled && g.stage == stageStepWait && !g.wakeAt.After(now.Add(pullIn))
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
	var expected, bound time.Duration
	for _, id := range g.members {
		for arn := range e.insts[id].targets {
			expected = max(expected, drainExpected(e.tgs[arn], e.spec.Strategy))
			bound = max(bound, e.tgs[arn].DeregistrationDelay+drainMargin)
		}
	}
	if e.spec.Strategy.DrainTimeout > 0 {
		bound = e.spec.Strategy.DrainTimeout
	}
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
		g.wakeAt = now.Add(min(pollEvery(g.deadline.Sub(now)), minPollEvery))
		return
	}
	if len(waiting) > 0 {
		e.emit(Event{Kind: EventInstancePhase, Batch: g.batch, Phase: PhaseDraining, Message: fmt.Sprintf(
			"draining not finished by the drain bound, going on: %s", strings.Join(waiting, ", "))})
	}
	g.stage = stageSend
	g.wakeAt = now
}

func (e *engine) sendStep(g *group, now time.Time) {
	if until, wait := e.waitForSiblings(g, now); wait {
		g.wakeAt = until
		return
	}
	if g.step >= len(g.steps) {
		g.stage = stageJoin
		g.wakeAt = now
		return
	}
	if e.cancelled && g.kind != kindRestore {
		e.restoreAfterCancel(g, g.members)
		return
	}
	st := g.steps[g.step]
	phase := g.phaseName(PhaseStep + ":" + st.Name)
	// No tag write here: rolling:phase says "draining" (or "rollback")
	// from leaving on; a step's name is written only on the instances left
	// out of service after it failed (fail), which saves one call per step.
	e.enterPhase(g.members, phase, g.batch, now)
	cmd := e.command(st)
	ids := append([]string(nil), g.members...)
	// The step's time runs from when it was sent, not from the start of
	// the pass (other groups' calls came first).
	sent := e.clock.Now()
	cmds, err := e.ports.Commands.Send(e.ctx, cmd, ids)
	if cmds == nil {
		cmds = map[string]string{}
	}
	causes := map[string]error{}
	if err != nil && len(ids) > 1 {
		// Instances that did get the command are polled as usual (it
		// runs); the others are sent one by one so that one bad instance
		// does not fail the rest.
		for _, id := range ids {
			if cmds[id] != "" {
				continue
			}
			one, err1 := e.ports.Commands.Send(e.ctx, cmd, []string{id})
			if err1 == nil && one[id] != "" {
				cmds[id] = one[id]
			}
			causes[id] = err1
		}
	}
	for _, id := range ids {
		if cmds[id] == "" {
			cause, ok := causes[id]
			if !ok {
				cause = err
			}
			if cause == nil {
				cause = errors.New("no command id returned for the instance")
			}
			// The step never started on it, so its application is as the
			// previous step left it: put it back if that is healthy.
			e.fail(g, []string{id}, failure{phase: PhaseStep, step: st.Name, err: fmt.Errorf("sending the command: %w", cause), restore: true})
		}
	}
	if len(g.members) == 0 {
		return
	}
	g.cmds = cmds
	g.results = map[string]Invocation{}
	g.stage = stageStepWait
	g.deadline = sent.Add(stepTimeout(st) + deliveryMargin)
	g.sentAt = sent
	g.wakeAt = sent.Add(e.firstStepPoll(g, st))
}

// waitForSiblings says whether a window-mode fragment that is ready to
// rejoin should wait a little for the other fragments of its departure
// still in their steps, and until when: from when this fragment was ready,
// up to joinHold times the learned time of the last step, at most
// maxJoinHold. Fragments that meet are merged (coalesce) and rejoin, bake
// and free their slots together, so the next departure shares its calls
// too; without it departures shrink to one or two instances, each with its
// own calls. The wait is short, so one slow instance cannot hold the others.
//
// Steps are not held: a member seen done sends its next step at once (with
// whoever the same poll found done, coalesce), since every second held
// there is a second more out of service.
//
// Nothing waits after a cancellation, in batch mode, or for a canary.
func (e *engine) waitForSiblings(g *group, now time.Time) (time.Time, bool) {
	if !e.windowed() || e.cancelled || g.canary || g.step == 0 || g.step < len(g.steps) || g.kind == kindRestore {
		return time.Time{}, false
	}
	d, ok := e.learnedStepTime(g, g.steps[g.step-1])
	if !ok {
		return time.Time{}, false
	}
	if g.readyAt.IsZero() {
		g.readyAt = now
	}
	limit := g.readyAt.Add(min(time.Duration(joinHold*float64(d)), maxJoinHold))
	if !now.Before(limit) {
		return time.Time{}, false
	}
	var until time.Time
	waiting := false
	for _, o := range e.groups {
		if o != g && o.kind == g.kind && o.batch == g.batch && len(o.members) > 0 &&
			(o.stage == stageSend || o.stage == stageStepWait) && o.step < len(o.steps) {
			waiting = true
			if o.wakeAt.After(now) && (until.IsZero() || o.wakeAt.Before(until)) {
				until = o.wakeAt
			}
		}
	}
	if !waiting {
		return time.Time{}, false
	}
	if until.IsZero() {
		until = now.Add(minPollEvery)
	}
	return minTime(until, limit), true
}

// stepKey names a step for learning its duration: deploy and rollback steps
// are different scripts even when they share a name.
func (g *group) stepKey(st Step) string {
	if g.kind == kindRollback {
		return "rollback:" + st.Name
	}
	return "deploy:" + st.Name
}

// firstStepPoll is when a just-sent step is first polled. Once the step has
// run in this rollout, that is a high percentile of its observed
// per-instance durations (learnedStepTime): most members are done by then
// and, in window mode, go on; the rest are polled every stepPollEvery. (The slowest
// duration seen so far would make every later batch wait for the worst case,
// and the estimate could only grow.) The first time, nothing is known but
// that SSM commands often take seconds, so the first poll is after
// firstPollAfter and the next ones further apart: a short step is not held for
// the nominal 30 s, and a long one costs a handful of extra calls
// (nextStepPoll).
func (e *engine) firstStepPoll(g *group, st Step) time.Duration {
	if d, ok := e.learnedStepTime(g, st); ok {
		return min(d, stepTimeout(st))
	}
	return min(firstPollAfter, stepTimeout(st))
}

// learnedStepTime is when a step should first be polled, from its observed
// durations: the 90th percentile in batch mode, where the group waits for
// all of its members anyway (one poll then sees most of it done); the 25th
// in window mode, where each member seen done goes on at once, so the
// polls start early and are close together (stepPollEvery). Window groups
// polling at the same moment share one read (invocations, pulledIn).
func (e *engine) learnedStepTime(g *group, st Step) (time.Duration, bool) {
	obs := e.stepTimes[g.stepKey(st)]
	if len(obs) == 0 {
		return 0, false
	}
	sorted := append([]time.Duration(nil), obs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	q := 0.9
	switch {
	case e.windowed():
		q = 0.25
	case len(g.members) >= largeGroup:
		// The slowest of k draws is about the k/(k+1) quantile: a large
		// batch is first looked at when its last members should be done
		// (the 99th percentile for 100), then closely (stepPollEvery).
		q = min(1-1/float64(len(g.members)+1), 0.99)
	}
	return sorted[int(float64(len(sorted)-1)*q)], true
}

// largeGroup: from this size on, a window-mode group is polled as closely
// as a batch (stepPollEvery): one poll costs a call per 50 instances (per
// SSM command), so it costs a large group little per member.
const largeGroup = 30

// maxStepSamples bounds the memory of learnStepTime: the most recent
// durations describe the step well enough.
const maxStepSamples = 256

// learnStepTime records how long a step took on one instance, from the send
// (at sentAt) to now, when the poll saw it done. SSM's own request and
// finish times, when reported, give the real duration; a poll only bounds
// it from above.
func (e *engine) learnStepTime(g *group, st Step, inv Invocation, now time.Time) {
	took := now.Sub(g.sentAt)
	if exact := inv.FinishedAt.Sub(inv.RequestedAt); !inv.RequestedAt.IsZero() && !inv.FinishedAt.IsZero() &&
		exact > 0 && exact < took {
		took = exact
	}
	if took <= 0 {
		return
	}
	key := g.stepKey(st)
	obs := append(e.stepTimes[key], took)
	if len(obs) > maxStepSamples {
		obs = obs[len(obs)-maxStepSamples:]
	}
	e.stepTimes[key] = obs
}

// nextStepPoll is the wait before the next poll of a step still running
// after elapsed. A step whose duration is known is polled at
// stepPollEvery: its stragglers are usually close behind. Otherwise each wait is half the time elapsed (2s, 3s, 4.5s, ...)
// up to pollEvery: a step is seen done at most a third of its time late.
func (e *engine) nextStepPoll(g *group, st Step, elapsed time.Duration) time.Duration {
	if d, ok := e.learnedStepTime(g, st); ok {
		return e.stepPollEvery(g, d)
	}
	return min(max(elapsed/2, minPollEvery), pollEvery(expectedStepTime(st)), maxPollEvery)
}

// joinHold and maxJoinHold bound how long a fragment ready to rejoin waits
// for the rest of its departure (waitForSiblings): half the learned time of
// the last step, at most 2 s. The wait trades time out of service for
// calls; measured in the fake world of the benchmarks (perf_test.go, 100
// instances, four lognormal 5 s steps): no wait gives 1.027 x the lower
// bound at 14.9 calls per instance, this one 1.033 at 10.7, twice the step
// time 1.053 at 5.9. With 30 s steps the cap matters: half the step time
// uncapped cost about 2 % more time than 2 s.
const (
	joinHold    = 0.5
	maxJoinHold = 2 * time.Second
)

// stepPollEvery is the poll interval of a step that takes about d. In
// batch mode the first poll comes when nearly all should be done
// (learnedStepTime) and the rest is polled every tenth of d (at least a
// quarter of a second; a twentieth for a large batch): only the last
// members are waited for. In window mode each
// member seen done goes on at once, so the interval is how late it goes
// on: a fifteenth of d, at least a second (half a second for a large
// group, whose poll covers many members for one call). The window's groups
// share their polls (pulledIn), so this costs about one call per interval
// for the whole window.
func (e *engine) stepPollEvery(g *group, d time.Duration) time.Duration {
	if !e.windowed() {
		if len(g.members) >= largeGroup {
			// A poll covers many members for a call per 50: look twice
			// as often, a step's end is seen a twentieth of it late.
			return min(max(d/20, minPollEvery/4), maxPollEvery)
		}
		return min(max(d/10, minPollEvery/4), maxPollEvery)
	}
	floor := minPollEvery
	if len(g.members) >= largeGroup {
		floor = minPollEvery / 2
	}
	return min(max(d/15, floor), maxPollEvery)
}

// command turns a step into an SSM command: commands become
// AWS-RunShellScript with the timeout as executionTimeout (seconds).
func (e *engine) command(st Step) Command {
	timeout := stepTimeout(st)
	params := map[string][]string{}
	for k, v := range st.Parameters {
		params[k] = append([]string(nil), v...)
	}
	cmd := Command{DocumentName: st.DocumentName, DocumentVersion: st.DocumentVersion, Parameters: params, Timeout: timeout}
	if len(st.Commands) > 0 {
		cmd.DocumentName = "AWS-RunShellScript"
		cmd.DocumentVersion = ""
		params["commands"] = append([]string(nil), st.Commands...)
		params["executionTimeout"] = []string{strconv.Itoa(int((timeout + time.Second - 1) / time.Second))}
	}
	comment := fmt.Sprintf("rolling %s: %s", e.spec.RolloutID, st.Name)
	if len(comment) > 100 {
		comment = comment[:100]
	}
	cmd.Comment = comment
	return cmd
}

func (e *engine) waitStep(g *group, now time.Time) {
	st := g.steps[g.step]
	pending := map[string]string{}
	for _, id := range g.members {
		if r, ok := g.results[id]; !ok || !r.Status.Terminal() {
			pending[id] = g.cmds[id]
		}
	}
	if len(pending) > 0 {
		invs, err := e.invocations(pending)
		e.emit(Event{Kind: EventPoll, Batch: g.batch, Phase: PhaseStep + ":" + st.Name, Message: fmt.Sprintf(
			"polled %d invocations of step %s", len(pending), st.Name)})
		if err != nil {
			e.emit(Event{Kind: EventPoll, Batch: g.batch, Message: "reading invocations failed, will retry: " + err.Error()})
		}
		for _, inv := range invs {
			if _, ok := pending[inv.InstanceID]; ok {
				g.results[inv.InstanceID] = inv
				if inv.Status.Terminal() {
					delete(pending, inv.InstanceID)
					if inv.Status == InvocationSuccess {
						e.learnStepTime(g, st, inv, now)
					}
				}
			}
		}
	}
	// Failures are dealt with as soon as they are known. A command we
	// cancelled because the run was cancelled is no failure of the
	// instance: it is put back if healthy.
	for _, id := range append([]string(nil), g.members...) {
		r, ok := g.results[id]
		switch {
		case !ok || !r.Status.Terminal() || r.Status == InvocationSuccess:
		case r.Status == InvocationCancelled && e.cancelled && g.kind != kindRestore:
			e.restoreAfterCancel(g, []string{id})
		case r.Status == InvocationUndeliverable:
			// The step never reached the instance (agent offline, say), so
			// its application is as the previous step left it: like a send
			// that failed, put it back if that is healthy. If an earlier
			// step stopped the application, it fails its health checks and
			// stays out, tagged.
			e.fail(g, []string{id}, failure{phase: PhaseStep, step: st.Name, status: string(r.Status),
				exit: r.ExitCode, stderr: r.Stderr, details: r.StatusDetails, restore: true})
		default:
			e.fail(g, []string{id}, failure{phase: PhaseStep, step: st.Name, status: string(r.Status),
				exit: r.ExitCode, stderr: r.Stderr, details: r.StatusDetails})
		}
	}
	if len(g.members) == 0 {
		return
	}
	if len(pending) > 0 && e.windowed() {
		// In window mode the instances that are done go on without
		// waiting for slower ones of the same departure.
		if done := without(g.members, sortedKeys(pending)); len(done) > 0 {
			ng := e.splitOff(g, done)
			ng.step++
			ng.stage, ng.wakeAt = stageSend, now
			if e.cancelled && ng.kind != kindRestore && ng.step < len(ng.steps) {
				e.restoreAfterCancel(ng, ng.members)
			}
		}
	}
	if len(pending) > 0 {
		cut := ""
		switch {
		case !now.Before(g.deadline):
			cut = "timeout"
		case e.cancelled && !now.Before(e.graceUntil) && g.kind != kindRestore:
			cut = "cancel"
		}
		if cut == "" {
			g.wakeAt = now.Add(e.nextStepPoll(g, st, now.Sub(g.sentAt)))
			if g.wakeAt.After(g.deadline) {
				g.wakeAt = g.deadline
			}
			if e.cancelled && g.wakeAt.After(e.graceUntil) && e.graceUntil.After(now) {
				g.wakeAt = e.graceUntil
			}
			return
		}
		err := e.ports.Commands.Cancel(e.ctx, pending)
		if cut == "cancel" {
			// Put back only once the commands have stopped: an instance
			// rejoined while a step still runs on it could be broken by
			// that step after it was found healthy. Cancel again at every
			// poll until SSM reports them terminal (or the step deadline).
			if err != nil {
				e.emit(Event{Kind: EventPoll, Batch: g.batch, Message: "cancelling step " + st.Name + " failed, will retry: " + err.Error()})
			}
			g.wakeAt = minTime(g.deadline, now.Add(minPollEvery))
			return
		}
		// Timed out: SSM's own execution timeout (the step timeout) has
		// ended the command by now; the instance stays out either way.
		e.fail(g, sortedKeys(pending), failure{phase: PhaseStep, step: st.Name, status: string(InvocationTimedOut), exit: -1,
			err: fmt.Errorf("no result within the step timeout %s", stepTimeout(st))})
	}
	if len(g.members) == 0 {
		return
	}
	g.step++
	g.cmds, g.results = nil, nil
	if e.cancelled && g.kind != kindRestore && g.step < len(g.steps) {
		e.restoreAfterCancel(g, g.members)
		return
	}
	g.stage = stageSend
	g.wakeAt = now
}

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
	var expected time.Duration
	for _, id := range g.members {
		for arn := range e.insts[id].targets {
			expected = max(expected, healthExpected(e.tgs[arn]))
		}
	}
	timeout := e.healthTimeout()
	if g.kind == kindRestore {
		// A restored instance's application is already running (or not):
		// it passes within a couple of check rounds or never. This keeps a
		// cancelled run's cleanup short.
		timeout = min(timeout, 2*expected+restoreMargin)
	}
	// Timed from when the registrations came back: the health checks
	// started when AWS got them.
	joined := e.clock.Now()
	g.stage = stageHealth
	g.since = joined
	g.healthTimeout = timeout
	g.deadline = joined.Add(timeout)
	g.wakeAt = joined.Add(expected)
	if len(g.joinErr) > 0 {
		g.wakeAt = joined.Add(min(expected, minPollEvery)) // retry registering soon
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

func (e *engine) healthPoll(ids []string) time.Duration {
	var interval time.Duration
	for _, id := range ids {
		for arn := range e.insts[id].targets {
			interval = max(interval, e.tgs[arn].HealthCheckInterval)
		}
	}
	return min(max(interval/5, minPollEvery), maxPollEvery)
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
			if now.Before(g.deadline.Add(max(unknownGrace, g.healthTimeout))) {
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
		case o.unknown && now.Before(g.deadline.Add(max(unknownGrace, g.healthTimeout))):
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
		g.wakeAt = now.Add(e.healthPoll(g.members))
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
	g.wakeAt = minTime(g.bakeEnd, now.Add(e.bakePoll(g.members)))
}

// bakePoll is how often a baking group's health is read. A healthy target
// becomes unhealthy only after unhealthy_threshold failed checks, and
// healthy again only after healthy_threshold passed ones, interval apart:
// a target healthy at two reads (U + H - 1) x interval apart was healthy
// throughout. Reading that often proves the bake, with fewer reads than
// one per interval; a target that fails is seen at the next read.
//
//	interval 10s, unhealthy 2, healthy 3 -> every 40s: a 30s bake is one
//	read, at its end
//	interval 5s, unhealthy 2, healthy 2 -> every 15s
func (e *engine) bakePoll(ids []string) time.Duration {
	var poll time.Duration
	for _, id := range ids {
		for arn := range e.insts[id].targets {
			tg := e.tgs[arn]
			unhealthy := tg.UnhealthyThreshold
			if unhealthy < 2 {
				unhealthy = 2 // ELB's least
			}
			healthy := max(tg.HealthyThreshold, 1)
			span := time.Duration(unhealthy+healthy-1) * tg.HealthCheckInterval
			if poll == 0 || span < poll {
				poll = span // the most demanding group decides
			}
		}
	}
	return max(poll, minPollEvery)
}

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
			if !now.Before(g.bakeEnd.Add(max(e.healthTimeout(), unknownGrace))) {
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
		g.wakeAt = now.Add(e.bakePoll(g.members))
		if unknown {
			g.wakeAt = now.Add(minPollEvery) // a read failed: try again soon
		}
		if now.Before(g.bakeEnd) {
			g.wakeAt = minTime(g.bakeEnd, g.wakeAt)
		}
		return
	}
	g.stage = stageFinish
	g.wakeAt = now
}

func (e *engine) healthTimeout() time.Duration {
	if t := e.spec.Strategy.HealthTimeout; t > 0 {
		return t
	}
	return DefaultHealthTimeout
}

// finishGroup writes the outcome to the tags: the version (deploy,
// rollback), and removes the out-of-service tags.
func (e *engine) finishGroup(g *group, now time.Time) {
	ids := append([]string(nil), g.members...)
	// The tags are the record of where an instance is: a transient error
	// is retried a few times (the instances stay counted as out meanwhile)
	// before it is reported.
	//
	// The version and the removal of the out-of-service tags are written
	// at once: whichever fails first, the instance is safe (without its
	// phase tag and on the old version it is only deployed again), and a
	// failed write is retried with the other (removing is idempotent).
	var setErr, removeErr error
	var writes []func()
	if g.version != "" && !g.versionTagged {
		tags := map[string]string{TagVersion: g.version}
		if g.release != "" {
			tags[TagRelease] = g.release
		}
		if g.kind == kindDeploy {
			// What the steps took so far, for the next plan's estimate
			// (duration.go); in the same call.
			if v := e.stepTimesTag(); v != "" {
				tags[TagSteps] = v
			}
		}
		writes = append(writes, func() {
			if err := e.ports.Tags.SetTags(e.ctx, ids, tags); err != nil {
				setErr = fmt.Errorf("tagging %s with %s=%s: %w", strings.Join(ids, ", "), TagVersion, g.version, e.mask.Err(err))
			}
		})
	}
	writes = append(writes, func() {
		if err := e.ports.Tags.RemoveTags(e.ctx, ids, []string{TagPhase, TagRollout, TagTargets}); err != nil {
			removeErr = fmt.Errorf("removing %s from %s: %w", TagPhase, strings.Join(ids, ", "), e.mask.Err(err))
		}
	})
	e.together(writes...)
	if setErr == nil && len(writes) == 2 {
		g.versionTagged = true
	}
	tagErr := setErr
	if tagErr == nil {
		tagErr = removeErr
	}
	staleTags := false
	if tagErr != nil {
		g.finishTries++
		if g.finishTries < finishAttempts && !errors.Is(tagErr, ErrNotFound) {
			g.wakeAt = now.Add(finishRetryAfter << (g.finishTries - 1))
			return
		}
		e.portErrs = append(e.portErrs, tagErr)
		staleTags = true
	}
	for _, id := range ids {
		st := e.insts[id]
		e.closePhase(st, now)
		st.out = false
		st.available = !g.keptIn
		st.inst.Tags = withoutPhaseTags(st.inst.Tags)
		o := &st.outcome
		o.FinishedAt = now
		o.OutOfService = false
		o.StaleTags = staleTags
		switch g.kind {
		case kindDeploy:
			e.updatedSeq++
			st.updated = e.updatedSeq
			o.Status, o.Version = InstanceUpdated, g.version
			e.emit(Event{Kind: EventInstanceDone, Batch: g.batch, InstanceID: id, Message: id + " is on " + g.version})
		case kindRollback:
			o.Status, o.Version = InstanceRolledBack, g.version
			e.emit(Event{Kind: EventInstanceDone, Batch: g.batch, InstanceID: id, Message: id + " rolled back to " + g.version})
		case kindRestore:
			if st.onRestore == "" { // recovery of an earlier run's instance
				if st.inst.Version() == e.spec.Release.Version {
					o.Status = InstanceRecovered
				}
				e.emit(Event{Kind: EventInstanceDone, InstanceID: id, Message: id + " rejoined healthy on " + st.inst.Version()})
				continue
			}
			o.Status = st.onRestore
			o.Err = st.restoreErr
			if g.keptIn {
				if g.versionTagged {
					o.Version = g.version
				}
				e.emit(Event{Kind: EventInstanceDone, Batch: g.batch, InstanceID: id, Message: id + " left registered, health unknown (" + string(o.Status) + ")"})
				continue
			}
			e.emit(Event{Kind: EventInstanceDone, Batch: g.batch, InstanceID: id, Message: id + " rejoined healthy (" + string(o.Status) + ")"})
		}
	}
	g.members = nil
	g.stage = stageFinish + 1
	if g.kind != kindDeploy {
		return
	}
	// A merged window group (coalesce) may finish parts of several batches.
	var batches []int
	for _, id := range ids {
		if b := e.insts[id].outcome.Batch; !slices.Contains(batches, b) {
			batches = append(batches, b)
		}
	}
	slices.Sort(batches)
	for _, b := range batches {
		e.batchDone(g, b, now)
	}
}

// batchDone reports a batch finished once none of its members is in flight,
// and starts the pause after it.
func (e *engine) batchDone(g *group, batch int, now time.Time) {
	if !e.batchInFlight(batch) {
		var members []string
		if batch >= 1 && batch <= len(e.batches) {
			members = e.batches[batch-1]
		}
		e.emit(Event{Kind: EventBatchFinished, Batch: batch, Instances: members, Message: fmt.Sprintf("batch %d finished", batch)})
		pause := e.spec.Strategy.PauseBetweenBatches
		if e.spec.Strategy.Mode == ModeWindow {
			pause = 0
		}
		if g.canary {
			pause = e.spec.Strategy.CanaryPause
		}
		if p := now.Add(pause); p.After(e.pauseUntil) {
			e.pauseUntil = p
		}
	}
}

// windowed: in window mode instances of one departure go on independently
// once they diverge; in batch mode they stay in lockstep.
func (e *engine) windowed() bool { return e.spec.Strategy.Mode == ModeWindow }

// splitOff moves ids from g into a new group at the same point.
func (e *engine) splitOff(g *group, ids []string) *group {
	ng := *g
	ng.members = append([]string(nil), ids...)
	ng.cmds, ng.results = nil, nil
	ng.joinErr = map[string]error{}
	for _, id := range ids {
		if err, ok := g.joinErr[id]; ok {
			ng.joinErr[id] = err
			delete(g.joinErr, id)
		}
	}
	g.members = without(g.members, ids)
	e.groups = append(e.groups, &ng)
	return &ng
}

// batchInFlight reports whether any member of a deploy group is of the
// batch (window mode splits a batch into several groups, and coalesce may
// merge parts of different batches).
func (e *engine) batchInFlight(batch int) bool {
	for _, g := range e.groups {
		if g.kind != kindDeploy {
			continue
		}
		for _, id := range g.members {
			if e.insts[id].outcome.Batch == batch {
				return true
			}
		}
	}
	return false
}

// coalesce merges groups that are due now at the same point: in window
// mode, the fragments of different departures that reach the same step at
// the same moment send it as one command, and put back or finish together.
// Without it every fragment makes its own calls, serially: more calls and,
// since the engine is one goroutine, more time. Merging changes nothing
// about what happens to an instance, only how many calls carry it: the
// members were all at the same stage and step. (waitForSiblings makes
// fragments meet.)
func (e *engine) coalesce(now time.Time) {
	if !e.windowed() {
		return
	}
	var kept []*group
	for _, g := range e.groups {
		merged := false
		for _, k := range kept {
			if mergeable(k, g, now) {
				k.members = append(k.members, g.members...)
				k.batch = min(k.batch, g.batch)
				if !g.readyAt.IsZero() && (k.readyAt.IsZero() || g.readyAt.Before(k.readyAt)) {
					k.readyAt = g.readyAt
				}
				merged = true
				break
			}
		}
		if !merged {
			kept = append(kept, g)
		}
	}
	e.groups = kept
}

// mergeable: both due now, of the same kind, about to send the same step
// (or to finish with the same version), with nothing in flight of their
// own (no command ids, no registration to retry, no tag write retried).
func mergeable(a, b *group, now time.Time) bool {
	if a.wakeAt.After(now) || b.wakeAt.After(now) || a.kind != b.kind || a.stage != b.stage ||
		a.canary || b.canary || a.keptIn || b.keptIn || len(a.joinErr) > 0 || len(b.joinErr) > 0 {
		return false
	}
	switch a.stage {
	case stageSend:
		return a.step == b.step && len(a.steps) == len(b.steps) && a.version == b.version
	case stageFinish:
		return a.version == b.version && a.release == b.release && a.finishTries == 0 && b.finishTries == 0 && !a.versionTagged && !b.versionTagged
	}
	return false
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

// invocations reads the invocations of pending (instance to command id).
// The first read of a loop iteration also reads those of every other group
// polling its step at this moment (pollDue), in the same call, and keeps
// the answers for them; the Commands port then makes one listing per
// command, or one for all of them.
func (e *engine) invocations(pending map[string]string) ([]Invocation, error) {
	key := func(id, cmd string) string { return cmd + "/" + id }
	if e.invCache == nil {
		e.invCache = map[string]Invocation{}
	}
	var out []Invocation
	missing := map[string]string{}
	for id, cmd := range pending {
		if inv, ok := e.invCache[key(id, cmd)]; ok {
			out = append(out, inv)
		} else {
			missing[id] = cmd
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if e.pollDue != nil {
		for _, o := range e.groups {
			if o.stage != stageStepWait || !e.pollDue(o) {
				continue
			}
			for _, id := range o.members {
				r, done := o.results[id]
				if cmd := o.cmds[id]; cmd != "" && (!done || !r.Status.Terminal()) {
					if _, cached := e.invCache[key(id, cmd)]; !cached {
						missing[id] = cmd
					}
				}
			}
		}
	}
	invs, err := e.ports.Commands.Invocations(e.ctx, missing)
	for _, inv := range invs {
		e.invCache[key(inv.InstanceID, inv.CommandID)] = inv
		if pending[inv.InstanceID] == inv.CommandID {
			out = append(out, inv)
		}
	}
	return out, err
}
