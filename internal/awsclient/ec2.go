package awsclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// tagger implements rollout.Tagger with EC2 CreateTags/DeleteTags, which
// take many resources per call.
type tagger struct{ c *Client }

func (t *tagger) SetTags(ctx context.Context, instanceIDs []string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ec2Tags := make([]ec2types.Tag, len(keys))
	for i, k := range keys {
		ec2Tags[i] = ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])}
	}
	return t.c.forExistingInstances(ctx, "CreateTags", instanceIDs, func(ids []string) error {
		for _, part := range chunks(ids, maxTagResourcesPerCall) {
			if _, err := t.c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: part, Tags: ec2Tags}); err != nil {
				return translate("ec2", "CreateTags", err)
			}
		}
		return nil
	})
}

func (t *tagger) RemoveTags(ctx context.Context, instanceIDs []string, keys []string) error {
	return t.c.deleteTags(ctx, instanceIDs, keys)
}

func (c *Client) deleteTags(ctx context.Context, instanceIDs []string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	// A tag given by key only is deleted whatever its value.
	ec2Tags := make([]ec2types.Tag, len(keys))
	for i, k := range keys {
		ec2Tags[i] = ec2types.Tag{Key: aws.String(k)}
	}
	return c.forExistingInstances(ctx, "DeleteTags", instanceIDs, func(ids []string) error {
		for _, part := range chunks(ids, maxTagResourcesPerCall) {
			if _, err := c.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: part, Tags: ec2Tags}); err != nil {
				return translate("ec2", "DeleteTags", err)
			}
		}
		return nil
	})
}

// forExistingInstances runs fn on the instances; when EC2 rejects the call
// because some id no longer exists (an Auto Scaling group replaced it
// mid-rollout), it runs fn again on the ids that still exist, so one
// vanished instance does not leave the others untagged, and then reports
// the missing ids with an error wrapping rollout.ErrNotFound.
func (c *Client) forExistingInstances(ctx context.Context, op string, instanceIDs []string, fn func([]string) error) error {
	err := fn(instanceIDs)
	if err == nil || !errors.Is(err, rollout.ErrNotFound) {
		return err
	}
	exists := map[string]bool{}
	var mu sync.Mutex
	derr := eachChunk(ctx, instanceIDs, maxFilterValues, func(ctx context.Context, part []string) error {
		found, err := c.describeInstances(ctx, []ec2types.Filter{{Name: aws.String("instance-id"), Values: part}})
		mu.Lock()
		defer mu.Unlock()
		for _, inst := range found {
			exists[aws.ToString(inst.InstanceId)] = true
		}
		return err
	})
	if derr != nil {
		return err
	}
	var present, missing []string
	for _, id := range instanceIDs {
		if exists[id] {
			present = append(present, id)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return err
	}
	if len(present) > 0 {
		if err := fn(present); err != nil {
			return err
		}
	}
	return fmt.Errorf("ec2 %s: instance(s) %s no longer exist: %w", op, strings.Join(missing, ", "), rollout.ErrNotFound)
}

// instanceStates implements rollout.Instances with DescribeInstances
// filtered by instance-id: one call per 200 ids, and an id EC2 no longer
// knows is simply absent (InstanceIds would fail the whole call instead).
type instanceStates struct{ c *Client }

func (s *instanceStates) States(ctx context.Context, instanceIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(instanceIDs))
	var mu sync.Mutex
	err := eachChunk(ctx, dedupe(instanceIDs), maxFilterValues, func(ctx context.Context, part []string) error {
		found, err := s.c.describeInstances(ctx, []ec2types.Filter{{Name: aws.String("instance-id"), Values: part}})
		mu.Lock()
		defer mu.Unlock()
		for _, inst := range found {
			if inst.State != nil {
				out[aws.ToString(inst.InstanceId)] = string(inst.State.Name)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
