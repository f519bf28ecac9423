package rollout

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Stage 5, finish (stageFinish): write the outcome to the tags (the
// version, and the out-of-service tags removed), close each instance's
// record, and end the batch (batchDone: the pause before the next one).

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
			g.wakeAt = now.Add(finishRetry(g.finishTries))
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
		if p := now.Add(batchPause(e.spec.Strategy, g.canary)); p.After(e.pauseUntil) {
			e.pauseUntil = p
		}
	}
}
