package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// readyAmong checks, just before they leave, that the instances can still
// be deployed (Readiness: one call for the batch). An unready one is left
// out with a warning, or stops the rollout when FailOnUnready; a failed
// check lets them go (their steps fail if the instance really cannot run
// them).
func (e *engine) readyAmong(ids []string, now time.Time) []string {
	if e.ports.Readiness == nil {
		return ids
	}
	if ask := e.readinessAsk(ids, now); len(ask) > 0 && !e.checkReadiness(ask, now) {
		return ids
	}
	unready := map[string]string{}
	for _, id := range ids {
		if reason, bad := e.unready[id]; bad {
			unready[id] = reason
		}
	}
	if len(unready) == 0 {
		return ids
	}
	var ready, skipped []string
	for _, id := range ids {
		if reason, bad := unready[id]; bad {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", id, reason))
			continue
		}
		ready = append(ready, id)
	}
	if e.spec.Failure.FailOnUnready {
		e.stop("not ready to be deployed: " + strings.Join(skipped, ", "))
		return nil
	}
	for _, id := range ids {
		if reason, bad := unready[id]; bad {
			st := e.insts[id]
			st.outcome.Status, st.outcome.FinishedAt = InstanceSkipped, now
			e.queue = without(e.queue, []string{id})
			e.notes = append(e.notes, fmt.Sprintf("%s was not ready when its batch left (%s): left out of this rollout", id, reason))
		}
	}
	return ready
}

// readinessAsk is what one readiness check covers: the departing
// instances not checked lately and, in window mode, so that its
// departures, small and many, still make one call per batch's worth,
// those queued next that were not checked lately either (a check a minute
// old no longer counts, and the next departures would each ask again).
// Nothing when every departing instance was checked lately (or there is no
// Readiness port).
func (e *engine) readinessAsk(ids []string, now time.Time) []string {
	if e.ports.Readiness == nil {
		return nil
	}
	var ask []string
	for _, id := range ids {
		if at, ok := e.readyAt[id]; !ok || now.Sub(at) > readinessFresh {
			ask = append(ask, id)
		}
	}
	if len(ask) == 0 || !e.windowed() {
		// Batch mode's next batch leaves after this one is done, later
		// than a check holds: checking it now would be a wasted call.
		return ask
	}
	for _, id := range e.queue {
		if len(ask) >= 2*len(ids)+batchLimit(e.spec.Strategy, e.aliveCount()) {
			break
		}
		if at, ok := e.readyAt[id]; (!ok || now.Sub(at) > readinessFresh) && !slices.Contains(ask, id) {
			ask = append(ask, id)
		}
	}
	return ask
}

// checkReadiness asks Readiness about ask (one call) and keeps the
// answers; false when the check failed (reported as an event: the
// instances then go, and their steps fail if they really cannot run them).
func (e *engine) checkReadiness(ask []string, now time.Time) bool {
	found, err := e.ports.Readiness.Unready(e.ctx, ask)
	if err != nil {
		e.emit(Event{Kind: EventPoll, Message: "readiness check failed, going on: " + e.mask.Err(err).Error()})
		return false
	}
	for _, id := range ask {
		e.readyAt[id] = now
		if reason, bad := found[id]; bad {
			e.unready[id] = reason
		} else {
			delete(e.unready, id)
		}
	}
	return true
}
