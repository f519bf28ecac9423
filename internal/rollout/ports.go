package rollout

import (
	"context"
	"time"
)

// Target is one registration of an instance in a target group. An instance
// may be registered on more than one port; each registration is a Target.
type Target struct {
	InstanceID string
	Port       int32
}

// HealthState is a target's state as ELBv2 reports it.
type HealthState string

const (
	HealthInitial     HealthState = "initial"
	HealthHealthy     HealthState = "healthy"
	HealthUnhealthy   HealthState = "unhealthy"
	HealthUnused      HealthState = "unused"
	HealthDraining    HealthState = "draining"
	HealthUnavailable HealthState = "unavailable"
)

// TargetHealth is one row of DescribeTargetHealth.
type TargetHealth struct {
	Target
	State  HealthState
	Reason string // e.g. Target.FailedHealthChecks; empty when healthy
}

// LoadBalancer is the slice of ELBv2 the engine needs. Implementations send
// one API call per method call whatever the number of targets (chunking
// internally only where AWS imposes a limit). An error wrapping ErrNotFound
// means the target group does not exist (TargetGroupNotFound), never that a
// target is bad.
type LoadBalancer interface {
	// Deregister starts draining the targets. Deregistering a target that is
	// not registered succeeds.
	Deregister(ctx context.Context, targetGroupARN string, targets []Target) error
	Register(ctx context.Context, targetGroupARN string, targets []Target) error
	// TargetHealth reports every target currently registered (or draining)
	// in the group: one DescribeTargetHealth call.
	TargetHealth(ctx context.Context, targetGroupARN string) ([]TargetHealth, error)
}

// TargetsHealthReader is an optional part of the LoadBalancer port: the
// health of the given targets only (DescribeTargetHealth with Targets), so
// that polling a few instances of a large target group does not read all of
// it. A target that is not registered is reported unused with reason
// Target.NotRegistered, as AWS does. The engine falls back to TargetHealth
// when the LoadBalancer lacks it or when it fails (AWS refuses the whole
// call, InvalidTarget, when one of the instances no longer exists).
type TargetsHealthReader interface {
	TargetsHealth(ctx context.Context, targetGroupARN string, targets []Target) ([]TargetHealth, error)
}

// Command is one SSM Run Command invocation of a step.
type Command struct {
	DocumentName    string
	DocumentVersion string // empty = $DEFAULT
	Parameters      map[string][]string
	// Timeout bounds the step's execution on one instance.
	Timeout time.Duration
	Comment string
}

// InvocationStatus is the SSM invocation status, normalised.
type InvocationStatus string

const (
	InvocationPending       InvocationStatus = "Pending"
	InvocationInProgress    InvocationStatus = "InProgress"
	InvocationDelayed       InvocationStatus = "Delayed"
	InvocationSuccess       InvocationStatus = "Success"
	InvocationFailed        InvocationStatus = "Failed"
	InvocationTimedOut      InvocationStatus = "TimedOut"
	InvocationCancelled     InvocationStatus = "Cancelled"
	InvocationCancelling    InvocationStatus = "Cancelling"
	InvocationUndeliverable InvocationStatus = "Undeliverable"
)

// Terminal reports whether the invocation will not change any more.
func (s InvocationStatus) Terminal() bool {
	switch s {
	case InvocationSuccess, InvocationFailed, InvocationTimedOut, InvocationCancelled, InvocationUndeliverable:
		return true
	}
	return false
}

// Invocation is the status of a command on one instance.
type Invocation struct {
	InstanceID    string
	CommandID     string
	Status        InvocationStatus
	StatusDetails string // e.g. "Execution Timed Out"
	ExitCode      int    // -1 when the script did not run
	Stdout        string
	Stderr        string
	// RequestedAt and FinishedAt are SSM's own times (zero when unknown):
	// when the command was requested and when the instance's run ended.
	// Only their difference is used (the engine's clock and AWS's need not
	// agree): it is how long the step really took, where a poll only gives
	// an upper bound.
	RequestedAt time.Time
	FinishedAt  time.Time
}

// CommandRunner is the slice of SSM Run Command the engine needs.
type CommandRunner interface {
	// Send starts cmd on the instances and returns, per instance, the SSM
	// command id that covers it (the implementation chunks by 50).
	Send(ctx context.Context, cmd Command, instanceIDs []string) (map[string]string, error)
	// Invocations reports the status of each (instance -> command id) pair.
	// An invocation not yet visible (eventual consistency) is reported as
	// Pending, never as an error.
	Invocations(ctx context.Context, commandByInstance map[string]string) ([]Invocation, error)
	// Cancel cancels the commands on the given instances. Best effort.
	Cancel(ctx context.Context, commandByInstance map[string]string) error
}

// Tagger writes the provider's EC2 tags. One call per method call.
type Tagger interface {
	SetTags(ctx context.Context, instanceIDs []string, tags map[string]string) error
	RemoveTags(ctx context.Context, instanceIDs []string, keys []string) error
}

// Standby is the slice of Auto Scaling the engine needs. EnterStandby is
// called with ShouldDecrementDesiredCapacity=true so the group launches no
// replacement; ExitStandby re-registers the instance with the group's target
// groups.
type Standby interface {
	EnterStandby(ctx context.Context, group string, instanceIDs []string) error
	ExitStandby(ctx context.Context, group string, instanceIDs []string) error
	// LifecycleStates returns instance id -> lifecycle state (InService,
	// EnteringStandby, Standby, Pending, Terminating, ...). Instances that
	// are no longer in any group are absent.
	LifecycleStates(ctx context.Context, instanceIDs []string) (map[string]string, error)
	SuspendProcesses(ctx context.Context, group string, processes []string) error
	ResumeProcesses(ctx context.Context, group string, processes []string) error
}

// Capacity is the slice of Auto Scaling a surge needs (surge.go): the
// group as it is now, its undo record, and its size. Every method is one
// API call.
type Capacity interface {
	// Group reads one group: its sizes, its TagSurge record and its
	// members. A group that does not exist is an error wrapping ErrNotFound.
	Group(ctx context.Context, name string) (GroupState, error)
	// RecordSurge writes rec as the group's TagSurge tag, not propagated
	// to the instances it launches.
	RecordSurge(ctx context.Context, group string, rec SurgeRecord) error
	// ClearSurge deletes the group's TagSurge tag; a group without it is
	// no error.
	ClearSurge(ctx context.Context, group string) error
	SetDesiredCapacity(ctx context.Context, group string, desired int) error
	// TerminateInstance terminates a member and lowers the group's desired
	// capacity by one (TerminateInstanceInAutoScalingGroup with
	// ShouldDecrementDesiredCapacity): the group first drains it out of its
	// target groups. An instance already terminating or gone is no error.
	TerminateInstance(ctx context.Context, instanceID string) error
}

// GroupState is an Auto Scaling group as Capacity.Group read it.
type GroupState struct {
	AutoScalingGroup
	Members []GroupMember
}

// GroupMember is one instance of a group, as the group reports it.
type GroupMember struct {
	ID, AZ         string
	LifecycleState string // Pending, InService, Terminating, Standby, ...
	Healthy        bool   // the group's own health status
}

// Alarms reports CloudWatch alarm states.
type Alarms interface {
	// Firing returns the names among names whose state is ALARM.
	Firing(ctx context.Context, names []string) ([]string, error)
}

// Instances reports EC2 instance states. A command or registration failing
// on a plain instance (one in no Auto Scaling group) is often the first sign
// that it was terminated; only EC2 can say so.
type Instances interface {
	// States returns instance id -> EC2 state name (pending, running,
	// stopping, stopped, shutting-down, terminated): one call per check
	// (chunked only where AWS limits a filter). Instances EC2 no longer
	// knows are absent.
	States(ctx context.Context, instanceIDs []string) (map[string]string, error)
}

// Clock is injected so that no test sleeps for real time it does not need.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

// Observer receives the engine's events, in order, from one goroutine at a
// time. It must not block.
type Observer interface {
	Event(Event)
}

// Ports bundles the engine's view of the world. Standby and Alarms may be nil
// when no instance is in an Auto Scaling group / no alarm is configured.
// Instances may be nil: a terminated plain instance is then seen only
// through the load balancer (Target.InvalidState) and otherwise reported as
// a plain failure.
type Ports struct {
	LB        LoadBalancer
	Commands  CommandRunner
	Tags      Tagger
	Standby   Standby
	Capacity  Capacity // optional: needed only by a surge
	Alarms    Alarms
	Instances Instances
	Readiness Readiness // optional: without it, readiness is not checked again
	Clock     Clock
	Observer  Observer
}

// Readiness checks, just before instances leave, that they can be deployed:
// the world changes during long rollouts (an instance stopped, its status
// checks impaired, its SSM agent gone). Unready returns the reason for each
// instance that is not ready; one call per batch, whatever its size.
type Readiness interface {
	Unready(ctx context.Context, instanceIDs []string) (map[string]string, error)
}
