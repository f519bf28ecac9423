package fleetsim

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

func ec2State(t *testing.T, c *ec2.Client, id string) ec2types.InstanceStateName {
	t.Helper()
	out, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	return out.Reservations[0].Instances[0].State.Name
}

func pingStatuses(t *testing.T, c *ssm.Client) map[string]ssmtypes.PingStatus {
	t.Helper()
	out := map[string]ssmtypes.PingStatus{}
	p := ssm.NewDescribeInstanceInformationPaginator(c, &ssm.DescribeInstanceInformationInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("DescribeInstanceInformation: %v", err)
		}
		for _, i := range page.InstanceInformationList {
			out[*i.InstanceId] = i.PingStatus
		}
	}
	return out
}

func wantChange(t *testing.T, got []ec2types.InstanceStateChange, id string, prev, cur ec2types.InstanceStateName, prevCode, curCode int32) {
	t.Helper()
	if len(got) != 1 || *got[0].InstanceId != id || got[0].PreviousState.Name != prev || *got[0].PreviousState.Code != prevCode ||
		got[0].CurrentState.Name != cur || *got[0].CurrentState.Code != curCode {
		t.Fatalf("state change %s: want %s(%d) -> %s(%d), got %+v", id, prev, prevCode, cur, curCode, got)
	}
}

func TestEC2_stopAndStartTakeTheirTimeAndMoveTargetsAndAgent(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", HealthCheckInterval: 10 * time.Second, HealthyThreshold: 2})
	other := s.AddTargetGroup(TargetGroupConfig{Name: "other"})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	c, lb, sm := ec2.NewFromConfig(cfg), elbv2.NewFromConfig(cfg), ssm.NewFromConfig(cfg)

	stop, err := c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatal(err)
	}
	wantChange(t, stop.StoppingInstances, ids[0], ec2types.InstanceStateNameRunning, ec2types.InstanceStateNameStopping, 16, 64)
	h := targetStates(t, lb, arn)[ids[0]]
	if h.State != elbtypes.TargetHealthStateEnumUnused || h.Reason != elbtypes.TargetHealthReasonEnumInvalidState || *h.Description != "Target is in the stopped state" {
		t.Fatalf("target of a stopping instance: %+v", h)
	}
	if p := pingStatuses(t, sm); p[ids[0]] != ssmtypes.PingStatusConnectionLost || p[ids[1]] != ssmtypes.PingStatusOnline {
		t.Fatalf("ping while stopping: %v", p)
	}
	s.Advance(29 * time.Second)
	if st := ec2State(t, c, ids[0]); st != ec2types.InstanceStateNameStopping {
		t.Fatalf("at 29s: %s", st)
	}
	s.Advance(time.Second)
	if st := ec2State(t, c, ids[0]); st != ec2types.InstanceStateNameStopped {
		t.Fatalf("at 30s: %s", st)
	}
	_, err = lb.RegisterTargets(ctx(t), &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(other), Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}})
	var invalid *elbtypes.InvalidTargetException
	if !errors.As(err, &invalid) {
		t.Fatalf("registering a stopped instance: %v", err)
	}
	// A stopped instance is in a state SSM accepts: the command waits for
	// the agent (Delayed) and ends Undeliverable.
	cmd := runShell(t, sm, ids[:1], "echo hi")
	s.Advance(10 * time.Second)
	if inv := getInvocation(t, sm, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusDelayed {
		t.Fatalf("command to a stopped instance: %s", inv.Status)
	}

	start, err := c.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatal(err)
	}
	wantChange(t, start.StartingInstances, ids[0], ec2types.InstanceStateNameStopped, ec2types.InstanceStateNamePending, 80, 0)
	s.Advance(20 * time.Second)
	if st := ec2State(t, c, ids[0]); st != ec2types.InstanceStateNameRunning {
		t.Fatalf("20s after start: %s", st)
	}
	if h := targetStates(t, lb, arn)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumInitial {
		t.Fatalf("target after start: %+v", h)
	}
	if p := pingStatuses(t, sm); p[ids[0]] != ssmtypes.PingStatusOnline {
		t.Fatalf("ping after start: %v", p)
	}
	s.Advance(20 * time.Second)
	if h := targetStates(t, lb, arn)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("target two checks after start: %+v", h)
	}
	if snap, _ := s.Instance(ids[0]); !snap.AppRunning || snap.AppVersion != "v1" {
		t.Fatalf("the app starts at boot: %+v", snap)
	}
}

func TestEC2_terminatedInstanceLeavesSSMAtOnceAndEC2AndItsTargetGroupAfterAnHour(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	c, lb, sm := ec2.NewFromConfig(cfg), elbv2.NewFromConfig(cfg), ssm.NewFromConfig(cfg)

	out, err := c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatal(err)
	}
	wantChange(t, out.TerminatingInstances, ids[0], ec2types.InstanceStateNameRunning, ec2types.InstanceStateNameShuttingDown, 16, 32)
	_, err = sm.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids[:1],
		Parameters: map[string][]string{"commands": {"echo hi"}}})
	var badID *ssmtypes.InvalidInstanceId
	if !errors.As(err, &badID) {
		t.Fatalf("SendCommand to a shutting-down instance: %v", err)
	}
	s.Advance(30 * time.Second)
	if st := ec2State(t, c, ids[0]); st != ec2types.InstanceStateNameTerminated {
		t.Fatalf("30s after terminate: %s", st)
	}
	if _, listed := pingStatuses(t, sm)[ids[0]]; listed {
		t.Fatal("a terminated instance is still a managed node")
	}
	h := targetStates(t, lb, arn)[ids[0]]
	if h.State != elbtypes.TargetHealthStateEnumUnused || *h.Description != "Target is in the terminated state" {
		t.Fatalf("target of a terminated instance: %+v", h)
	}
	again, err := c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatalf("terminating twice: %v", err)
	}
	wantChange(t, again.TerminatingInstances, ids[0], ec2types.InstanceStateNameTerminated, ec2types.InstanceStateNameTerminated, 48, 48)

	s.Advance(time.Hour)
	_, err = c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceID.NotFound" {
		t.Fatalf("an hour later: %v", err)
	}
	if h := targetStates(t, lb, arn); len(h) != 1 || h[ids[1]].State != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("the terminated target must have dropped out: %+v", h)
	}
}

func TestEC2_stateChangesRefuseWhatEC2RefusesAndRepeatHarmlessly(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1"})
	c := ec2.NewFromConfig(cfg)
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return ""
	}
	if _, err := c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	again, err := c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatalf("stopping a stopping instance: %v", err)
	}
	wantChange(t, again.StoppingInstances, ids[0], ec2types.InstanceStateNameStopping, ec2types.InstanceStateNameStopping, 64, 64)
	// One instance in the wrong state fails the whole call: nothing changes.
	_, err = c.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids})
	if code(err) != "IncorrectInstanceState" {
		t.Fatalf("starting a stopping instance: %v", err)
	}
	if st := ec2State(t, c, ids[1]); st != ec2types.InstanceStateNameRunning {
		t.Fatalf("the other instance changed: %s", st)
	}
	_, err = c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids, DryRun: aws.Bool(true)})
	if code(err) != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	if st := ec2State(t, c, ids[1]); st != ec2types.InstanceStateNameRunning {
		t.Fatalf("a dry run stopped the instance: %s", st)
	}
	if _, err := c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids[1:]}); err != nil {
		t.Fatal(err)
	}
	if _, err = c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids[1:]}); code(err) != "IncorrectInstanceState" {
		t.Fatalf("stopping a shutting-down instance: %v", err)
	}
	if _, err = c.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids[1:]}); code(err) != "IncorrectInstanceState" {
		t.Fatalf("starting a shutting-down instance: %v", err)
	}
	if _, err = c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}}); code(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err = c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{"web-1"}}); code(err) != "InvalidInstanceID.Malformed" {
		t.Fatalf("malformed id: %v", err)
	}
}

func TestEC2_autoScalingReplacesAMemberStoppedOrTerminatedBehindItsBack(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	tg, ids := seedGroup(s, 3)
	c, as := ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
	if _, err := c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	s.Advance(11 * time.Second) // the group's health check noticed
	if d := lifecycle(t, as, ids[0]); *d.LifecycleState != "Terminating" || *d.HealthStatus != "UNHEALTHY" {
		t.Fatalf("noticed member: %s %s", *d.LifecycleState, *d.HealthStatus)
	}
	group := func() (desired int32, members map[string]string) {
		out, err := as.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web-asg"}})
		if err != nil {
			t.Fatal(err)
		}
		members = map[string]string{}
		for _, i := range out.AutoScalingGroups[0].Instances {
			members[*i.InstanceId] = string(i.LifecycleState)
		}
		return *out.AutoScalingGroups[0].DesiredCapacity, members
	}
	desired, members := group()
	var replacement string
	for id, state := range members {
		if id != ids[0] && id != ids[1] && id != ids[2] {
			replacement = id
			if state != "Pending" {
				t.Fatalf("replacement is %s", state)
			}
		}
	}
	if desired != 3 || replacement == "" {
		t.Fatalf("desired %d, members %v", desired, members)
	}
	s.Advance(time.Minute) // drained (30s), shut down, replacement launched and healthy
	desired, members = group()
	if _, still := members[ids[0]]; still || desired != 3 || members[replacement] != "InService" {
		t.Fatalf("after replacement: desired %d, members %v", desired, members)
	}
	if r, _ := s.Instance(replacement); r.Targets[tg] != TargetHealthy || r.AppVersion != "v1" || len(r.RollingTags) != 0 {
		t.Fatalf("replacement %+v", r)
	}

	// With ReplaceUnhealthy suspended a stopped member stays, unhealthy.
	if _, err := as.SuspendProcesses(ctx(t), &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web-asg"), ScalingProcesses: []string{"ReplaceUnhealthy"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids[1:2]}); err != nil {
		t.Fatal(err)
	}
	s.Advance(2 * time.Minute)
	if d := lifecycle(t, as, ids[1]); *d.LifecycleState != "InService" || *d.HealthStatus != "UNHEALTHY" {
		t.Fatalf("stopped member with ReplaceUnhealthy suspended: %s %s", *d.LifecycleState, *d.HealthStatus)
	}
	if st := ec2State(t, c, ids[1]); st != ec2types.InstanceStateNameStopped {
		t.Fatalf("stopped member: %s", st)
	}
}
