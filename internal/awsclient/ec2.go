package awsclient

import (
	"context"
	"sort"

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
	for _, part := range chunks(instanceIDs, maxTagResourcesPerCall) {
		if _, err := t.c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: part, Tags: ec2Tags}); err != nil {
			return translate("ec2", "CreateTags", err)
		}
	}
	return nil
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
	for _, part := range chunks(instanceIDs, maxTagResourcesPerCall) {
		if _, err := c.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: part, Tags: ec2Tags}); err != nil {
			return translate("ec2", "DeleteTags", err)
		}
	}
	return nil
}

// providerTagKeys are every tag the provider writes on instances.
var providerTagKeys = []string{rollout.TagVersion, rollout.TagPhase, rollout.TagRollout, rollout.TagTargets}

// RemoveProviderTags deletes the provider's tags (rolling:*) from the
// instances, for destroy.
func (c *Client) RemoveProviderTags(ctx context.Context, instanceIDs []string) error {
	return c.deleteTags(ctx, instanceIDs, providerTagKeys)
}
