package rollout

import "time"

// Status of a whole rollout.
type Status string

const (
	StatusSucceeded  Status = "succeeded"   // every out-of-date instance is on the version
	StatusFailed     Status = "failed"      // stopped; updated instances kept the new version
	StatusRolledBack Status = "rolled_back" // stopped; updated instances are back on the previous version
	StatusCancelled  Status = "cancelled"   // context cancelled (Ctrl-C, timeout)
	StatusNoop       Status = "noop"        // nothing was out of date
)

// InstanceStatus is where one instance ended.
type InstanceStatus string

const (
	InstanceUpdated    InstanceStatus = "updated"     // on the new version, in service
	InstanceUpToDate   InstanceStatus = "up_to_date"  // already on the version, untouched
	InstancePending    InstanceStatus = "pending"     // not reached (stopped or cancelled first)
	InstanceFailed     InstanceStatus = "failed"      // failed; see OutOfService
	InstanceRolledBack InstanceStatus = "rolled_back" // back on the previous version, in service
	InstanceRecovered  InstanceStatus = "recovered"   // found out of service by an earlier run, rejoined
	// InstanceInterrupted: the rollout was cancelled while the instance was
	// out; it was put back in service (healthy) without finishing its steps
	// and keeps its old rolling:version, so the next run redeploys it.
	InstanceInterrupted InstanceStatus = "interrupted"
	// InstanceGone: terminated (or shutting down) before the run: not
	// deployed and not counted in the fleet. An instance that disappears
	// during the run is InstanceFailed instead, with the reason.
	InstanceGone InstanceStatus = "gone"
	// InstanceSkipped: out of date but left out of this rollout: stopped
	// (outside the fleet until it runs again) or not ready (Instance.Unready,
	// Readiness). The result's warnings say why; the next plan shows it again
	// once it can be deployed.
	InstanceSkipped InstanceStatus = "skipped"
)

// InstanceOutcome is the engine's report on one instance.
type InstanceOutcome struct {
	ID      string
	Batch   int // 1-based; 0 when not scheduled
	Status  InstanceStatus
	Version string // the version the instance runs now, as far as we know
	// OutOfService is true when the engine left the instance out of its
	// target groups (it could not be made healthy on any version).
	OutOfService bool
	Phase        string // last phase reached
	Err          error  // *InstanceError when Status is failed
	StartedAt    time.Time
	FinishedAt   time.Time
	// PhaseDurations: draining, step:<name>, joining, baking.
	PhaseDurations map[string]time.Duration
	// StaleTags is true when the instance's provider tags could not be
	// brought up to date after retries (the run's error says which write
	// failed): it may still carry rolling:phase although it is in service.
	// The next run recovers it.
	StaleTags bool
}

// Result is the engine's report on a rollout.
type Result struct {
	RolloutID  string
	Status     Status
	StartedAt  time.Time
	FinishedAt time.Time
	// Batches as executed (instance ids, in order); in window mode each
	// instance departure is grouped with those that left together.
	Batches   [][]string
	Instances []InstanceOutcome
	// StopReason says why scheduling stopped early ("" when it did not).
	StopReason string
	// Warnings are problems that did not stop a successful rollout but
	// need attention (an Auto Scaling group whose processes could not be
	// resumed, tags that could not be cleaned up). Masked. When the
	// rollout did not succeed they are part of the error instead.
	Warnings []string
}

// Count counts instances by status.
func (r Result) Count(s InstanceStatus) int {
	n := 0
	for _, o := range r.Instances {
		if o.Status == s {
			n++
		}
	}
	return n
}

// EventKind names an event.
type EventKind string

const (
	EventRolloutStarted  EventKind = "rollout_started"
	EventBatchStarted    EventKind = "batch_started"
	EventBatchFinished   EventKind = "batch_finished"
	EventInstancePhase   EventKind = "instance_phase"
	EventInstanceDone    EventKind = "instance_done"
	EventInstanceFailed  EventKind = "instance_failed"
	EventPoll            EventKind = "poll"
	EventStopped         EventKind = "stopped" // failure threshold, alarm, cancellation
	EventRollbackStarted EventKind = "rollback_started"
	EventRolloutFinished EventKind = "rollout_finished"
	// EventZoneBaking: with zone_by_zone, a zone is done and the next one
	// waits out zone_bake_time (alarms watched).
	EventZoneBaking EventKind = "zone_baking"
	// EventSurge: the surge stage (surge.go) changed a group or is waiting.
	EventSurge EventKind = "surge"
)

// Event is one thing that happened, for logging. Message is already masked.
type Event struct {
	Time       time.Time
	Kind       EventKind
	RolloutID  string
	Batch      int
	InstanceID string
	Phase      string
	Message    string
	// Instances are the batch's members (batch started and finished) or
	// those being rolled back (rollback started).
	Instances []string
	// Progress is set on the rollout-level events (every kind but
	// instance_phase, instance_done and poll), so that a report can say
	// "batch 3 of 13" without following the engine's state itself.
	Progress *Progress
}

// Progress is where a rollout stands when an event is emitted.
type Progress struct {
	// Batches is how many batches the rollout is expected to make in all:
	// the planned schedule while instances remain to be taken, the batches
	// started once none will start any more (all taken, or stopped).
	Batches int
	// InService and Floor are the engine's capacity accounting: instances
	// in service now, and the capacity floor counted over Fleet, the
	// instances in the fleet now (newcomers included).
	InService, Floor, Fleet int
	// Instance outcomes so far; Pending counts those not finished yet,
	// in flight included.
	Updated, Failed, RolledBack, Pending int
}

// progress is computed for rollout-level events only: it walks every
// instance, which per-instance events at 1,000 instances cannot afford.
func (e *engine) progress(kind EventKind) *Progress {
	switch kind {
	case EventInstancePhase, EventInstanceDone, EventPoll:
		return nil
	}
	if e.plannedBatches == 0 && len(e.queue) > 0 {
		planned, _ := planBatches(e.spec) // a floor error still gives the batches before it
		e.plannedBatches = len(planned)
	}
	alive := e.aliveCount()
	p := &Progress{InService: e.inServiceCount(), Fleet: alive, Floor: minInService(alive, e.spec.Strategy.MinHealthyPercent)}
	p.Batches = e.deployGroups
	if len(e.queue) > 0 && (e.phase == phaseDeploying || e.phase == phaseRecovering) {
		p.Batches = max(e.plannedBatches, e.deployGroups+1)
	}
	for _, st := range e.insts {
		switch st.outcome.Status {
		case InstanceUpdated:
			p.Updated++
		case InstanceRolledBack:
			p.RolledBack++
		case InstanceFailed:
			p.Failed++
		case InstancePending:
			p.Pending++
		}
	}
	return p
}
