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
}
