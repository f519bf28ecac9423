package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	names := sortedKeys(known)
	fresh := map[string]GroupState{}
	gone := map[string]bool{}
	var errs []error
	for _, name := range names {
		rec := records[name]
		st, victims, err := sg.undoGroup(ctx, name, rec, known[name], true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fresh[name] = st
		for _, id := range victims {
			gone[id] = true
		}
		who := "an earlier rollout"
		if rec != nil {
			who = "rollout " + rec.RolloutID
		}
		sg.emit("%s: the surge of %s undone (%s terminated), desired capacity %d", name, who,
			plural(len(victims), "instance"), st.DesiredCapacity)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.Fleet.Instances = slices.DeleteFunc(keep, func(inst Instance) bool { return gone[inst.ID] })
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
// instances) and returns the group as it is afterwards and the instances it
// terminated. launched are the instances known to be the surge's. When the
// group still holds more instances than the record's desired capacity
// beyond them (in service, pending or in standby), members that cannot be
// the fleet's own are the surge's too: not in the fleet read, or without
// rolling:version. A crash can come after the desired capacity was raised
// and before the new instances were tagged.
func (sg *surger) undoGroup(ctx context.Context, group string, rec *SurgeRecord, launched []string, raised bool) (GroupState, []string, error) {
	capy := sg.ports.Capacity
	st, err := capy.Group(ctx, group)
	if errors.Is(err, ErrNotFound) {
		return GroupState{}, nil, nil // the group is gone, and its surge with it
	}
	if err != nil {
		return st, nil, fmt.Errorf("reading Auto Scaling group %s: %w", group, sg.mask.Err(err))
	}
	var victims []string
	if raised {
		victims = sg.surgeVictims(st, rec, launched)
		for _, id := range victims {
			if err := capy.TerminateInstance(ctx, id); err != nil {
				return st, victims, fmt.Errorf("terminating %s in %s: %w", id, group, sg.mask.Err(err))
			}
		}
		if st, err = sg.waitLetGo(ctx, group, append(append([]string(nil), launched...), victims...)); err != nil {
			return st, victims, err
		}
		if held := heldCapacity(st); rec != nil && held > rec.Desired {
			back := st.DesiredCapacity - (held - rec.Desired)
			if err := capy.SetDesiredCapacity(ctx, group, back); err != nil {
				return st, victims, fmt.Errorf("setting the desired capacity of %s back to %d: %w", group, back, sg.mask.Err(err))
			}
			st.DesiredCapacity = back
		}
	}
	if err := capy.ClearSurge(ctx, group); err != nil {
		return st, victims, fmt.Errorf("deleting the surge record of %s: %w", group, sg.mask.Err(err))
	}
	st.Surge = nil
	return st, victims, nil
}

// surgeVictims are the members of the group to terminate: the known surge
// instances still there, then, while the group holds more than the
// record's desired capacity, members that look new (see undoGroup).
func (sg *surger) surgeVictims(st GroupState, rec *SurgeRecord, launched []string) []string {
	known := map[string]bool{}
	for _, id := range launched {
		known[id] = true
	}
	fleet := instancesByID(sg.spec.Fleet.Instances)
	var victims []string
	held := 0
	for _, m := range st.Members {
		if strings.HasPrefix(m.LifecycleState, "Terminat") {
			continue
		}
		held++
		if known[m.ID] {
			victims = append(victims, m.ID)
		}
	}
	if rec == nil {
		return victims
	}
	extra := held - len(victims) - rec.Desired
	for i := len(st.Members) - 1; i >= 0 && extra > 0; i-- {
		m := st.Members[i]
		inst, inFleet := fleet[m.ID]
		if known[m.ID] || strings.HasPrefix(m.LifecycleState, "Terminat") || (inFleet && inst.Version() != "") {
			continue
		}
		victims = append(victims, m.ID)
		extra--
	}
	return victims
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
