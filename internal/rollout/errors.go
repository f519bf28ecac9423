package rollout

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is what adapters return (wrapped) when the AWS resource does
// not exist: a target group, an instance, a command.
var ErrNotFound = errors.New("not found")

// ErrThrottled is what adapters return (wrapped) when AWS kept throttling
// after the SDK's retries.
var ErrThrottled = errors.New("throttled")

// InstanceError says where one instance failed and what state it was left in.
type InstanceError struct {
	Batch            int
	InstanceID       string
	Phase            string // draining, step, joining, baking, rollback
	Step             string // step name when Phase is step or rollback
	ExitCode         int    // -1 when not applicable
	Status           string // e.g. SSM status "Failed", "TimedOut", "Undeliverable"
	StderrTail       string // last lines of stderr, masked
	LeftOutOfService bool
	Err              error
}

func (e *InstanceError) Error() string {
	// Batches count from 1, as in the plan's schedule; 0 is an instance
	// that failed before its batch started.
	where := fmt.Sprintf("batch %d", e.Batch)
	if e.Batch == 0 {
		where = "before its batch"
	}
	msg := fmt.Sprintf("%s, %s, phase %s", where, e.InstanceID, e.Phase)
	if e.Step != "" {
		msg += fmt.Sprintf(" (step %q)", e.Step)
	}
	if e.Status != "" {
		msg += ": SSM command " + e.Status
		if e.ExitCode >= 0 {
			msg += fmt.Sprintf(", exit code %d", e.ExitCode)
		}
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.StderrTail != "" {
		msg += "\nstderr: " + e.StderrTail
	}
	return msg
}

func (e *InstanceError) Unwrap() error { return e.Err }

// ValidationError lists every problem with a Spec at once.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	msg := fmt.Sprintf("%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		msg += "\n- " + p
	}
	return msg
}

// RunError is the error Run returns when a rollout did not succeed: why it
// stopped, what was done about it, and every instance's error. errors.As
// finds each *InstanceError through Unwrap.
type RunError struct {
	Status       Status
	StopReason   string
	Updated      int
	RolledBack   int
	Pending      int
	OutOfService []string // instances left out of their target groups
	Errs         []error  // *InstanceError values, then errors not tied to an instance
}

func (e *RunError) Error() string {
	var b strings.Builder
	// "rollout rolled back (...)", and a stop reason that only repeats the
	// status ("cancelled") said once.
	fmt.Fprintf(&b, "rollout %s", strings.ReplaceAll(string(e.Status), "_", " "))
	if e.StopReason != "" && e.StopReason != string(e.Status) {
		fmt.Fprintf(&b, " (%s)", e.StopReason)
	}
	fmt.Fprintf(&b, ": %d updated, %d rolled back, %d not reached", e.Updated, e.RolledBack, e.Pending)
	if len(e.OutOfService) > 0 {
		fmt.Fprintf(&b, "; left out of service (tagged %s): %s", TagPhase, strings.Join(e.OutOfService, ", "))
	}
	for _, err := range e.Errs {
		b.WriteString("\n- ")
		b.WriteString(strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return b.String()
}

func (e *RunError) Unwrap() []error { return e.Errs }
