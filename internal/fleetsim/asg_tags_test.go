package fleetsim

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
)

func groupTags(t *testing.T, c *autoscaling.Client) map[string]asgtypes.TagDescription {
	t.Helper()
	out := map[string]asgtypes.TagDescription{}
	for _, tag := range describeGroup(t, c).Tags {
		out[aws.ToString(tag.Key)] = tag
	}
	return out
}

func TestAutoScaling_groupTagsAreSetOverwrittenAndDeletedAndPropagateOnlyWhenAsked(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	seedGroup(s, 2) // the group's Name tag propagates
	c := autoscaling.NewFromConfig(cfg)
	tag := func(key, value string, propagate bool) asgtypes.Tag {
		return asgtypes.Tag{ResourceId: aws.String("web-asg"), ResourceType: aws.String("auto-scaling-group"),
			Key: aws.String(key), Value: aws.String(value), PropagateAtLaunch: aws.Bool(propagate)}
	}
	if _, err := c.CreateOrUpdateTags(ctx(t), &autoscaling.CreateOrUpdateTagsInput{Tags: []asgtypes.Tag{
		tag("rolling:surge", "first", false), tag("team", "web", true)}}); err != nil {
		t.Fatal(err)
	}
	// The same key again overwrites, without an error.
	if _, err := c.CreateOrUpdateTags(ctx(t), &autoscaling.CreateOrUpdateTagsInput{Tags: []asgtypes.Tag{tag("rolling:surge", "second", false)}}); err != nil {
		t.Fatal(err)
	}
	tags := groupTags(t, c)
	if v := tags["rolling:surge"]; aws.ToString(v.Value) != "second" || aws.ToBool(v.PropagateAtLaunch) || aws.ToString(v.ResourceType) != "auto-scaling-group" {
		t.Fatalf("rolling:surge %+v", v)
	}
	if v := tags["team"]; !aws.ToBool(v.PropagateAtLaunch) {
		t.Fatalf("team %+v", v)
	}
	if _, err := c.SetDesiredCapacity(ctx(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	g := describeGroup(t, c)
	launched, _ := s.Instance(aws.ToString(g.Instances[2].InstanceId))
	if launched.Tags["team"] != "web" || launched.Tags["Name"] != "web" {
		t.Errorf("propagating tags missing on the launched instance: %v", launched.Tags)
	}
	if _, ok := launched.Tags["rolling:surge"]; ok {
		t.Errorf("a tag set with PropagateAtLaunch=false reached the launched instance: %v", launched.Tags)
	}

	// A Value that does not match keeps the tag; no Value deletes it; a key
	// the group lacks is no error.
	del := func(key string, value *string) {
		t.Helper()
		if _, err := c.DeleteTags(ctx(t), &autoscaling.DeleteTagsInput{Tags: []asgtypes.Tag{{ResourceId: aws.String("web-asg"),
			ResourceType: aws.String("auto-scaling-group"), Key: aws.String(key), Value: value}}}); err != nil {
			t.Fatal(err)
		}
	}
	del("rolling:surge", aws.String("first"))
	if _, ok := groupTags(t, c)["rolling:surge"]; !ok {
		t.Fatal("deleted although the value did not match")
	}
	del("rolling:surge", nil)
	del("no-such-key", nil)
	if _, ok := groupTags(t, c)["rolling:surge"]; ok {
		t.Fatal("rolling:surge not deleted")
	}
}

func TestAutoScaling_groupTagsRefuseReservedKeysMissingGroupsAndTheFiftyFirstTag(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	seedGroup(s, 1) // one tag: Name
	c := autoscaling.NewFromConfig(cfg)
	create := func(tags ...asgtypes.Tag) error {
		_, err := c.CreateOrUpdateTags(ctx(t), &autoscaling.CreateOrUpdateTagsInput{Tags: tags})
		return err
	}
	one := func(group, key string) asgtypes.Tag {
		return asgtypes.Tag{ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(key), Value: aws.String("x")}
	}
	if msg := validationMessage(t, create(one("web-asg", "aws:owner"))); !strings.Contains(msg, "reserved") {
		t.Errorf("aws: prefix: %s", msg)
	}
	if msg := validationMessage(t, create(one("no-such-asg", "k"))); !strings.Contains(msg, "no-such-asg not found") {
		t.Errorf("missing group: %s", msg)
	}
	var tags []asgtypes.Tag
	for i := range 50 {
		tags = append(tags, one("web-asg", fmt.Sprintf("k%02d", i)))
	}
	var ae smithy.APIError
	if err := create(tags...); !errors.As(err, &ae) || ae.ErrorCode() != "LimitExceeded" {
		t.Fatalf("51 tags: %v", err)
	}
	if n := len(groupTags(t, c)); n != 1 {
		t.Fatalf("a refused call wrote tags: %d", n)
	}
	if err := create(tags[:49]...); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
}
