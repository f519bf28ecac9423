package awsclient

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// standby implements rollout.Standby with Auto Scaling.
type standby struct{ c *Client }

func (s *standby) EnterStandby(ctx context.Context, group string, instanceIDs []string) error {
	for _, part := range chunks(instanceIDs, maxStandbyInstances) {
		_, err := s.c.autoscaling.EnterStandby(ctx, &autoscaling.EnterStandbyInput{
			AutoScalingGroupName: aws.String(group),
			InstanceIds:          part,
			// Decrementing keeps the group from launching a replacement for
			// an instance that is only away for a deployment.
			ShouldDecrementDesiredCapacity: aws.Bool(true),
		})
		if err != nil && !s.alreadyIn(ctx, part, "EnteringStandby", "Standby") {
			return translate("autoscaling", "EnterStandby", err)
		}
	}
	return nil
}

func (s *standby) ExitStandby(ctx context.Context, group string, instanceIDs []string) error {
	for _, part := range chunks(instanceIDs, maxStandbyInstances) {
		_, err := s.c.autoscaling.ExitStandby(ctx, &autoscaling.ExitStandbyInput{
			AutoScalingGroupName: aws.String(group),
			InstanceIds:          part,
		})
		if err != nil && !s.alreadyIn(ctx, part, "Pending", "Pending:Wait", "Pending:Proceed", "InService") {
			return translate("autoscaling", "ExitStandby", err)
		}
	}
	return nil
}

// alreadyIn reports whether every instance is in one of states. Standby
// calls are not idempotent: when the SDK retries one whose first attempt
// went through but whose answer was lost, AWS refuses the retry ("not in
// InService"), although the instances are where the caller wanted them.
func (s *standby) alreadyIn(ctx context.Context, instanceIDs []string, states ...string) bool {
	got, err := s.LifecycleStates(ctx, instanceIDs)
	if err != nil {
		return false
	}
	for _, id := range instanceIDs {
		ok := false
		for _, st := range states {
			ok = ok || got[id] == st
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *standby) LifecycleStates(ctx context.Context, instanceIDs []string) (map[string]string, error) {
	details, err := s.c.describeAutoScalingInstances(ctx, instanceIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(details))
	for _, d := range details {
		out[aws.ToString(d.InstanceId)] = aws.ToString(d.LifecycleState)
	}
	return out, nil
}

func (s *standby) SuspendProcesses(ctx context.Context, group string, processes []string) error {
	_, err := s.c.autoscaling.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
		AutoScalingGroupName: aws.String(group),
		ScalingProcesses:     processes,
	})
	return translate("autoscaling", "SuspendProcesses", err)
}

func (s *standby) ResumeProcesses(ctx context.Context, group string, processes []string) error {
	_, err := s.c.autoscaling.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{
		AutoScalingGroupName: aws.String(group),
		ScalingProcesses:     processes,
	})
	return translate("autoscaling", "ResumeProcesses", err)
}

// describeAutoScalingInstances returns the group membership of the
// instances that are in a group; others are simply absent. Chunks of 50
// ids are asked at once.
func (c *Client) describeAutoScalingInstances(ctx context.Context, instanceIDs []string) ([]asgtypes.AutoScalingInstanceDetails, error) {
	parts := chunks(instanceIDs, maxASGInstancesPerCall)
	found := make([][]asgtypes.AutoScalingInstanceDetails, len(parts))
	tasks := make([]func(context.Context) error, len(parts))
	for i, part := range parts {
		tasks[i] = func(ctx context.Context) error {
			p := autoscaling.NewDescribeAutoScalingInstancesPaginator(c.autoscaling, &autoscaling.DescribeAutoScalingInstancesInput{
				InstanceIds: part,
				MaxRecords:  aws.Int32(maxASGInstancesPerCall),
			})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return translate("autoscaling", "DescribeAutoScalingInstances", err)
				}
				found[i] = append(found[i], page.AutoScalingInstances...)
			}
			return nil
		}
	}
	if len(tasks) > 0 {
		if err := concurrently(ctx, tasks); err != nil {
			return nil, err
		}
	}
	var out []asgtypes.AutoScalingInstanceDetails
	for _, f := range found {
		out = append(out, f...)
	}
	return out, nil
}

func (c *Client) describeAutoScalingGroups(ctx context.Context, names []string) ([]asgtypes.AutoScalingGroup, error) {
	var out []asgtypes.AutoScalingGroup
	for _, part := range chunks(names, maxASGNamesPerCall) {
		p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.autoscaling, &autoscaling.DescribeAutoScalingGroupsInput{
			AutoScalingGroupNames: part,
			MaxRecords:            aws.Int32(maxASGNamesPerCall),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, translate("autoscaling", "DescribeAutoScalingGroups", err)
			}
			out = append(out, page.AutoScalingGroups...)
		}
	}
	return out, nil
}
