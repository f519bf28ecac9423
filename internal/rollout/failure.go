package rollout

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// What happens to instances that fail in any stage: failureAction decides
// (a pure function), fail carries it out (drop, leave alone, restore, keep
// registered, roll back, or leave out of service and report), and the
// errors say where it failed. Also the put-back after a cancellation.

// failure describes how some instances failed in a stage.
type failure struct {
	phase   string // PhaseDraining, PhaseStep, PhaseJoining, PhaseBaking
	step    string
	status  string // SSM invocation status, "" when no command was involved
	exit    int
	stderr  string
	details string
	err     error
	// gone: the instance was terminated or replaced.
	gone bool
	// untouched: it never left (its tags could not be written).
	untouched bool
	// restore: leaving failed part way; it may still be healthy.
	restore bool
	// keepIn: it is registered again but its health cannot be read (the
	// API keeps failing): it stays registered, so the load balancer's own
	// health checks decide whether it gets traffic. Taking it out would
	// strand an instance that may well be healthy.
	keepIn bool
}

// action is what happens to a failed instance.
type action int

const (
	actLeaveOut  action = iota // stays out of service, tagged, reported
	actRollback                // re-run the previous release's steps on it
	actRestore                 // rejoin when healthy: it may be fine
	actDrop                    // gone: nothing to put back
	actUntouched               // never left: nothing to undo
	actKeepIn                  // registered, health unknown: stays registered, reported failed
)

// failureAction decides what happens to an instance that failed. The rules:
// an instance that is gone is dropped (and no longer counted in the fleet);
// one that never left is left alone; one that failed to leave is put back if
// healthy; one that is registered again but whose health cannot be read
// stays registered (the load balancer's checks decide); one whose deploy
// failed is rolled back when rollback is possible (and the run is not being
// cancelled), and otherwise stays out of service, since nothing says its
// application works.
func failureAction(k kind, f failure, canRollback, cancelled bool) action {
	switch {
	case f.gone:
		return actDrop
	case f.untouched:
		return actUntouched
	case f.restore:
		return actRestore
	case f.keepIn:
		return actKeepIn
	case k == kindDeploy && canRollback && !cancelled:
		return actRollback
	}
	return actLeaveOut
}

func (e *engine) canRollback() bool {
	return e.spec.Failure.Rollback && e.spec.Previous != nil
}

// fail takes ids out of g and deals with them according to failureAction.
func (e *engine) fail(g *group, ids []string, f failure) {
	// An instance can fail more than once in one stage (in two target
	// groups, say); only the first failure, while it is still a member,
	// decides what happens to it.
	member := map[string]bool{}
	for _, id := range g.members {
		member[id] = true
	}
	var current []string
	for _, id := range ids {
		if member[id] {
			current = append(current, id)
			member[id] = false
		}
	}
	ids = current
	if len(ids) == 0 {
		return
	}
	if !f.gone && !f.untouched {
		// A command or registration failing is often the first sign that
		// the instance was terminated or replaced: such an instance is gone,
		// not out of service.
		if ids = e.failGone(g, ids, f); len(ids) == 0 {
			return
		}
	}
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	var kept []string
	for _, id := range g.members {
		if !drop[id] {
			kept = append(kept, id)
		}
	}
	g.members = kept
	// Members are registered while leaving (failures there happen before
	// or instead of deregistration) and from joining on.
	registered := g.stage == stageLeave || (g.stage >= stageJoin && g.stage <= stageFinish)
	act := failureAction(g.kind, f, e.canRollback(), e.cancelled)
	now := e.clock.Now()

	var leaveOut, rollback, restore, untag, keepIn []string
	for _, id := range ids {
		st := e.insts[id]
		ierr := e.instanceError(g, st, f)
		if g.kind == kindDeploy && act != actDrop {
			e.failures++
		}
		switch act {
		case actDrop:
			// Scale-in, a termination, a replacement: the fleet changed
			// under the rollout, which drops the instance and goes on.
			st.gone, st.out, st.available = true, false, false
			e.closePhase(st, now)
			st.outcome.Status, st.outcome.OutOfService, st.outcome.Err, st.outcome.FinishedAt = InstanceGone, false, nil, now
			e.notes = append(e.notes, fmt.Sprintf("%s left the fleet during the rollout (%s) and was dropped from it", id, e.mask.Err(ierr)))
		case actUntouched:
			st.out = false
			// A batched write may have tagged it before failing on another
			// instance: an instance that stays in service gets our tags
			// taken off again.
			staysIn := !st.outcome.OutOfService && (g.kind != kindRollback || st.outcome.Status == InstanceUpdated)
			if staysIn {
				untag = append(untag, id)
			}
			if g.kind == kindRollback {
				if st.outcome.Status == InstanceUpdated {
					e.portErrs = append(e.portErrs, ierr) // still updated and in service
					continue
				}
				// Its deploy failed and it could not even be taken out
				// for the rollback: take it out as a failed instance.
				leaveOut = append(leaveOut, id)
				e.closeAsLeftOut(st, ierr, now)
				break
			}
			e.closePhase(st, now)
			// It never left, so it is as much out of service as before.
			st.outcome.Status, st.outcome.Err, st.outcome.FinishedAt = InstanceFailed, ierr, now
		case actKeepIn:
			st.onRestore, st.restoreErr = InstanceFailed, ierr
			keepIn = append(keepIn, id)
		case actRestore:
			st.onRestore, st.restoreErr = InstanceFailed, ierr
			if g.kind == kindRollback {
				st.onRestore, st.restoreErr = rollbackRestoreStatus(st)
				e.portErrs = append(e.portErrs, ierr)
			}
			restore = append(restore, id)
		case actRollback:
			st.outcome.Err = ierr
			rollback = append(rollback, id)
		case actLeaveOut:
			leaveOut = append(leaveOut, id)
			if g.kind == kindRestore && st.onRestore == "" {
				// An earlier run's instance that is not healthy: it stays
				// out, costs no capacity, and is deployed like the others.
				// Until then it is reported out of service.
				st.out, st.available = false, false
				st.outcome.OutOfService = true
				e.closePhase(st, now)
				continue
			}
			if st.restoreErr != nil {
				if prev, ok := st.restoreErr.(*InstanceError); ok {
					ierr.Err = joinCause(ierr.Err, "after: "+prev.Error())
				}
			} else if st.outcome.Err != nil {
				ierr.Err = joinCause(ierr.Err, "rolling back after: "+st.outcome.Err.Error())
			}
			e.closeAsLeftOut(st, ierr, now)
		}
		if act != actUntouched || g.kind != kindRollback {
			e.emit(Event{Kind: EventInstanceFailed, Batch: g.batch, InstanceID: id, Phase: f.phase, Message: ierr.Error()})
		}
	}
	if registered && len(leaveOut) > 0 {
		e.takeOut(leaveOut)
	}
	// rolling:phase was written once, when leaving; an instance that stays
	// out gets the phase it stopped in (a step's name, say), the record a
	// person or the next run reads.
	byPhase := map[string][]string{}
	for _, id := range leaveOut {
		if st := e.insts[id]; st.outcome.OutOfService && st.outcome.Phase != "" && st.inst.Tags[TagPhase] != st.outcome.Phase {
			byPhase[st.outcome.Phase] = append(byPhase[st.outcome.Phase], id)
		}
	}
	for _, phase := range sortedKeys(byPhase) {
		e.setPhaseTag(byPhase[phase], phase)
	}
	if len(untag) > 0 {
		if err := e.ports.Tags.RemoveTags(e.ctx, untag, []string{TagPhase, TagRollout, TagTargets}); err != nil {
			e.portErrs = append(e.portErrs, fmt.Errorf("removing %s from %s, which stayed in service: %w", TagPhase, strings.Join(untag, ", "), e.mask.Err(err)))
			for _, id := range untag {
				e.insts[id].outcome.StaleTags = true
			}
		}
	}
	if len(keepIn) > 0 {
		e.keepRegistered(g, keepIn, now)
	}
	if len(rollback) > 0 {
		stage := stageSend
		if registered {
			stage = stageLeave
		}
		rg := e.freshGroup(kindRollback, g.batch, stage, now)
		rg.steps, rg.version, rg.release = e.spec.Previous.Steps, e.spec.Previous.Version, e.spec.Previous.ID
		rg.members = append(rg.members, rollback...)
		e.emit(Event{Kind: EventRollbackStarted, Batch: g.batch, Instances: rollback, Message: "rolling back " + strings.Join(rollback, ", ") + " to " + e.spec.Previous.Version})
	}
	if len(restore) > 0 {
		rg := e.freshGroup(kindRestore, g.batch, stageJoin, now)
		rg.members = append(rg.members, restore...)
	}
	if g.kind == kindDeploy && e.failures > e.tolerance && e.phase == phaseDeploying {
		e.stop(fmt.Sprintf("%s failed, more than the %d tolerated", plural(e.failures, "instance"), e.tolerance))
	}
}

// goneAmong asks Auto Scaling (one call) which of the ids it no longer has,
// and EC2 (one call, when the port is there) which of the others are
// terminated or shutting down. It returns why each gone instance is gone.
// A read that fails says nothing: those instances are not called gone, which
// is the safe side (a plain failure keeps them tracked).
func (e *engine) goneAmong(ids []string) map[string]string {
	gone := map[string]string{}
	var members, plain []string
	for _, id := range ids {
		if e.insts[id].inst.AutoScalingGroup != "" {
			members = append(members, id)
		} else {
			plain = append(plain, id)
		}
	}
	if len(members) > 0 && e.ports.Standby != nil {
		if states, err := e.ports.Standby.LifecycleStates(e.ctx, members); err == nil {
			for _, id := range members {
				ls, ok := states[id]
				if !ok || strings.HasPrefix(ls, "Terminat") || strings.HasPrefix(ls, "Detach") {
					gone[id] = "instance is no longer in its Auto Scaling group (terminated or replaced)"
				}
			}
		}
	}
	if len(plain) > 0 && e.ports.Instances != nil {
		if states, err := e.ports.Instances.States(e.ctx, plain); err == nil {
			for _, id := range plain {
				switch s, ok := states[id]; {
				case !ok:
					gone[id] = "instance terminated (EC2 no longer knows it)"
				case s == "terminated" || s == "shutting-down":
					gone[id] = "instance terminated (EC2 state " + s + ")"
				}
			}
		}
	}
	return gone
}

// failGone takes the instances among ids that are gone out of g as gone;
// it returns the others.
func (e *engine) failGone(g *group, ids []string, f failure) []string {
	gone := e.goneAmong(ids)
	for _, id := range sortedKeys(gone) {
		e.fail(g, []string{id}, failure{phase: f.phase, step: f.step, gone: true, err: errors.New(gone[id])})
	}
	var rest []string
	for _, id := range ids {
		if _, ok := gone[id]; !ok {
			rest = append(rest, id)
		}
	}
	return rest
}

// plural says "1 instance", "2 instances".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// keepRegistered finishes instances left registered with their health
// unknown through a group of their own at the finish stage, so the tag
// writes are retried like any other finish: the out-of-service tags go,
// since they are in their target groups. rolling:version is written only
// after a rollback, whose steps all ran: the previous version is never the
// one being deployed, so the next run still redeploys the instance. A
// deploy's version is not written: it was never seen healthy, and keeping
// the old tag makes the next run deploy it again rather than count it done.
func (e *engine) keepRegistered(g *group, ids []string, now time.Time) {
	kg := &group{kind: kindRestore, batch: g.batch, members: ids, stage: stageFinish, wakeAt: now, keptIn: true}
	if g.kind == kindRollback {
		kg.version = g.version
		kg.release = g.release
	}
	e.groups = append(e.groups, kg)
}

func without(ids, drop []string) []string {
	m := map[string]bool{}
	for _, id := range drop {
		m[id] = true
	}
	var out []string
	for _, id := range ids {
		if !m[id] {
			out = append(out, id)
		}
	}
	return out
}

// closeAsLeftOut records that an instance stays out of service, failed.
func (e *engine) closeAsLeftOut(st *instState, ierr *InstanceError, now time.Time) {
	ierr.LeftOutOfService = true
	e.closePhase(st, now)
	st.out, st.available = false, false
	st.outcome.Status, st.outcome.OutOfService, st.outcome.Err, st.outcome.FinishedAt = InstanceFailed, true, ierr, now
}

// rollbackRestoreStatus is where an instance taken out for a rollback ends
// if it is put back without being rolled back: still updated when it was,
// else failed with the error that sent it to rollback.
func rollbackRestoreStatus(st *instState) (InstanceStatus, error) {
	if st.outcome.Status == InstanceUpdated {
		return InstanceUpdated, nil
	}
	return InstanceFailed, st.outcome.Err
}

// freshGroup returns a group of this kind, batch and stage created in this
// loop iteration and not yet advanced, or a new one: instances failing one
// by one at the same moment then still share their API calls.
func (e *engine) freshGroup(k kind, batch int, st stage, now time.Time) *group {
	for _, g := range e.groups {
		if g.fresh && g.kind == k && g.batch == batch && g.stage == st && g.wakeAt.Equal(now) {
			return g
		}
	}
	g := &group{kind: k, batch: batch, stage: st, wakeAt: now, fresh: true}
	e.groups = append(e.groups, g)
	return g
}

func joinCause(err error, cause string) error {
	if err == nil {
		return errors.New(cause)
	}
	return fmt.Errorf("%w (%s)", err, cause)
}

func (e *engine) instanceError(g *group, st *instState, f failure) *InstanceError {
	ierr := &InstanceError{Batch: st.outcome.Batch, InstanceID: st.inst.ID, Phase: f.phase, Step: f.step,
		ExitCode: -1, Status: f.status}
	if g.kind == kindRollback {
		ierr.Phase = PhaseRollback
	}
	if f.status != "" {
		ierr.ExitCode = f.exit
	}
	if f.stderr != "" {
		ierr.StderrTail = tail(e.mask.String(f.stderr))
	}
	switch {
	case f.err != nil:
		ierr.Err = e.mask.Err(f.err)
	case f.details != "" && f.details != f.status:
		ierr.Err = errors.New(e.mask.String(f.details))
	}
	return ierr
}

// restoreAfterCancel splits ids off g into a group that rejoins them when
// healthy: after a cancellation no new step starts.
func (e *engine) restoreAfterCancel(g *group, ids []string) {
	ids = append([]string(nil), ids...)
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
		st := e.insts[id]
		if g.kind == kindRollback {
			st.onRestore, st.restoreErr = rollbackRestoreStatus(st)
		} else {
			st.onRestore = InstanceInterrupted
		}
	}
	var kept []string
	for _, id := range g.members {
		if !drop[id] {
			kept = append(kept, id)
		}
	}
	g.members = kept
	rg := e.freshGroup(kindRestore, g.batch, stageJoin, e.clock.Now())
	rg.members = append(rg.members, ids...)
}

// takeOut removes instances that are registered again but must stay out:
// they failed to become or stay healthy.
func (e *engine) takeOut(ids []string) {
	own := e.ownTargets(ids)
	arns := sortedKeys(own)
	byASG := map[string][]string{}
	for _, id := range ids {
		st := e.insts[id]
		if st.viaStandby && !st.inStandby && !st.gone {
			byASG[st.inst.AutoScalingGroup] = append(byASG[st.inst.AutoScalingGroup], id)
		}
	}
	names := sortedKeys(byASG)
	// Deregistration per target group and standby per Auto Scaling group,
	// at once.
	deregFailed := make([]map[string]error, len(arns))
	standbyErr := make([]error, len(names))
	var calls []func()
	for i, arn := range arns {
		targets := own[arn]
		calls = append(calls, func() {
			deregFailed[i] = e.eachInstance(targetIDs(targets), func(ids []string) error {
				return e.ports.LB.Deregister(e.ctx, arn, targetsOf(targets, ids))
			})
		})
	}
	for i, name := range names {
		calls = append(calls, func() { standbyErr[i] = e.ports.Standby.EnterStandby(e.ctx, name, byASG[name]) })
	}
	e.together(calls...)
	for i, arn := range arns {
		for _, id := range sortedKeys(deregFailed[i]) {
			err := deregFailed[i][id]
			if e.targetGroupDeleted(arn, err) {
				continue
			}
			e.portErrs = append(e.portErrs, fmt.Errorf("deregistering failed instance %s from %s: %w", id, arn, e.mask.Err(err)))
		}
	}
	for i, name := range names {
		if err := standbyErr[i]; err != nil {
			e.portErrs = append(e.portErrs, fmt.Errorf("putting failed instances of %s in standby: %w", name, e.mask.Err(err)))
			continue
		}
		for _, id := range byASG[name] {
			e.enteredStandby(id)
		}
	}
}
