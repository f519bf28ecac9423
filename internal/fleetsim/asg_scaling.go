package fleetsim

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Auto Scaling capacity: SetDesiredCapacity, UpdateAutoScalingGroup and
// TerminateInstanceInAutoScalingGroup, the launches and terminations they
// cause, and the group's reaction to members EC2 stopped or terminated.
//
// A member the group terminates goes Terminating, leaves the attached target
// groups (draining for their deregistration delay), then shuts down
// (shutting-down for Timing.Shutdown) and leaves the group once terminated.

// defaultCooldown is Auto Scaling's default cooldown, in seconds.
const defaultCooldown = 300

// activeMember reports whether a member counts toward the desired capacity.
func activeMember(inst *instance) bool {
	return inst.lifecycle == "InService" || inst.lifecycle == "Pending"
}

// chooseLaunchAZLocked balances a scale-out across the group's AZs: the AZ
// with the fewest active members, the first in the group's list on a tie.
func (s *Sim) chooseLaunchAZLocked(g *autoScalingGroup) string {
	count := map[string]int{}
	for _, id := range g.members {
		if inst := s.instances[id]; inst != nil && activeMember(inst) {
			count[inst.az]++
		}
	}
	best := g.azs[0]
	for _, az := range g.azs[1:] {
		if count[az] < count[best] {
			best = az
		}
	}
	return best
}

// scaleInVictimLocked applies the default termination policy in short:
//  1. the AZ with the most active members (the first in the group's AZ list,
//     then by name, on a tie), so the group stays balanced;
//  2. there, instances launched from another version than the group's
//     launch version (AWS: the oldest launch template or configuration);
//  3. then the instance closest to its next billing hour; AWS picks at
//     random among equals, fleetsim the oldest (lowest launch order).
//
// Instances protected from scale-in are not modelled (none are).
func (s *Sim) scaleInVictimLocked(g *autoScalingGroup) *instance {
	byAZ := map[string][]*instance{}
	for _, id := range g.members {
		if inst := s.instances[id]; inst != nil && activeMember(inst) {
			byAZ[inst.az] = append(byAZ[inst.az], inst)
		}
	}
	if len(byAZ) == 0 {
		return nil
	}
	rank := map[string]int{}
	for i, az := range g.azs {
		rank[az] = i + 1
	}
	azs := sortedKeys(byAZ)
	sort.SliceStable(azs, func(i, j int) bool {
		a, b := azs[i], azs[j]
		if len(byAZ[a]) != len(byAZ[b]) {
			return len(byAZ[a]) > len(byAZ[b])
		}
		if rank[a] != rank[b] {
			return rank[a] != 0 && (rank[b] == 0 || rank[a] < rank[b])
		}
		return a < b
	})
	candidates := byAZ[azs[0]]
	var older []*instance
	for _, inst := range candidates {
		if inst.launchVersion != g.launchVersion {
			older = append(older, inst)
		}
	}
	if len(older) > 0 {
		candidates = older
	}
	sinceHour := func(inst *instance) time.Duration { return s.now.Sub(inst.launchTime) % time.Hour }
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := sinceHour(candidates[i]), sinceHour(candidates[j])
		if a != b {
			return a > b
		}
		return candidates[i].seq < candidates[j].seq
	})
	return candidates[0]
}

// setDesiredLocked launches or retires members to match a new desired
// capacity, unless Launch (or Terminate) is suspended.
func (s *Sim) setDesiredLocked(g *autoScalingGroup, desired int) {
	g.desired = desired
	active := s.inServiceCountLocked(g)
	for active < desired && !g.isSuspended("Launch") {
		s.launchMemberLocked(g, "")
		g.lastScaling = s.now
		active++
	}
	for active > desired && !g.isSuspended("Terminate") {
		victim := s.scaleInVictimLocked(g)
		if victim == nil {
			break
		}
		s.retireMemberLocked(victim)
		g.lastScaling = s.now
		active--
	}
}

// retireMemberLocked starts a member's termination by its group:
// Terminating while it drains out of the attached target groups, then shut
// down, and out of the group once terminated.
func (s *Sim) retireMemberLocked(inst *instance) {
	g := s.asgs[inst.asg]
	if g == nil {
		return
	}
	inst.lifecycle = "Terminating"
	for _, arn := range g.tgARNs {
		if tg := s.tgs[arn]; tg != nil {
			for _, t := range sortedTargets(tg) {
				if t.key.id == inst.id {
					s.deregisterLocked(tg, t.key)
				}
			}
		}
	}
	if inst.lifecycle == "Terminating" {
		s.maybeFinishRetiringLocked(inst)
	}
}

// maybeFinishRetiringLocked shuts a Terminating member down once it has left
// every attached target group.
func (s *Sim) maybeFinishRetiringLocked(inst *instance) {
	g := s.asgs[inst.asg]
	if g == nil || inst.lifecycle != "Terminating" {
		return
	}
	for _, arn := range g.tgARNs {
		if tg := s.tgs[arn]; tg != nil {
			for key := range tg.targets {
				if key.id == inst.id {
					return
				}
			}
		}
	}
	switch inst.state {
	case StateTerminated:
		s.leaveGroupLocked(inst)
	case StateShuttingDown:
		// TerminateInstances got there first; its end removes the member.
	default:
		s.shutDownInstanceLocked(inst, func() { s.leaveGroupLocked(inst) })
	}
}

// leaveGroupLocked removes a terminated member from its group.
func (s *Sim) leaveGroupLocked(inst *instance) {
	if g := s.asgs[inst.asg]; g != nil {
		g.removeMember(inst.id)
	}
	inst.lifecycle = ""
	inst.agentOnline = false
	delete(inst.tags, "aws:autoscaling:groupName")
}

// noticeMemberLeftRunningLocked is the group's EC2 health check of a member
// that StopInstances or TerminateInstances took down behind its back: after
// asgHealthCheckDelay the member is unhealthy, terminated and replaced
// (desired capacity unchanged), unless HealthCheck, ReplaceUnhealthy or
// Terminate is suspended; with Launch suspended it is not replaced.
func (s *Sim) noticeMemberLeftRunningLocked(inst *instance) {
	if inst.asg == "" || inst.lifecycle != "InService" {
		return
	}
	s.after(asgHealthCheckDelay, func() {
		g := s.asgs[inst.asg]
		if g == nil || inst.lifecycle != "InService" || inst.state == StateRunning || inst.state == StatePending {
			return
		}
		if g.isSuspended("HealthCheck") || g.isSuspended("ReplaceUnhealthy") || g.isSuspended("Terminate") {
			return
		}
		az := inst.az
		s.retireMemberLocked(inst)
		if !g.isSuspended("Launch") {
			s.launchMemberLocked(g, az)
		}
	})
}

// asgCount reads an optional non-negative integer parameter.
func asgCount(req *apiRequest, name, member string) (int, bool, *apiError) {
	v := req.get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false, clientErr("ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 0", v, member)
	}
	req.call.Params[name] = v
	return n, true, nil
}

func (s *Sim) asgSetDesiredCapacity(req *apiRequest, x *xmlw) *apiError {
	g, err := s.lookupGroupLocked(req)
	if err != nil {
		return err
	}
	n, set, err := asgCount(req, "DesiredCapacity", "desiredCapacity")
	if err != nil {
		return err
	}
	if !set {
		return clientErr("ValidationError", "1 validation error detected: Value null at 'desiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	if n > g.max {
		return clientErr("ValidationError", "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", n, g.max)
	}
	if n < g.min {
		return clientErr("ValidationError", "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", n, g.min)
	}
	// Manual scaling ignores the cooldown unless asked to honour it
	// (AWS's wording of this refusal is unverified).
	if req.get("HonorCooldown") == "true" && !g.lastScaling.IsZero() && s.now.Before(g.lastScaling.Add(time.Duration(g.cooldown)*time.Second)) {
		return clientErr("ScalingActivityInProgress", "AutoScalingGroup %s is in its cooldown period until %s.", g.name, xmlTime(g.lastScaling.Add(time.Duration(g.cooldown)*time.Second)))
	}
	s.setDesiredLocked(g, n)
	return nil
}

// asgUpdateAutoScalingGroup changes MinSize, MaxSize, DesiredCapacity and
// DefaultCooldown; other settings are accepted and ignored. A new MinSize
// above the desired capacity (or MaxSize below it) without DesiredCapacity
// moves the desired capacity to it, as AWS documents.
func (s *Sim) asgUpdateAutoScalingGroup(req *apiRequest, x *xmlw) *apiError {
	g, err := s.lookupGroupLocked(req)
	if err != nil {
		return err
	}
	minSize, minSet, err := asgCount(req, "MinSize", "minSize")
	if err != nil {
		return err
	}
	maxSize, maxSet, err := asgCount(req, "MaxSize", "maxSize")
	if err != nil {
		return err
	}
	desired, desiredSet, err := asgCount(req, "DesiredCapacity", "desiredCapacity")
	if err != nil {
		return err
	}
	cooldown, cooldownSet, err := asgCount(req, "DefaultCooldown", "defaultCooldown")
	if err != nil {
		return err
	}
	if !minSet {
		minSize = g.min
	}
	if !maxSet {
		maxSize = g.max
	}
	if maxSize < minSize {
		return clientErr("ValidationError", "Max bound, %d, must be greater than or equal to min bound, %d", maxSize, minSize)
	}
	if desiredSet {
		if desired < minSize || desired > maxSize {
			return clientErr("ValidationError", "Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, minSize, maxSize)
		}
	} else {
		desired = g.desired
		if desired < minSize {
			desired = minSize
		}
		if desired > maxSize {
			desired = maxSize
		}
	}
	g.min, g.max = minSize, maxSize
	if cooldownSet {
		g.cooldown = cooldown
	}
	if desired != g.desired {
		s.setDesiredLocked(g, desired)
	}
	return nil
}

// asgTerminateInstanceInAutoScalingGroup terminates one member. With
// ShouldDecrementDesiredCapacity the group shrinks (never below MinSize);
// without, it launches a replacement (unless Launch is suspended). A member
// in Standby leaves without either: it does not count toward the desired
// capacity. Asking again for a member already Terminating succeeds.
func (s *Sim) asgTerminateInstanceInAutoScalingGroup(req *apiRequest, x *xmlw) *apiError {
	id := req.get("InstanceId")
	req.call.InstanceIDs = []string{id}
	req.call.Params = map[string]string{}
	if id == "" {
		return clientErr("ValidationError", "1 validation error detected: Value null at 'instanceId' failed to satisfy constraint: Member must not be null")
	}
	decrement := req.get("ShouldDecrementDesiredCapacity")
	if decrement != "true" && decrement != "false" {
		return clientErr("ValidationError", "1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	req.call.Params["ShouldDecrementDesiredCapacity"] = decrement
	inst := s.instances[id]
	var g *autoScalingGroup
	if inst != nil && inst.lifecycle != "" {
		g = s.asgs[inst.asg]
	}
	if g == nil || inst.state == StateTerminated {
		return clientErr("ValidationError", "Instance Id not found - No managed instance found for instance ID: %s", id)
	}
	req.call.Params["AutoScalingGroupName"] = g.name
	before := g.desired
	if activeMember(inst) {
		if decrement == "true" {
			if g.desired <= g.min {
				return clientErr("ValidationError", "Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.min)
			}
			g.desired--
		}
		az := inst.az
		s.retireMemberLocked(inst)
		if decrement == "false" && !g.isSuspended("Launch") {
			s.launchMemberLocked(g, az)
		}
	} else if inst.lifecycle != "Terminating" {
		s.retireMemberLocked(inst)
	}
	cause := fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", xmlTime(s.now), id)
	if g.desired != before {
		cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request, shrinking the capacity from %d to %d.", xmlTime(s.now), id, before, g.desired)
	}
	x.open("Activity")
	x.leaf("ActivityId", s.uuidLocked())
	x.leaf("AutoScalingGroupName", g.name)
	x.leaf("Description", "Terminating EC2 instance: "+id)
	x.leaf("Cause", cause)
	x.time("StartTime", s.now)
	x.leaf("StatusCode", "InProgress")
	x.int("Progress", 0)
	x.leaf("Details", `{"Subnet ID":"subnet-0000000000000001","Availability Zone":"`+inst.az+`"}`)
	x.close("Activity")
	g.activities++
	return nil
}
