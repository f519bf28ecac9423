package fleetsim

import (
	"errors"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

func describeIDs(t *testing.T, c *ec2.Client, in *ec2.DescribeInstancesInput) ([]string, int) {
	t.Helper()
	p := ec2.NewDescribeInstancesPaginator(c, in)
	var ids []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		pages++
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				ids = append(ids, *i.InstanceId)
			}
		}
	}
	return ids, pages
}

func TestEC2_describeInstancesFiltersAndPaginates(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	web := s.AddInstances(InstanceConfig{Count: 12, AppVersion: "v1", Tags: map[string]string{"Name": "web", "rolling:version": "v1"}})
	s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1", Tags: map[string]string{"Name": "db"}})
	if err := s.Faults().StopInstance(web[0], 0); err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(cfg)

	ids, pages := describeIDs(t, c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), Filters: []ec2types.Filter{
		{Name: aws.String("tag:Name"), Values: []string{"web"}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if len(ids) != 11 || pages != 3 {
		t.Fatalf("running web instances: %d over %d pages", len(ids), pages)
	}
	ids, _ = describeIDs(t, c, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag-key"), Values: []string{"rolling:version"}},
		{Name: aws.String("availability-zone"), Values: []string{"us-east-1a"}},
	}})
	if len(ids) != 4 {
		t.Fatalf("web in us-east-1a: %v", ids)
	}
	ids, _ = describeIDs(t, c, &ec2.DescribeInstancesInput{InstanceIds: []string{web[3], web[1]}})
	sort.Strings(ids)
	want := []string{web[1], web[3]}
	sort.Strings(want)
	if len(ids) != 2 || ids[0] != want[0] || ids[1] != want[1] {
		t.Fatalf("by id: %v", ids)
	}
	ids, _ = describeIDs(t, c, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{web[2]}}}})
	if len(ids) != 1 || ids[0] != web[2] {
		t.Fatalf("instance-id filter: %v", ids)
	}
}

func TestEC2_describeInstanceReportsStateZoneAndTags(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AZs: []string{"us-east-1c"}, AppVersion: "v1", Tags: map[string]string{"Name": "web"}})
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	i := out.Reservations[0].Instances[0]
	if i.State.Name != ec2types.InstanceStateNameRunning || *i.State.Code != 16 || *i.Placement.AvailabilityZone != "us-east-1c" ||
		len(i.Tags) != 1 || *i.Tags[0].Key != "Name" || *i.Tags[0].Value != "web" || i.LaunchTime == nil {
		t.Fatalf("instance %+v", i)
	}
}

func TestEC2_unknownInstanceIsNotFoundAndMaxResultsWithIdsIsRejected(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ec2.NewFromConfig(cfg)
	_, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceID.NotFound" {
		t.Fatalf("want InvalidInstanceID.NotFound, got %v", err)
	}
	_, err = c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}, MaxResults: aws.Int32(5)})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterCombination" {
		t.Fatalf("want InvalidParameterCombination, got %v", err)
	}
	_, err = c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"bogus"}})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceID.Malformed" {
		t.Fatalf("want InvalidInstanceID.Malformed, got %v", err)
	}
}

func TestEC2_createDescribeAndDeleteTags(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1", Tags: map[string]string{"Name": "web"}})
	c := ec2.NewFromConfig(cfg)
	_, err := c.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: ids, Tags: []ec2types.Tag{
		{Key: aws.String("rolling:phase"), Value: aws.String("deploy")}, {Key: aws.String("rolling:rollout"), Value: aws.String("r-1")}}})
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Instance(ids[0])
	if inst.RollingTags["rolling:phase"] != "deploy" || inst.Tags["Name"] != "web" {
		t.Fatalf("tags %+v", inst.Tags)
	}
	p := ec2.NewDescribeTagsPaginator(c, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5), Filters: []ec2types.Filter{
		{Name: aws.String("key"), Values: []string{"rolling:*"}}}})
	n, pages := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(out.Tags)
	}
	if n != 6 || pages != 2 {
		t.Fatalf("rolling tags: %d over %d pages", n, pages)
	}
	_, err = c.DeleteTags(ctx(t), &ec2.DeleteTagsInput{Resources: ids[:1], Tags: []ec2types.Tag{{Key: aws.String("rolling:phase")},
		{Key: aws.String("rolling:rollout"), Value: aws.String("other")}}})
	if err != nil {
		t.Fatal(err)
	}
	inst, _ = s.Instance(ids[0])
	if _, ok := inst.Tags["rolling:phase"]; ok || inst.Tags["rolling:rollout"] != "r-1" {
		t.Fatalf("after delete (value mismatch keeps the tag): %+v", inst.Tags)
	}
	_, err = c.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{"i-0123456789abcdef0"}, Tags: []ec2types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceID.NotFound" {
		t.Fatalf("want InvalidInstanceID.NotFound, got %v", err)
	}
}
