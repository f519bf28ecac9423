package rollout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Surge, as planned. With max_surge (or max_surge_percent) every Auto
// Scaling group of the fleet launches that many extra instances before the
// first batch; they are deployed first (a new instance carries no
// rolling:version, so it is out of date), count in service like the others
// while the rest is rolled, and are terminated at the end. The capacity
// floor stays min_healthy_percent of the fleet without them, so a surge of
// s lets s more instances out at once: with min_healthy_percent = 100 the
// surge alone is what moves.
//
//	6 instances in asg-web (min 2, desired 6, max 10), max_surge 2, 100 %
//	-> desired 6 -> 8; floor 6 of 6; 8 in service, 2 may be out at once
//	max_surge_percent 25 of desired 6 -> ceil(1.5) = 2
//	desired 6, max 7, max_surge 2 -> error: max allows +1
//
// The surge instances this rollout launched carry TagSurge = the rollout
// id; instances an interrupted earlier rollout launched carry its id, and
// its group carries a SurgeRecord: the next rollout terminates them before
// anything else, so they are no part of its schedule.

// Estimates of the surge's own waits, used only by the expected duration
// (the bounds are the health timeout and surgeLaunchAllowance).
const (
	nominalLaunchTime   = 60 * time.Second // EC2 launch and boot to InService
	nominalShutdownTime = 30 * time.Second // EC2 shutting-down to terminated
	// surgeLaunchAllowance is added to the health timeout to bound the
	// wait for new instances: they must launch before health checks start.
	surgeLaunchAllowance = 5 * time.Minute
)

// SurgeRecord is a surge's undo record, written as TagSurge on its group
// before the desired capacity is raised and deleted once it is back.
type SurgeRecord struct {
	RolloutID string
	// Desired is the group's capacity before the surge, what the undo
	// restores: its desired capacity plus its members in standby.
	Desired int
	Count   int // instances the surge added
}

// String is the tag value: "rollout=<id> desired=6 surge=2" (well inside the
// 256 characters Auto Scaling allows).
func (r SurgeRecord) String() string {
	return fmt.Sprintf("rollout=%s desired=%d surge=%d", r.RolloutID, r.Desired, r.Count)
}

// ParseSurgeRecord reads a TagSurge value of a group; false when it is not
// one (a tag written by hand, say), which is then ignored.
func ParseSurgeRecord(v string) (SurgeRecord, bool) {
	var r SurgeRecord
	seen := 0
	for _, field := range strings.Fields(v) {
		key, val, ok := strings.Cut(field, "=")
		if !ok {
			return SurgeRecord{}, false
		}
		var err error
		switch key {
		case "rollout":
			r.RolloutID = val
		case "desired":
			r.Desired, err = strconv.Atoi(val)
		case "surge":
			r.Count, err = strconv.Atoi(val)
		default:
			return SurgeRecord{}, false
		}
		if err != nil || r.Desired < 0 || r.Count < 0 {
			return SurgeRecord{}, false
		}
		seen++
	}
	return r, seen == 3 && r.RolloutID != ""
}

// SurgePlan is one group's surge.
type SurgePlan struct {
	Group string
	Count int // instances added
	// Desired is the capacity before the surge (after undoing an older
	// one): the desired capacity plus members in standby.
	Desired int
	Max     int
}

// surgeWanted reports whether the strategy asks for a surge.
func surgeWanted(st Strategy) bool { return st.MaxSurge > 0 || st.MaxSurgePercent > 0 }

// surgeCount is how many instances a group with desired capacity d gets:
// max_surge, or max_surge_percent of d rounded UP (as Kubernetes rounds
// maxSurge), at least one.
//
//	d=6, 25% -> ceil(1.5) = 2;  d=3, 10% -> 1;  d=0, 50% -> 1
func surgeCount(st Strategy, desired int) int {
	switch {
	case st.MaxSurge > 0:
		return st.MaxSurge
	case st.MaxSurgePercent > 0:
		return max((desired*st.MaxSurgePercent+99)/100, 1)
	}
	return 0
}

// surgeProblems are the strategy's surge settings that can never work,
// whatever the fleet.
func surgeProblems(s Spec) []string {
	var p []string
	st := s.Strategy
	if st.MaxSurge > 0 && st.MaxSurgePercent > 0 {
		p = append(p, "only one of max_surge and max_surge_percent may be set")
	}
	if st.MaxSurge < 0 {
		p = append(p, fmt.Sprintf("max_surge must not be negative, got %d", st.MaxSurge))
	}
	if st.MaxSurgePercent < 0 || st.MaxSurgePercent > 100 {
		p = append(p, fmt.Sprintf("max_surge_percent must be between 1 and 100, got %d", st.MaxSurgePercent))
	}
	if !surgeWanted(st) {
		return p
	}
	for _, proc := range s.Failure.SuspendProcesses {
		if proc == "Launch" || proc == "Terminate" || proc == "AddToLoadBalancer" {
			p = append(p, fmt.Sprintf("suspend_processes must not include %s with a surge: the surge needs the group to launch, register and terminate instances", proc))
		}
	}
	if s.Fleet.Scoped {
		p = append(p, "max_surge cannot be used with instance_ids: the instances a surge launches are not among the listed ones")
	}
	if st.Order == OrderZoneByZone {
		// The surge's instances go first wherever they launched, which
		// would take zones out of their order.
		p = append(p, `max_surge cannot be used with order = "zone_by_zone" yet`)
	}
	return p
}

// planSurge is each group's surge, or an error saying why the fleet does
// not allow it: no Auto Scaling group, a group none of the fleet's target
// groups is attached to, or a max_size too small.
func planSurge(s Spec, owned map[string]bool) ([]SurgePlan, error) {
	if !surgeWanted(s.Strategy) {
		return nil, nil
	}
	used := map[string]bool{}
	live := liveInstances(s.Fleet.Instances)
	for _, inst := range live {
		if inst.AutoScalingGroup != "" && inst.Tags[TagSurge] == "" {
			used[inst.AutoScalingGroup] = true
		}
	}
	if len(used) == 0 && len(owned) == 0 {
		return nil, &ValidationError{Problems: []string{fmt.Sprintf(
			"max_surge needs instances in an Auto Scaling group, which launches the extra capacity; none of the fleet's %d instances is in one",
			len(live))}}
	}
	ours := map[string]bool{}
	for _, tg := range s.Fleet.TargetGroups {
		ours[tg.ARN] = true
	}
	var plans []SurgePlan
	var problems []string
	for _, g := range s.Fleet.AutoScalingGroups {
		if !used[g.Name] || owned[g.Name] {
			continue
		}
		if !g.SizesKnown {
			problems = append(problems, fmt.Sprintf("max_surge: the sizes of Auto Scaling group %s could not be read", g.Name))
			continue
		}
		if !slices.ContainsFunc(g.TargetGroupARNs, func(arn string) bool { return ours[arn] }) {
			problems = append(problems, fmt.Sprintf("max_surge: Auto Scaling group %s has none of the fleet's target groups attached, so the instances it launches would not serve", g.Name))
			continue
		}
		// The group's capacity: its desired capacity leaves out members in
		// standby (an interrupted run's), which rejoin it.
		desired := g.DesiredCapacity + standbyMembers(s.Fleet.Instances, g.Name)
		if g.Surge != nil {
			desired = g.Surge.Desired // the older surge is undone first
		}
		n := surgeCount(s.Strategy, desired)
		if desired+n > g.MaxSize {
			problems = append(problems, fmt.Sprintf(
				"max_surge: Auto Scaling group %s has desired capacity %d and max_size %d, so it cannot add %d (raise max_size to at least %d, or lower the surge to %d)",
				g.Name, desired, g.MaxSize, n, desired+n, max(g.MaxSize-desired, 0)))
			continue
		}
		plans = append(plans, SurgePlan{Group: g.Name, Count: n, Desired: desired, Max: g.MaxSize})
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return plans, nil
}

// standbyMembers counts the fleet's members of group in standby.
func standbyMembers(insts []Instance, group string) int {
	n := 0
	for _, inst := range insts {
		if inst.AutoScalingGroup == group && inst.LifecycleState == "Standby" && !isTerminated(inst) {
			n++
		}
	}
	return n
}

// heldCapacity is a group's desired capacity plus its members in standby:
// what it holds once they rejoin.
func heldCapacity(st GroupState) int {
	n := st.DesiredCapacity
	for _, m := range st.Members {
		if m.LifecycleState == "Standby" {
			n++
		}
	}
	return n
}

// surgePlaceholder names the i-th (from 1) instance a planned surge adds to
// group, in the plan's batches; it is no instance id.
func surgePlaceholder(group string, i int) string { return fmt.Sprintf("(new %d in %s)", i, group) }

// planningSpec is the spec a schedule is planned over: instances an earlier
// rollout's surge launched are dropped (the undo terminates them first)
// unless this rollout takes that surge over (adoptable); groups holding
// this rollout's surge instances keep them; and, when something is out of
// date, every other group's surge is added as new instances: in service
// in the target groups their group is attached to, out of date, with the
// group's desired capacity raised (the plan, before anything launched). It
// is idempotent.
func planningSpec(s Spec) (Spec, []SurgePlan, error) {
	out := s
	out.Fleet.Instances = nil
	adopt := adoptable(s)
	for _, inst := range s.Fleet.Instances {
		switch tag := inst.Tags[TagSurge]; {
		case tag == "" || tag == s.RolloutID:
		case adopt[inst.AutoScalingGroup] == tag:
			inst.Tags = withSurgeTag(inst.Tags, s.RolloutID)
		default:
			continue
		}
		out.Fleet.Instances = append(out.Fleet.Instances, inst)
	}
	plans := ownSurge(out, adopt)
	owned := map[string]bool{}
	for _, p := range plans {
		owned[p.Group] = true
	}
	out.Fleet.AutoScalingGroups = append([]AutoScalingGroup(nil), s.Fleet.AutoScalingGroups...)
	for i, g := range out.Fleet.AutoScalingGroups {
		if owned[g.Name] {
			out.Fleet.AutoScalingGroups[i].Surge = nil
		}
	}
	outOfDate := false
	for _, inst := range liveInstances(out.Fleet.Instances) {
		outOfDate = outOfDate || needsUpdate(inst, s.Release.Version) && inst.Tags[TagSurge] == ""
	}
	if !outOfDate || !surgeWanted(s.Strategy) {
		return out, plans, nil
	}
	fresh, err := planSurge(out, owned)
	if err != nil {
		return out, nil, err
	}
	byGroup := map[string]SurgePlan{}
	for _, p := range fresh {
		byGroup[p.Group] = p
	}
	for i, g := range out.Fleet.AutoScalingGroups {
		if p, ok := byGroup[g.Name]; ok {
			out.Fleet.AutoScalingGroups[i].DesiredCapacity = p.Desired - standbyMembers(out.Fleet.Instances, g.Name) + p.Count
			out.Fleet.AutoScalingGroups[i].Surge = nil
		}
	}
	ports := map[string]int32{} // a port each target group registers on
	for _, inst := range out.Fleet.Instances {
		for arn, ts := range inst.Targets {
			if _, ok := ports[arn]; !ok && len(ts) > 0 {
				ports[arn] = ts[0].Port
			}
		}
	}
	ours := targetGroupsByARN(s.Fleet.TargetGroups)
	for _, g := range out.Fleet.AutoScalingGroups {
		p, ok := byGroup[g.Name]
		if !ok {
			continue
		}
		for i := 1; i <= p.Count; i++ {
			id := surgePlaceholder(g.Name, i)
			inst := Instance{ID: id, State: "running", AutoScalingGroup: g.Name, LifecycleState: "InService",
				Targets: map[string][]Target{}, Health: map[string]TargetHealth{}, Tags: map[string]string{TagSurge: s.RolloutID}}
			for _, arn := range g.TargetGroupARNs {
				if _, ok := ours[arn]; ok {
					t := Target{InstanceID: id, Port: ports[arn]}
					inst.Targets[arn] = []Target{t}
					inst.Health[arn] = TargetHealth{Target: t, State: HealthHealthy}
				}
			}
			out.Fleet.Instances = append(out.Fleet.Instances, inst)
		}
	}
	return out, append(plans, fresh...), nil
}

// ownSurge is the surge of the groups holding this rollout's surge
// instances already (launched, or taken over from an earlier rollout).
func ownSurge(s Spec, adopted map[string]string) []SurgePlan {
	count := map[string]int{}
	for _, inst := range s.Fleet.Instances {
		if inst.Tags[TagSurge] == s.RolloutID && inst.AutoScalingGroup != "" && !isTerminated(inst) {
			count[inst.AutoScalingGroup]++
		}
	}
	var plans []SurgePlan
	for _, g := range s.Fleet.AutoScalingGroups {
		n := count[g.Name]
		if n == 0 {
			continue
		}
		desired := g.DesiredCapacity + standbyMembers(s.Fleet.Instances, g.Name) - n
		if _, ok := adopted[g.Name]; ok && g.Surge != nil {
			desired = g.Surge.Desired
		}
		plans = append(plans, SurgePlan{Group: g.Name, Count: n, Desired: desired, Max: g.MaxSize})
	}
	return plans
}

// floorSize is the fleet size the capacity floor is taken of: the live
// instances without the surge's.
func floorSize(live []Instance) int {
	n := 0
	for _, inst := range live {
		if inst.Tags[TagSurge] == "" {
			n++
		}
	}
	return n
}

// surgeFirst moves the surge's instances ahead of the other in-service
// ones, keeping the order otherwise: they are extra capacity, so deploying
// them first costs nothing, and they are then on the release before they
// are counted on. Instances out of service (left out by an earlier run,
// unhealthy) stay ahead of them: they cost no capacity either, and until
// they are back the surge's capacity may be all that keeps the floor.
func surgeFirst(queue []string, byID map[string]Instance) []string {
	var free, surge, rest []string
	for _, id := range queue {
		inst := byID[id]
		switch {
		case inst.Tags[TagSurge] != "":
			surge = append(surge, id)
		case !isInService(inst):
			free = append(free, id)
		default:
			rest = append(rest, id)
		}
	}
	if len(surge) == 0 {
		return queue // no surge: the order is orderOutOfDate's own
	}
	return append(append(free, surge...), rest...)
}

// surgeDuration is what a surge adds to the expected duration: the launch
// and the new instances' health checks before the first batch, and at the
// end their draining and shutdown.
//
//	launch 60s + health 3 x 10s + drain 30s + shutdown 30s -> 2m30s
func surgeDuration(s Spec, plans []SurgePlan) time.Duration {
	if len(plans) == 0 {
		return 0
	}
	var drain, health time.Duration
	for _, tg := range s.Fleet.TargetGroups {
		drain = max(drain, drainExpected(tg, s.Strategy))
		health = max(health, healthExpected(tg))
	}
	return nominalLaunchTime + health + drain + nominalShutdownTime
}

// SurgeTimeout bounds the wait for a surge's instances to be InService and
// healthy in every target group.
func SurgeTimeout(st Strategy) time.Duration {
	h := st.HealthTimeout
	if h <= 0 {
		h = DefaultHealthTimeout
	}
	return h + surgeLaunchAllowance
}
