package rollout

import (
	"errors"
	"fmt"
	"strings"
)

// What the world says about a group's instances right now: target health
// and lifecycle states, read once per target group and shared by every
// group polled at the same moment; a target group deleted mid-rollout.

// observation is what the world says about one instance right now.
type observation struct {
	drained bool   // no registration left (and in Standby if in an ASG)
	healthy bool   // healthy in every registration (and InService)
	gone    string // why the instance is considered terminated/replaced
	why     string // why it is not healthy, for errors
	// unknown: a read failed, so neither healthy nor unhealthy is known.
	unknown bool
	// seenUnhealthy: a read that worked shows a registration (or the
	// lifecycle state) not healthy, whatever the reads that failed say.
	seenUnhealthy bool
}

// observe reads target health (one call per target group, shared by all
// groups in this loop iteration) and, for Auto Scaling members, lifecycle
// states (one call per group).
func (e *engine) observe(g *group) map[string]observation {
	arns := map[string]bool{}
	var asgMembers []string
	for _, id := range g.members {
		st := e.insts[id]
		for arn := range st.targets {
			arns[arn] = true
		}
		if st.inst.AutoScalingGroup != "" {
			asgMembers = append(asgMembers, id)
		}
	}
	rows := map[string]map[Target]TargetHealth{}
	rowErr := map[string]error{}
	// Usually prefetched; what is not is read now, every target group and
	// the lifecycle states at once.
	order := sortedKeys(arns)
	read := make([]map[Target]TargetHealth, len(order))
	readErr := make([]error, len(order))
	var states map[string]string
	var statesErr error
	var reads []func()
	for i, arn := range order {
		reads = append(reads, func() { read[i], readErr[i] = e.healthOf(arn, g) })
	}
	if len(asgMembers) > 0 {
		reads = append(reads, func() { states, statesErr = e.lifecycleStates(asgMembers) })
	}
	e.together(reads...)
	for i, arn := range order {
		if err := readErr[i]; err != nil {
			if !e.targetGroupDeleted(arn, err) {
				rowErr[arn] = err
			}
			continue
		}
		rows[arn] = read[i]
	}
	e.emit(Event{Kind: EventPoll, Batch: g.batch, Message: fmt.Sprintf("polled health of %d instances in %d target groups", len(g.members), len(arns))})

	out := map[string]observation{}
	for _, id := range g.members {
		st := e.insts[id]
		o := observation{drained: true, healthy: true}
		for _, arn := range sortedKeys(st.targets) {
			if err := rowErr[arn]; err != nil {
				o.drained, o.healthy, o.unknown, o.why = false, false, true, "reading target health: "+e.mask.Err(err).Error()
				continue
			}
			for _, t := range st.targets[arn] {
				row, found := rows[arn][t]
				if found && row.Reason == "Target.InvalidState" {
					o.gone = fmt.Sprintf("instance is stopped or terminated (Target.InvalidState in %s)", arn)
				}
				if found && row.State != HealthUnused {
					o.drained = false
				}
				if !found || row.State != HealthHealthy {
					o.healthy, o.seenUnhealthy = false, true
					state, reason := HealthUnused, "Target.NotRegistered"
					if found {
						state, reason = row.State, row.Reason
					}
					o.why = fmt.Sprintf("%s port %d is %s (%s)", arn, t.Port, state, reason)
				}
			}
		}
		if st.inst.AutoScalingGroup != "" {
			ls, ok := states[id]
			switch {
			case statesErr != nil:
				o.drained, o.healthy, o.unknown, o.why = false, false, true, "reading lifecycle states: "+e.mask.Err(statesErr).Error()
			case !ok || strings.HasPrefix(ls, "Terminat") || strings.HasPrefix(ls, "Detach"):
				o.gone = fmt.Sprintf("instance is no longer in Auto Scaling group %s (terminated or replaced)", st.inst.AutoScalingGroup)
			default:
				if ls != "Standby" {
					o.drained = false
				}
				if ls != "InService" {
					o.healthy, o.seenUnhealthy = false, true
					o.why = "Auto Scaling lifecycle state is " + ls
				}
			}
		}
		out[id] = o
	}
	return out
}

// lastBakeRead says whether g's read is the last of its bake while
// instances are still queued: its end makes room for a departure in the
// same pass, which reads every target group's health first
// (refreshAvailability). Reading the whole group now (one call, as the
// targeted read would be) leaves that read in this pass's cache: one call
// less per departure.
func (e *engine) lastBakeRead(g *group) bool {
	return g.stage == stageBake && !g.wakeAt.Before(g.bakeEnd) && len(e.queue) > 0 && !e.cancelled
}

// maxTargetedHealth bounds the targets of one targeted health read
// (healthOf); more are read with the whole group.
const maxTargetedHealth = 100

// healthOf reads the health of g's targets in one target group: from the
// whole group's answer if this iteration has one, else, when the port can,
// with a read of just the targets of the groups polling at this moment in
// that target group (shared through targetCache), else the whole group.
func (e *engine) healthOf(arn string, g *group) (map[Target]TargetHealth, error) {
	whole := func() (map[Target]TargetHealth, error) {
		hs, err := e.targetHealth(arn)
		if err != nil {
			return nil, err
		}
		m := make(map[Target]TargetHealth, len(hs))
		for _, h := range hs {
			m[h.Target] = h
		}
		return m, nil
	}
	reader, ok := e.ports.LB.(TargetsHealthReader)
	if _, cached := e.healthCache[arn]; cached || !ok || e.lastBakeRead(g) {
		return whole()
	}
	cache := e.targetCache[arn]
	want := e.targetsIn(g.members, arn)
	if cache != nil && hasAll(cache, want) {
		return cache, nil
	}
	// Read the targets of every group polling now in this target group.
	seen := map[Target]bool{}
	var ask []Target
	add := func(ts []Target) {
		for _, t := range ts {
			if !seen[t] {
				seen[t] = true
				ask = append(ask, t)
			}
		}
	}
	add(want)
	for _, o := range e.groups {
		if o != g && len(o.members) > 0 && (o.stage == stageDrain || o.stage == stageHealth || o.stage == stageBake) &&
			e.pollDue != nil && e.pollDue(o) {
			add(e.targetsIn(o.members, arn))
		}
	}
	if len(ask) > maxTargetedHealth {
		return whole()
	}
	gen := e.healthGen[arn]
	hs, err := reader.TargetsHealth(e.ctx, arn, ask)
	if err != nil {
		// One instance gone can fail the whole call (InvalidTarget);
		// the whole group's answer shows it as Target.InvalidState.
		return whole()
	}
	fresh := map[Target]TargetHealth{}
	for _, t := range ask {
		// Asked but not answered: not registered.
		fresh[t] = TargetHealth{Target: t, State: HealthUnused, Reason: "Target.NotRegistered"}
	}
	for _, h := range hs {
		fresh[h.Target] = h
	}
	if gen != e.healthGen[arn] {
		return fresh, nil // the group changed meanwhile: not kept
	}
	if e.targetCache == nil {
		e.targetCache = map[string]map[Target]TargetHealth{}
	}
	if e.targetCache[arn] == nil {
		e.targetCache[arn] = map[Target]TargetHealth{}
	}
	cache = e.targetCache[arn]
	for t, h := range fresh {
		cache[t] = h
	}
	return cache, nil
}

// targetsIn lists the registrations of ids in one target group (attached
// through Auto Scaling or not: observe looks at all of them).
func (e *engine) targetsIn(ids []string, arn string) []Target {
	var out []Target
	for _, id := range ids {
		out = append(out, e.insts[id].targets[arn]...)
	}
	return out
}

func hasAll(m map[Target]TargetHealth, ts []Target) bool {
	for _, t := range ts {
		if _, ok := m[t]; !ok {
			return false
		}
	}
	return true
}

// targetHealth reads the whole group's health once per loop iteration; a
// read that failed is not made again in the same iteration (its error is
// kept), so a failing read is retried at the pace of the loop's waits.
func (e *engine) targetHealth(arn string) ([]TargetHealth, error) {
	if hs, ok := e.healthCache[arn]; ok {
		return hs, nil
	}
	if err, ok := e.healthErr[arn]; ok {
		return nil, err
	}
	gen := e.healthGen[arn]
	hs, err := e.ports.LB.TargetHealth(e.ctx, arn)
	if gen != e.healthGen[arn] {
		return hs, err // the group changed meanwhile: not kept
	}
	if err != nil {
		if e.healthErr == nil {
			e.healthErr = map[string]error{}
		}
		e.healthErr[arn] = err
		return nil, err
	}
	e.healthCache[arn] = hs
	return hs, nil
}

// targetGroupDeleted reports whether err (from a call on target group arn)
// means the group no longer exists, and if so drops it from the rollout:
// nothing can be registered in or deregistered from a deleted group, so its
// errors are no failure of the instances, which go on with the groups that
// remain (and rejoin those). The run stops scheduling: the fleet is not what
// the plan was made for. Per the LoadBalancer contract, ErrNotFound from a
// call on a target group always means the group: a bad target is another
// error (InvalidTarget), so no further call is needed to tell them apart
// (one could be throttled, and the group must be dropped all the same).
func (e *engine) targetGroupDeleted(arn string, err error) bool {
	if !errors.Is(err, ErrNotFound) {
		return false
	}
	if _, known := e.tgs[arn]; !known {
		return true // already dropped
	}
	delete(e.tgs, arn)
	delete(e.healthCache, arn)
	delete(e.targetCache, arn)
	var tgs []TargetGroup
	for _, tg := range e.spec.Fleet.TargetGroups {
		if tg.ARN != arn {
			tgs = append(tgs, tg)
		}
	}
	e.spec.Fleet.TargetGroups = tgs
	for _, id := range e.order {
		st := e.insts[id]
		if _, ok := st.targets[arn]; ok {
			// A copy: the map may be the caller's Spec.
			targets := make(map[string][]Target, len(st.targets))
			for k, v := range st.targets {
				if k != arn {
					targets[k] = v
				}
			}
			st.targets = targets
		}
		delete(st.attached, arn)
	}
	reason := fmt.Sprintf("target group %s was deleted during the rollout: %s", arn, e.mask.Err(err))
	e.portErrs = append(e.portErrs, errors.New(reason))
	e.stop(reason)
	return true
}
