package awsclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

var motoSeq atomic.Int64

// uniqueName keeps moto fixtures of different tests apart on the shared server.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, motoSeq.Add(1))
}

type motoFixture struct {
	t     *testing.T
	c     *Client
	ctx   context.Context
	vpcID string
	ami   string
}

// motoDefaults are moto's default VPC and an AMI, looked up once: moto's
// image list is long and slow to describe.
var motoDefaults struct {
	sync.Mutex
	vpcID, ami string
}

func newMotoFixture(t *testing.T) *motoFixture {
	t.Helper()
	f := &motoFixture{t: t, c: motoClient(t), ctx: context.Background()}
	motoDefaults.Lock()
	defer motoDefaults.Unlock()
	if motoDefaults.ami == "" {
		vpcs, err := f.c.ec2.DescribeVpcs(f.ctx, &ec2.DescribeVpcsInput{})
		if err != nil || len(vpcs.Vpcs) == 0 {
			t.Fatalf("DescribeVpcs: %v", err)
		}
		images, err := f.c.ec2.DescribeImages(f.ctx, &ec2.DescribeImagesInput{})
		if err != nil || len(images.Images) == 0 {
			t.Fatalf("DescribeImages: %v", err)
		}
		motoDefaults.vpcID = aws.ToString(vpcs.Vpcs[0].VpcId)
		motoDefaults.ami = aws.ToString(images.Images[0].ImageId)
	}
	f.vpcID, f.ami = motoDefaults.vpcID, motoDefaults.ami
	return f
}

func (f *motoFixture) runInstances(n int, tags map[string]string) []string {
	f.t.Helper()
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(f.ami), MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)),
		InstanceType: ec2types.InstanceTypeT3Micro,
	}
	if len(tags) > 0 {
		spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeInstance}
		for k, v := range tags {
			spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		in.TagSpecifications = []ec2types.TagSpecification{spec}
	}
	out, err := f.c.ec2.RunInstances(f.ctx, in)
	if err != nil {
		f.t.Fatalf("RunInstances: %v", err)
	}
	ids := make([]string, len(out.Instances))
	for i, inst := range out.Instances {
		ids[i] = aws.ToString(inst.InstanceId)
	}
	sort.Strings(ids)
	return ids
}

func (f *motoFixture) targetGroup(delaySeconds int) (arn, name string) {
	f.t.Helper()
	name = uniqueName("tg")
	out, err := f.c.elbv2.CreateTargetGroup(f.ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(f.vpcID),
		HealthCheckIntervalSeconds: aws.Int32(15), HealthyThresholdCount: aws.Int32(3), UnhealthyThresholdCount: aws.Int32(4),
	})
	if err != nil {
		f.t.Fatalf("CreateTargetGroup: %v", err)
	}
	arn = aws.ToString(out.TargetGroups[0].TargetGroupArn)
	_, err = f.c.elbv2.ModifyTargetGroupAttributes(f.ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: aws.String(arn),
		Attributes:     []elbv2types.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(fmt.Sprint(delaySeconds))}},
	})
	if err != nil {
		f.t.Fatalf("ModifyTargetGroupAttributes: %v", err)
	}
	return arn, name
}

func targetsOf(port int32, ids ...string) []rollout.Target {
	out := make([]rollout.Target, len(ids))
	for i, id := range ids {
		out[i] = rollout.Target{InstanceID: id, Port: port}
	}
	return out
}

func TestMoto_newValidatesCredentialsAndReportsCallerIdentity(t *testing.T) {
	c := motoClient(t)
	account, arn := c.CallerIdentity()
	if account == "" || !strings.HasPrefix(arn, "arn:aws:") {
		t.Fatalf("CallerIdentity() = %q, %q; want moto's account and an ARN", account, arn)
	}
	if got := c.CallCounts()["GetCallerIdentity"]; got != 1 {
		t.Fatalf("GetCallerIdentity calls = %d, want 1", got)
	}
}

func TestMoto_loadBalancerRegistersDeregistersAndReportsHealth(t *testing.T) {
	f := newMotoFixture(t)
	arn, _ := f.targetGroup(30)
	ids := f.runInstances(3, nil)
	lb := f.c.Ports(nil, nil).LB

	if err := lb.Register(f.ctx, arn, targetsOf(80, ids...)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	rows, err := lb.TargetHealth(f.ctx, arn)
	if err != nil {
		t.Fatalf("TargetHealth: %v", err)
	}
	if got := healthIDs(rows); strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("registered targets = %v, want %v", got, ids)
	}
	if err := lb.Deregister(f.ctx, arn, targetsOf(80, ids[0])); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	rows, err = lb.TargetHealth(f.ctx, arn)
	if err != nil {
		t.Fatalf("TargetHealth: %v", err)
	}
	for _, r := range rows {
		if r.InstanceID == ids[0] && r.State != rollout.HealthDraining && r.State != rollout.HealthUnused {
			t.Fatalf("deregistered %s is %s, want draining or gone", ids[0], r.State)
		}
	}
	counts := f.c.CallCounts()
	if counts["RegisterTargets"] != 1 || counts["DeregisterTargets"] != 1 {
		t.Fatalf("calls = %v, want one RegisterTargets and one DeregisterTargets", counts)
	}
}

func healthIDs(rows []rollout.TargetHealth) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.InstanceID)
	}
	sort.Strings(ids)
	return ids
}

func TestMoto_registerOnMissingTargetGroupIsNotFound(t *testing.T) {
	f := newMotoFixture(t)
	missing := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef"
	err := f.c.Ports(nil, nil).LB.Register(f.ctx, missing, targetsOf(80, "i-0123456789abcdef0"))
	if !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("Register on a missing group: %v, want ErrNotFound", err)
	}
	if !strings.HasPrefix(err.Error(), "elbv2 RegisterTargets: TargetGroupNotFound") {
		t.Fatalf("error text %q does not name service, operation and AWS code", err)
	}
}

func TestMoto_discoverFleetFindsRegisteredAndInterruptedInstances(t *testing.T) {
	f := newMotoFixture(t)
	arn, name := f.targetGroup(42)
	otherARN, _ := f.targetGroup(300)
	registered := f.runInstances(2, map[string]string{rollout.TagVersion: "v1", "Name": "web"})
	if _, err := f.c.elbv2.RegisterTargets(f.ctx, &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(arn), Targets: targetDescriptions(targetsOf(8080, registered...)),
	}); err != nil {
		t.Fatalf("RegisterTargets: %v", err)
	}
	// Taken out by a crashed rollout: tagged, no longer registered.
	interrupted := f.runInstances(1, map[string]string{
		rollout.TagVersion: "v1", rollout.TagPhase: "step:deploy", rollout.TagRollout: "r-1",
		rollout.TagTargets: rollout.EncodeTargets(map[string][]rollout.Target{arn: targetsOf(8080, "x")}),
	})[0]
	// Out of service for another configuration's group: must be left out.
	foreign := f.runInstances(1, map[string]string{
		rollout.TagPhase:   "draining",
		rollout.TagTargets: rollout.EncodeTargets(map[string][]rollout.Target{otherARN: targetsOf(80, "x")}),
	})[0]

	fleet, err := f.c.DiscoverFleet(f.ctx, []string{arn}, nil)
	if err != nil {
		t.Fatalf("DiscoverFleet: %v", err)
	}
	if len(fleet.TargetGroups) != 1 {
		t.Fatalf("target groups = %+v", fleet.TargetGroups)
	}
	tg := fleet.TargetGroups[0]
	if tg.ARN != arn || tg.Name != name || tg.DeregistrationDelay != 42*time.Second ||
		tg.HealthCheckInterval != 15*time.Second || tg.HealthyThreshold != 3 || tg.UnhealthyThreshold != 4 {
		t.Fatalf("target group = %+v", tg)
	}
	byID := map[string]rollout.Instance{}
	for _, inst := range fleet.Instances {
		byID[inst.ID] = inst
	}
	if _, ok := byID[foreign]; ok {
		t.Fatalf("instance %s out of service for another group was included", foreign)
	}
	for _, id := range registered {
		inst, ok := byID[id]
		if !ok {
			t.Fatalf("registered instance %s missing from %+v", id, fleet.Instances)
		}
		if inst.Version() != "v1" || inst.AZ == "" || inst.State != "running" {
			t.Fatalf("instance %s = %+v", id, inst)
		}
		if _, ok := inst.Tags["Name"]; ok {
			t.Fatalf("non-provider tag leaked into %+v", inst.Tags)
		}
		if got := inst.Targets[arn]; len(got) != 1 || got[0].Port != 8080 {
			t.Fatalf("targets of %s = %+v", id, inst.Targets)
		}
	}
	inst, ok := byID[interrupted]
	if !ok {
		t.Fatalf("interrupted instance %s missing", interrupted)
	}
	if got := inst.Targets[arn]; len(got) != 1 || got[0].Port != 8080 || got[0].InstanceID != interrupted {
		t.Fatalf("decoded targets of interrupted instance = %+v", inst.Targets)
	}
	if h := inst.Health[arn]; h.State != rollout.HealthUnused || h.Reason != "Target.NotRegistered" {
		t.Fatalf("health of interrupted instance = %+v", h)
	}
	if len(fleet.Instances) != 3 {
		t.Fatalf("fleet has %d instances, want 3", len(fleet.Instances))
	}

	only, err := f.c.DiscoverFleet(f.ctx, []string{arn}, []string{registered[1]})
	if err != nil {
		t.Fatalf("DiscoverFleet restricted: %v", err)
	}
	if len(only.Instances) != 1 || only.Instances[0].ID != registered[1] {
		t.Fatalf("restricted fleet = %+v", only.Instances)
	}
}

func TestMoto_discoverFleetNamesTheMissingTargetGroup(t *testing.T) {
	f := newMotoFixture(t)
	arn, _ := f.targetGroup(10)
	missing := strings.Replace(arn, "/tg-", "/gone-", 1)
	missing = missing[:strings.LastIndexByte(missing, '/')+1] + "ffffffffffffffff"
	_, err := f.c.DiscoverFleet(f.ctx, []string{arn, missing}, nil)
	if !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("DiscoverFleet with a missing group: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), missing) || strings.Contains(err.Error(), arn+",") {
		t.Fatalf("error %q should name exactly the missing ARN %s", err, missing)
	}
}

func TestMoto_findTargetGroupsByName(t *testing.T) {
	f := newMotoFixture(t)
	arn, name := f.targetGroup(7)
	got, err := f.c.FindTargetGroups(f.ctx, nil, []string{name})
	if err != nil {
		t.Fatalf("FindTargetGroups: %v", err)
	}
	if len(got) != 1 || got[0].ARN != arn || got[0].DeregistrationDelay != 7*time.Second {
		t.Fatalf("FindTargetGroups = %+v", got)
	}
	if _, err := f.c.FindTargetGroups(f.ctx, nil, []string{"no-such-group-x"}); !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("missing name: %v, want ErrNotFound", err)
	}
}

func TestMoto_taggerSetsAndRemovesTagsOnManyInstances(t *testing.T) {
	f := newMotoFixture(t)
	ids := f.runInstances(3, nil)
	tags := f.c.Ports(nil, nil).Tags
	if err := tags.SetTags(f.ctx, ids, map[string]string{rollout.TagVersion: "v2", rollout.TagPhase: "draining"}); err != nil {
		t.Fatalf("SetTags: %v", err)
	}
	if err := tags.RemoveTags(f.ctx, ids, []string{rollout.TagPhase}); err != nil {
		t.Fatalf("RemoveTags: %v", err)
	}
	got := f.instanceTags(ids)
	for _, id := range ids {
		if got[id][rollout.TagVersion] != "v2" || got[id][rollout.TagPhase] != "" {
			t.Fatalf("tags of %s = %v", id, got[id])
		}
	}
	if err := f.c.Ports(nil, nil).Tags.RemoveTags(f.ctx, ids, rollout.ProviderTags); err != nil {
		t.Fatalf("RemoveTags: %v", err)
	}
	for id, tags := range f.instanceTags(ids) {
		if len(tags) != 0 {
			t.Fatalf("tags left on %s: %v", id, tags)
		}
	}
	if n := f.c.CallCounts(); n["CreateTags"] != 1 || n["DeleteTags"] != 2 {
		t.Fatalf("calls = %v, want one CreateTags and two DeleteTags for 3 instances", n)
	}
}

func (f *motoFixture) instanceTags(ids []string) map[string]map[string]string {
	f.t.Helper()
	out, err := f.c.ec2.DescribeInstances(f.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		f.t.Fatalf("DescribeInstances: %v", err)
	}
	got := map[string]map[string]string{}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			m := map[string]string{}
			for _, tag := range inst.Tags {
				m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			got[aws.ToString(inst.InstanceId)] = m
		}
	}
	return got
}

func TestMoto_commandRunnerFallsBackToGetCommandInvocation(t *testing.T) {
	f := newMotoFixture(t)
	ids := f.runInstances(2, nil)
	runner := f.c.Ports(nil, nil).Commands
	sent, err := runner.Send(f.ctx, rollout.Command{
		DocumentName: "AWS-RunShellScript",
		Parameters:   map[string][]string{"commands": {"echo hi"}},
		Timeout:      time.Minute,
		Comment:      "rolling test",
	}, ids)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(sent) != 2 || sent[ids[0]] == "" || sent[ids[0]] != sent[ids[1]] {
		t.Fatalf("Send = %v, want one command id for both instances", sent)
	}
	invs, err := runner.Invocations(f.ctx, sent)
	if err != nil {
		t.Fatalf("Invocations: %v", err)
	}
	if len(invs) != 2 {
		t.Fatalf("Invocations = %+v", invs)
	}
	for _, inv := range invs {
		if inv.Status != rollout.InvocationSuccess || inv.CommandID != sent[inv.InstanceID] {
			t.Fatalf("invocation = %+v, want Success (moto finishes at once)", inv)
		}
	}
	n := f.c.CallCounts()
	if n["ListCommandInvocations"] != 1 || n["GetCommandInvocation"] != 2 {
		t.Fatalf("calls = %v, want one ListCommandInvocations probe then GetCommandInvocation per instance", n)
	}
	if !f.c.listInvocationsUnsupported.Load() {
		t.Fatalf("the not-implemented answer was not remembered")
	}
	// Cancel is best effort: moto lacks CancelCommand, which is not an error.
	if err := runner.Cancel(f.ctx, sent); err != nil {
		t.Fatalf("Cancel against moto: %v", err)
	}
}

// autoScalingGroup creates a group of n instances, attached to the target
// groups, and returns its name and instance ids.
func (f *motoFixture) autoScalingGroup(n int, targetGroupARNs ...string) (string, []string) {
	f.t.Helper()
	group, lt := uniqueName("asg"), uniqueName("lt")
	if _, err := f.c.ec2.CreateLaunchTemplate(f.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(lt),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(f.ami), InstanceType: ec2types.InstanceTypeT3Micro},
	}); err != nil {
		f.t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	if _, err := f.c.autoscaling.CreateAutoScalingGroup(f.ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group), MinSize: aws.Int32(0), MaxSize: aws.Int32(int32(n + 1)), DesiredCapacity: aws.Int32(int32(n)),
		LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(lt)},
		AvailabilityZones: []string{"us-east-1a"},
		TargetGroupARNs:   targetGroupARNs,
	}); err != nil {
		f.t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	g, err := f.c.describeAutoScalingGroups(f.ctx, []string{group})
	if err != nil || len(g) != 1 || len(g[0].Instances) != n {
		f.t.Fatalf("group: %v %+v", err, g)
	}
	var ids []string
	for _, i := range g[0].Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	sort.Strings(ids)
	return group, ids
}

func TestMoto_discoverFleetKeepsStandbyInstancesOfAnAttachedGroup(t *testing.T) {
	f := newMotoFixture(t)
	arn, _ := f.targetGroup(20)
	group, ids := f.autoScalingGroup(3, arn)
	// A crashed rollout put ids[0] in Standby (which deregisters it) and
	// tagged it, but never wrote rolling:targets.
	if err := f.c.Ports(nil, nil).Standby.EnterStandby(f.ctx, group, ids[:1]); err != nil {
		t.Fatalf("EnterStandby: %v", err)
	}
	if err := f.c.Ports(nil, nil).Tags.SetTags(f.ctx, ids[:1], map[string]string{rollout.TagPhase: "step:deploy"}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Ports(nil, nil).LB.Deregister(f.ctx, arn, targetsOf(0, ids[0])); err != nil {
		t.Fatal(err)
	}
	fleet, err := f.c.DiscoverFleet(f.ctx, []string{arn}, nil)
	if err != nil {
		t.Fatalf("DiscoverFleet: %v", err)
	}
	var standby *rollout.Instance
	for i := range fleet.Instances {
		if fleet.Instances[i].ID == ids[0] {
			standby = &fleet.Instances[i]
		}
		if fleet.Instances[i].AutoScalingGroup != group {
			t.Fatalf("instance %s: group %q, want %q", fleet.Instances[i].ID, fleet.Instances[i].AutoScalingGroup, group)
		}
	}
	if standby == nil {
		t.Fatalf("standby instance %s missing from %+v", ids[0], fleet.Instances)
	}
	if standby.LifecycleState != "Standby" || standby.Health[arn].State != rollout.HealthUnused || standby.Health[arn].Reason != "Target.NotRegistered" {
		t.Fatalf("standby instance = %+v", *standby)
	}
	if len(fleet.AutoScalingGroups) != 1 || fleet.AutoScalingGroups[0].Name != group ||
		len(fleet.AutoScalingGroups[0].TargetGroupARNs) != 1 || fleet.AutoScalingGroups[0].TargetGroupARNs[0] != arn {
		t.Fatalf("auto scaling groups = %+v", fleet.AutoScalingGroups)
	}
}

func TestMoto_standbyEntersAndExitsAndSuspendsProcesses(t *testing.T) {
	f := newMotoFixture(t)
	group, ids := f.autoScalingGroup(3)
	var g []asgtypes.AutoScalingGroup
	sb := f.c.Ports(nil, nil).Standby
	if err := sb.EnterStandby(f.ctx, group, ids[:2]); err != nil {
		t.Fatalf("EnterStandby: %v", err)
	}
	states, err := sb.LifecycleStates(f.ctx, ids)
	if err != nil {
		t.Fatalf("LifecycleStates: %v", err)
	}
	if states[ids[0]] != "Standby" || states[ids[1]] != "Standby" || states[ids[2]] != "InService" {
		t.Fatalf("states after EnterStandby = %v", states)
	}
	g, _ = f.c.describeAutoScalingGroups(f.ctx, []string{group})
	if d := aws.ToInt32(g[0].DesiredCapacity); d != 1 {
		t.Fatalf("desired capacity = %d, want 1 (decremented)", d)
	}
	if err := sb.ExitStandby(f.ctx, group, ids[:2]); err != nil {
		t.Fatalf("ExitStandby: %v", err)
	}
	states, _ = sb.LifecycleStates(f.ctx, ids)
	if states[ids[0]] != "InService" {
		t.Fatalf("state after ExitStandby = %v", states)
	}
	if err := sb.SuspendProcesses(f.ctx, group, []string{"AZRebalance", "ReplaceUnhealthy"}); err != nil {
		t.Fatalf("SuspendProcesses: %v", err)
	}
	g, _ = f.c.describeAutoScalingGroups(f.ctx, []string{group})
	if len(g[0].SuspendedProcesses) != 2 {
		t.Fatalf("suspended = %+v", g[0].SuspendedProcesses)
	}
	if err := sb.ResumeProcesses(f.ctx, group, []string{"AZRebalance", "ReplaceUnhealthy"}); err != nil {
		t.Fatalf("ResumeProcesses: %v", err)
	}
	g, _ = f.c.describeAutoScalingGroups(f.ctx, []string{group})
	if len(g[0].SuspendedProcesses) != 0 {
		t.Fatalf("still suspended = %+v", g[0].SuspendedProcesses)
	}
}

// CloudWatch is not tested against moto: moto 5.2 does not speak the
// rpc-v2-cbor protocol the Go SDK uses for CloudWatch (it answers 404 with a
// body the SDK cannot decode). Alarms are tested against fleetsim.
