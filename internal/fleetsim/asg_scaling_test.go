package fleetsim

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

func describeGroup(t *testing.T, c *autoscaling.Client) asgtypes.AutoScalingGroup {
	t.Helper()
	out, err := c.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web-asg"}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("DescribeAutoScalingGroups: %v", err)
	}
	return out.AutoScalingGroups[0]
}

// lifecycles maps each member to its lifecycle state.
func lifecycles(g asgtypes.AutoScalingGroup) map[string]string {
	out := map[string]string{}
	for _, i := range g.Instances {
		out[*i.InstanceId] = string(i.LifecycleState)
	}
	return out
}

func validationMessage(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Fatalf("want ValidationError, got %v", err)
	}
	return ae.ErrorMessage()
}

func TestAutoScaling_updateAutoScalingGroupValidatesAndMovesDesiredWithTheBounds(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	seedGroup(s, 2) // min 1, max 10, desired 2
	c := autoscaling.NewFromConfig(cfg)
	update := func(in autoscaling.UpdateAutoScalingGroupInput) error {
		in.AutoScalingGroupName = aws.String("web-asg")
		_, err := c.UpdateAutoScalingGroup(ctx(t), &in)
		return err
	}
	if msg := validationMessage(t, update(autoscaling.UpdateAutoScalingGroupInput{MinSize: aws.Int32(5), MaxSize: aws.Int32(3)})); msg != "Max bound, 3, must be greater than or equal to min bound, 5" {
		t.Errorf("min above max: %s", msg)
	}
	if msg := validationMessage(t, update(autoscaling.UpdateAutoScalingGroupInput{DesiredCapacity: aws.Int32(11)})); msg != "Desired capacity:11 must be between the specified min size:1 and max size:10" {
		t.Errorf("desired above max: %s", msg)
	}
	if g := describeGroup(t, c); *g.MinSize != 1 || *g.MaxSize != 10 || *g.DesiredCapacity != 2 {
		t.Fatalf("a refused update changed the group: %d/%d/%d", *g.MinSize, *g.DesiredCapacity, *g.MaxSize)
	}
	// A MinSize above the desired capacity raises it: the group scales out.
	if err := update(autoscaling.UpdateAutoScalingGroupInput{MinSize: aws.Int32(3), DefaultCooldown: aws.Int32(60)}); err != nil {
		t.Fatal(err)
	}
	g := describeGroup(t, c)
	if *g.MinSize != 3 || *g.DesiredCapacity != 3 || len(g.Instances) != 3 || *g.DefaultCooldown != 60 {
		t.Fatalf("after MinSize 3: min %d desired %d members %d cooldown %d", *g.MinSize, *g.DesiredCapacity, len(g.Instances), *g.DefaultCooldown)
	}
	// A MaxSize below it lowers it: the group scales in.
	if err := update(autoscaling.UpdateAutoScalingGroupInput{MinSize: aws.Int32(0), MaxSize: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	g = describeGroup(t, c)
	terminating := 0
	for _, st := range lifecycles(g) {
		if st == "Terminating" {
			terminating++
		}
	}
	if *g.MaxSize != 1 || *g.DesiredCapacity != 1 || terminating != 2 {
		t.Fatalf("after MaxSize 1: max %d desired %d lifecycles %v", *g.MaxSize, *g.DesiredCapacity, lifecycles(g))
	}
}

func TestAutoScaling_scaleOutLaunchesBalancedOnTheLaunchVersionAndScaleInDrainsFirst(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	tg := s.AddTargetGroup(TargetGroupConfig{Name: "web", HealthCheckInterval: 10 * time.Second, HealthyThreshold: 2, DeregistrationDelay: 30 * time.Second})
	s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tg}, Min: 1, Max: 10, LaunchVersion: "v2",
		Tags: map[string]string{"Name": "web"}})
	seeded := s.AddInstances(InstanceConfig{Count: 2, AZs: []string{"us-east-1a", "us-east-1b"}, AppVersion: "v1", AutoScalingGroup: "web-asg",
		Tags: map[string]string{"Name": "web", "rolling:version": "v1"}})
	c, lb := autoscaling.NewFromConfig(cfg), elbv2.NewFromConfig(cfg)

	if _, err := c.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	var fresh []string
	for id, st := range lifecycles(describeGroup(t, c)) {
		if id != seeded[0] && id != seeded[1] {
			fresh = append(fresh, id)
			if st != "Pending" {
				t.Errorf("new member %s is %s", id, st)
			}
		}
	}
	if len(fresh) != 2 {
		t.Fatalf("scale-out launched %v", fresh)
	}
	azs := map[string]int{}
	for _, id := range fresh {
		snap, _ := s.Instance(id)
		azs[snap.AZ]++
	}
	if azs["us-east-1c"] != 1 || azs["us-east-1a"] != 1 {
		t.Fatalf("new members' AZs %v: the empty AZ first, then the first of the tied ones", azs)
	}
	s.Advance(20 * time.Second) // launch time
	h := targetStates(t, lb, tg)
	for _, id := range fresh {
		snap, _ := s.Instance(id)
		if snap.State != StateRunning || snap.LifecycleState != "InService" || snap.AppVersion != "v2" || len(snap.RollingTags) != 0 || snap.Tags["Name"] != "web" {
			t.Errorf("launched member %+v", snap)
		}
		if h[id].State != elbtypes.TargetHealthStateEnumInitial {
			t.Errorf("launched member's target %+v", h[id])
		}
	}
	s.Advance(20 * time.Second) // two passing checks
	for _, id := range fresh {
		if h := targetStates(t, lb, tg)[id]; h.State != elbtypes.TargetHealthStateEnumHealthy {
			t.Errorf("target after the healthy threshold %+v", h)
		}
	}

	// Scale in by 2. us-east-1a has two members, the others one each: the
	// first victim is there, and of the two the seeded one (not on the
	// launch version v2). Then the AZs are tied and us-east-1a comes first.
	if _, err := c.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	var victims []string
	for id, st := range lifecycles(describeGroup(t, c)) {
		if st == "Terminating" {
			victims = append(victims, id)
		}
	}
	sort.Strings(victims)
	var inA []string
	for _, id := range append(append([]string(nil), seeded...), fresh...) {
		if snap, _ := s.Instance(id); snap.AZ == "us-east-1a" {
			inA = append(inA, id)
		}
	}
	sort.Strings(inA)
	if len(victims) != 2 || strings.Join(victims, ",") != strings.Join(inA, ",") {
		t.Fatalf("victims %v, want the members in us-east-1a %v", victims, inA)
	}
	for _, id := range victims {
		if h := targetStates(t, lb, tg)[id]; h.State != elbtypes.TargetHealthStateEnumDraining {
			t.Errorf("a victim must drain first: %+v", h)
		}
		if snap, _ := s.Instance(id); snap.State != StateRunning {
			t.Errorf("a draining victim still runs: %s", snap.State)
		}
	}
	s.Advance(31 * time.Second)
	for _, id := range victims {
		if snap, _ := s.Instance(id); snap.State != StateShuttingDown || snap.LifecycleState != "Terminating" {
			t.Errorf("after draining: %s %s", snap.State, snap.LifecycleState)
		}
	}
	s.Advance(30 * time.Second)
	g := describeGroup(t, c)
	if len(g.Instances) != 2 || *g.DesiredCapacity != 2 {
		t.Fatalf("after scale-in: %v", lifecycles(g))
	}
	for _, id := range victims {
		if snap, _ := s.Instance(id); snap.State != StateTerminated {
			t.Errorf("victim %s is %s", id, snap.State)
		}
	}
}

func TestAutoScaling_terminateInstanceInAutoScalingGroupShrinksOrReplaces(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	_, ids := seedGroup(s, 3) // min 1
	c := autoscaling.NewFromConfig(cfg)
	terminate := func(id string, decrement bool) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
		return c.TerminateInstanceInAutoScalingGroup(ctx(t), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(decrement)})
	}
	out, err := terminate(ids[0], true)
	if err != nil {
		t.Fatal(err)
	}
	if a := out.Activity; *a.Description != "Terminating EC2 instance: "+ids[0] || !strings.Contains(*a.Cause, "shrinking the capacity from 3 to 2") || a.StatusCode != asgtypes.ScalingActivityStatusCodeInProgress {
		t.Fatalf("activity %+v", a)
	}
	g := describeGroup(t, c)
	if *g.DesiredCapacity != 2 || lifecycles(g)[ids[0]] != "Terminating" || len(g.Instances) != 3 {
		t.Fatalf("after a decrementing termination: desired %d, %v", *g.DesiredCapacity, lifecycles(g))
	}
	if _, err := terminate(ids[0], true); err != nil {
		t.Fatalf("asking again for a Terminating member: %v", err)
	}
	if _, err := terminate(ids[1], false); err != nil {
		t.Fatal(err)
	}
	g = describeGroup(t, c)
	if *g.DesiredCapacity != 2 || len(g.Instances) != 4 {
		t.Fatalf("without decrement a replacement launches: desired %d, %v", *g.DesiredCapacity, lifecycles(g))
	}
	s.Advance(2 * time.Minute)
	g = describeGroup(t, c)
	if *g.DesiredCapacity != 2 || len(g.Instances) != 2 {
		t.Fatalf("after the terminations: desired %d, %v", *g.DesiredCapacity, lifecycles(g))
	}

	// desired 2, min 1: one more decrement is fine, then the floor holds.
	if _, err := terminate(ids[2], true); err != nil {
		t.Fatal(err)
	}
	var last string
	for id, st := range lifecycles(describeGroup(t, c)) {
		if st == "InService" {
			last = id
		}
	}
	_, err = terminate(last, true)
	if msg := validationMessage(t, err); !strings.HasPrefix(msg, "Currently, desiredSize equals minSize (1).") {
		t.Errorf("below min: %s", msg)
	}
	_, err = terminate("i-0123456789abcdef0", false)
	if msg := validationMessage(t, err); msg != "Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0" {
		t.Errorf("unknown instance: %s", msg)
	}
	s.Advance(2 * time.Minute)
	_, err = terminate(ids[2], false)
	if msg := validationMessage(t, err); !strings.HasPrefix(msg, "Instance Id not found") {
		t.Errorf("a terminated former member: %s", msg)
	}
	// EnterStandby still refuses to go below MinSize.
	_, err = c.EnterStandby(ctx(t), &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: []string{last}, ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if msg := validationMessage(t, err); !strings.Contains(msg, "min-size=1") {
		t.Errorf("standby below min: %s", msg)
	}
}

func TestAutoScaling_setDesiredCapacityHonoursTheCooldownOnlyWhenAsked(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	seedGroup(s, 2)
	c := autoscaling.NewFromConfig(cfg)
	set := func(n int32, honor bool) error {
		_, err := c.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(n), HonorCooldown: aws.Bool(honor)})
		return err
	}
	if err := set(3, true); err != nil {
		t.Fatalf("no scaling yet, no cooldown: %v", err)
	}
	var ae smithy.APIError
	if err := set(4, true); !errors.As(err, &ae) || ae.ErrorCode() != "ScalingActivityInProgress" {
		t.Fatalf("within the 300s cooldown: %v", err)
	}
	if err := set(4, false); err != nil {
		t.Fatalf("manual scaling ignores the cooldown by default: %v", err)
	}
	s.Advance(301 * time.Second)
	if err := set(5, true); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
	if g := describeGroup(t, c); *g.DesiredCapacity != 5 {
		t.Fatalf("desired %d", *g.DesiredCapacity)
	}
}
