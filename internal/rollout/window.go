package rollout

import (
	"time"
)

// Fragments: how a departure splits as its members go at their own pace,
// and meets again to rejoin. In window mode and, unless lockstep, in batch
// mode (ownPace); in batch mode with lockstep a group stays together and
// none of this applies.
//
//	departure a b c d leaves as one group
//	  drain  step 1 -+- a b done --> step 2 (a b) --> ready -.  waitForSiblings:
//	                 |                                       :  at most siblingHold
//	                 '- c d later -> step 2 (c d) ----------> +  (timing.go)
//	                                                          |
//	                              coalesce: a b c d -> join -> health -> bake
//
// A member seen done at a drain, step or health read goes on at once
// (splitOff); its fragment's polls share one call with the others' when
// they are due within pullIn (pulledIn); steps are never held. Only a
// fragment ready to rejoin (past its last step) waits, briefly, for the
// fragments of its departure still in their steps; fragments due at the
// same point are merged (coalesce), so a departure rejoins, bakes and frees
// its slots together, and a fragment that finishes early and finds nobody
// (or whose hold runs out) rejoins alone.
//
// Batch mode at its own pace splits the same way during its steps (not
// while draining or getting healthy: its members leave and rejoin
// together), but a fragment past its last step waits for the whole batch
// (waitForBatch, no bound): the batch rejoins together, one Register per
// target group, and the next batch starts when it is done.

// windowed: in window mode instances of one departure go on independently
// once they diverge, and the next leave as soon as capacity allows.
func (e *engine) windowed() bool { return e.spec.Strategy.Mode == ModeWindow }

// ownPace: the members of a departure run their steps at their own pace,
// in window mode and in batch mode unless lockstep (where every step waits
// for the whole batch).
func (e *engine) ownPace() bool { return e.windowed() || !e.spec.Strategy.Lockstep }

// batchSize is how many instances g's departure took: a batch's fragments
// are polled as the batch (timing.go, ownPacePollEvery).
func (e *engine) batchSize(g *group) int {
	if g.kind == kindDeploy && g.batch >= 1 && g.batch <= len(e.batches) {
		return len(e.batches[g.batch-1])
	}
	return len(g.members)
}

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
// Nothing waits after a cancellation, in batch mode, or for a canary. (A
// batch at its own pace waits for its whole batch instead: waitForBatch.)
func (e *engine) waitForSiblings(g *group, now time.Time) (time.Time, bool) {
	if !e.windowed() && e.ownPace() {
		return e.waitForBatch(g, now)
	}
	if !e.windowed() || e.cancelled || g.canary || g.step == 0 || g.step < len(g.steps) || g.kind == kindRestore {
		return time.Time{}, false
	}
	d, ok := e.stepPolls(g, g.steps[g.step-1]).learned()
	if !ok {
		return time.Time{}, false
	}
	if g.readyAt.IsZero() {
		g.readyAt = now
	}
	limit := g.readyAt.Add(siblingHold(d))
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
		until = now.Add(lookSoon)
	}
	return minTime(until, limit), true
}

// waitForBatch says whether a fragment of a batch at its own pace, past its
// last step, waits for the batch's other fragments still leaving or in
// their steps, and until when: the earliest of their next looks. The wait
// has no bound of its own: each step has its deadline, and a member that
// fails there leaves the batch (fail). The fragment that finishes last
// finds the others waiting and wakes them now, so that all of them are
// merged (coalesce) before the batch rejoins: it waits for that once.
// Nothing waits after a cancellation (the instances are put back as they
// come), nor for a restore.
func (e *engine) waitForBatch(g *group, now time.Time) (time.Time, bool) {
	if e.cancelled || g.step < len(g.steps) || g.kind == kindRestore {
		return time.Time{}, false
	}
	var until time.Time
	var ready []*group
	waiting := false
	for _, o := range e.groups {
		if o == g || o.kind != g.kind || o.batch != g.batch || len(o.members) == 0 {
			continue
		}
		switch {
		case o.stage < stageSend || o.stage == stageStepWait || o.stage == stageSend && o.step < len(o.steps):
			waiting = true
			if o.wakeAt.After(now) && (until.IsZero() || o.wakeAt.Before(until)) {
				until = o.wakeAt
			}
		case o.stage == stageSend && o.wakeAt.After(now):
			ready = append(ready, o)
		}
	}
	if waiting {
		if until.IsZero() {
			until = now.Add(lookSoon)
		}
		return until, true
	}
	for _, o := range ready {
		o.wakeAt = now
	}
	return now, len(ready) > 0
}

// pulledIn says whether g, not yet due, is polled now with the others.
func (e *engine) pulledIn(g *group, now time.Time) bool {
	return e.ownPace() && !e.cancelled && g.stage == stageStepWait && !g.wakeAt.After(now.Add(pullIn))
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
	if !e.ownPace() {
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
// own (no command ids, no registration to retry, no tag write retried). A
// canary's fragments merge only with each other (the canary runs alone).
func mergeable(a, b *group, now time.Time) bool {
	if a.wakeAt.After(now) || b.wakeAt.After(now) || a.kind != b.kind || a.stage != b.stage ||
		a.canary != b.canary || a.keptIn || b.keptIn || len(a.joinErr) > 0 || len(b.joinErr) > 0 {
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
