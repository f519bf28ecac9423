package awsclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// defaultDeregistrationDelay is ELB's default when the attribute is absent.
const defaultDeregistrationDelay = 300 * time.Second

// DiscoverFleet reads what plan, refresh and the engine need about the
// instances behind targetGroupARNs:
//
//   - the target groups (DescribeTargetGroups, one DescribeTargetGroupAttributes
//     each for the deregistration delay); a missing group is an error
//     wrapping rollout.ErrNotFound that names its ARN;
//   - every registration (one DescribeTargetHealth per group);
//   - instances left out of service by an interrupted rollout: not
//     registered any more, found by their rolling:phase tag, and kept only
//     when their rolling:targets tag names one of these groups or their Auto
//     Scaling group is attached to one of them. Their Health is
//     unused/Target.NotRegistered for those groups;
//   - EC2 state, AZ and rolling:* tags (DescribeInstances, filtered by
//     instance-id in chunks, so that an id that vanished is not an error);
//   - Auto Scaling membership and lifecycle state, and the target groups
//     attached to those Auto Scaling groups.
//
// instanceIDs, when non-empty, restricts the fleet to those ids. Registered
// targets that are not EC2 instances (IP targets) are ignored.
func (c *Client) DiscoverFleet(ctx context.Context, targetGroupARNs []string, instanceIDs []string) (rollout.Fleet, error) {
	targetGroupARNs = dedupe(targetGroupARNs)
	var fleet rollout.Fleet
	if len(targetGroupARNs) == 0 {
		return fleet, nil
	}
	wanted := func(string) bool { return true }
	if len(instanceIDs) > 0 {
		set := make(map[string]bool, len(instanceIDs))
		for _, id := range instanceIDs {
			set[id] = true
		}
		wanted = func(id string) bool { return set[id] }
	}

	// The target groups' settings and the instances behind them need
	// nothing of each other: both chains run at once, each making its
	// independent calls concurrently too, so a plan's reads take a few
	// round trips rather than one per call. The groups' error comes first:
	// it names a missing group.
	var groups []rollout.TargetGroup
	var inst instanceReads
	err := concurrently(ctx, []func(context.Context) error{
		func(ctx context.Context) (err error) {
			groups, err = c.describeTargetGroups(ctx, targetGroupARNs, nil)
			return err
		},
		func(ctx context.Context) (err error) {
			inst, err = c.readInstances(ctx, targetGroupARNs, wanted)
			return err
		},
	})
	if err != nil {
		return fleet, err
	}
	// In the caller's order, whatever order ELB answered in.
	order := make(map[string]int, len(targetGroupARNs))
	for i, arn := range targetGroupARNs {
		order[arn] = i
	}
	sort.SliceStable(groups, func(i, j int) bool { return order[groups[i].ARN] < order[groups[j].ARN] })
	fleet.TargetGroups = groups
	registered, health, described, candidates := inst.registered, inst.health, inst.described, inst.candidates
	memberOf, lifecycle, asgs, groupNames := inst.memberOf, inst.lifecycle, inst.asgs, inst.groupNames

	ours := make(map[string]bool, len(targetGroupARNs))
	for _, arn := range targetGroupARNs {
		ours[arn] = true
	}
	attached := map[string][]string{} // ASG -> attached groups among ours
	asgByName := map[string]rollout.AutoScalingGroup{}
	for _, g := range asgs {
		name := aws.ToString(g.AutoScalingGroupName)
		asgByName[name] = autoScalingGroupOf(g)
		for _, arn := range g.TargetGroupARNs {
			if ours[arn] {
				attached[name] = append(attached[name], arn)
			}
		}
	}

	usedASGs := map[string]bool{}
	for _, id := range candidates {
		inst := rollout.Instance{
			ID:               id,
			State:            "terminated", // registered but no longer described: gone
			AutoScalingGroup: memberOf[id],
			LifecycleState:   lifecycle[id],
			Targets:          map[string][]rollout.Target{},
			Health:           map[string]rollout.TargetHealth{},
			Tags:             map[string]string{},
		}
		if d, ok := described[id]; ok {
			inst.State = string(stateName(d))
			if d.Placement != nil {
				inst.AZ = aws.ToString(d.Placement.AvailabilityZone)
			}
			for _, t := range d.Tags {
				if k := aws.ToString(t.Key); strings.HasPrefix(k, "rolling:") {
					inst.Tags[k] = aws.ToString(t.Value)
				}
			}
		}
		for arn, ts := range registered[id] {
			inst.Targets[arn] = ts
			inst.Health[arn] = health[id][arn]
		}
		// Registrations recorded before an interrupted rollout took the
		// instance out, for the groups it has not rejoined yet.
		decoded := map[string][]rollout.Target{}
		if v, ok := inst.Tags[rollout.TagTargets]; ok {
			decoded = rollout.DecodeTargets(id, v, targetGroupARNs)
		}
		if len(registered[id]) == 0 && len(decoded) == 0 && len(attached[inst.AutoScalingGroup]) == 0 {
			continue // out of service for some other configuration
		}
		notRegistered := func(arn string) {
			if _, ok := inst.Health[arn]; !ok {
				inst.Health[arn] = rollout.TargetHealth{
					Target: rollout.Target{InstanceID: id},
					State:  rollout.HealthUnused,
					Reason: "Target.NotRegistered",
				}
			}
		}
		if _, outOfService := inst.Tags[rollout.TagPhase]; outOfService {
			for arn, ts := range decoded {
				if _, ok := inst.Targets[arn]; !ok {
					inst.Targets[arn] = ts
					notRegistered(arn)
				}
			}
			for _, arn := range attached[inst.AutoScalingGroup] {
				notRegistered(arn)
			}
		}
		if inst.AutoScalingGroup != "" {
			usedASGs[inst.AutoScalingGroup] = true
		}
		fleet.Instances = append(fleet.Instances, inst)
	}
	for _, name := range groupNames {
		if g, ok := asgByName[name]; ok && usedASGs[name] {
			fleet.AutoScalingGroups = append(fleet.AutoScalingGroups, g)
		}
	}
	return fleet, nil
}

// instanceReads is what DiscoverFleet reads about the instances: their
// registrations and health per target group, their EC2 description, and
// their Auto Scaling membership.
type instanceReads struct {
	registered map[string]map[string][]rollout.Target // instance -> group -> registrations
	health     map[string]map[string]rollout.TargetHealth
	described  map[string]ec2types.Instance
	candidates []string // sorted
	memberOf   map[string]string
	lifecycle  map[string]string
	asgs       []asgtypes.AutoScalingGroup
	groupNames []string // sorted
}

// readInstances reads the registrations of every target group and the
// instances out of service by their rolling:phase tag at once, then
// describes the other registered instances (chunks at once), then asks Auto
// Scaling about those that are members.
func (c *Client) readInstances(ctx context.Context, arns []string, wanted func(string) bool) (instanceReads, error) {
	r := instanceReads{
		registered: map[string]map[string][]rollout.Target{},
		health:     map[string]map[string]rollout.TargetHealth{},
		described:  map[string]ec2types.Instance{},
		memberOf:   map[string]string{},
		lifecycle:  map[string]string{},
	}
	rowsOf := make([][]rollout.TargetHealth, len(arns))
	var outOfService []ec2types.Instance
	tasks := []func(context.Context) error{func(ctx context.Context) (err error) {
		// Instances an interrupted rollout took out carry rolling:phase.
		outOfService, err = c.describeInstances(ctx, []ec2types.Filter{
			{Name: aws.String("tag-key"), Values: []string{rollout.TagPhase}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
		})
		return err
	}}
	for i, arn := range arns {
		tasks = append(tasks, func(ctx context.Context) (err error) {
			rowsOf[i], err = c.describeTargetHealth(ctx, arn)
			return err
		})
	}
	// The registrations' errors first, in the groups' order, as when they
	// were read one after the other.
	tasks = append(tasks[1:], tasks[0])
	if err := concurrently(ctx, tasks); err != nil {
		return r, err
	}
	for i, arn := range arns {
		for _, row := range rowsOf[i] {
			id := row.InstanceID
			if !strings.HasPrefix(id, "i-") || !wanted(id) {
				continue
			}
			if r.registered[id] == nil {
				r.registered[id] = map[string][]rollout.Target{}
				r.health[id] = map[string]rollout.TargetHealth{}
			}
			r.registered[id][arn] = append(r.registered[id][arn], row.Target)
			if prev, ok := r.health[id][arn]; !ok || healthSeverity(row.State) > healthSeverity(prev.State) {
				r.health[id][arn] = row
			}
		}
	}
	for _, inst := range outOfService {
		if id := aws.ToString(inst.InstanceId); wanted(id) {
			r.described[id] = inst
		}
	}
	var missing []string
	for id := range r.registered {
		if _, ok := r.described[id]; !ok {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	var mu sync.Mutex
	err := eachChunk(ctx, missing, maxFilterValues, func(ctx context.Context, part []string) error {
		found, err := c.describeInstances(ctx, []ec2types.Filter{{Name: aws.String("instance-id"), Values: part}})
		mu.Lock()
		defer mu.Unlock()
		for _, inst := range found {
			r.described[aws.ToString(inst.InstanceId)] = inst
		}
		return err
	})
	if err != nil {
		return r, err
	}

	for id := range r.described {
		r.candidates = append(r.candidates, id)
	}
	for id := range r.registered {
		if _, ok := r.described[id]; !ok {
			r.candidates = append(r.candidates, id)
		}
	}
	sort.Strings(r.candidates)

	// Auto Scaling tags its members with aws:autoscaling:groupName (a tag
	// nobody else may write): only those need asking about, which spares a
	// call per 50 instances for fleets outside Auto Scaling.
	var asgCandidates []string
	for _, id := range r.candidates {
		if d, ok := r.described[id]; ok && hasTag(d.Tags, tagAutoScalingGroup) {
			asgCandidates = append(asgCandidates, id)
		}
	}
	asgInstances, err := c.describeAutoScalingInstances(ctx, asgCandidates)
	if err != nil {
		return r, err
	}
	groupSet := map[string]bool{}
	for _, d := range asgInstances {
		id := aws.ToString(d.InstanceId)
		r.memberOf[id] = aws.ToString(d.AutoScalingGroupName)
		r.lifecycle[id] = aws.ToString(d.LifecycleState)
		groupSet[r.memberOf[id]] = true
	}
	for g := range groupSet {
		r.groupNames = append(r.groupNames, g)
	}
	sort.Strings(r.groupNames)
	r.asgs, err = c.describeAutoScalingGroups(ctx, r.groupNames)
	return r, err
}

func stateName(i ec2types.Instance) ec2types.InstanceStateName {
	if i.State == nil {
		return ""
	}
	return i.State.Name
}

// healthSeverity orders states so that an instance registered on several
// ports reports its worst registration: anything not serving outranks
// healthy, and a failing check outranks the transitional states.
func healthSeverity(s rollout.HealthState) int {
	switch s {
	case rollout.HealthHealthy:
		return 0
	case rollout.HealthInitial:
		return 1
	case rollout.HealthUnavailable:
		return 2
	case rollout.HealthDraining:
		return 3
	case rollout.HealthUnused:
		return 4
	case rollout.HealthUnhealthy:
		return 5
	}
	return 2
}

// describeInstances pages through DescribeInstances with filters (filters,
// unlike InstanceIds, do not fail on an id that no longer exists).
func (c *Client) describeInstances(ctx context.Context, filters []ec2types.Filter) ([]ec2types.Instance, error) {
	var out []ec2types.Instance
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate("ec2", "DescribeInstances", err)
		}
		for _, r := range page.Reservations {
			out = append(out, r.Instances...)
		}
	}
	return out, nil
}

// FindTargetGroups looks target groups up by ARN and by name (for the data
// source). A missing one is an error wrapping rollout.ErrNotFound naming it.
func (c *Client) FindTargetGroups(ctx context.Context, arns []string, names []string) ([]rollout.TargetGroup, error) {
	return c.describeTargetGroups(ctx, dedupe(arns), dedupe(names))
}

func (c *Client) describeTargetGroups(ctx context.Context, arns, names []string) ([]rollout.TargetGroup, error) {
	type query struct {
		in   *elbv2.DescribeTargetGroupsInput
		keys []string
		kind string
	}
	var queries []query
	for _, part := range chunks(arns, maxTargetGroupARNsPerCall) {
		queries = append(queries, query{&elbv2.DescribeTargetGroupsInput{TargetGroupArns: part}, part, "ARN"})
	}
	for _, part := range chunks(names, maxTargetGroupARNsPerCall) {
		queries = append(queries, query{&elbv2.DescribeTargetGroupsInput{Names: part}, part, "name"})
	}
	pages := make([][]elbv2types.TargetGroup, len(queries))
	tasks := make([]func(context.Context) error, len(queries))
	for i, q := range queries {
		tasks[i] = func(ctx context.Context) (err error) {
			pages[i], err = c.describeTargetGroupsPage(ctx, q.in, q.keys, q.kind)
			return err
		}
	}
	if len(tasks) > 0 {
		if err := concurrently(ctx, tasks); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	out := make([]rollout.TargetGroup, 0, len(arns)+len(names))
	for _, page := range pages {
		for _, g := range page {
			arn := aws.ToString(g.TargetGroupArn)
			if seen[arn] {
				continue
			}
			seen[arn] = true
			out = append(out, rollout.TargetGroup{
				ARN:                 arn,
				Name:                aws.ToString(g.TargetGroupName),
				DeregistrationDelay: defaultDeregistrationDelay,
				HealthCheckInterval: time.Duration(aws.ToInt32(g.HealthCheckIntervalSeconds)) * time.Second,
				HealthyThreshold:    int(aws.ToInt32(g.HealthyThresholdCount)),
				UnhealthyThreshold:  int(aws.ToInt32(g.UnhealthyThresholdCount)),
			})
		}
	}
	// One DescribeTargetGroupAttributes per group, all at once.
	attrTasks := make([]func(context.Context) error, len(out))
	for i := range out {
		tg := &out[i]
		attrTasks[i] = func(ctx context.Context) error {
			attrs, err := c.elbv2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tg.ARN)})
			if err != nil {
				return fmt.Errorf("target group %s: %w", tg.ARN, translate("elbv2", "DescribeTargetGroupAttributes", err))
			}
			for _, a := range attrs.Attributes {
				if aws.ToString(a.Key) == "deregistration_delay.timeout_seconds" {
					if secs, err := strconv.Atoi(aws.ToString(a.Value)); err == nil && secs >= 0 {
						tg.DeregistrationDelay = time.Duration(secs) * time.Second
					}
				}
			}
			return nil
		}
	}
	if len(attrTasks) > 0 {
		if err := concurrently(ctx, attrTasks); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// describeTargetGroupsPage pages through one DescribeTargetGroups query. ELB
// fails the whole call when one group is missing without always saying
// which, so on not-found each key is asked alone to name the culprits.
func (c *Client) describeTargetGroupsPage(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, keys []string, kind string) ([]elbv2types.TargetGroup, error) {
	var out []elbv2types.TargetGroup
	p := elbv2.NewDescribeTargetGroupsPaginator(c.elbv2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			terr := translate("elbv2", "DescribeTargetGroups", err)
			if !errors.Is(terr, rollout.ErrNotFound) {
				return nil, terr
			}
			return nil, c.nameMissingTargetGroups(ctx, keys, kind, terr)
		}
		out = append(out, page.TargetGroups...)
	}
	return out, nil
}

func (c *Client) nameMissingTargetGroups(ctx context.Context, keys []string, kind string, cause error) error {
	if len(keys) == 1 {
		return fmt.Errorf("target group %s %s: %w", kind, keys[0], cause)
	}
	var missing []string
	for _, k := range keys {
		in := &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{k}}
		if kind == "name" {
			in = &elbv2.DescribeTargetGroupsInput{Names: []string{k}}
		}
		_, err := c.elbv2.DescribeTargetGroups(ctx, in)
		if err == nil {
			continue
		}
		if terr := translate("elbv2", "DescribeTargetGroups", err); !errors.Is(terr, rollout.ErrNotFound) {
			return terr
		}
		missing = append(missing, k)
	}
	if len(missing) == 0 {
		return cause
	}
	return fmt.Errorf("target group %s %s: %w", kind, strings.Join(missing, ", "), cause)
}

// tagAutoScalingGroup is the tag Auto Scaling puts on every member.
const tagAutoScalingGroup = "aws:autoscaling:groupName"

func hasTag(tags []ec2types.Tag, key string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return true
		}
	}
	return false
}
