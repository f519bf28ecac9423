package fleetsim

import (
	"fmt"
	"time"
)

// Auto Scaling processes that SuspendProcesses accepts.
var scalingProcesses = []string{"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
	"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}

type autoScalingGroup struct {
	name, arn     string
	tgARNs        []string
	min, max      int
	desired       int
	launchVersion string
	azs           []string
	tags          map[string]string
	noPropagate   map[string]bool // tags set with PropagateAtLaunch=false
	members       []string        // instance ids in launch order, excluding terminated ones
	suspended     map[string]string
	replaceAfter  int
	created       time.Time
	seq           int
	activities    int
	cooldown      int       // DefaultCooldown, seconds
	lastScaling   time.Time // last launch or termination for a desired capacity change
}

// AutoScalingGroupConfig seeds an Auto Scaling group. Its instances are added
// with AddInstances(InstanceConfig{AutoScalingGroup: Name}); each one raises
// the desired capacity.
type AutoScalingGroupConfig struct {
	Name            string
	TargetGroupARNs []string
	Min, Max        int
	LaunchVersion   string
	// AZs used for replacements; default region+"a","b","c".
	AZs []string
	// Tags given to instances the group launches itself (replacements).
	Tags map[string]string
	// ReplaceAfterUnhealthyChecks is how many failing health checks an
	// InService instance may spend unhealthy in an attached target group
	// before the group replaces it (unless ReplaceUnhealthy is suspended);
	// default 2.
	ReplaceAfterUnhealthyChecks int
}

// AddAutoScalingGroup creates an empty group (desired 0); AddInstances fills it.
func (s *Sim) AddAutoScalingGroup(c AutoScalingGroupConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.addAutoScalingGroupLocked(c)
}

func (s *Sim) addAutoScalingGroupLocked(c AutoScalingGroupConfig) *autoScalingGroup {
	if g := s.asgs[c.Name]; g != nil {
		return g
	}
	if c.ReplaceAfterUnhealthyChecks <= 0 {
		c.ReplaceAfterUnhealthyChecks = 2
	}
	azs := c.AZs
	if len(azs) == 0 {
		azs = s.defaultAZs()
	}
	if c.Max < c.Min {
		c.Max = c.Min
	}
	g := &autoScalingGroup{
		name:          c.Name,
		arn:           fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", s.opts.Region, s.opts.AccountID, s.uuidLocked(), c.Name),
		tgARNs:        append([]string(nil), c.TargetGroupARNs...),
		min:           c.Min,
		max:           c.Max,
		launchVersion: c.LaunchVersion,
		azs:           azs,
		tags:          map[string]string{},
		suspended:     map[string]string{},
		replaceAfter:  c.ReplaceAfterUnhealthyChecks,
		cooldown:      defaultCooldown,
		created:       s.now,
		seq:           len(s.asgs) + 1,
	}
	for k, v := range c.Tags {
		g.tags[k] = v
	}
	s.asgs[g.name] = g
	return g
}

func (g *autoScalingGroup) isSuspended(process string) bool {
	_, ok := g.suspended[process]
	return ok
}

func (g *autoScalingGroup) removeMember(id string) {
	for i, m := range g.members {
		if m == id {
			g.members = append(g.members[:i], g.members[i+1:]...)
			return
		}
	}
}

// considerReplacingLocked applies ReplaceUnhealthy: an InService member that
// stayed unhealthy in an attached target group for replaceAfter checks is
// terminated and replaced by a fresh instance on the launch version.
func (s *Sim) considerReplacingLocked(inst *instance, tg *targetGroup) {
	g := s.asgs[inst.asg]
	if g == nil || inst.lifecycle != "InService" || !containsString(g.tgARNs, tg.arn) {
		return
	}
	if g.isSuspended("ReplaceUnhealthy") || g.isSuspended("HealthCheck") || g.isSuspended("Terminate") || g.isSuspended("Launch") {
		return
	}
	if inst.unhealthyChecks < g.replaceAfter {
		return
	}
	s.replaceInstanceLocked(inst)
}

// replaceInstanceLocked terminates a group member (deregistering it from the
// attached target groups first, as AWS does) and launches a replacement.
func (s *Sim) replaceInstanceLocked(inst *instance) {
	g := s.asgs[inst.asg]
	s.terminateMemberLocked(inst)
	if g != nil {
		s.launchMemberLocked(g, inst.az)
	}
}

func (s *Sim) terminateMemberLocked(inst *instance) {
	if g := s.asgs[inst.asg]; g != nil {
		inst.lifecycle = "Terminating"
		for _, arn := range g.tgARNs {
			if tg := s.tgs[arn]; tg != nil {
				for key := range tg.targets {
					if key.id == inst.id {
						s.deregisterLocked(tg, key)
					}
				}
			}
		}
		g.removeMember(inst.id)
	}
	s.setInstanceStateLocked(inst, StateTerminated)
	inst.lifecycle = ""
	inst.agentOnline = false
	delete(inst.tags, "aws:autoscaling:groupName")
}

// launchMemberLocked starts a new instance in the group: pending for the
// modelled launch time, then running with the group's launch version,
// InService and registered in the attached target groups.
func (s *Sim) launchMemberLocked(g *autoScalingGroup, az string) {
	if az == "" {
		az = s.chooseLaunchAZLocked(g)
	}
	tags := map[string]string{}
	for k, v := range g.tags {
		if !g.noPropagate[k] {
			tags[k] = v
		}
	}
	tags["aws:autoscaling:groupName"] = g.name
	inst := s.newInstanceLocked(az, g.launchVersion, tags)
	inst.asg = g.name
	inst.lifecycle = "Pending"
	inst.launchVersion = g.launchVersion
	g.members = append(g.members, inst.id)
	s.after(s.timing.Launch, func() {
		if inst.state != StatePending {
			return
		}
		inst.appRunning = inst.appVersion != ""
		inst.agentOnline = true
		s.setInstanceStateLocked(inst, StateRunning)
		inst.lifecycle = "InService"
		if !g.isSuspended("AddToLoadBalancer") {
			for _, arn := range g.tgARNs {
				if tg := s.tgs[arn]; tg != nil {
					s.registerLocked(tg, targetKey{inst.id, tg.port})
				}
			}
		}
	})
}

// onTargetRemovedLocked finishes EnteringStandby, or moves a Terminating
// member on to its shutdown, once the instance has left every attached
// target group (draining over).
func (s *Sim) onTargetRemovedLocked(id string) {
	inst := s.instances[id]
	if inst == nil {
		return
	}
	switch inst.lifecycle {
	case "EnteringStandby":
		s.maybeFinishStandbyLocked(inst)
	case "Terminating":
		s.maybeFinishRetiringLocked(inst)
	}
}

func (s *Sim) maybeFinishStandbyLocked(inst *instance) {
	g := s.asgs[inst.asg]
	if g == nil {
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
	inst.lifecycle = "Standby"
}

func (s *Sim) enterStandbyLocked(g *autoScalingGroup, inst *instance) {
	inst.lifecycle = "EnteringStandby"
	for _, arn := range g.tgARNs {
		if tg := s.tgs[arn]; tg != nil {
			for key := range tg.targets {
				if key.id == inst.id {
					s.deregisterLocked(tg, key)
				}
			}
		}
	}
	if inst.lifecycle == "EnteringStandby" {
		s.maybeFinishStandbyLocked(inst)
	}
}

// exitStandbyLocked registers the instance again and moves it Pending ->
// InService shortly after.
func (s *Sim) exitStandbyLocked(g *autoScalingGroup, inst *instance) {
	inst.lifecycle = "Pending"
	if !g.isSuspended("AddToLoadBalancer") {
		for _, arn := range g.tgARNs {
			if tg := s.tgs[arn]; tg != nil && inst.state == StateRunning {
				s.registerLocked(tg, targetKey{inst.id, tg.port})
			}
		}
	}
	inst.unhealthyChecks = 0
	s.after(2*time.Second, func() {
		if inst.lifecycle == "Pending" {
			inst.lifecycle = "InService"
		}
	})
}

func (s *Sim) inServiceCountLocked(g *autoScalingGroup) int {
	n := 0
	for _, id := range g.members {
		if inst := s.instances[id]; inst != nil && (inst.lifecycle == "InService" || inst.lifecycle == "Pending") {
			n++
		}
	}
	return n
}
