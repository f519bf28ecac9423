package rollout

import "time"

// Tags owned by the provider on each instance. Drift detection, crash
// recovery and import all read these from AWS, never from local files.
const (
	TagVersion = "rolling:version" // the application version the instance runs
	TagPhase   = "rolling:phase"   // set only while a rollout has it out of service
	TagRollout = "rolling:rollout" // the rollout id that took it out of service
	// TagRelease is a digest of the version, steps and triggers that produced
	// the instance's version. The provider writes and compares it; the
	// engine never reads it.
	TagRelease = "rolling:release"
	// TagSurge marks what a surge changed (surge.go): on an instance a
	// surge launched, the rollout id; on its Auto Scaling group, the undo
	// record (SurgeRecord). Neither is among ProviderTags: surge instances
	// are terminated and the record deleted when the surge is undone.
	TagSurge = "rolling:surge"
)

// ProviderTags are every tag the provider writes on instances that a
// destroy removes. TagSteps (duration.go) is not among them: it describes what the steps
// took, not the resource, and a replacement plans its create before the
// destroy and again after it; both plans must read the same.
var ProviderTags = []string{TagVersion, TagRelease, TagPhase, TagRollout, TagTargets}

// Phase names reported in events and results. TagPhase is written twice at
// most per instance and rollout, to save calls: PhaseDraining (PhaseRollback
// for a rollback) when it leaves, and, only if it is left out of service
// after a failure, the phase it stopped in ("step:<name>", "joining", ...).
// Recovery reads only whether the tag is there, never its value.
const (
	PhaseDraining = "draining" // leaving its target groups / entering standby
	PhaseStep     = "step"     // running a user step; tag value is "step:<name>"
	PhaseJoining  = "joining"  // registered again, waiting to be healthy
	PhaseBaking   = "baking"   // healthy, must stay so for bake_time
	PhaseRollback = "rollback" // re-running the previous version's steps
)

// TargetGroup is a target group as observed, with the settings that bound how
// long draining and health checks take.
type TargetGroup struct {
	ARN                 string
	Name                string
	DeregistrationDelay time.Duration // deregistration_delay.timeout_seconds
	HealthCheckInterval time.Duration
	HealthyThreshold    int
	UnhealthyThreshold  int
}

// AutoScalingGroup is an Auto Scaling group some instance belongs to.
type AutoScalingGroup struct {
	Name            string
	TargetGroupARNs []string // target groups attached to the group
	// Sizes as last read; SizesKnown is false when they were not read (an
	// older fleet snapshot), and standby is then not limited.
	MinSize, MaxSize, DesiredCapacity int
	SizesKnown                        bool
	// Surge is the undo record of a surge an earlier run left on the
	// group (its TagSurge tag); nil when there is none.
	Surge *SurgeRecord
}

// Instance is one EC2 instance of the fleet as observed.
type Instance struct {
	ID    string
	AZ    string
	State string // EC2 state name: pending, running, stopping, stopped, shutting-down, terminated
	// AutoScalingGroup is empty when the instance is in no group.
	AutoScalingGroup string
	LifecycleState   string // Auto Scaling lifecycle state when in a group
	// Targets are the instance's registrations, per target group ARN. An
	// instance taken out by a crashed rollout has none; its TagPhase says so.
	Targets map[string][]Target
	// Health per target group ARN (worst state over its registrations).
	Health map[string]TargetHealth
	// Tags holds the provider's tags (TagVersion, TagPhase, TagRollout).
	Tags map[string]string
	// Unready says why the instance cannot be deployed now although it
	// runs ("status checks impaired", "SSM agent ConnectionLost"); "" when
	// it can. An unready instance is not scheduled (see Readiness).
	Unready string
}

// Version is the instance's rolling:version tag ("" when never deployed by us).
func (i Instance) Version() string { return i.Tags[TagVersion] }

// Fleet is what the engine and the plan see of AWS.
type Fleet struct {
	TargetGroups      []TargetGroup
	AutoScalingGroups []AutoScalingGroup
	Instances         []Instance
	// Scoped: the fleet is a chosen list of the groups' instances
	// (instance_ids), so other registered instances are not part of it,
	// not even those that join while the rollout runs.
	Scoped bool
}

// Step is one user step, run on each instance through SSM Run Command.
type Step struct {
	Name string
	// Commands is the AWS-RunShellScript shorthand. When set, DocumentName
	// is empty and the engine sends AWS-RunShellScript with "commands".
	Commands        []string
	DocumentName    string
	DocumentVersion string
	Parameters      map[string][]string
	Timeout         time.Duration // 0 = DefaultStepTimeout
}

// Mode is the scheduling mode.
type Mode string

const (
	// ModeBatch moves in batches: a batch leaves together, each member runs
	// its steps at its own pace (unless Strategy.Lockstep), the batch rejoins
	// together, and the next batch starts when the whole batch is done.
	ModeBatch Mode = "batch"
	// ModeWindow is a sliding window: the next instance leaves as soon as
	// capacity allows (Kubernetes maxUnavailable semantics).
	ModeWindow Mode = "window"
)

// Order is the order in which out-of-date instances are taken.
type Order string

const (
	OrderAZBalanced Order = "az_balanced"
	OrderSorted     Order = "sorted"
	// OrderZoneByZone takes every instance of one Availability Zone before
	// any of the next, with a bake between zones (zones.go).
	OrderZoneByZone Order = "zone_by_zone"
)

// Strategy says how many instances move at once and how long each waits.
type Strategy struct {
	BatchSize         int // exactly one of BatchSize / BatchPercent is > 0
	BatchPercent      int
	MinHealthyPercent int // capacity floor over the whole fleet, 0..100
	Mode              Mode
	// Lockstep (batch mode only): every step waits for the whole batch
	// before the next is sent, like an Ansible linear play. By default each
	// member of a batch runs its steps at its own pace.
	Lockstep            bool
	CanarySize          int           // 0 = no canary batch
	CanaryPause         time.Duration // pause after the canary batch
	PauseBetweenBatches time.Duration // batch mode only; window mode has no batches to pause between
	BakeTime            time.Duration
	// HealthTimeout bounds rejoin -> healthy; 0 = DefaultHealthTimeout.
	// It must be longer than healthy_threshold x interval of every target
	// group (Validate says so).
	HealthTimeout time.Duration
	DrainTimeout  time.Duration // 0 = from the target groups' deregistration delay
	Order         Order
	// ZoneBakeTime is, with OrderZoneByZone, how long the rollout waits
	// after a zone is done, alarms watched, before the next zone's first
	// instance leaves; none after the last zone. 0 = go on at once.
	ZoneBakeTime time.Duration
	// CancelGracePeriod is how long steps already running may go on after
	// the context is cancelled before they are cancelled too; the instances
	// are then rejoined when healthy. 0 = DefaultCancelGracePeriod.
	CancelGracePeriod time.Duration
	// MaxSurge / MaxSurgePercent (of each group's desired capacity, rounded
	// up): extra instances each Auto Scaling group of the fleet launches
	// before the first batch and terminates at the end (surge.go). At most
	// one is > 0; both 0 = no surge.
	MaxSurge, MaxSurgePercent int
}

// FailurePolicy says when to stop and what to do then.
type FailurePolicy struct {
	MaxFailedInstances int // failures tolerated; ignored when MaxFailedPercent > 0
	MaxFailedPercent   int
	Rollback           bool
	AlarmNames         []string // any of them in ALARM stops the rollout
	// SuspendProcesses are Auto Scaling processes suspended for the duration
	// of the rollout on every group involved (nil = DefaultSuspendProcesses).
	SuspendProcesses []string
	// FailOnUnready stops the rollout when an instance about to leave is
	// found unready (Readiness); otherwise it is left out with a warning.
	FailOnUnready bool
}

// Release is what is deployed: a version and the steps that deploy it.
type Release struct {
	Version string
	Steps   []Step
	// ID is the release's digest (the provider's), written to TagRelease
	// together with TagVersion the moment an instance finishes on it, so
	// that a crash after that moment never makes the instance look out of
	// date. Empty: TagRelease is not written. Not part of the digest.
	ID string `json:"-"`
}

// Spec is everything one rollout needs.
type Spec struct {
	RolloutID string
	Fleet     Fleet
	Release   Release
	// Previous is the release to roll back to; nil when there is none (create).
	Previous *Release
	Strategy Strategy
	Failure  FailurePolicy
	// Sensitive holds values to mask in events and errors.
	Sensitive []string
	// Converged: the last rollout of this version succeeded, so every zone
	// it finished was baked and a zone_by_zone rollout now (a drift fix: a
	// replaced instance alone in its zone) owes no zone bake
	// (zonesOwingABake).
	Converged bool
}

// Defaults used when a duration is zero.
const (
	DefaultStepTimeout   = 10 * time.Minute
	DefaultHealthTimeout = 10 * time.Minute
	// DefaultCancelGracePeriod is simulated/real time, like every duration
	// here: the engine measures it with the injected Clock.
	DefaultCancelGracePeriod = 30 * time.Second
)

// DefaultSuspendProcesses are suspended on each Auto Scaling group for the
// duration of a rollout, as CodeDeploy does for in-place deployments.
var DefaultSuspendProcesses = []string{"AZRebalance", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}
