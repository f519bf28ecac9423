package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// The surge stage (strategy max_surge; the arithmetic is in
// surge_plan.go). Around the engine's run:
//
//  1. undo what an interrupted earlier rollout's surge left (surge_undo.go);
//  2. check that each group is as planned (desired capacity, max_size)
//     before changing anything; record the undo on the group (TagSurge,
//     SurgeRecord), then raise its desired capacity;
//  3. wait for the new instances to be InService and healthy in every
//     target group of the fleet their group is attached to, tagging each
//     with TagSurge the moment it appears; bounded by SurgeTimeout;
//  4. run the engine over the fleet with them: they are deployed first and
//     counted in service, the floor stays that of the fleet without them;
//  5. whatever the outcome (success, failure, cancellation), terminate
//     them through Auto Scaling, decrementing the desired capacity, wait
//     until the group has let them go (it drains them out of its target
//     groups first), and delete the record.
//
// The surge instances are terminated rather than any others: they are on
// the release by then like every instance, and the groups go back to the
// instances and the Availability Zone spread they had. A crash anywhere
// leaves the record on the group and TagSurge on the instances, from which
// the next rollout finishes the undo before anything else.

// surgePollInterval is how often the surge's waits read the groups and
// target groups.
const surgePollInterval = 5 * time.Second

// surgeRemoveAllowance bounds the wait for a group to let the surge's
// instances go, beyond the target groups' longest deregistration delay.
const surgeRemoveAllowance = 10 * time.Minute

// surger runs the surge stage of one rollout.
type surger struct {
	spec   Spec
	ports  Ports
	mask   masker
	groups []*surgeGroup
}

// surgeGroup is one group's surge as it goes.
type surgeGroup struct {
	plan      SurgePlan
	before    map[string]bool // members before the desired capacity was raised
	launched  []string        // members that appeared since, in the order seen
	raiseTo   int             // the desired capacity the surge sets
	launching bool            // launched by this rollout (not taken over)
	recorded  bool            // TagSurge written
	raised    bool            // SetDesiredCapacity sent (maybe lost on the way back)
}

// Run rolls the release out over the fleet and reports where every instance
// ended: the surge stage (when the strategy asks for one, or an earlier
// rollout left one) around the engine (runEngine). It always returns a
// Result; the error is nil when the rollout succeeded or had nothing to do,
// and otherwise says what failed and what was done about it (a *RunError
// wrapping the *InstanceError values).
func Run(ctx context.Context, s Spec, p Ports) (Result, error) {
	if p.Clock == nil || (p.Capacity == nil && !surgeWanted(s.Strategy) && !hasEarlierSurge(s)) {
		return runEngine(ctx, s, p)
	}
	sg := &surger{spec: s, ports: p, mask: newMasker(s.Sensitive)}
	if p.Capacity == nil {
		return sg.failed(fmt.Errorf("rollout: missing ports: Capacity (a surge needs Auto Scaling)"), false)
	}
	if err := sg.adoptEarlier(context.WithoutCancel(ctx)); err != nil {
		return sg.failed(err, false)
	}
	if err := sg.undoEarlier(context.WithoutCancel(ctx)); err != nil {
		return sg.failed(fmt.Errorf("the surge of an earlier rollout could not be undone, so nothing else was done: %w", err), false)
	}
	s = sg.spec
	var launch []SurgePlan
	if _, plans, err := planningSpec(s); err == nil && ctx.Err() == nil {
		// Otherwise the engine reports why it cannot start.
		for _, plan := range plans {
			if !slices.ContainsFunc(sg.groups, func(g *surgeGroup) bool { return g.plan.Group == plan.Group }) {
				launch = append(launch, plan)
			}
		}
	}
	var insts []Instance
	if len(launch) > 0 {
		var err error
		if insts, err = sg.launch(ctx, launch); err != nil {
			cause := err
			if rerr := sg.remove(context.WithoutCancel(ctx)); rerr != nil {
				cause = errors.Join(err, fmt.Errorf("undoing the surge: %w; the next apply undoes it", rerr))
			} else if sg.changed() {
				cause = fmt.Errorf("%w; the surge was undone", err)
			}
			return sg.failed(cause, ctx.Err() != nil)
		}
	}
	res, runErr := runEngine(ctx, sg.withSurge(s, insts), p)
	rerr := sg.remove(context.WithoutCancel(ctx))
	return sg.report(res, runErr, rerr)
}

// hasEarlierSurge reports whether the fleet holds what an earlier
// rollout's surge left: a record on a group or a tagged instance.
func hasEarlierSurge(s Spec) bool {
	for _, g := range s.Fleet.AutoScalingGroups {
		if g.Surge != nil && g.Surge.RolloutID != s.RolloutID {
			return true
		}
	}
	for _, inst := range s.Fleet.Instances {
		if tag := inst.Tags[TagSurge]; tag != "" && tag != s.RolloutID {
			return true
		}
	}
	return false
}

func (sg *surger) emit(format string, args ...any) {
	if sg.ports.Observer == nil {
		return
	}
	sg.ports.Observer.Event(Event{Time: sg.ports.Clock.Now(), Kind: EventSurge, RolloutID: sg.spec.RolloutID,
		Message: sg.mask.String(fmt.Sprintf(format, args...))})
}

// changed reports whether the surge changed any group.
func (sg *surger) changed() bool {
	return slices.ContainsFunc(sg.groups, func(g *surgeGroup) bool { return g.recorded })
}

// launch checks every group, records and raises each, and waits for the
// new instances; it returns them as the engine sees instances.
func (sg *surger) launch(ctx context.Context, plans []SurgePlan) ([]Instance, error) {
	capy := sg.ports.Capacity
	for _, p := range plans {
		st, err := capy.Group(ctx, p.Group)
		if err != nil {
			return nil, fmt.Errorf("surge: reading Auto Scaling group %s: %w", p.Group, sg.mask.Err(err))
		}
		if held := heldCapacity(st); held != p.Desired || st.MaxSize < p.Desired+p.Count {
			return nil, fmt.Errorf("surge: Auto Scaling group %s changed since the plan: desired capacity %d and max_size %d now, "+
				"planned +%d from desired %d within max_size %d; nothing was changed, plan again",
				p.Group, held, st.MaxSize, p.Count, p.Desired, p.Max)
		}
		g := &surgeGroup{plan: p, before: map[string]bool{}, raiseTo: st.DesiredCapacity + p.Count, launching: true}
		for _, m := range st.Members {
			g.before[m.ID] = true
		}
		sg.groups = append(sg.groups, g)
	}
	for _, g := range sg.groups {
		if !g.launching {
			continue
		}
		p := g.plan
		rec := SurgeRecord{RolloutID: sg.spec.RolloutID, Desired: p.Desired, Count: p.Count}
		if err := capy.RecordSurge(ctx, p.Group, rec); err != nil {
			return nil, fmt.Errorf("surge: recording it on Auto Scaling group %s: %w", p.Group, sg.mask.Err(err))
		}
		g.recorded = true
		// Marked raised before the call: an answer lost on the way back
		// must still be undone.
		g.raised = true
		if err := capy.SetDesiredCapacity(ctx, p.Group, g.raiseTo); err != nil {
			return nil, fmt.Errorf("surge: raising the desired capacity of %s to %d: %w", p.Group, g.raiseTo, sg.mask.Err(err))
		}
		sg.emit("%s: desired capacity %d -> %d (max %d); waiting for %s to be InService and healthy",
			p.Group, p.Desired, p.Desired+p.Count, p.Max, plural(p.Count, "new instance"))
	}
	timeout := SurgeTimeout(sg.spec.Strategy)
	deadline := sg.ports.Clock.Now().Add(timeout)
	for {
		insts, waiting, err := sg.poll(ctx)
		if err != nil {
			return nil, err
		}
		if len(waiting) == 0 {
			sg.emit("%s in service", plural(len(insts), "new instance"))
			return insts, nil
		}
		if !sg.ports.Clock.Now().Before(deadline) {
			return nil, fmt.Errorf("surge: the new instances were not InService and healthy within %s: %s", timeout, strings.Join(waiting, "; "))
		}
		select {
		case <-sg.ports.Clock.After(surgePollInterval):
		case <-ctx.Done():
			return nil, fmt.Errorf("surge: cancelled while waiting for the new instances: %w", ctx.Err())
		}
	}
}

// poll reads each group and the target groups its new members must be
// healthy in. It tags members the moment they appear, and returns the new
// instances when all are ready, else what each one still waits for.
func (sg *surger) poll(ctx context.Context) ([]Instance, []string, error) {
	var insts []Instance
	var waiting []string
	health := map[string][]TargetHealth{}
	for _, g := range sg.groups {
		if !g.launching {
			continue // taken over: its instances are in the fleet already
		}
		st, err := sg.ports.Capacity.Group(ctx, g.plan.Group)
		if err != nil {
			return nil, nil, fmt.Errorf("surge: reading Auto Scaling group %s: %w", g.plan.Group, sg.mask.Err(err))
		}
		var fresh []string
		active := 0
		for _, m := range st.Members {
			if g.before[m.ID] {
				continue
			}
			if !slices.Contains(g.launched, m.ID) {
				fresh = append(fresh, m.ID)
				g.launched = append(g.launched, m.ID)
			}
		}
		if len(fresh) > 0 {
			// The tag says which instances the undo terminates first.
			if err := sg.ports.Tags.SetTags(ctx, fresh, map[string]string{TagSurge: sg.spec.RolloutID}); err != nil {
				return nil, nil, fmt.Errorf("surge: tagging %s: %w", strings.Join(fresh, ", "), sg.mask.Err(err))
			}
		}
		for _, m := range st.Members {
			if g.before[m.ID] || !activeLifecycle(m.LifecycleState) {
				continue
			}
			active++
			inst, why, err := sg.ready(ctx, st, m, health)
			if err != nil {
				return nil, nil, err
			}
			if why != "" {
				waiting = append(waiting, m.ID+" "+why)
				continue
			}
			insts = append(insts, inst)
		}
		if active < g.plan.Count {
			waiting = append(waiting, fmt.Sprintf("%s has launched %d of %d", g.plan.Group, active, g.plan.Count))
		}
	}
	return insts, waiting, nil
}

func activeLifecycle(state string) bool {
	return state == "InService" || strings.HasPrefix(state, "Pending")
}

// ready says what a new member still waits for ("" when nothing) and, when
// ready, what the engine needs of it: its registrations and health in the
// fleet's target groups its group is attached to.
func (sg *surger) ready(ctx context.Context, st GroupState, m GroupMember, health map[string][]TargetHealth) (Instance, string, error) {
	if m.LifecycleState != "InService" {
		return Instance{}, "is " + m.LifecycleState, nil
	}
	if !m.Healthy {
		return Instance{}, "is unhealthy in its Auto Scaling group", nil
	}
	inst := Instance{ID: m.ID, AZ: m.AZ, State: "running", AutoScalingGroup: st.Name, LifecycleState: m.LifecycleState,
		Targets: map[string][]Target{}, Health: map[string]TargetHealth{}, Tags: map[string]string{TagSurge: sg.spec.RolloutID}}
	ours := targetGroupsByARN(sg.spec.Fleet.TargetGroups)
	for _, arn := range st.TargetGroupARNs {
		tg, ok := ours[arn]
		if !ok {
			continue
		}
		rows, read := health[arn]
		if !read {
			var err error
			if rows, err = sg.ports.LB.TargetHealth(ctx, arn); err != nil {
				return Instance{}, "", fmt.Errorf("surge: reading the health of target group %s: %w", tg.Name, sg.mask.Err(err))
			}
			health[arn] = rows
		}
		found := false
		for _, h := range rows {
			if h.InstanceID != m.ID {
				continue
			}
			found = true
			inst.Targets[arn] = append(inst.Targets[arn], h.Target)
			if h.State != HealthHealthy {
				return Instance{}, fmt.Sprintf("is %s (%s) in target group %s", h.State, h.Reason, tg.Name), nil
			}
			inst.Health[arn] = h
		}
		if !found {
			return Instance{}, "is not registered in target group " + tg.Name + " yet", nil
		}
	}
	return inst, "", nil
}

// withSurge is the spec the engine runs: the new instances added, the
// groups' desired capacity raised.
func (sg *surger) withSurge(s Spec, insts []Instance) Spec {
	out := s
	sort.Slice(insts, func(i, j int) bool { return insts[i].ID < insts[j].ID })
	out.Fleet.Instances = append(append([]Instance(nil), s.Fleet.Instances...), insts...)
	out.Fleet.AutoScalingGroups = append([]AutoScalingGroup(nil), s.Fleet.AutoScalingGroups...)
	for i, g := range out.Fleet.AutoScalingGroups {
		for _, sgr := range sg.groups {
			if sgr.plan.Group == g.Name {
				out.Fleet.AutoScalingGroups[i].DesiredCapacity = sgr.raiseTo
				out.Fleet.AutoScalingGroups[i].Surge = nil
			}
		}
	}
	return out
}

// remove undoes the surge: the new instances terminated with the desired
// capacity decremented, waited out of their group, and the record deleted.
// Every group is undone even when one fails; the errors are joined.
func (sg *surger) remove(ctx context.Context) error {
	var errs []error
	for _, g := range sg.groups {
		if !g.recorded {
			continue
		}
		rec := SurgeRecord{RolloutID: sg.spec.RolloutID, Desired: g.plan.Desired, Count: g.plan.Count}
		if _, _, err := sg.undoGroup(ctx, g.plan.Group, &rec, g.launched, g.raised); err != nil {
			errs = append(errs, err)
			continue
		}
		sg.emit("%s: the surge's %s terminated, desired capacity back to %d", g.plan.Group,
			plural(len(g.launched), "instance"), g.plan.Desired)
	}
	return errors.Join(errs...)
}

// report folds the surge into the engine's result: the surge's instances
// are no part of the fleet's outcome (they are terminated), and a surge
// that could not be undone fails the rollout.
func (sg *surger) report(res Result, runErr, removeErr error) (Result, error) {
	surge := map[string]bool{}
	for _, g := range sg.groups {
		for _, id := range g.launched {
			surge[id] = true
		}
	}
	kept := res.Instances[:0:0]
	for _, o := range res.Instances {
		if !surge[o.ID] {
			kept = append(kept, o)
		}
	}
	res.Instances = kept
	var counted *RunError
	if errors.As(runErr, &counted) {
		// The counts and the instances left out are the fleet's, as the
		// result: "3 updated" must not count instances since terminated.
		counted.Updated, counted.RolledBack, counted.Pending =
			res.Count(InstanceUpdated), res.Count(InstanceRolledBack), res.Count(InstancePending)
		counted.OutOfService = slices.DeleteFunc(counted.OutOfService, func(id string) bool { return surge[id] })
	}
	if removeErr == nil {
		return res, runErr
	}
	removeErr = fmt.Errorf("the surge could not be undone (the next apply finishes it): %w", sg.mask.Err(removeErr))
	if runErr == nil {
		res.Status = StatusFailed
		res.StopReason = removeErr.Error()
		return res, &RunError{Status: StatusFailed, StopReason: res.StopReason, Updated: res.Count(InstanceUpdated), Errs: []error{removeErr}}
	}
	var re *RunError
	if errors.As(runErr, &re) {
		re.Errs = append(re.Errs, removeErr)
		return res, re
	}
	return res, errors.Join(runErr, removeErr)
}

// failed is the result of a rollout stopped by its surge before the engine
// ran: nothing was deployed.
func (sg *surger) failed(err error, cancelled bool) (Result, error) {
	now := sg.ports.Clock.Now()
	res := Result{RolloutID: sg.spec.RolloutID, Status: StatusFailed, StartedAt: now, FinishedAt: now, StopReason: sg.mask.String(err.Error())}
	if cancelled {
		res.Status = StatusCancelled
	}
	for _, inst := range sg.spec.Fleet.Instances {
		o := InstanceOutcome{ID: inst.ID, Status: InstanceUpToDate, Version: inst.Version(), Phase: inst.Tags[TagPhase],
			OutOfService: inst.Tags[TagPhase] != "" && !isTerminated(inst)}
		switch {
		case isTerminated(inst):
			o.Status = InstanceGone
		case needsUpdate(inst, sg.spec.Release.Version):
			o.Status = InstancePending
		}
		res.Instances = append(res.Instances, o)
	}
	sg.emit("%s", res.StopReason)
	return res, &RunError{Status: res.Status, StopReason: res.StopReason, Pending: res.Count(InstancePending),
		Errs: []error{errors.New(res.StopReason)}}
}
