package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Run rolls the release out over the fleet and reports where every instance
// ended. It always returns a Result; the error is nil when the rollout
// succeeded or had nothing to do, and otherwise says what failed and what was
// done about it (a *RunError wrapping the *InstanceError values).
//
// The engine is one select loop: each iteration advances every group of
// instances whose wait is over (making the port calls of its phase), then
// decides from the engine's state alone what may leave next (decide, a pure
// function), then waits on the clock for the earliest wake-up or on the
// context. The port calls of one iteration go out at once (fanout.go), but
// the engine's logic runs one piece at a time and decisions only between
// passes, so the capacity accounting sees a state nothing else changes.
func Run(ctx context.Context, s Spec, p Ports) (Result, error) {
	e, err := newEngine(ctx, s, p)
	if err != nil {
		e.stopReason = err.Error()
		return e.result(), err
	}
	// Held by the engine's logic, released by every port call (fanout.go).
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.run()
}

// kind says what a group of instances is doing.
type kind int

const (
	kindDeploy   kind = iota // deploy the release: leave, steps, rejoin, bake
	kindRollback             // re-run the previous release's steps
	kindRestore              // put instances back in service when healthy
)

// runPhase is where the whole rollout is.
type runPhase int

const (
	phaseRecovering  runPhase = iota // rejoining instances an earlier run left out
	phaseDeploying                   // taking out-of-date instances
	phaseStopping                    // stopped or cancelled: letting in-flight groups finish
	phaseRollingBack                 // re-deploying Previous on what this run updated
	phaseDone
)

// instState is the engine's view of one instance.
type instState struct {
	inst     Instance
	targets  map[string][]Target // registrations to restore when it rejoins
	attached map[string]bool     // target groups attached to its Auto Scaling group
	// available: counts towards in-service capacity in the engine's view.
	// An instance the engine has out (in a group) is never available.
	available bool
	out       bool // in a group
	inStandby bool
	// viaStandby: leaves through Auto Scaling standby (standbyRoom);
	// enteredStandby: this run put it there.
	viaStandby, enteredStandby bool
	gone                       bool // terminated or replaced while we had it
	outcome                    InstanceOutcome
	phase                      string
	since                      time.Time
	// updated is the order in which instances reached the new version in
	// this run (1-based), for newest-first rollback; 0 = not updated.
	updated int
	// onRestore is the status a successful restore gives: interrupted after
	// a cancellation, failed (not out of service) after a failed departure,
	// "" for the recovery of an earlier run's instance.
	onRestore  InstanceStatus
	restoreErr error
}

type engine struct {
	// mu is held by the engine's logic and released by port calls, so
	// that the calls of one pass are in flight together (fanout.go).
	mu      sync.Mutex
	ctx     context.Context // the caller's until cancelled, then the cleanup one
	done    <-chan struct{} // ctx.Done() until seen, then nil
	spec    Spec
	ports   Ports
	clock   Clock
	mask    masker
	started time.Time

	insts  map[string]*instState
	order  []string // every instance id, as listed in the fleet
	tgs    map[string]TargetGroup
	asgs   map[string]AutoScalingGroup
	queue  []string // out-of-date instances still to take, in order
	groups []*group

	phase        runPhase
	cancelled    bool
	graceUntil   time.Time
	stopReason   string
	failures     int
	tolerance    int
	batches      [][]string
	deployGroups int // deploy groups started, for batch numbers
	pauseUntil   time.Time
	nextAlarm    time.Time
	updatedSeq   int
	rollbackDone bool
	suspended    []string // Auto Scaling groups whose processes we suspended
	// standbyHeld / standbyFreed count, per group, the members this run put
	// in standby and has not taken out yet, and the members found in
	// standby that it has taken out (each gives room back).
	standbyHeld, standbyFreed map[string]int
	// notes are reported with the result whatever its status: instances
	// the rollout left out because the fleet changed under it.
	notes []string
	// newcomers are instances registered in the target groups that the
	// rollout does not know (joined since it started), true when healthy
	// in every group: they count in the fleet the floor is counted on.
	newcomers map[string]bool
	// readyAt and unready cache readiness checks (readyAmong).
	readyAt  map[string]time.Time
	unready  map[string]string
	portErrs []error // errors not tied to an instance (resume processes, ...)

	// healthCache holds one TargetHealth answer per target group per loop
	// iteration, so groups polling at the same moment share one call.
	healthCache map[string][]TargetHealth
	healthErr   map[string]error // whole-group reads that failed in this iteration
	// targetCache holds the rows of targeted health reads (healthOf) in
	// this loop iteration, by target group.
	targetCache map[string]map[Target]TargetHealth
	refreshed   bool // availability re-read in this iteration
	// invCache holds the invocations read in this loop iteration, so
	// groups polling their steps at the same moment share one read;
	// pollDue says which groups run in this iteration (advanceGroups).
	invCache map[string]Invocation
	pollDue  func(*group) bool
	// lifeCache holds the lifecycle states prefetched in this iteration,
	// for the instances in lifeAsked.
	lifeCache map[string]string
	lifeAsked []string
	// healthGen and standbyGen count, per target group and in all, the
	// writes that changed health or lifecycle states: a read that was in
	// flight across one is stale and is not kept (fanout.go).
	healthGen  map[string]int
	standbyGen int
	// stepTimes: how long each step took on each instance so far in this
	// rollout (send to end), to poll the next batch's commands when they
	// should be done.
	stepTimes map[string][]time.Duration

	// plannedBatches is the schedule's batch count, for Progress.Batches.
	plannedBatches int
}

// group is a set of instances that move through the phases together, so that
// every API call covers all of them at once.
type group struct {
	kind     kind
	batch    int
	members  []string
	stage    stage
	steps    []Step
	step     int
	version  string // written to rolling:version when the group is done
	release  string // written to rolling:release with it ("" = not written)
	cmds     map[string]string
	results  map[string]Invocation
	wakeAt   time.Time
	deadline time.Time
	bakeEnd  time.Time
	since    time.Time        // when the current wait began, for messages
	joinErr  map[string]error // members not yet put back (retried while waiting healthy)
	// healthTimeout is this group's bound on becoming healthy.
	healthTimeout time.Duration

	finishTries   int
	versionTagged bool
	fresh         bool      // created in this iteration, not yet advanced
	sentAt        time.Time // when the current step was sent
	canary        bool
	readyAt       time.Time // when it was first ready to rejoin (waitForSiblings)
	// keptIn: restore group of instances left registered with their
	// health unknown (reported failed; not counted as capacity).
	keptIn bool
}

// readinessFresh is how long a readiness check of an instance holds: a
// batch leaving later is checked again.
const readinessFresh = time.Minute

// resumeAttempts: a group left suspended stops replacing unhealthy
// instances, so resuming is retried (immediately: the SDK already backs
// off); suspending too, since failing it aborts the run.
const resumeAttempts = 3

// alarmCheckInterval is how often alarms are read while instances are out
// or the rollout is paused; they are also read before every departure.
const alarmCheckInterval = 30 * time.Second

func newEngine(ctx context.Context, s Spec, p Ports) (*engine, error) {
	e := &engine{ctx: ctx, done: ctx.Done(), spec: s, clock: p.Clock, mask: newMasker(s.Sensitive),
		stepTimes: map[string][]time.Duration{}}
	e.ports = e.lockPorts(p)
	e.insts = map[string]*instState{}
	for _, inst := range s.Fleet.Instances {
		if _, dup := e.insts[inst.ID]; dup {
			continue
		}
		e.order = append(e.order, inst.ID)
		e.insts[inst.ID] = &instState{inst: inst, outcome: InstanceOutcome{ID: inst.ID, Status: InstanceUpToDate, Version: inst.Version()}}
	}
	if e.clock == nil {
		return e, errors.New("rollout: no clock in Ports")
	}
	e.started = e.clock.Now()
	if err := s.Validate(); err != nil {
		return e, e.mask.Err(err)
	}
	if err := e.checkPorts(); err != nil {
		return e, err
	}
	e.tgs = targetGroupsByARN(s.Fleet.TargetGroups)
	e.asgs = asgsByName(s.Fleet.AutoScalingGroups)
	e.standbyHeld, e.standbyFreed = map[string]int{}, map[string]int{}
	e.readyAt, e.unready = map[string]time.Time{}, map[string]string{}
	known := make([]string, 0, len(s.Fleet.TargetGroups))
	for _, tg := range s.Fleet.TargetGroups {
		known = append(known, tg.ARN)
	}
	for _, id := range e.order {
		st := e.insts[id]
		st.targets = st.inst.Targets
		if len(st.targets) == 0 && st.inst.Tags[TagTargets] != "" {
			st.targets = DecodeTargets(id, st.inst.Tags[TagTargets], known)
		}
		st.attached = map[string]bool{}
		if g, ok := e.asgs[st.inst.AutoScalingGroup]; ok {
			for _, arn := range g.TargetGroupARNs {
				st.attached[arn] = true
			}
		}
		st.available = isInService(st.inst)
		st.inStandby = st.inst.AutoScalingGroup != "" && st.inst.LifecycleState == "Standby"
		st.viaStandby = leavesViaStandby(st.inst, e.asgs)
		switch {
		case isTerminated(st.inst):
			st.gone, st.available = true, false
			st.outcome.Status = InstanceGone
			if stopped := st.inst.State == "stopped" || st.inst.State == "stopping"; stopped && needsUpdate(st.inst, s.Release.Version) {
				st.outcome.Status = InstanceSkipped
				e.notes = append(e.notes, fmt.Sprintf("%s is %s: left out of this rollout; it shows as out of date once it runs again", id, st.inst.State))
			}
		case st.inst.Unready != "" && st.inst.Tags[TagPhase] == "" && needsUpdate(st.inst, s.Release.Version):
			st.outcome.Status = InstanceSkipped
			e.notes = append(e.notes, fmt.Sprintf("%s is not ready (%s): left out of this rollout", id, st.inst.Unready))
		case needsUpdate(st.inst, s.Release.Version):
			st.outcome.Status = InstancePending
		}
		// An earlier run left it out: so it is reported until this run
		// puts it back.
		st.outcome.OutOfService = st.inst.Tags[TagPhase] != "" && !st.gone
		st.outcome.Phase = st.inst.Tags[TagPhase]
	}
	e.queue = orderOutOfDate(liveInstances(s.Fleet.Instances), s.Release.Version, s.Strategy.Order)
	e.tolerance = maxFailures(s.Failure, len(e.queue))
	return e, nil
}

// checkPorts refuses to start when a port the rollout will need is missing.
func (e *engine) checkPorts() error {
	var missing []string
	if e.ports.LB == nil {
		missing = append(missing, "LB")
	}
	if e.ports.Commands == nil {
		missing = append(missing, "Commands")
	}
	if e.ports.Tags == nil {
		missing = append(missing, "Tags")
	}
	if e.ports.Alarms == nil && len(e.spec.Failure.AlarmNames) > 0 {
		missing = append(missing, "Alarms (alarm_names are set)")
	}
	if e.ports.Standby == nil {
		for _, inst := range e.spec.Fleet.Instances {
			if inst.AutoScalingGroup != "" && needsUpdate(inst, e.spec.Release.Version) {
				missing = append(missing, "Standby (instances are in Auto Scaling groups)")
				break
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("rollout: missing ports: %s", strings.Join(missing, ", "))
	}
	return nil
}

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
	grace := e.spec.Strategy.CancelGracePeriod
	if grace <= 0 {
		grace = DefaultCancelGracePeriod
	}
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

// decideAndApply decides and applies until nothing changes.
func (e *engine) decideAndApply(now time.Time) {
	for {
		d := e.decide(now)
		if !e.apply(d, now) {
			return
		}
	}
}

// decision is what the loop does next, computed from the engine's state
// without side effects.
type decision struct {
	start         []string // instances to take out now, as one group
	kind          kind
	stop          string // stop scheduling, with this reason
	endRecovery   bool   // earlier runs' instances are settled: start deploying
	beginRollback bool
	finish        bool
}

// decide is the scheduler: given the engine's state at now, it returns what
// to do, or the zero decision for "wait".
func (e *engine) decide(now time.Time) decision {
	inFlight, deploying := 0, 0
	for _, g := range e.groups {
		inFlight += len(g.members)
		if g.kind == kindDeploy {
			deploying++
		}
	}
	switch e.phase {
	case phaseRecovering:
		if len(e.groups) == 0 {
			return decision{endRecovery: true}
		}
		return decision{}
	case phaseDeploying:
		if e.cancelled {
			return decision{stop: "cancelled"}
		}
		if len(e.queue) == 0 {
			if len(e.groups) == 0 {
				return decision{finish: true}
			}
			return decision{}
		}
		return e.nextDeparture(now, inFlight, kindDeploy)
	case phaseStopping:
		if deploying > 0 || (len(e.groups) > 0 && !e.rollbackWanted()) {
			return decision{}
		}
		if e.rollbackWanted() && !e.rollbackDone {
			return decision{beginRollback: true}
		}
		if len(e.groups) == 0 {
			return decision{finish: true}
		}
		return decision{}
	case phaseRollingBack:
		if len(e.queue) == 0 || e.cancelled {
			if len(e.groups) == 0 {
				return decision{finish: true}
			}
			return decision{}
		}
		return e.nextDeparture(now, inFlight, kindRollback)
	}
	return decision{}
}

// nextDeparture picks the instances that may leave now. Batch mode waits for
// the previous batch (and the pause); window mode fills free slots as soon as
// the capacity floor allows; both take the queue in order and never let the
// in-service count drop below the floor.
func (e *engine) nextDeparture(now time.Time, inFlight int, k kind) decision {
	if now.Before(e.pauseUntil) {
		return decision{}
	}
	for _, g := range e.groups {
		if g.canary {
			return decision{} // the canary runs alone
		}
	}
	st := e.spec.Strategy
	alive := e.aliveCount()
	limit := batchLimit(st, alive)
	canary := k == kindDeploy && e.deployGroups == 0 && st.CanarySize > 0
	if canary {
		limit = st.CanarySize
	}
	if st.Mode == ModeWindow && !canary {
		limit -= inFlight
	} else if inFlight > 0 {
		return decision{}
	}
	if limit <= 0 {
		return decision{}
	}
	costly := make([]bool, len(e.queue))
	group := make([]string, len(e.queue))
	for i, id := range e.queue {
		s := e.insts[id]
		costly[i] = s.available
		if s.viaStandby && !s.inStandby {
			group[i] = s.inst.AutoScalingGroup
		}
	}
	spare := e.inServiceCount() - minInService(alive, st.MinHealthyPercent)
	take := takeNext(costly, limit, spare, group, e.standbyRoomNow())
	if len(take) == 0 {
		if inFlight == 0 {
			return decision{stop: fmt.Sprintf("capacity floor: none of the %d remaining instances may leave: %s",
				len(e.queue), floorError(alive, e.inServiceCount(), st.MinHealthyPercent, minInService(alive, st.MinHealthyPercent)))}
		}
		return decision{}
	}
	start, _ := pick(e.queue, take)
	return decision{start: start, kind: k}
}

// standbyRoomNow is each Auto Scaling group's room for more members in
// standby: desired − min at the start, less the members this run has in
// standby, plus those found in standby that it has taken out.
func (e *engine) standbyRoomNow() map[string]int {
	room := make(map[string]int, len(e.asgs))
	for name, g := range e.asgs {
		r := standbyRoom(g)
		if r >= 0 {
			r = max(r-e.standbyHeld[name]+e.standbyFreed[name], 0)
		}
		room[name] = r
	}
	return room
}

// apply carries a decision out; it reports whether the loop should decide
// again at once (something changed).
func (e *engine) apply(d decision, now time.Time) bool {
	switch {
	case d.endRecovery:
		e.phase = phaseDeploying
		e.queue = e.pendingQueue()
		return true
	case d.finish:
		e.phase = phaseDone
		return false
	case d.stop != "":
		e.stop(d.stop)
		return true
	case d.beginRollback:
		e.beginRollback()
		return true
	case len(d.start) > 0:
		if !e.refreshed {
			// The decision rested on what the engine last saw; look at the
			// fleet again (one call per target group, at once, with the
			// departing instances' readiness) and decide afresh, so an
			// instance that failed on its own is not counted as capacity.
			// Without a fresh view nothing leaves: try again soon.
			if d.kind == kindDeploy {
				if ask := e.readinessAsk(d.start, now); len(ask) > 0 {
					e.together(func() { e.refreshReads() }, func() { e.checkReadiness(ask, now) })
				}
			}
			e.refreshed = true
			if !e.refreshAvailability(now) {
				e.pauseUntil = maxTime(e.pauseUntil, now.Add(minPollEvery))
				return false
			}
			return true
		}
		if d.kind == kindDeploy && e.alarmFiring() {
			return true // stopped; decide again
		}
		start := d.start
		if d.kind == kindDeploy {
			if start = e.readyAmong(start, now); len(start) == 0 {
				return true
			}
		}
		e.startGroup(start, d.kind, now)
		return true
	}
	return false
}

// pendingQueue drops from the queue what recovery settled (recovered on the
// version) and keeps the order.
func (e *engine) pendingQueue() []string {
	var q []string
	for _, id := range e.queue {
		st := e.insts[id]
		if st.outcome.Status == InstancePending && !st.gone {
			q = append(q, id)
		}
	}
	return q
}

func (e *engine) stop(reason string) {
	switch e.phase {
	case phaseDeploying, phaseRecovering:
		e.phase = phaseStopping
	case phaseRollingBack:
		// Nothing more may leave: the rest keep the new version.
		e.queue = nil
	}
	if e.stopReason == "" {
		e.stopReason = reason
	}
	e.emit(Event{Kind: EventStopped, Message: "stopping: " + reason})
}

func (e *engine) rollbackWanted() bool {
	return e.spec.Failure.Rollback && e.spec.Previous != nil && !e.cancelled && e.stopReason != "" &&
		!strings.HasPrefix(e.stopReason, "cancelled")
}

// beginRollback queues, newest first, every instance this run updated.
func (e *engine) beginRollback() {
	e.rollbackDone = true
	var ids []string
	for _, id := range e.order {
		if st := e.insts[id]; st.updated > 0 && st.outcome.Status == InstanceUpdated {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return e.insts[ids[i]].updated > e.insts[ids[j]].updated })
	e.queue = ids
	e.pauseUntil = time.Time{}
	e.phase = phaseRollingBack
	e.emit(Event{Kind: EventRollbackStarted, Instances: ids, Message: fmt.Sprintf(
		"rolling %d updated instances back to %s", len(ids), e.spec.Previous.Version)})
}

// aliveCount is the fleet size the capacity floor is counted on: the
// engine's instances still there, and instances that joined the target
// groups since the rollout started (a scale-out, an Auto Scaling
// replacement), which are part of the fleet as soon as they register.
func (e *engine) aliveCount() int {
	n := len(e.newcomers)
	for _, st := range e.insts {
		if !st.gone {
			n++
		}
	}
	return n
}

func (e *engine) inServiceCount() int {
	n := 0
	for _, healthy := range e.newcomers {
		if healthy {
			n++
		}
	}
	for _, st := range e.insts {
		if st.available && !st.out && !st.gone {
			n++
		}
	}
	return n
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
