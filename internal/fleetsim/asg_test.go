package fleetsim

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

func seedGroup(s *Sim, n int) (tgARN string, ids []string) {
	tgARN = s.AddTargetGroup(TargetGroupConfig{Name: "web", HealthCheckInterval: 10 * time.Second, HealthyThreshold: 2, DeregistrationDelay: 30 * time.Second})
	s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tgARN}, Min: 1, Max: 10, LaunchVersion: "v1",
		Tags: map[string]string{"Name": "web"}})
	ids = s.AddInstances(InstanceConfig{Count: n, AppVersion: "v1", AutoScalingGroup: "web-asg", Tags: map[string]string{"Name": "web", "rolling:version": "v1"}})
	return tgARN, ids
}

func lifecycle(t *testing.T, c *autoscaling.Client, id string) asgtypes.AutoScalingInstanceDetails {
	t.Helper()
	out, err := c.DescribeAutoScalingInstances(ctx(t), &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.AutoScalingInstances) != 1 {
		t.Fatalf("DescribeAutoScalingInstances: %v %+v", err, out)
	}
	return out.AutoScalingInstances[0]
}

func TestAutoScaling_standbyDrainsThenExitRegistersAgain(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	tg, ids := seedGroup(s, 3)
	c := autoscaling.NewFromConfig(cfg)
	lb := elbv2.NewFromConfig(cfg)
	if d := lifecycle(t, c, ids[0]); *d.LifecycleState != "InService" || *d.HealthStatus != "HEALTHY" || *d.AutoScalingGroupName != "web-asg" {
		t.Fatalf("seeded %+v", d)
	}
	out, err := c.EnterStandby(ctx(t), &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: ids[:1], ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if err != nil || len(out.Activities) != 1 {
		t.Fatalf("EnterStandby: %v %+v", err, out)
	}
	if d := lifecycle(t, c, ids[0]); *d.LifecycleState != "EnteringStandby" {
		t.Fatalf("while draining: %s", *d.LifecycleState)
	}
	if h := targetStates(t, lb, tg)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumDraining {
		t.Fatalf("target while entering standby: %+v", h)
	}
	s.Advance(31 * time.Second)
	if d := lifecycle(t, c, ids[0]); *d.LifecycleState != "Standby" {
		t.Fatalf("after draining: %s", *d.LifecycleState)
	}
	groups, err := c.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web-asg"}})
	if err != nil || *groups.AutoScalingGroups[0].DesiredCapacity != 2 || len(groups.AutoScalingGroups[0].Instances) != 3 {
		t.Fatalf("group %v %+v", err, groups)
	}
	if _, err := c.ExitStandby(ctx(t), &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	if d := lifecycle(t, c, ids[0]); *d.LifecycleState != "Pending" {
		t.Fatalf("exiting: %s", *d.LifecycleState)
	}
	if h := targetStates(t, lb, tg)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumInitial {
		t.Fatalf("registered again: %+v", h)
	}
	s.Advance(21 * time.Second)
	if d := lifecycle(t, c, ids[0]); *d.LifecycleState != "InService" {
		t.Fatalf("exited: %s", *d.LifecycleState)
	}
	if h := targetStates(t, lb, tg)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("healthy again: %+v", h)
	}
}

func TestAutoScaling_unhealthyInServiceInstanceIsReplacedUnlessSuspended(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	tg, ids := seedGroup(s, 2)
	c := autoscaling.NewFromConfig(cfg)
	s.Faults().NeverHealthy("v1", ids[0])
	s.Advance(20 * time.Second) // unhealthy after 2 failing checks = first unhealthy check
	if snap, _ := s.Instance(ids[0]); snap.State != StateRunning {
		t.Fatalf("replaced too early: %+v", snap)
	}
	s.Advance(10 * time.Second) // second check while unhealthy -> replaced
	snap, _ := s.Instance(ids[0])
	if snap.State != StateTerminated {
		t.Fatalf("unhealthy instance not replaced: %+v", snap)
	}
	groups, _ := c.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{})
	var replacement string
	for _, i := range groups.AutoScalingGroups[0].Instances {
		if *i.InstanceId != ids[1] {
			replacement = *i.InstanceId
		}
	}
	if replacement == "" || replacement == ids[0] {
		t.Fatalf("no replacement in %+v", groups.AutoScalingGroups[0].Instances)
	}
	s.Advance(21*time.Second + 20*time.Second)
	r, _ := s.Instance(replacement)
	if r.State != StateRunning || r.AppVersion != "v1" || len(r.RollingTags) != 0 || r.Targets[tg] != TargetHealthy || r.Tags["Name"] != "web" {
		t.Fatalf("replacement %+v", r)
	}

	// With ReplaceUnhealthy suspended the group leaves unhealthy instances alone.
	if _, err := c.SuspendProcesses(ctx(t), &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web-asg"), ScalingProcesses: []string{"ReplaceUnhealthy"}}); err != nil {
		t.Fatal(err)
	}
	s.Faults().NeverHealthy("v1", ids[1])
	s.Advance(2 * time.Minute)
	if snap, _ := s.Instance(ids[1]); snap.State != StateRunning {
		t.Fatalf("suspended ReplaceUnhealthy still replaced: %+v", snap)
	}
	groups, _ = c.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{})
	if sp := groups.AutoScalingGroups[0].SuspendedProcesses; len(sp) != 1 || *sp[0].ProcessName != "ReplaceUnhealthy" {
		t.Fatalf("suspended %+v", sp)
	}
	if _, err := c.ResumeProcesses(ctx(t), &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web-asg")}); err != nil {
		t.Fatal(err)
	}
	groups, _ = c.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{})
	if sp := groups.AutoScalingGroups[0].SuspendedProcesses; len(sp) != 0 {
		t.Fatalf("resumed %+v", sp)
	}
}

func TestAutoScaling_setDesiredCapacityAndValidationErrors(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	_, ids := seedGroup(s, 2)
	c := autoscaling.NewFromConfig(cfg)
	if _, err := c.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	groups, _ := c.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{})
	if g := groups.AutoScalingGroups[0]; *g.DesiredCapacity != 4 || len(g.Instances) != 4 {
		t.Fatalf("scaled out %+v", g)
	}
	_, err := c.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(11)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Fatalf("above max: %v", err)
	}
	_, err = c.ExitStandby(ctx(t), &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: ids[:1]})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Fatalf("exit standby of an InService instance: %v", err)
	}
	_, err = c.EnterStandby(ctx(t), &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String("nope"), InstanceIds: ids[:1], ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Fatalf("unknown group: %v", err)
	}
	if _, err := c.EnterStandby(ctx(t), &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: ids[:1], ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	s.Advance(time.Minute)
	if _, err := c.SuspendProcesses(ctx(t), &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web-asg"), ScalingProcesses: []string{"Launch"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ExitStandby(ctx(t), &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: ids[:1]})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Fatalf("exit standby with Launch suspended: %v", err)
	}
	p := autoscaling.NewDescribeAutoScalingInstancesPaginator(c, &autoscaling.DescribeAutoScalingInstancesInput{MaxRecords: aws.Int32(3)})
	n, pages := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(out.AutoScalingInstances)
	}
	if n != 4 || pages != 2 {
		t.Fatalf("%d instances over %d pages", n, pages)
	}
}
