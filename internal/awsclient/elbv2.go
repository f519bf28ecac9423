package awsclient

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// loadBalancer implements rollout.LoadBalancer with ELBv2.
type loadBalancer struct{ c *Client }

func targetDescriptions(targets []rollout.Target) []elbv2types.TargetDescription {
	out := make([]elbv2types.TargetDescription, len(targets))
	for i, t := range targets {
		out[i].Id = aws.String(t.InstanceID)
		// Port 0 means "the group's port": omit it rather than send 0,
		// which ELB rejects.
		if t.Port != 0 {
			out[i].Port = aws.Int32(t.Port)
		}
	}
	return out
}

// Deregister and Register send one call per 200 targets, all at once.
func (lb *loadBalancer) Deregister(ctx context.Context, targetGroupARN string, targets []rollout.Target) error {
	return eachChunk(ctx, targets, maxTargetsPerCall, func(ctx context.Context, part []rollout.Target) error {
		_, err := lb.c.elbv2.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
			TargetGroupArn: aws.String(targetGroupARN),
			Targets:        targetDescriptions(part),
		})
		if err != nil {
			return translate("elbv2", "DeregisterTargets", err)
		}
		return nil
	})
}

func (lb *loadBalancer) Register(ctx context.Context, targetGroupARN string, targets []rollout.Target) error {
	return eachChunk(ctx, targets, maxTargetsPerCall, func(ctx context.Context, part []rollout.Target) error {
		_, err := lb.c.elbv2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(targetGroupARN),
			Targets:        targetDescriptions(part),
		})
		if err != nil {
			return translate("elbv2", "RegisterTargets", err)
		}
		return nil
	})
}

func (lb *loadBalancer) TargetHealth(ctx context.Context, targetGroupARN string) ([]rollout.TargetHealth, error) {
	return lb.c.describeTargetHealth(ctx, targetGroupARN)
}

// TargetsHealth is DescribeTargetHealth for the given targets only (the
// engine asks for at most 100 at a time): a poll of a few instances in a
// large target group then carries a few rows, not all of them.
func (lb *loadBalancer) TargetsHealth(ctx context.Context, targetGroupARN string, targets []rollout.Target) ([]rollout.TargetHealth, error) {
	return lb.c.describeTargetHealth(ctx, targetGroupARN, targets...)
}

// describeTargetHealth reads the health of targets in the group, or of
// every registered target when none is given.
func (c *Client) describeTargetHealth(ctx context.Context, targetGroupARN string, targets ...rollout.Target) ([]rollout.TargetHealth, error) {
	in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(targetGroupARN)}
	for _, t := range targets {
		d := elbv2types.TargetDescription{Id: aws.String(t.InstanceID)}
		if t.Port != 0 {
			d.Port = aws.Int32(t.Port)
		}
		in.Targets = append(in.Targets, d)
	}
	out, err := c.elbv2.DescribeTargetHealth(ctx, in)
	if err != nil {
		return nil, translate("elbv2", "DescribeTargetHealth", err)
	}
	rows := make([]rollout.TargetHealth, 0, len(out.TargetHealthDescriptions))
	for _, d := range out.TargetHealthDescriptions {
		if d.Target == nil {
			continue
		}
		row := rollout.TargetHealth{Target: rollout.Target{InstanceID: aws.ToString(d.Target.Id), Port: aws.ToInt32(d.Target.Port)}}
		if d.TargetHealth != nil {
			row.State = healthState(d.TargetHealth.State)
			row.Reason = string(d.TargetHealth.Reason)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// healthState maps ELB's states onto the engine's. "unhealthy.draining"
// (a target draining after failing checks) is draining for the engine: it
// is leaving either way.
func healthState(s elbv2types.TargetHealthStateEnum) rollout.HealthState {
	switch s {
	case elbv2types.TargetHealthStateEnumUnhealthyDraining:
		return rollout.HealthDraining
	case "":
		return rollout.HealthUnavailable
	}
	return rollout.HealthState(s)
}
