package rollout

import (
	"context"
	"fmt"
	"time"
)

// The fake world's Auto Scaling capacity, as surge.go uses it: a launch
// takes surgeLaunchTime, comes up on the launch version "v0" (no
// rolling:version) and registers in the group's attached target groups;
// TerminateInstance decrements the desired capacity of an active member,
// drains it out of its target groups and terminates it after the longest
// deregistration delay.

const surgeLaunchTime = 30 * time.Second

func (w *world) groupOf(g *fakeASG) AutoScalingGroup {
	maxSize := g.max
	if maxSize == 0 {
		maxSize = g.desired + 4
	}
	out := AutoScalingGroup{Name: g.name, TargetGroupARNs: g.attached, MinSize: g.min, DesiredCapacity: g.desired,
		MaxSize: maxSize, SizesKnown: g.sized}
	if rec, ok := ParseSurgeRecord(g.record); ok {
		out.Surge = &rec
	}
	return out
}

func (w *world) Group(_ context.Context, name string) (GroupState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("Group %s", name)
	if err := w.flaky(); err != nil {
		return GroupState{}, err
	}
	g, ok := w.asgs[name]
	if !ok {
		return GroupState{}, fmt.Errorf("group %s: %w", name, ErrNotFound)
	}
	st := GroupState{AutoScalingGroup: w.groupOf(g)}
	for _, id := range w.ids {
		inst := w.insts[id]
		if inst.asg != name || inst.terminated {
			continue
		}
		st.Members = append(st.Members, GroupMember{ID: id, AZ: inst.az, LifecycleState: w.lifecycle(inst), Healthy: w.appHealthy(inst)})
	}
	return st, nil
}

func (w *world) RecordSurge(_ context.Context, group string, rec SurgeRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("RecordSurge %s %s", group, rec)
	if err := w.flaky(); err != nil {
		return err
	}
	w.asgs[group].record = rec.String()
	return nil
}

func (w *world) ClearSurge(_ context.Context, group string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("ClearSurge %s", group)
	if err := w.flaky(); err != nil {
		return err
	}
	w.asgs[group].record = ""
	return nil
}

func (w *world) SetDesiredCapacity(_ context.Context, group string, desired int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("SetDesiredCapacity %s %d", group, desired)
	if err := w.flaky(); err != nil {
		return err
	}
	g := w.asgs[group]
	if m := w.groupOf(g).MaxSize; desired > m || desired < g.min {
		return fmt.Errorf("ValidationError: New SetDesiredCapacity value %d is outside %d..%d", desired, g.min, m)
	}
	for ; g.desired < desired; g.desired++ {
		g.launched++
		id := fmt.Sprintf("i-s%03d", g.launched)
		inst := &fakeInst{id: id, az: fmt.Sprintf("az-%c", 'a'+g.launched%2), asg: group, lifecycle: "Pending",
			inServiceAt: w.now().Add(surgeLaunchTime), appUp: true, broken: w.launchNeverHealthy, version: "v0",
			tags: map[string]string{}, home: map[string][]int32{}}
		for k, arn := range w.tgARN {
			if !contains(g.attached, arn) {
				continue
			}
			port := int32(80 + 1000*k)
			inst.home[arn] = []int32{port}
			w.tgs[arn].regs[Target{InstanceID: id, Port: port}] = &registration{registeredAt: w.now().Add(surgeLaunchTime)}
		}
		w.insts[id] = inst
		w.ids = append(w.ids, id)
	}
	g.desired = desired
	return nil
}

func (w *world) TerminateInstance(_ context.Context, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("TerminateInstance %s", id)
	if err := w.flaky(); err != nil {
		return err
	}
	inst, ok := w.insts[id]
	if !ok || inst.terminated || inst.asg == "" {
		return nil
	}
	g := w.asgs[inst.asg]
	switch lc := w.lifecycle(inst); lc {
	case "Terminating":
		return nil
	case "InService", "Pending":
		if g.desired <= g.min {
			return fmt.Errorf("ValidationError: desiredSize equals minSize (%d)", g.min)
		}
		g.desired--
	}
	before := w.inServiceSet()
	inst.lifecycle = "Terminating"
	longest := time.Duration(0)
	for arn, ports := range inst.home {
		tg := w.tgs[arn]
		longest = max(longest, tg.delay)
		for _, p := range ports {
			if r, ok := tg.regs[Target{InstanceID: id, Port: p}]; ok && r.deregisteredAt.IsZero() {
				r.deregisteredAt = w.now()
			}
		}
	}
	w.terminateAt[id] = w.now().Add(longest + time.Second)
	w.checkRemoval("TerminateInstance", before, []string{id})
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
