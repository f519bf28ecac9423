package fleetsim

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func targetStates(t *testing.T, c *elbv2.Client, arn string, ids ...string) map[string]elbtypes.TargetHealth {
	t.Helper()
	in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)}
	for _, id := range ids {
		in.Targets = append(in.Targets, elbtypes.TargetDescription{Id: aws.String(id)})
	}
	out, err := c.DescribeTargetHealth(ctx(t), in)
	if err != nil {
		t.Fatalf("DescribeTargetHealth: %v", err)
	}
	m := map[string]elbtypes.TargetHealth{}
	for _, d := range out.TargetHealthDescriptions {
		m[*d.Target.Id] = *d.TargetHealth
	}
	return m
}

func TestELBv2_describeTargetGroupsPaginatesAndReportsSettings(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	for i := 0; i < 5; i++ {
		s.AddTargetGroup(TargetGroupConfig{Name: "tg" + string(rune('a'+i)), Port: 8080, HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3})
	}
	c := elbv2.NewFromConfig(cfg)
	p := elbv2.NewDescribeTargetGroupsPaginator(c, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(2)})
	var names []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tg := range out.TargetGroups {
			names = append(names, *tg.TargetGroupName)
			if *tg.Port != 8080 || *tg.HealthCheckIntervalSeconds != 10 || *tg.HealthyThresholdCount != 3 || *tg.UnhealthyThresholdCount != 2 {
				t.Errorf("settings of %s: %+v", *tg.TargetGroupName, tg)
			}
		}
	}
	if pages != 3 || len(names) != 5 || names[0] != "tga" || names[4] != "tge" {
		t.Fatalf("pages=%d names=%v", pages, names)
	}
}

func TestELBv2_unknownTargetGroupIsTypedNotFound(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	c := elbv2.NewFromConfig(cfg)
	arn := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef"
	_, err := c.DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	var nf *elbtypes.TargetGroupNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("want TargetGroupNotFoundException, got %T %v", err, err)
	}
	if calls := s.Recorder().Calls("DescribeTargetHealth"); len(calls) != 1 || calls[0].ErrorCode != "TargetGroupNotFound" || calls[0].TargetGroupARN != arn {
		t.Fatalf("recorded %+v", calls)
	}
}

func TestELBv2_registeredTargetGoesInitialThenHealthyAfterThresholdChecks(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", Port: 80, HealthCheckInterval: 30 * time.Second, HealthyThreshold: 3})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := elbv2.NewFromConfig(cfg)
	if _, err := c.RegisterTargets(ctx(t), &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}}); err != nil {
		t.Fatal(err)
	}
	h := targetStates(t, c, arn)[ids[0]]
	if h.State != elbtypes.TargetHealthStateEnumInitial || h.Reason != elbtypes.TargetHealthReasonEnumRegistrationInProgress {
		t.Fatalf("just registered: %+v", h)
	}
	s.Advance(61 * time.Second) // two checks
	h = targetStates(t, c, arn)[ids[0]]
	if h.State != elbtypes.TargetHealthStateEnumInitial || h.Reason != elbtypes.TargetHealthReasonEnumInitialHealthChecking {
		t.Fatalf("after two checks: %+v", h)
	}
	s.Advance(30 * time.Second) // third check
	if h = targetStates(t, c, arn)[ids[0]]; h.State != elbtypes.TargetHealthStateEnumHealthy || h.Reason != "" {
		t.Fatalf("after three checks: %+v", h)
	}
}

func TestELBv2_deregisteredTargetDrainsForTheDelayThenIsGone(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", DeregistrationDelay: 300 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	c := elbv2.NewFromConfig(cfg)
	if _, err := c.DeregisterTargets(ctx(t), &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}}); err != nil {
		t.Fatal(err)
	}
	h := targetStates(t, c, arn)
	if h[ids[0]].State != elbtypes.TargetHealthStateEnumDraining || h[ids[0]].Reason != elbtypes.TargetHealthReasonEnumDeregistrationInProgress {
		t.Fatalf("draining: %+v", h[ids[0]])
	}
	s.Advance(299 * time.Second)
	if h = targetStates(t, c, arn); h[ids[0]].State != elbtypes.TargetHealthStateEnumDraining {
		t.Fatalf("still draining at 299s: %+v", h[ids[0]])
	}
	s.Advance(2 * time.Second)
	h = targetStates(t, c, arn)
	if _, listed := h[ids[0]]; listed || len(h) != 1 {
		t.Fatalf("after the delay the target must be gone: %+v", h)
	}
	if h = targetStates(t, c, arn, ids[0]); h[ids[0]].State != elbtypes.TargetHealthStateEnumUnused || h[ids[0]].Reason != elbtypes.TargetHealthReasonEnumNotRegistered {
		t.Fatalf("asked explicitly: %+v", h[ids[0]])
	}
	if got := s.Recorder().MinInService(arn); got != 1 {
		t.Fatalf("MinInService = %d, want 1", got)
	}
	if got := s.Recorder().MaxOutOfService(); got != 1 {
		t.Fatalf("MaxOutOfService = %d, want 1", got)
	}
}

func TestELBv2_registeringAStoppedInstanceIsInvalidTarget(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	if err := s.Faults().StopInstance(ids[0], 0); err != nil {
		t.Fatal(err)
	}
	_, err := elbv2.NewFromConfig(cfg).RegisterTargets(ctx(t), &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}})
	var it *elbtypes.InvalidTargetException
	if !errors.As(err, &it) {
		t.Fatalf("want InvalidTargetException, got %T %v", err, err)
	}
}

func TestELBv2_stoppedInstanceIsUnusedInvalidStateAndAppStopTurnsUnhealthy(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", HealthCheckInterval: 10 * time.Second, UnhealthyThreshold: 2})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	c := elbv2.NewFromConfig(cfg)
	if err := s.Faults().StopInstance(ids[0], 0); err != nil {
		t.Fatal(err)
	}
	s.Faults().NeverHealthy("v1", ids[1])
	s.Advance(10 * time.Second)
	h := targetStates(t, c, arn)
	if h[ids[0]].State != elbtypes.TargetHealthStateEnumUnused || h[ids[0]].Reason != elbtypes.TargetHealthReasonEnumInvalidState {
		t.Fatalf("stopped: %+v", h[ids[0]])
	}
	if h[ids[1]].State != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("one failed check is not yet unhealthy: %+v", h[ids[1]])
	}
	s.Advance(10 * time.Second)
	if h = targetStates(t, c, arn); h[ids[1]].State != elbtypes.TargetHealthStateEnumUnhealthy || h[ids[1]].Reason != elbtypes.TargetHealthReasonEnumFailedHealthChecks {
		t.Fatalf("after unhealthy threshold: %+v", h[ids[1]])
	}
	if got := s.Recorder().MinInService(arn); got != 0 {
		t.Fatalf("MinInService = %d", got)
	}
}

func TestELBv2_targetGroupAttributesRoundTrip(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web", DeregistrationDelay: 120 * time.Second})
	c := elbv2.NewFromConfig(cfg)
	attrs := func() map[string]string {
		out, err := c.DescribeTargetGroupAttributes(ctx(t), &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, a := range out.Attributes {
			m[*a.Key] = *a.Value
		}
		return m
	}
	if got := attrs()["deregistration_delay.timeout_seconds"]; got != "120" {
		t.Fatalf("delay = %q", got)
	}
	_, err := c.ModifyTargetGroupAttributes(ctx(t), &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("5")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs()["deregistration_delay.timeout_seconds"]; got != "5" {
		t.Fatalf("delay after modify = %q", got)
	}
	_, err = c.ModifyTargetGroupAttributes(ctx(t), &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("9999")}}})
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationError" {
		t.Fatalf("want ValidationError, got %v", err)
	}
}

func TestELBv2_createTargetGroupAndDescribeLoadBalancers(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.AddTargetGroup(TargetGroupConfig{Name: "seeded"})
	c := elbv2.NewFromConfig(cfg)
	out, err := c.CreateTargetGroup(ctx(t), &elbv2.CreateTargetGroupInput{Name: aws.String("api"), Port: aws.Int32(9000),
		Protocol: elbtypes.ProtocolEnumHttp, VpcId: aws.String("vpc-1"), HealthCheckIntervalSeconds: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TargetGroups) != 1 || *out.TargetGroups[0].Port != 9000 || *out.TargetGroups[0].HealthCheckIntervalSeconds != 5 {
		t.Fatalf("created %+v", out.TargetGroups)
	}
	lbs, err := c.DescribeLoadBalancers(ctx(t), &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lbs.LoadBalancers) != 1 || *lbs.LoadBalancers[0].LoadBalancerName != "fleetsim-alb" || len(lbs.LoadBalancers[0].AvailabilityZones) != 3 {
		t.Fatalf("load balancers %+v", lbs.LoadBalancers)
	}
	tgs, err := c.DescribeTargetGroups(ctx(t), &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: lbs.LoadBalancers[0].LoadBalancerArn})
	if err != nil || len(tgs.TargetGroups) != 1 || *tgs.TargetGroups[0].TargetGroupName != "seeded" {
		t.Fatalf("target groups of the ALB: %v %+v", err, tgs)
	}
}
