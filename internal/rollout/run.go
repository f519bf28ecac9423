package rollout

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The loop: each iteration advances the groups whose wait is over
// (stages.go), lets decide.go take the next departures, and waits on the
// clock for the earliest wake-up (nextWake) or on the context. Around it:
// cancellation, alarms, the Auto Scaling processes suspended for the run,
// the fleet's health re-read before departures, and the Result.

func (e *engine) run() (Result, error) {
	if len(e.queue) == 0 {
		e.phase = phaseDone
		e.emit(Event{Kind: EventRolloutFinished, Message: "nothing is out of date"})
		return e.result(), nil
	}
	if err := e.ctx.Err(); err != nil {
		e.cancelled, e.stopReason = true, "cancelled before it started"
		return e.finish()
	}
	e.emit(Event{Kind: EventRolloutStarted, Message: fmt.Sprintf(
		"rolling out %s to %d of %d instances", e.spec.Release.Version, len(e.queue), len(e.order))})
	if err := e.suspendProcesses(); err != nil {
		e.resumeProcesses()
		e.phase = phaseDone
		e.stopReason = err.Error()
		return e.finish()
	}
	defer e.resumeProcesses()

	e.startRecovery()
	for {
		// A cancellation that came while the loop was busy must be seen
		// before anything else is decided, so nothing new leaves after it.
		select {
		case <-e.done:
			e.onCancel()
		default:
		}
		now := e.clock.Now()
		e.iterate(now)
		if e.phase == phaseDone {
			break
		}
		wake, ok := e.nextWake(now)
		if !ok {
			// Nothing in flight and nothing to wait for: decide has
			// already stopped the run; this is a safety net, never a hang.
			e.phase = phaseDone
			break
		}
		// The wait runs from now, not from the start of the pass: the
		// pass's calls took time (round trips to AWS), and a wait counted
		// from before them would wake that much late.
		select {
		case <-e.clock.After(wake.Sub(e.clock.Now())):
		case <-e.done:
			e.onCancel()
		}
	}
	return e.finish()
}

// iterate is one pass of the loop at now: departures and the polls' reads
// at once (a departure that can go never waits for a poll), then every
// group whose wait is over, then what may leave next.
func (e *engine) iterate(now time.Time) {
	e.healthCache = map[string][]TargetHealth{}
	e.healthErr = nil
	e.targetCache = nil
	e.invCache = nil
	e.lifeCache, e.lifeAsked = nil, nil
	e.refreshed = false
	var departing []string
	if d := e.decide(now); len(d.start) > 0 {
		departing = d.start
	}
	e.together(
		func() { e.depart(now, len(departing) > 0) },
		func() { e.prefetch(now, len(departing) > 0) },
	)
	e.advanceGroups(now)
	e.checkAlarmsIfDue(now)
	e.decideAndApply(now)
}

// depart starts the departure decide wants now, if any (its reads: the
// fleet's health and the instances' readiness, at once), and takes every
// group due to leave out of service: those it started and those started
// at the end of the last pass.
func (e *engine) depart(now time.Time, wanted bool) {
	if wanted {
		e.decideAndApply(now)
	}
	var leaving []func()
	for _, g := range e.groups {
		if g.stage == stageLeave && len(g.members) > 0 && !g.wakeAt.After(now) {
			leaving = append(leaving, func() { e.runStage(g, now) })
		}
	}
	e.together(leaving...)
}

// onCancel stops scheduling and switches every further port call to a
// context that is not cancelled, so in-flight instances can be put back.
func (e *engine) onCancel() {
	e.done = nil
	e.cancelled = true
	e.ctx = context.WithoutCancel(e.ctx)
	grace := cancelGrace(e.spec.Strategy)
	now := e.clock.Now()
	e.graceUntil = now.Add(grace)
	if e.stopReason == "" {
		e.stopReason = "cancelled"
	}
	// Groups waiting out the deregistration delay (AWS's default is 300 s)
	// or a bake are put back now, not when their wait ends; a step wait is
	// looked at again when the grace period ends at the latest. Registering
	// a draining target again is allowed.
	for _, g := range e.groups {
		switch {
		case g.stage == stageDrain, g.stage == stageBake:
			g.wakeAt = now
		case g.stage == stageStepWait && g.wakeAt.After(e.graceUntil):
			g.wakeAt = e.graceUntil
		case g.stage == stageSend && g.wakeAt.After(now):
			g.wakeAt = now // waiting for siblings (window mode): no step starts now
		}
	}
	e.emit(Event{Kind: EventStopped, Message: "cancelled: no more instances will leave; in-flight steps get " +
		grace.String() + " to finish, then instances are rejoined when healthy"})
}

// nextWake is the earliest moment something is due.
func (e *engine) nextWake(now time.Time) (time.Time, bool) {
	var wake time.Time
	consider := func(t time.Time) {
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	for _, g := range e.groups {
		consider(g.wakeAt)
	}
	waiting := len(e.queue) > 0 && (e.phase == phaseDeploying || e.phase == phaseRollingBack) && !e.cancelled
	if waiting && e.pauseUntil.After(now) {
		consider(e.pauseUntil)
	}
	if e.alarmsWatched() && (len(e.groups) > 0 || waiting) && !e.nextAlarm.IsZero() {
		consider(e.nextAlarm)
	}
	if wake.IsZero() {
		return wake, false
	}
	if wake.Before(now) {
		wake = now
	}
	return wake, true
}

func (e *engine) alarmsWatched() bool {
	return len(e.spec.Failure.AlarmNames) > 0 && e.ports.Alarms != nil && e.phase == phaseDeploying
}

func (e *engine) checkAlarmsIfDue(now time.Time) {
	if e.alarmsWatched() && !now.Before(e.nextAlarm) && (len(e.groups) > 0 || len(e.queue) > 0) {
		e.alarmFiring()
	}
}

// alarmFiring reads the alarms and stops the rollout when one is in ALARM
// or when they cannot be read: a rollout that cannot see its alarms is not
// allowed to go on.
func (e *engine) alarmFiring() bool {
	if !e.alarmsWatched() {
		return false
	}
	e.nextAlarm = e.clock.Now().Add(alarmCheckInterval)
	firing, err := e.ports.Alarms.Firing(e.ctx, e.spec.Failure.AlarmNames)
	switch {
	case err != nil:
		e.stop("could not read alarms: " + e.mask.Err(err).Error())
		return true
	case len(firing) > 0:
		e.stop("alarm in ALARM: " + strings.Join(firing, ", "))
		return true
	}
	return false
}

func (e *engine) suspendProcesses() error {
	if e.ports.Standby == nil {
		return nil
	}
	procs := e.spec.Failure.SuspendProcesses
	if procs == nil {
		procs = DefaultSuspendProcesses
	}
	seen := map[string]bool{}
	var names []string
	for _, id := range e.queue {
		if g := e.insts[id].inst.AutoScalingGroup; g != "" && !seen[g] {
			seen[g] = true
			names = append(names, g)
		}
	}
	sort.Strings(names)
	for _, g := range names {
		if len(processesFor(procs, e.asgs[g])) == 0 {
			continue
		}
		var err error
		for attempt := 0; attempt < resumeAttempts; attempt++ {
			if err = e.ports.Standby.SuspendProcesses(e.ctx, g, processesFor(procs, e.asgs[g])); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("suspending processes of Auto Scaling group %s: %w", g, e.mask.Err(err))
		}
		e.suspended = append(e.suspended, g)
	}
	return nil
}

// resumeProcesses runs whatever happened, on a context that is not
// cancelled: a group left suspended would stop replacing unhealthy instances.
func (e *engine) resumeProcesses() {
	procs := e.spec.Failure.SuspendProcesses
	if procs == nil {
		procs = DefaultSuspendProcesses
	}
	ctx := context.WithoutCancel(e.ctx)
	for _, g := range e.suspended {
		var err error
		for attempt := 0; attempt < resumeAttempts; attempt++ {
			if err = e.ports.Standby.ResumeProcesses(ctx, g, processesFor(procs, e.asgs[g])); err == nil {
				break
			}
		}
		if err != nil {
			e.portErrs = append(e.portErrs, fmt.Errorf("resuming processes of Auto Scaling group %s (resume them by hand): %w", g, e.mask.Err(err)))
		}
	}
	e.suspended = nil
}

func (e *engine) emit(ev Event) {
	if e.ports.Observer == nil {
		return
	}
	if e.clock != nil {
		ev.Time = e.clock.Now()
	}
	ev.RolloutID = e.spec.RolloutID
	ev.Message = e.mask.String(ev.Message)
	ev.Progress = e.progress(ev.Kind)
	e.ports.Observer.Event(ev)
}

// finish settles the status and builds the Result and error.
func (e *engine) finish() (Result, error) {
	e.resumeProcesses()
	res := e.result()
	var ierrs []error
	var outOfService []string
	for _, o := range res.Instances {
		if o.Err != nil {
			ierrs = append(ierrs, o.Err)
		}
		if o.OutOfService {
			outOfService = append(outOfService, o.ID)
		}
	}
	e.emit(Event{Kind: EventRolloutFinished, Message: fmt.Sprintf("%s: %d updated, %d failed, %d rolled back, %d pending",
		res.Status, res.Count(InstanceUpdated), res.Count(InstanceFailed), res.Count(InstanceRolledBack), res.Count(InstancePending))})
	res.Warnings = append(res.Warnings, e.notes...)
	if res.Status == StatusSucceeded || res.Status == StatusNoop {
		for _, err := range e.portErrs {
			res.Warnings = append(res.Warnings, e.mask.String(err.Error()))
		}
		return res, nil
	}
	return res, &RunError{
		Status:       res.Status,
		StopReason:   res.StopReason,
		OutOfService: outOfService,
		Updated:      res.Count(InstanceUpdated),
		RolledBack:   res.Count(InstanceRolledBack),
		Pending:      res.Count(InstancePending),
		Errs:         append(ierrs, e.portErrs...),
	}
}

func (e *engine) result() Result {
	res := Result{RolloutID: e.spec.RolloutID, StartedAt: e.started, Batches: e.batches, StopReason: e.stopReason}
	if e.clock != nil {
		res.FinishedAt = e.clock.Now()
	}
	anyWork, failed, rolledBack := false, false, false
	for _, id := range e.order {
		st := e.insts[id]
		o := st.outcome
		res.Instances = append(res.Instances, o)
		switch o.Status {
		case InstanceUpdated, InstanceRecovered, InstanceRolledBack, InstanceFailed, InstanceInterrupted:
			anyWork = true
		}
		if o.Status == InstanceFailed {
			failed = true
		}
		if o.Status == InstanceRolledBack {
			rolledBack = true
		}
	}
	pending := res.Count(InstancePending) > 0
	switch {
	case e.cancelled:
		res.Status = StatusCancelled
	case e.stopReason != "" && rolledBack && e.rollbackDone:
		res.Status = StatusRolledBack
	case e.stopReason != "" || failed || pending:
		res.Status = StatusFailed
	case !anyWork:
		res.Status = StatusNoop
	default:
		res.Status = StatusSucceeded
	}
	return res
}

// refreshReads reads every target group's health at once into this
// iteration's cache (refreshAvailability then finds it there); a read that
// fails is read again, and reported, by refreshAvailability.
func (e *engine) refreshReads() {
	var reads []func()
	for _, tg := range e.spec.Fleet.TargetGroups {
		if _, cached := e.healthCache[tg.ARN]; !cached {
			arn := tg.ARN
			reads = append(reads, func() { _, _ = e.targetHealth(arn) })
		}
	}
	if len(reads) > 1 {
		e.together(reads...)
	}
}

// refreshAvailability re-reads the health of every target group and updates
// which instances the engine counts as in service; false when it could not. Instances it has out are
// left alone. An instance reported Target.InvalidState is terminated: it no
// longer counts in the fleet, and if it was still to be updated it is
// reported failed (not out of service) and dropped from the queue.
func (e *engine) refreshAvailability(now time.Time) bool {
	e.refreshReads()
	rows := map[string]map[Target]TargetHealth{}
	for _, tg := range append([]TargetGroup(nil), e.spec.Fleet.TargetGroups...) {
		hs, err := e.targetHealth(tg.ARN)
		if err != nil && e.targetGroupDeleted(tg.ARN, err) {
			continue
		}
		if err != nil {
			e.emit(Event{Kind: EventPoll, Message: "reading target health before a departure failed, will retry: " + err.Error()})
			return false
		}
		m := map[Target]TargetHealth{}
		for _, h := range hs {
			m[h.Target] = h
		}
		rows[tg.ARN] = m
	}
	queued := map[string]bool{}
	for _, id := range e.queue {
		queued[id] = true
	}
	e.newcomers = map[string]bool{}
	for _, m := range rows {
		if e.spec.Fleet.Scoped {
			break
		}
		for t, h := range m {
			if _, ours := e.insts[t.InstanceID]; ours || h.State == HealthDraining || h.State == HealthUnused {
				continue
			}
			healthy, seen := e.newcomers[t.InstanceID]
			e.newcomers[t.InstanceID] = (healthy || !seen) && h.State == HealthHealthy
		}
	}
	for _, id := range e.order {
		st := e.insts[id]
		if st.out || st.gone || len(st.targets) == 0 {
			continue
		}
		healthy, terminated := true, false
		for arn, ts := range st.targets {
			for _, t := range ts {
				row, ok := rows[arn][t]
				if ok && row.Reason == "Target.InvalidState" {
					terminated = true
				}
				if !ok || row.State != HealthHealthy {
					healthy = false
				}
			}
		}
		if st.outcome.OutOfService {
			healthy = false // we left it out; it stays out of the count
		}
		st.available = healthy
		if terminated {
			st.gone, st.available = true, false
			if queued[id] {
				// Stopped or terminated before its turn: outside the fleet
				// now; a stopped one shows as drift once it runs again.
				e.queue = without(e.queue, []string{id})
				st.outcome.Status, st.outcome.FinishedAt = InstanceGone, now
				note := id + " was stopped or terminated before its turn (Target.InvalidState) and was left out"
				e.notes = append(e.notes, note)
				e.emit(Event{Kind: EventInstanceDone, InstanceID: id, Message: note})
			}
		}
	}
	return true
}
