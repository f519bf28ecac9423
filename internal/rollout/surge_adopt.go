package rollout

import (
	"context"
	"fmt"
	"slices"
)

// Taking over an earlier rollout's surge. When a rollout with a surge was
// interrupted after its new instances were up (a crash mid-rollout), the
// next rollout with the same surge keeps them instead of undoing it first:
// instances the interrupted run left out of service may be what the floor
// is short of until they are back, and terminating the surge then would
// take the fleet below it. The record and the instances' tags are rewritten
// to the new rollout, which removes the surge at its end as its own.
//
// A surge is taken over only when it is whole: the record's count is the
// count this rollout would add, and exactly that many instances carry the
// earlier rollout's tag, all running. Otherwise it is undone first.

// adoptable maps each group whose earlier surge the rollout takes over to
// the earlier rollout's id.
func adoptable(s Spec) map[string]string {
	out := map[string]string{}
	if !surgeWanted(s.Strategy) {
		return out
	}
	for _, g := range s.Fleet.AutoScalingGroups {
		rec := g.Surge
		if rec == nil || rec.RolloutID == s.RolloutID || rec.Count != surgeCount(s.Strategy, rec.Desired) {
			continue
		}
		n := 0
		whole := true
		for _, inst := range s.Fleet.Instances {
			if inst.AutoScalingGroup == g.Name && inst.Tags[TagSurge] == rec.RolloutID {
				n++
				whole = whole && inst.State == "running"
			}
		}
		if whole && n == rec.Count {
			out[g.Name] = rec.RolloutID
		}
	}
	return out
}

func withSurgeTag(tags map[string]string, rolloutID string) map[string]string {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	out[TagSurge] = rolloutID
	return out
}

// adoptEarlier takes over the adoptable surges: the record and the
// instances' tags rewritten, the groups added to this rollout's surge.
func (sg *surger) adoptEarlier(ctx context.Context) error {
	s := sg.spec
	adopt := adoptable(s)
	if len(adopt) == 0 {
		return nil
	}
	for _, g := range s.Fleet.AutoScalingGroups {
		old, ok := adopt[g.Name]
		if !ok {
			continue
		}
		var ids []string
		for _, inst := range s.Fleet.Instances {
			if inst.AutoScalingGroup == g.Name && inst.Tags[TagSurge] == old {
				ids = append(ids, inst.ID)
			}
		}
		rec := SurgeRecord{RolloutID: s.RolloutID, Desired: g.Surge.Desired, Count: g.Surge.Count}
		if err := sg.ports.Capacity.RecordSurge(ctx, g.Name, rec); err != nil {
			return fmt.Errorf("taking over the surge of rollout %s in %s: %w", old, g.Name, sg.mask.Err(err))
		}
		if err := sg.ports.Tags.SetTags(ctx, ids, map[string]string{TagSurge: s.RolloutID}); err != nil {
			return fmt.Errorf("taking over the surge of rollout %s in %s: %w", old, g.Name, sg.mask.Err(err))
		}
		sg.groups = append(sg.groups, &surgeGroup{plan: SurgePlan{Group: g.Name, Count: rec.Count, Desired: rec.Desired, Max: g.MaxSize},
			launched: ids, recorded: true, raised: true, raiseTo: g.DesiredCapacity, before: map[string]bool{}})
		sg.emit("%s: the surge of rollout %s (%s) taken over", g.Name, old, plural(len(ids), "instance"))
	}
	s.Fleet.Instances = slices.Clone(s.Fleet.Instances)
	for i, inst := range s.Fleet.Instances {
		if old, ok := adopt[inst.AutoScalingGroup]; ok && inst.Tags[TagSurge] == old {
			s.Fleet.Instances[i].Tags = withSurgeTag(inst.Tags, s.RolloutID)
		}
	}
	s.Fleet.AutoScalingGroups = slices.Clone(s.Fleet.AutoScalingGroups)
	for i, g := range s.Fleet.AutoScalingGroups {
		if _, ok := adopt[g.Name]; ok {
			s.Fleet.AutoScalingGroups[i].Surge = nil
		}
	}
	sg.spec = s
	return nil
}
