package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Undoing a surge: this rollout's at its end (surger.remove), or one an
// interrupted earlier rollout left, before anything else (undoEarlier).
// Both are the same steps, safe to repeat after a crash in the middle:
//
//	terminate each instance the surge launched that is still in the group,
//	  decrementing the desired capacity (one it already lets go is skipped);
//	wait until the group has let them go: it drains them out of its target
//	  groups (their deregistration delay), then EC2 terminates them;
//	if the desired capacity is still above the recorded one (an instance
//	  launched but never seen, in a crash right after the desired capacity
//	  was raised), set it back: the group then chooses what to terminate;
//	delete the record.

// undoEarlier finishes the surges of earlier rollouts: the records on the
// fleet's groups and the instances tagged with another rollout's TagSurge.
// The spec it leaves in sg.spec is without those instances, its groups
// read afresh.
func (sg *surger) undoEarlier(ctx context.Context) error {
	s := sg.spec
	known := map[string][]string{}
	records := map[string]*SurgeRecord{}
	for _, g := range s.Fleet.AutoScalingGroups {
		if g.Surge != nil && g.Surge.RolloutID != s.RolloutID {
			records[g.Name] = g.Surge
			known[g.Name] = known[g.Name][:0:0] // a record alone is undone too
		}
	}
	var keep []Instance
	for _, inst := range s.Fleet.Instances {
		if tag := inst.Tags[TagSurge]; tag != "" && tag != s.RolloutID {
			if inst.AutoScalingGroup != "" {
				known[inst.AutoScalingGroup] = append(known[inst.AutoScalingGroup], inst.ID)
			}
			continue
		}
		keep = append(keep, inst)
	}
	if len(known) == 0 {
		return nil
	}
	names := make([]string, 0, len(known))
	for name := range known {
		names = append(names, name)
	}
	sort.Strings(names)
	fresh := map[string]GroupState{}
	var errs []error
	for _, name := range names {
		rec := records[name]
		st, err := sg.undoGroup(ctx, name, rec, known[name], true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fresh[name] = st
		who := "an earlier rollout"
		if rec != nil {
			who = "rollout " + rec.RolloutID
		}
		sg.emit("%s: the surge of %s undone (%s terminated), desired capacity %d", name, who,
			plural(len(known[name]), "instance"), st.DesiredCapacity)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.Fleet.Instances = keep
	s.Fleet.AutoScalingGroups = append([]AutoScalingGroup(nil), s.Fleet.AutoScalingGroups...)
	for i, g := range s.Fleet.AutoScalingGroups {
		if st, ok := fresh[g.Name]; ok {
			s.Fleet.AutoScalingGroups[i] = st.AutoScalingGroup
			s.Fleet.AutoScalingGroups[i].Surge = nil
		}
	}
	sg.spec = s
	return nil
}

// undoGroup undoes one group's surge (rec nil: no record, only tagged
// instances) and returns the group as it is afterwards.
func (sg *surger) undoGroup(ctx context.Context, group string, rec *SurgeRecord, launched []string, raised bool) (GroupState, error) {
	capy := sg.ports.Capacity
	st, err := capy.Group(ctx, group)
	if errors.Is(err, ErrNotFound) {
		return GroupState{}, nil // the group is gone, and its surge with it
	}
	if err != nil {
		return st, fmt.Errorf("reading Auto Scaling group %s: %w", group, sg.mask.Err(err))
	}
	if raised {
		lifecycle := map[string]string{}
		for _, m := range st.Members {
			lifecycle[m.ID] = m.LifecycleState
		}
		for _, id := range launched {
			lc, member := lifecycle[id]
			if !member || strings.HasPrefix(lc, "Terminat") {
				continue
			}
			if err := capy.TerminateInstance(ctx, id); err != nil {
				return st, fmt.Errorf("terminating %s in %s: %w", id, group, sg.mask.Err(err))
			}
		}
		if st, err = sg.waitLetGo(ctx, group, launched); err != nil {
			return st, err
		}
		if rec != nil && st.DesiredCapacity > rec.Desired {
			if err := capy.SetDesiredCapacity(ctx, group, rec.Desired); err != nil {
				return st, fmt.Errorf("setting the desired capacity of %s back to %d: %w", group, rec.Desired, sg.mask.Err(err))
			}
			st.DesiredCapacity = rec.Desired
		}
	}
	if err := capy.ClearSurge(ctx, group); err != nil {
		return st, fmt.Errorf("deleting the surge record of %s: %w", group, sg.mask.Err(err))
	}
	st.Surge = nil
	return st, nil
}

// waitLetGo waits until none of ids is a member of the group any more (or
// each is Terminated), bounded by the longest deregistration delay plus
// surgeRemoveAllowance. It returns the group as last read.
func (sg *surger) waitLetGo(ctx context.Context, group string, ids []string) (GroupState, error) {
	var delay = surgeRemoveAllowance
	for _, tg := range sg.spec.Fleet.TargetGroups {
		delay = max(delay, drainExpected(tg, sg.spec.Strategy)+surgeRemoveAllowance)
	}
	deadline := sg.ports.Clock.Now().Add(delay)
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for {
		st, err := sg.ports.Capacity.Group(ctx, group)
		if err != nil {
			return st, fmt.Errorf("reading Auto Scaling group %s: %w", group, sg.mask.Err(err))
		}
		var left []string
		for _, m := range st.Members {
			if want[m.ID] && m.LifecycleState != "Terminated" {
				left = append(left, m.ID+" ("+m.LifecycleState+")")
			}
		}
		if len(left) == 0 {
			return st, nil
		}
		if !sg.ports.Clock.Now().Before(deadline) {
			return st, fmt.Errorf("%s still holds %s after %s", group, strings.Join(left, ", "), delay)
		}
		<-sg.ports.Clock.After(surgePollInterval)
	}
}
