package fleetsim

import (
	"fmt"
	"strings"
)

var asgActions = map[string]xmlHandler{
	"DescribeAutoScalingInstances":        (*Sim).asgDescribeAutoScalingInstances,
	"DescribeAutoScalingGroups":           (*Sim).asgDescribeAutoScalingGroups,
	"EnterStandby":                        (*Sim).asgEnterStandby,
	"ExitStandby":                         (*Sim).asgExitStandby,
	"SuspendProcesses":                    (*Sim).asgSuspendProcesses,
	"ResumeProcesses":                     (*Sim).asgResumeProcesses,
	"SetDesiredCapacity":                  (*Sim).asgSetDesiredCapacity,
	"UpdateAutoScalingGroup":              (*Sim).asgUpdateAutoScalingGroup,
	"TerminateInstanceInAutoScalingGroup": (*Sim).asgTerminateInstanceInAutoScalingGroup,
	"CreateOrUpdateTags":                  (*Sim).asgCreateOrUpdateTags,
	"DeleteTags":                          (*Sim).asgDeleteTags,
}

func (s *Sim) lookupGroupLocked(req *apiRequest) (*autoScalingGroup, *apiError) {
	name := req.get("AutoScalingGroupName")
	req.call.Params = map[string]string{"AutoScalingGroupName": name}
	if name == "" {
		return nil, clientErr("ValidationError", "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	g := s.asgs[name]
	if g == nil {
		return nil, clientErr("ValidationError", "AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
	}
	return g, nil
}

func healthStatus(s *Sim, inst *instance, upper bool) string {
	healthy := inst.state == StateRunning || inst.state == StatePending
	if inst.lifecycle == "InService" {
		if g := s.asgs[inst.asg]; g != nil && inst.unhealthyChecks >= g.replaceAfter {
			healthy = false
		}
	}
	switch {
	case healthy && upper:
		return "HEALTHY"
	case healthy:
		return "Healthy"
	case upper:
		return "UNHEALTHY"
	}
	return "Unhealthy"
}

func (s *Sim) writeLaunchTemplate(x *xmlw, g *autoScalingGroup) {
	x.open("LaunchTemplate")
	x.leaf("LaunchTemplateId", "lt-0fleetsim"+fmt.Sprintf("%07d", g.seq))
	x.leaf("LaunchTemplateName", g.name+"-template")
	x.leaf("Version", "$Latest")
	x.close("LaunchTemplate")
}

func (s *Sim) asgDescribeAutoScalingInstances(req *apiRequest, x *xmlw) *apiError {
	ids := req.list("InstanceIds.member")
	req.call.InstanceIDs = ids
	size, err := pageSize(req, "MaxRecords", 50, 1, 50)
	if err != nil {
		return err
	}
	var list []*instance
	if len(ids) > 0 {
		for _, id := range ids {
			if inst := s.instances[id]; inst != nil && inst.asg != "" && inst.lifecycle != "" {
				list = append(list, inst)
			}
		}
	} else {
		for _, inst := range s.sortedInstancesLocked() {
			if inst.asg != "" && inst.lifecycle != "" {
				list = append(list, inst)
			}
		}
	}
	token := req.get("NextToken")
	if !validToken(token) {
		return clientErr("InvalidNextToken", "The token is not valid")
	}
	start, end, next, perr := paginate(len(list), token, size)
	if perr != nil {
		return perr
	}
	x.open("AutoScalingInstances")
	for _, inst := range list[start:end] {
		x.open("member")
		x.leaf("InstanceId", inst.id)
		x.leaf("InstanceType", "t3.micro")
		x.leaf("AutoScalingGroupName", inst.asg)
		x.leaf("AvailabilityZone", inst.az)
		x.leaf("LifecycleState", inst.lifecycle)
		x.leaf("HealthStatus", healthStatus(s, inst, true))
		if g := s.asgs[inst.asg]; g != nil {
			s.writeLaunchTemplate(x, g)
		}
		x.bool("ProtectedFromScaleIn", false)
		x.close("member")
	}
	x.close("AutoScalingInstances")
	x.leafIf("NextToken", next)
	return nil
}

func (s *Sim) asgDescribeAutoScalingGroups(req *apiRequest, x *xmlw) *apiError {
	names := req.list("AutoScalingGroupNames.member")
	size, err := pageSize(req, "MaxRecords", 50, 1, 100)
	if err != nil {
		return err
	}
	var list []*autoScalingGroup
	for _, name := range sortedKeys(s.asgs) {
		if len(names) == 0 || containsString(names, name) {
			list = append(list, s.asgs[name])
		}
	}
	token := req.get("NextToken")
	if !validToken(token) {
		return clientErr("InvalidNextToken", "The token is not valid")
	}
	start, end, next, perr := paginate(len(list), token, size)
	if perr != nil {
		return perr
	}
	x.open("AutoScalingGroups")
	for _, g := range list[start:end] {
		x.open("member")
		x.leaf("AutoScalingGroupName", g.name)
		x.leaf("AutoScalingGroupARN", g.arn)
		s.writeLaunchTemplate(x, g)
		x.int("MinSize", g.min)
		x.int("MaxSize", g.max)
		x.int("DesiredCapacity", g.desired)
		x.int("DefaultCooldown", g.cooldown)
		x.open("AvailabilityZones")
		for _, az := range g.azs {
			x.leaf("member", az)
		}
		x.close("AvailabilityZones")
		x.b.WriteString("<LoadBalancerNames/>")
		x.open("TargetGroupARNs")
		for _, arn := range g.tgARNs {
			x.leaf("member", arn)
		}
		x.close("TargetGroupARNs")
		x.leaf("HealthCheckType", "ELB")
		x.int("HealthCheckGracePeriod", 300)
		x.open("Instances")
		for _, id := range g.members {
			inst := s.instances[id]
			if inst == nil {
				continue
			}
			x.open("member")
			x.leaf("InstanceId", inst.id)
			x.leaf("InstanceType", "t3.micro")
			x.leaf("AvailabilityZone", inst.az)
			x.leaf("LifecycleState", inst.lifecycle)
			x.leaf("HealthStatus", healthStatus(s, inst, false))
			s.writeLaunchTemplate(x, g)
			x.bool("ProtectedFromScaleIn", false)
			x.close("member")
		}
		x.close("Instances")
		x.time("CreatedTime", g.created)
		x.open("SuspendedProcesses")
		for _, p := range sortedKeys(g.suspended) {
			x.open("member")
			x.leaf("ProcessName", p)
			x.leaf("SuspensionReason", g.suspended[p])
			x.close("member")
		}
		x.close("SuspendedProcesses")
		x.leaf("VPCZoneIdentifier", "subnet-0000000000000001,subnet-0000000000000002,subnet-0000000000000003")
		x.open("Tags")
		for _, k := range sortedKeys(g.tags) {
			x.open("member")
			x.leaf("ResourceId", g.name)
			x.leaf("ResourceType", "auto-scaling-group")
			x.leaf("Key", k)
			x.leaf("Value", g.tags[k])
			x.bool("PropagateAtLaunch", !g.noPropagate[k])
			x.close("member")
		}
		x.close("Tags")
		x.open("TerminationPolicies")
		x.leaf("member", "Default")
		x.close("TerminationPolicies")
		x.bool("NewInstancesProtectedFromScaleIn", false)
		x.leaf("ServiceLinkedRoleARN", "arn:aws:iam::"+s.opts.AccountID+":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
		x.close("member")
	}
	x.close("AutoScalingGroups")
	x.leafIf("NextToken", next)
	return nil
}

func (s *Sim) writeActivities(x *xmlw, g *autoScalingGroup, ids []string, verb string) {
	x.open("Activities")
	for _, id := range ids {
		g.activities++
		x.open("member")
		x.leaf("ActivityId", s.uuidLocked())
		x.leaf("AutoScalingGroupName", g.name)
		x.leaf("Description", verb+": "+id)
		x.leaf("Cause", fmt.Sprintf("At %s instance %s was %s in response to a user request.", xmlTime(s.now), id, strings.ToLower(verb)))
		x.time("StartTime", s.now)
		x.leaf("StatusCode", "InProgress")
		x.int("Progress", 50)
		x.leaf("Details", `{"Subnet ID":"subnet-0000000000000001","Availability Zone":"`+s.instances[id].az+`"}`)
		x.close("member")
	}
	x.close("Activities")
}

func (s *Sim) standbyTargetsLocked(req *apiRequest, g *autoScalingGroup, wantState string) ([]*instance, *apiError) {
	ids := req.list("InstanceIds.member")
	req.call.InstanceIDs = ids
	if len(ids) > 20 {
		return nil, clientErr("ValidationError", "The number of instances must be less than or equal to 20")
	}
	var out []*instance
	for _, id := range ids {
		inst := s.instances[id]
		if inst == nil || inst.asg != g.name {
			return nil, clientErr("ValidationError", "The instance %s is not part of Auto Scaling group %s.", id, g.name)
		}
		if inst.lifecycle != wantState {
			return nil, clientErr("ValidationError", "The instance %s is not in %s.", id, wantState)
		}
		out = append(out, inst)
	}
	return out, nil
}

func (s *Sim) asgEnterStandby(req *apiRequest, x *xmlw) *apiError {
	g, err := s.lookupGroupLocked(req)
	if err != nil {
		return err
	}
	decrement := req.get("ShouldDecrementDesiredCapacity")
	if decrement != "true" && decrement != "false" {
		return clientErr("ValidationError", "1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	insts, err := s.standbyTargetsLocked(req, g, "InService")
	if err != nil {
		return err
	}
	if decrement == "true" && g.desired-len(insts) < g.min {
		return clientErr("ValidationError", "AutoScalingGroup %s has min-size=%d, max-size=%d, and desired-size=%d. To place into standby %d instances, please update the AutoScalingGroup sizes appropriately.",
			g.name, g.min, g.max, g.desired, len(insts))
	}
	var ids []string
	for _, inst := range insts {
		s.enterStandbyLocked(g, inst)
		ids = append(ids, inst.id)
	}
	if decrement == "true" {
		g.desired -= len(insts)
	} else if !g.isSuspended("Launch") {
		for range insts {
			s.launchMemberLocked(g, "")
		}
	}
	s.writeActivities(x, g, ids, "Moving EC2 instance to Standby")
	return nil
}

func (s *Sim) asgExitStandby(req *apiRequest, x *xmlw) *apiError {
	g, err := s.lookupGroupLocked(req)
	if err != nil {
		return err
	}
	insts, err := s.standbyTargetsLocked(req, g, "Standby")
	if err != nil {
		return err
	}
	if g.isSuspended("Launch") {
		// Leaving Standby goes through Pending, which the Launch process owns.
		return clientErr("ValidationError", "Instances cannot exit standby while the Launch process is suspended for AutoScalingGroup %s", g.name)
	}
	if g.desired+len(insts) > g.max {
		return clientErr("ValidationError", "AutoScalingGroup %s has min-size=%d, max-size=%d, and desired-size=%d. To exit standby %d instances, please update the AutoScalingGroup sizes appropriately.",
			g.name, g.min, g.max, g.desired, len(insts))
	}
	var ids []string
	for _, inst := range insts {
		s.exitStandbyLocked(g, inst)
		ids = append(ids, inst.id)
	}
	g.desired += len(insts)
	s.writeActivities(x, g, ids, "Moving EC2 instance out of Standby")
	return nil
}

func (s *Sim) scalingProcessesParam(req *apiRequest) ([]string, *apiError) {
	procs := req.list("ScalingProcesses.member")
	for _, p := range procs {
		if !containsString(scalingProcesses, p) {
			return nil, clientErr("ValidationError", "Process names must be in %s", strings.Join(scalingProcesses, ", "))
		}
	}
	if len(procs) == 0 {
		procs = scalingProcesses
	}
	return procs, nil
}

func (s *Sim) asgSuspendProcesses(req *apiRequest, x *xmlw) *apiError {
	g, err := s.lookupGroupLocked(req)
	if err != nil {
		return err
	}
	procs, err := s.scalingProcessesParam(req)
	if err != nil {
		return err
	}
	req.call.Params["ScalingProcesses"] = strings.Join(procs, ",")
	for _, p := range procs {
		g.suspended[p] = "User suspended at " + xmlTime(s.now)
	}
	return nil
}

func (s *Sim) asgResumeProcesses(req *apiRequest, x *xmlw) *apiError {
	g, err := s.lookupGroupLocked(req)
	if err != nil {
		return err
	}
	procs, err := s.scalingProcessesParam(req)
	if err != nil {
		return err
	}
	req.call.Params["ScalingProcesses"] = strings.Join(procs, ",")
	for _, p := range procs {
		delete(g.suspended, p)
	}
	return nil
}
