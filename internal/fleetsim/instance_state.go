package fleetsim

import "time"

// EC2 instance lifecycle as StopInstances, StartInstances and
// TerminateInstances drive it: each request moves an instance into the
// transitional state at once and into the final one after the modelled time
// (Timing.Stop, Timing.Launch, Timing.Shutdown), as EC2 does:
//
//	running  -> stopping      -> stopped
//	stopped  -> pending       -> running
//	any      -> shutting-down -> terminated
//
// What depends on the state follows setInstanceStateLocked: targets of an
// instance that is not running are unused/Target.InvalidState, commands it
// was running fail, its SSM agent reports ConnectionLost, and a terminated
// instance leaves DescribeInstanceInformation at once and DescribeInstances
// (and its target groups) an hour later.

// asgHealthCheckDelay is how long an Auto Scaling group takes to notice that
// a member it believes InService is no longer running (AWS checks EC2 status
// periodically; the period is not documented, unverified).
const asgHealthCheckDelay = 10 * time.Second

// afterState runs fn after d unless the instance changed state meanwhile.
func (s *Sim) afterState(inst *instance, d time.Duration, fn func()) {
	gen := inst.stateGen
	s.after(d, func() {
		if inst.stateGen == gen {
			fn()
		}
	})
}

// stopInstanceLocked: running -> stopping -> stopped.
func (s *Sim) stopInstanceLocked(inst *instance) {
	s.setInstanceStateLocked(inst, StateStopping)
	s.afterState(inst, s.timing.Stop, func() { s.setInstanceStateLocked(inst, StateStopped) })
	s.noticeMemberLeftRunningLocked(inst)
}

// startInstanceLocked: stopped -> pending -> running; the installed app
// starts at boot, and health checks resume from initial.
func (s *Sim) startInstanceLocked(inst *instance) {
	s.setInstanceStateLocked(inst, StatePending)
	s.afterState(inst, s.timing.Launch, func() {
		inst.appRunning = inst.appVersion != ""
		s.setInstanceStateLocked(inst, StateRunning)
	})
}

// shutDownInstanceLocked: -> shutting-down -> terminated. then runs once the
// instance is terminated (nil for none).
func (s *Sim) shutDownInstanceLocked(inst *instance, then func()) {
	s.setInstanceStateLocked(inst, StateShuttingDown)
	s.afterState(inst, s.timing.Shutdown, func() {
		s.setInstanceStateLocked(inst, StateTerminated)
		if then != nil {
			then()
		}
	})
}

// terminateInstanceLocked is TerminateInstances on one instance. An Auto
// Scaling group that believed it InService notices shortly after and
// replaces it; a member in Standby or Terminating just leaves its group once
// terminated.
func (s *Sim) terminateInstanceLocked(inst *instance) {
	wasInService := inst.lifecycle == "InService" || inst.lifecycle == "Pending"
	s.shutDownInstanceLocked(inst, func() {
		if inst.asg != "" && inst.lifecycle != "" && inst.lifecycle != "InService" && inst.lifecycle != "Pending" {
			s.leaveGroupLocked(inst)
		}
	})
	if wasInService {
		s.noticeMemberLeftRunningLocked(inst)
	}
}

// forgetTerminatedTargetsLocked drops a terminated instance's remaining
// targets (unused/Target.InvalidState until then) once EC2 forgets the
// instance: ELB does not list terminated targets for ever, and how long it
// keeps them is not documented (here: as long as DescribeInstances does).
func (s *Sim) forgetTerminatedTargetsLocked(inst *instance) {
	if inst.state != StateTerminated {
		return
	}
	for _, tg := range s.sortedTargetGroupsLocked() {
		for _, t := range sortedTargets(tg) {
			if t.key.id == inst.id && t.state != TargetDraining {
				s.removeTargetLocked(tg, t)
			}
		}
	}
}

// incorrectStateError is EC2's refusal of a state change, with the wording
// AWS uses for each request.
func incorrectStateError(action string, inst *instance) *apiError {
	switch action {
	case "StopInstances":
		if inst.state == StatePending && !inst.everRunning {
			return clientErr("IncorrectInstanceState", "Instance '%s' cannot be stopped as it has never reached the 'running' state.", inst.id)
		}
		return clientErr("IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", inst.id)
	case "StartInstances":
		return clientErr("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", inst.id)
	}
	return clientErr("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be changed.", inst.id)
}
