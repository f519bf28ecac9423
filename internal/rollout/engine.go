package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The engine's state: Run, the engine and group types and how an engine is
// built from a Spec. The files of the package read in the order of a
// rollout (see doc.go): run.go (the loop), decide.go (what leaves next),
// stages.go (the stages a group goes through), then one file per stage.

// runEngine rolls the release out over the fleet (Run, surge.go, puts the
// surge stage around it).
//
// The engine is one select loop: each iteration advances every group of
// instances whose wait is over (making the port calls of its phase), then
// decides from the engine's state alone what may leave next (decide, a pure
// function), then waits on the clock for the earliest wake-up or on the
// context. The port calls of one iteration go out at once (fanout.go), but
// the engine's logic runs one piece at a time and decisions only between
// passes, so the capacity accounting sees a state nothing else changes.
func runEngine(ctx context.Context, s Spec, p Ports) (Result, error) {
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
	// zones: where a zone_by_zone rollout is (zonegate.go).
	zones zoneState
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

// resumeAttempts: a group left suspended stops replacing unhealthy
// instances, so resuming is retried (immediately: the SDK already backs
// off); suspending too, since failing it aborts the run.
const resumeAttempts = 3

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
	e.queue = surgeFirst(orderOutOfDate(liveInstances(s.Fleet.Instances), s.Release.Version, s.Strategy.Order), instancesByID(s.Fleet.Instances))
	if done := zonesOwingABake(s, e.queue); done != nil {
		// As if those zones had just been done here: the gate starts the
		// zone bake before the first departure (zonegate.go).
		e.zones.current = strings.Join(done, ", ")
	}
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
