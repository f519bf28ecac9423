package fleetsim

import (
	"fmt"
	"strings"
)

// iamRule says how AWS authorizes one API call: build returns the IAM
// request (action, resources with their tags, request condition keys) and
// any dependent request another service authorizes (kms:Encrypt /
// kms:Decrypt for a SecureString under a customer managed key). ok=false
// means the request could not be read; the handler then reports the decode
// error itself. skip marks calls no identity-based policy governs.
type iamRule struct {
	skip  bool
	build func(s *Sim, req *apiRequest) (main authRequest, dependent []authRequest, ok bool)
}

// iamRules maps each served call (signing name, API action) to its
// authorization, per the Service Authorization Reference pages "Actions,
// resources, and condition keys for" Elastic Load Balancing V2, Amazon EC2,
// AWS Systems Manager, Amazon EC2 Auto Scaling, Amazon CloudWatch and AWS
// STS (https://docs.aws.amazon.com/service-authorization/latest/reference/):
// actions whose Resource types column is empty are authorized against "*",
// the others against the listed resource's ARN. A call missing here is
// denied with a message naming this table, so a newly served action cannot
// slip through unenforced. Simulator choices where AWS documents no ARN are
// marked (assumed).
var iamRules = map[string]map[string]iamRule{
	"elasticloadbalancing": {
		"DescribeTargetGroups":          anyResource("elasticloadbalancing:DescribeTargetGroups"),
		"DescribeTargetGroupAttributes": anyResource("elasticloadbalancing:DescribeTargetGroupAttributes"),
		"DescribeTargetHealth":          anyResource("elasticloadbalancing:DescribeTargetHealth"),
		"DescribeLoadBalancers":         anyResource("elasticloadbalancing:DescribeLoadBalancers"),
		"DescribeListeners":             anyResource("elasticloadbalancing:DescribeListeners"),
		"DescribeTags":                  anyResource("elasticloadbalancing:DescribeTags"),
		"RegisterTargets":               targetGroupRule("elasticloadbalancing:RegisterTargets"),
		"DeregisterTargets":             targetGroupRule("elasticloadbalancing:DeregisterTargets"),
		"ModifyTargetGroupAttributes":   targetGroupRule("elasticloadbalancing:ModifyTargetGroupAttributes"),
		"ModifyTargetGroup":             targetGroupRule("elasticloadbalancing:ModifyTargetGroup"),
		"DeleteTargetGroup":             targetGroupRule("elasticloadbalancing:DeleteTargetGroup"),
		"CreateTargetGroup":             {build: (*Sim).iamCreateTargetGroup},
	},
	"ec2": {
		"DescribeInstances":      anyResource("ec2:DescribeInstances"),
		"DescribeInstanceStatus": anyResource("ec2:DescribeInstanceStatus"),
		"DescribeTags":           anyResource("ec2:DescribeTags"),
		"CreateTags":             ec2TagsRule("ec2:CreateTags"),
		"DeleteTags":             ec2TagsRule("ec2:DeleteTags"),
		"StartInstances":         instancesRule("ec2:StartInstances"),
		"StopInstances":          instancesRule("ec2:StopInstances"),
		"RebootInstances":        instancesRule("ec2:RebootInstances"),
		"TerminateInstances":     instancesRule("ec2:TerminateInstances"),
	},
	"autoscaling": {
		"DescribeAutoScalingInstances":         anyResource("autoscaling:DescribeAutoScalingInstances"),
		"DescribeAutoScalingGroups":            anyResource("autoscaling:DescribeAutoScalingGroups"),
		"DescribeScalingActivities":            anyResource("autoscaling:DescribeScalingActivities"),
		"DescribeLifecycleHooks":               anyResource("autoscaling:DescribeLifecycleHooks"),
		"DescribeTags":                         anyResource("autoscaling:DescribeTags"),
		"CreateOrUpdateTags":                   groupTagsRule("autoscaling:CreateOrUpdateTags"),
		"DeleteTags":                           groupTagsRule("autoscaling:DeleteTags"),
		"EnterStandby":                         groupRule("autoscaling:EnterStandby"),
		"ExitStandby":                          groupRule("autoscaling:ExitStandby"),
		"SuspendProcesses":                     groupRule("autoscaling:SuspendProcesses"),
		"ResumeProcesses":                      groupRule("autoscaling:ResumeProcesses"),
		"SetDesiredCapacity":                   groupRule("autoscaling:SetDesiredCapacity"),
		"UpdateAutoScalingGroup":               groupRule("autoscaling:UpdateAutoScalingGroup"),
		"SetInstanceProtection":                groupRule("autoscaling:SetInstanceProtection"),
		"AttachInstances":                      groupRule("autoscaling:AttachInstances"),
		"DetachInstances":                      groupRule("autoscaling:DetachInstances"),
		"CompleteLifecycleAction":              groupRule("autoscaling:CompleteLifecycleAction"),
		"TerminateInstanceInAutoScalingGroup":  instanceGroupRule("autoscaling:TerminateInstanceInAutoScalingGroup"),
		"SetInstanceHealth":                    instanceGroupRule("autoscaling:SetInstanceHealth"),
		"RecordLifecycleActionHeartbeat":       groupRule("autoscaling:RecordLifecycleActionHeartbeat"),
		"DescribeAutoScalingNotificationTypes": anyResource("autoscaling:DescribeAutoScalingNotificationTypes"),
	},
	"monitoring": {
		"DescribeAlarms": {build: (*Sim).iamDescribeAlarms},
		"SetAlarmState":  {build: (*Sim).iamSetAlarmState},
	},
	"sts": {
		// "No permissions are required to perform this operation" (STS API
		// reference), even under an explicit deny.
		"GetCallerIdentity": {skip: true},
		"AssumeRole":        {build: (*Sim).iamAssumeRole},
		// Unsigned: the role's trust policy decides, which fleetsim does not
		// model.
		"AssumeRoleWithWebIdentity": {skip: true},
		"AssumeRoleWithSAML":        {skip: true},
	},
	"ssm": {
		"SendCommand":                 {build: (*Sim).iamSendCommand},
		"ListCommandInvocations":      anyResource("ssm:ListCommandInvocations"),
		"GetCommandInvocation":        anyResource("ssm:GetCommandInvocation"),
		"ListCommands":                anyResource("ssm:ListCommands"),
		"CancelCommand":               anyResource("ssm:CancelCommand"),
		"DescribeInstanceInformation": anyResource("ssm:DescribeInstanceInformation"),
		"ListDocuments":               anyResource("ssm:ListDocuments"),
		"DescribeDocument":            documentRule("ssm:DescribeDocument"),
		"GetDocument":                 documentRule("ssm:GetDocument"),
		"ListDocumentVersions":        documentRule("ssm:ListDocumentVersions"),
		"DescribeParameters":          anyResource("ssm:DescribeParameters"),
		"PutParameter":                {build: (*Sim).iamPutParameter},
		"GetParameter":                parameterRule("ssm:GetParameter"),
		"GetParameters":               parameterRule("ssm:GetParameters"),
		"GetParameterHistory":         parameterRule("ssm:GetParameterHistory"),
		"DeleteParameter":             parameterRule("ssm:DeleteParameter"),
		"DeleteParameters":            parameterRule("ssm:DeleteParameters"),
		"LabelParameterVersion":       parameterRule("ssm:LabelParameterVersion"),
		// Authorized on the path itself: "if a user has access to a path,
		// then the user can access all levels of that path" (API reference).
		"GetParametersByPath": parameterRule("ssm:GetParametersByPath"),
	},
	"events": {
		"PutEvents":      {build: (*Sim).iamPutEvents},
		"CreateEventBus": {build: (*Sim).iamCreateEventBus},
	},
}

func anyResource(action string) iamRule {
	return iamRule{build: func(*Sim, *apiRequest) (authRequest, []authRequest, bool) {
		return authRequest{action: action, resources: []authResource{{arn: "*"}}}, nil, true
	}}
}

// tagKeys adds the resource-tag condition keys of a tagged resource under
// each prefix ("aws:ResourceTag", "ec2:ResourceTag", ...), lower-cased as
// condition key names are.
func tagKeys(tags map[string]string, prefixes ...string) map[string][]string {
	keys := map[string][]string{}
	for k, v := range tags {
		for _, p := range prefixes {
			keys[strings.ToLower(p+"/"+k)] = []string{v}
		}
	}
	return keys
}

// requestTagKeys are aws:RequestTag/KEY and aws:TagKeys of the tags a call
// sets (or, for deletions, names).
func requestTagKeys(keys []string, values map[string]string) map[string][]string {
	out := map[string][]string{}
	for _, k := range keys {
		if v, ok := values[k]; ok {
			out["aws:requesttag/"+strings.ToLower(k)] = []string{v}
		}
	}
	if len(keys) > 0 {
		out["aws:tagkeys"] = keys
	}
	return out
}

func targetGroupRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		// Target groups carry no tags in the model: ResourceTag keys are absent.
		return authRequest{action: action, resources: []authResource{{arn: req.get("TargetGroupArn")}}}, nil, true
	}}
}

func (s *Sim) iamCreateTargetGroup(req *apiRequest) (authRequest, []authRequest, bool) {
	name := req.get("Name")
	// The new group's ARN does not exist yet (assumed: its id is a wildcard).
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/*", s.opts.Region, s.opts.AccountID, name)
	if tg := s.targetGroupByNameLocked(name); tg != nil {
		arn = tg.arn
	}
	var keys []string
	values := map[string]string{}
	for _, g := range req.indexedGroups("Tags.member") {
		keys = append(keys, g["Key"])
		values[g["Key"]] = g["Value"]
	}
	return authRequest{action: "elasticloadbalancing:CreateTargetGroup", resources: []authResource{{arn: arn}},
		keys: requestTagKeys(keys, values)}, nil, true
}

func (s *Sim) instanceResourceLocked(id string, prefixes ...string) authResource {
	res := authResource{arn: fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", s.opts.Region, s.opts.AccountID, id)}
	if inst := s.instances[id]; inst != nil {
		res.keys = tagKeys(inst.tags, prefixes...)
	}
	return res
}

func instancesRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		r := authRequest{action: action}
		for _, id := range req.list("InstanceId") {
			r.resources = append(r.resources, s.instanceResourceLocked(id, "aws:ResourceTag", "ec2:ResourceTag"))
		}
		return r, nil, true
	}}
}

// ec2TagsRule authorizes CreateTags/DeleteTags on each resource (only
// instances are modelled), with the tags as aws:RequestTag / aws:TagKeys.
func ec2TagsRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		var keys []string
		values := map[string]string{}
		for _, t := range requestTags(req) {
			keys = append(keys, t.key)
			if t.hasValue || action == "ec2:CreateTags" {
				values[t.key] = t.value
			}
		}
		r := authRequest{action: action, keys: requestTagKeys(keys, values)}
		for _, id := range req.list("ResourceId") {
			r.resources = append(r.resources, s.instanceResourceLocked(id, "aws:ResourceTag", "ec2:ResourceTag"))
		}
		return r, nil, true
	}}
}

func (s *Sim) groupResourceLocked(name string) authResource {
	g := s.asgs[name]
	if g == nil {
		// An unknown group has no id; the call fails after authorization.
		return authResource{arn: fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:*:autoScalingGroupName/%s", s.opts.Region, s.opts.AccountID, name)}
	}
	return authResource{arn: g.arn, keys: tagKeys(g.tags, "aws:ResourceTag", "autoscaling:ResourceTag")}
}

func groupRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		return authRequest{action: action, resources: []authResource{s.groupResourceLocked(req.get("AutoScalingGroupName"))}}, nil, true
	}}
}

// instanceGroupRule authorizes a call naming an instance on the group the
// instance belongs to.
func instanceGroupRule(action string) iamRule {
	return iamRule{build: func(s *Sim, req *apiRequest) (authRequest, []authRequest, bool) {
		group := ""
		if inst := s.instances[req.get("InstanceId")]; inst != nil {
			group = inst.asg
		}
		return authRequest{action: action, resources: []authResource{s.groupResourceLocked(group)}}, nil, true
	}}
}

func (s *Sim) alarmARN(name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.opts.Region, s.opts.AccountID, name)
}

// iamDescribeAlarms authorizes on each named alarm, or on every alarm
// (alarm:*) for a listing by prefix or state (assumed).
func (s *Sim) iamDescribeAlarms(req *apiRequest) (authRequest, []authRequest, bool) {
	var in describeAlarmsInput
	if req.proto == protoQuery {
		in.AlarmNames = req.list("AlarmNames.member")
	} else if decodeBody(req, &in) != nil {
		return authRequest{}, nil, false
	}
	r := authRequest{action: "cloudwatch:DescribeAlarms"}
	for _, n := range in.AlarmNames {
		r.resources = append(r.resources, authResource{arn: s.alarmARN(n)})
	}
	if len(r.resources) == 0 {
		r.resources = []authResource{{arn: s.alarmARN("*")}}
	}
	return r, nil, true
}

func (s *Sim) iamSetAlarmState(req *apiRequest) (authRequest, []authRequest, bool) {
	var in setAlarmStateInput
	if req.proto == protoQuery {
		in.AlarmName = req.get("AlarmName")
	} else if decodeBody(req, &in) != nil {
		return authRequest{}, nil, false
	}
	return authRequest{action: "cloudwatch:SetAlarmState", resources: []authResource{{arn: s.alarmARN(in.AlarmName)}}}, nil, true
}

func (s *Sim) iamAssumeRole(req *apiRequest) (authRequest, []authRequest, bool) {
	var keys []string
	values := map[string]string{}
	for _, g := range req.indexedGroups("Tags.member") {
		keys = append(keys, g["Key"])
		values[g["Key"]] = g["Value"]
	}
	return authRequest{action: "sts:AssumeRole", resources: []authResource{{arn: req.get("RoleArn")}}, keys: requestTagKeys(keys, values)}, nil, true
}
