package rollout

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

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

// targetGroupDeleted reports whether err (from a call on target group arn)
// means the group no longer exists, and if so drops it from the rollout:
// nothing can be registered in or deregistered from a deleted group, so its
// errors are no failure of the instances, which go on with the groups that
// remain (and rejoin those). The run stops scheduling: the fleet is not what
// the plan was made for. Per the LoadBalancer contract, ErrNotFound from a
// call on a target group always means the group: a bad target is another
// error (InvalidTarget), so no further call is needed to tell them apart
// (one could be throttled, and the group must be dropped all the same).
func (e *engine) targetGroupDeleted(arn string, err error) bool {
	if !errors.Is(err, ErrNotFound) {
		return false
	}
	if _, known := e.tgs[arn]; !known {
		return true // already dropped
	}
	delete(e.tgs, arn)
	delete(e.healthCache, arn)
	delete(e.targetCache, arn)
	var tgs []TargetGroup
	for _, tg := range e.spec.Fleet.TargetGroups {
		if tg.ARN != arn {
			tgs = append(tgs, tg)
		}
	}
	e.spec.Fleet.TargetGroups = tgs
	for _, id := range e.order {
		st := e.insts[id]
		if _, ok := st.targets[arn]; ok {
			// A copy: the map may be the caller's Spec.
			targets := make(map[string][]Target, len(st.targets))
			for k, v := range st.targets {
				if k != arn {
					targets[k] = v
				}
			}
			st.targets = targets
		}
		delete(st.attached, arn)
	}
	reason := fmt.Sprintf("target group %s was deleted during the rollout: %s", arn, e.mask.Err(err))
	e.portErrs = append(e.portErrs, errors.New(reason))
	e.stop(reason)
	return true
}

// observation is what the world says about one instance right now.
type observation struct {
	drained bool   // no registration left (and in Standby if in an ASG)
	healthy bool   // healthy in every registration (and InService)
	gone    string // why the instance is considered terminated/replaced
	why     string // why it is not healthy, for errors
	// unknown: a read failed, so neither healthy nor unhealthy is known.
	unknown bool
	// seenUnhealthy: a read that worked shows a registration (or the
	// lifecycle state) not healthy, whatever the reads that failed say.
	seenUnhealthy bool
}

// observe reads target health (one call per target group, shared by all
// groups in this loop iteration) and, for Auto Scaling members, lifecycle
// states (one call per group).
func (e *engine) observe(g *group) map[string]observation {
	arns := map[string]bool{}
	var asgMembers []string
	for _, id := range g.members {
		st := e.insts[id]
		for arn := range st.targets {
			arns[arn] = true
		}
		if st.inst.AutoScalingGroup != "" {
			asgMembers = append(asgMembers, id)
		}
	}
	rows := map[string]map[Target]TargetHealth{}
	rowErr := map[string]error{}
	// Usually prefetched; what is not is read now, every target group and
	// the lifecycle states at once.
	order := sortedKeys(arns)
	read := make([]map[Target]TargetHealth, len(order))
	readErr := make([]error, len(order))
	var states map[string]string
	var statesErr error
	var reads []func()
	for i, arn := range order {
		reads = append(reads, func() { read[i], readErr[i] = e.healthOf(arn, g) })
	}
	if len(asgMembers) > 0 {
		reads = append(reads, func() { states, statesErr = e.lifecycleStates(asgMembers) })
	}
	e.together(reads...)
	for i, arn := range order {
		if err := readErr[i]; err != nil {
			if !e.targetGroupDeleted(arn, err) {
				rowErr[arn] = err
			}
			continue
		}
		rows[arn] = read[i]
	}
	e.emit(Event{Kind: EventPoll, Batch: g.batch, Message: fmt.Sprintf("polled health of %d instances in %d target groups", len(g.members), len(arns))})

	out := map[string]observation{}
	for _, id := range g.members {
		st := e.insts[id]
		o := observation{drained: true, healthy: true}
		for _, arn := range sortedKeys(st.targets) {
			if err := rowErr[arn]; err != nil {
				o.drained, o.healthy, o.unknown, o.why = false, false, true, "reading target health: "+e.mask.Err(err).Error()
				continue
			}
			for _, t := range st.targets[arn] {
				row, found := rows[arn][t]
				if found && row.Reason == "Target.InvalidState" {
					o.gone = fmt.Sprintf("instance is stopped or terminated (Target.InvalidState in %s)", arn)
				}
				if found && row.State != HealthUnused {
					o.drained = false
				}
				if !found || row.State != HealthHealthy {
					o.healthy, o.seenUnhealthy = false, true
					state, reason := HealthUnused, "Target.NotRegistered"
					if found {
						state, reason = row.State, row.Reason
					}
					o.why = fmt.Sprintf("%s port %d is %s (%s)", arn, t.Port, state, reason)
				}
			}
		}
		if st.inst.AutoScalingGroup != "" {
			ls, ok := states[id]
			switch {
			case statesErr != nil:
				o.drained, o.healthy, o.unknown, o.why = false, false, true, "reading lifecycle states: "+e.mask.Err(statesErr).Error()
			case !ok || strings.HasPrefix(ls, "Terminat") || strings.HasPrefix(ls, "Detach"):
				o.gone = fmt.Sprintf("instance is no longer in Auto Scaling group %s (terminated or replaced)", st.inst.AutoScalingGroup)
			default:
				if ls != "Standby" {
					o.drained = false
				}
				if ls != "InService" {
					o.healthy, o.seenUnhealthy = false, true
					o.why = "Auto Scaling lifecycle state is " + ls
				}
			}
		}
		out[id] = o
	}
	return out
}

// maxTargetedHealth bounds the targets of one targeted health read
// (healthOf); more are read with the whole group.
const maxTargetedHealth = 100

// healthOf reads the health of g's targets in one target group: from the
// whole group's answer if this iteration has one, else, when the port can,
// with a read of just the targets of the groups polling at this moment in
// that target group (shared through targetCache), else the whole group.
func (e *engine) healthOf(arn string, g *group) (map[Target]TargetHealth, error) {
	whole := func() (map[Target]TargetHealth, error) {
		hs, err := e.targetHealth(arn)
		if err != nil {
			return nil, err
		}
		m := make(map[Target]TargetHealth, len(hs))
		for _, h := range hs {
			m[h.Target] = h
		}
		return m, nil
	}
	reader, ok := e.ports.LB.(TargetsHealthReader)
	if _, cached := e.healthCache[arn]; cached || !ok {
		return whole()
	}
	cache := e.targetCache[arn]
	want := e.targetsIn(g.members, arn)
	if cache != nil && hasAll(cache, want) {
		return cache, nil
	}
	// Read the targets of every group polling now in this target group.
	seen := map[Target]bool{}
	var ask []Target
	add := func(ts []Target) {
		for _, t := range ts {
			if !seen[t] {
				seen[t] = true
				ask = append(ask, t)
			}
		}
	}
	add(want)
	for _, o := range e.groups {
		if o != g && len(o.members) > 0 && (o.stage == stageDrain || o.stage == stageHealth || o.stage == stageBake) &&
			e.pollDue != nil && e.pollDue(o) {
			add(e.targetsIn(o.members, arn))
		}
	}
	if len(ask) > maxTargetedHealth {
		return whole()
	}
	gen := e.healthGen[arn]
	hs, err := reader.TargetsHealth(e.ctx, arn, ask)
	if err != nil {
		// One instance gone can fail the whole call (InvalidTarget);
		// the whole group's answer shows it as Target.InvalidState.
		return whole()
	}
	fresh := map[Target]TargetHealth{}
	for _, t := range ask {
		// Asked but not answered: not registered.
		fresh[t] = TargetHealth{Target: t, State: HealthUnused, Reason: "Target.NotRegistered"}
	}
	for _, h := range hs {
		fresh[h.Target] = h
	}
	if gen != e.healthGen[arn] {
		return fresh, nil // the group changed meanwhile: not kept
	}
	if e.targetCache == nil {
		e.targetCache = map[string]map[Target]TargetHealth{}
	}
	if e.targetCache[arn] == nil {
		e.targetCache[arn] = map[Target]TargetHealth{}
	}
	cache = e.targetCache[arn]
	for t, h := range fresh {
		cache[t] = h
	}
	return cache, nil
}

// targetsIn lists the registrations of ids in one target group (attached
// through Auto Scaling or not: observe looks at all of them).
func (e *engine) targetsIn(ids []string, arn string) []Target {
	var out []Target
	for _, id := range ids {
		out = append(out, e.insts[id].targets[arn]...)
	}
	return out
}

func hasAll(m map[Target]TargetHealth, ts []Target) bool {
	for _, t := range ts {
		if _, ok := m[t]; !ok {
			return false
		}
	}
	return true
}

// targetHealth reads the whole group's health once per loop iteration; a
// read that failed is not made again in the same iteration (its error is
// kept), so a failing read is retried at the pace of the loop's waits.
func (e *engine) targetHealth(arn string) ([]TargetHealth, error) {
	if hs, ok := e.healthCache[arn]; ok {
		return hs, nil
	}
	if err, ok := e.healthErr[arn]; ok {
		return nil, err
	}
	gen := e.healthGen[arn]
	hs, err := e.ports.LB.TargetHealth(e.ctx, arn)
	if gen != e.healthGen[arn] {
		return hs, err // the group changed meanwhile: not kept
	}
	if err != nil {
		if e.healthErr == nil {
			e.healthErr = map[string]error{}
		}
		e.healthErr[arn] = err
		return nil, err
	}
	e.healthCache[arn] = hs
	return hs, nil
}
