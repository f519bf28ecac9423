package awsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// capacity implements rollout.Capacity with Auto Scaling: a surge's reads,
// its undo record (a group tag) and the desired capacity changes.
type capacity struct{ c *Client }

func (p *capacity) Group(ctx context.Context, name string) (rollout.GroupState, error) {
	groups, err := p.c.describeAutoScalingGroups(ctx, []string{name})
	if err != nil {
		return rollout.GroupState{}, err
	}
	if len(groups) == 0 {
		return rollout.GroupState{}, fmt.Errorf("autoscaling DescribeAutoScalingGroups: group %s: %w", name, rollout.ErrNotFound)
	}
	g := groups[0]
	st := rollout.GroupState{AutoScalingGroup: autoScalingGroupOf(g)}
	for _, m := range g.Instances {
		st.Members = append(st.Members, rollout.GroupMember{
			ID: aws.ToString(m.InstanceId), AZ: aws.ToString(m.AvailabilityZone),
			LifecycleState: string(m.LifecycleState),
			// Auto Scaling reports "Healthy" / "Unhealthy" here.
			Healthy: strings.EqualFold(aws.ToString(m.HealthStatus), "healthy"),
		})
	}
	return st, nil
}

// autoScalingGroupOf is the engine's view of a group read by
// DescribeAutoScalingGroups, with the undo record of a surge when the group
// carries one.
func autoScalingGroupOf(g asgtypes.AutoScalingGroup) rollout.AutoScalingGroup {
	out := rollout.AutoScalingGroup{
		Name: aws.ToString(g.AutoScalingGroupName), TargetGroupARNs: append([]string(nil), g.TargetGroupARNs...),
		MinSize: int(aws.ToInt32(g.MinSize)), MaxSize: int(aws.ToInt32(g.MaxSize)),
		DesiredCapacity: int(aws.ToInt32(g.DesiredCapacity)),
		SizesKnown:      g.MinSize != nil && g.DesiredCapacity != nil,
	}
	for _, t := range g.Tags {
		if aws.ToString(t.Key) == rollout.TagSurge {
			if rec, ok := rollout.ParseSurgeRecord(aws.ToString(t.Value)); ok {
				out.Surge = &rec
			}
		}
	}
	return out
}

func (p *capacity) RecordSurge(ctx context.Context, group string, rec rollout.SurgeRecord) error {
	_, err := p.c.autoscaling.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []asgtypes.Tag{{
		ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group"),
		Key: aws.String(rollout.TagSurge), Value: aws.String(rec.String()),
		// The record is the group's; an instance launched meanwhile must
		// not carry it.
		PropagateAtLaunch: aws.Bool(false),
	}}})
	return translate("autoscaling", "CreateOrUpdateTags", err)
}

func (p *capacity) ClearSurge(ctx context.Context, group string) error {
	_, err := p.c.autoscaling.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: []asgtypes.Tag{{
		ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(rollout.TagSurge),
	}}})
	return translate("autoscaling", "DeleteTags", err)
}

func (p *capacity) SetDesiredCapacity(ctx context.Context, group string, desired int) error {
	_, err := p.c.autoscaling.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group),
		DesiredCapacity:      aws.Int32(int32(desired)), //nolint:gosec // bounded by the group's max_size
		// Manual scaling: the cooldown is for scaling policies.
		HonorCooldown: aws.Bool(false),
	})
	return translate("autoscaling", "SetDesiredCapacity", err)
}

func (p *capacity) TerminateInstance(ctx context.Context, instanceID string) error {
	_, err := p.c.autoscaling.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId:                     aws.String(instanceID),
		ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	if err == nil {
		return nil
	}
	// An instance no longer in a group ("Instance Id not found - No managed
	// instance found") is where the caller wants it: a retry of a call
	// whose answer was lost, or an undo finishing an earlier one.
	terr := translate("autoscaling", "TerminateInstanceInAutoScalingGroup", err)
	var ae *Error
	if errors.As(terr, &ae) && ae.Code == "ValidationError" && strings.Contains(ae.Message, "Instance Id not found") {
		return nil
	}
	return terr
}
