package rollout

import (
	"fmt"
	"sort"
	"time"
)

// Nominal estimates used by ExpectedDuration before any rollout recorded
// the steps' run times (TagSteps). They are estimates, not bounds: the
// bounds are the timeouts.
const (
	// nominalStepTime is how long a step is expected to run when its
	// timeout is longer; most deploy steps finish well inside a minute.
	nominalStepTime = 30 * time.Second
)

// minInService is the capacity floor in instances: the fleet size times
// min_healthy_percent, rounded UP so the floor is never breached.
//
//	n=10, 75% -> ceil(7.5) = 8 must stay in service, 2 may be out
//	n=3,  50% -> ceil(1.5) = 2 must stay in service, 1 may be out
//	n=2, 100% -> 2 must stay in service, nobody may leave (an error)
//	n=0       -> 0 (nothing to do)
func minInService(n, minHealthyPercent int) int {
	if n <= 0 || minHealthyPercent <= 0 {
		return 0
	}
	if minHealthyPercent >= 100 {
		return n
	}
	return (n*minHealthyPercent + 99) / 100
}

// batchLimit is how many instances may move at once by the strategy alone
// (the capacity floor may allow fewer): batch_size, or batch_percent of the
// whole fleet rounded DOWN but never below one so that a rollout always moves.
//
//	n=10, 25% -> floor(2.5) = 2
//	n=3,  10% -> floor(0.3) = 0 -> 1
//	n=7, 100% -> 7
func batchLimit(s Strategy, n int) int {
	if s.BatchSize > 0 {
		return s.BatchSize
	}
	l := n * s.BatchPercent / 100
	if l < 1 {
		l = 1
	}
	return l
}

// maxFailures is how many failed instances are tolerated before the rollout
// stops: max_failed_instances, or max_failed_percent of the out-of-date
// instances rounded DOWN (tolerating fewer failures is the safe side).
//
//	outOfDate=10, 25% -> 2 tolerated, the 3rd failure stops the rollout
//	outOfDate=3,  10% -> 0 tolerated
func maxFailures(f FailurePolicy, outOfDate int) int {
	if f.MaxFailedPercent > 0 {
		return outOfDate * f.MaxFailedPercent / 100
	}
	return f.MaxFailedInstances
}

// takeNext picks which instances from the head of queue may leave now, in
// order: at most limit, and only as many of them that are in service
// (costly[i]) as spare allows, spare being the in-service instances above the
// floor. Instances already out of service cost no capacity. It stops at the
// first instance that would breach the floor rather than skip it, so the
// order is kept. An instance that leaves through standby also needs room in
// its Auto Scaling group (group[i], room by group; see standbyRoom): one
// without room is skipped and waits for the next batch.
//
//	costly=[T T T], limit=2, spare=5 -> [0 1] (limited by the batch)
//	costly=[T T T], limit=3, spare=1 -> [0] (limited by the floor)
//	costly=[F F T], limit=3, spare=0 -> [0 1] (unhealthy ones are free)
//	costly=[T F],   limit=3, spare=0 -> [] (stalled: the head would breach the floor)
//	group=[a a b], room a=1, limit=3, spare=5 -> [0 2] (a has room for one)
func takeNext(costly []bool, limit, spare int, group []string, room map[string]int) []int {
	var take []int
	used := map[string]int{}
	for i := 0; i < len(costly) && len(take) < limit; i++ {
		g := ""
		if i < len(group) {
			g = group[i]
		}
		if r, ok := room[g]; ok && g != "" && r >= 0 && used[g] >= r {
			continue
		}
		if costly[i] {
			if spare <= 0 {
				break
			}
			spare--
		}
		used[g]++
		take = append(take, i)
	}
	return take
}

// pick returns the queue's elements at the given indices, and the queue
// without them.
func pick(queue []string, idx []int) (taken, rest []string) {
	in := make(map[int]bool, len(idx))
	for _, i := range idx {
		in[i] = true
	}
	for i, id := range queue {
		if in[i] {
			taken = append(taken, id)
		} else {
			rest = append(rest, id)
		}
	}
	return taken, rest
}

// isTerminated reports whether an instance is outside the fleet: gone for
// good (or going), or stopped. It is neither deployed nor counted in the
// fleet; a stopped instance comes back as drift once it runs again.
func isTerminated(inst Instance) bool {
	switch inst.State {
	case "terminated", "shutting-down", "stopped", "stopping":
		return true
	}
	return false
}

// liveInstances drops terminated instances: N for the floor counts only
// instances that can serve.
func liveInstances(insts []Instance) []Instance {
	out := make([]Instance, 0, len(insts))
	for _, inst := range insts {
		if !isTerminated(inst) {
			out = append(out, inst)
		}
	}
	return out
}

// needsUpdate reports whether an instance is out of date: not tagged with the
// version, or left out of service by an earlier run (rolling:phase is set).
func needsUpdate(inst Instance, version string) bool {
	return inst.Version() != version || inst.Tags[TagPhase] != ""
}

// isInService reports whether an instance currently counts towards capacity:
// running, not marked out of service by us, in at least one target group and
// healthy in every one of them. An instance with no health reported is not
// counted: the floor must never rest on a guess.
func isInService(inst Instance) bool {
	if inst.Tags[TagPhase] != "" || len(inst.Targets) == 0 {
		return false
	}
	if inst.State != "" && inst.State != "running" {
		return false
	}
	if inst.AutoScalingGroup != "" && inst.LifecycleState != "" && inst.LifecycleState != "InService" {
		return false
	}
	for arn := range inst.Targets {
		if h, ok := inst.Health[arn]; !ok || h.State != HealthHealthy {
			return false
		}
	}
	return true
}

// orderOutOfDate returns the out-of-date instances in the order they are
// taken: first those left out of service by an earlier run (they are already
// out, so they cost no capacity and recovering them comes first), then the
// other ones that are not in service (also free), then the in-service ones.
// Within each class the order is by id (sorted) or AZ-balanced.
func orderOutOfDate(instances []Instance, version string, order Order) []string {
	var leftOut, down, up []Instance
	for _, inst := range instances {
		switch {
		case !needsUpdate(inst, version):
		case inst.Unready != "" && inst.Tags[TagPhase] == "":
			// left out: the plan and the result say why
		case inst.Tags[TagPhase] != "":
			leftOut = append(leftOut, inst)
		case !isInService(inst):
			down = append(down, inst)
		default:
			up = append(up, inst)
		}
	}
	if order == OrderZoneByZone {
		return zoneByZone(instances, version, [][]Instance{leftOut, down, up})
	}
	var ids []string
	for _, class := range [][]Instance{leftOut, down, up} {
		if order == OrderSorted {
			ids = append(ids, sortedIDs(class)...)
		} else {
			ids = append(ids, azBalanced(class)...)
		}
	}
	return ids
}

func sortedIDs(instances []Instance) []string {
	ids := make([]string, len(instances))
	for i, inst := range instances {
		ids[i] = inst.ID
	}
	sort.Strings(ids)
	return ids
}

// azBalanced interleaves AZs in proportion to their size, so that any run of
// consecutive instances (a batch) takes from each AZ about its share and no
// AZ loses more than its share at once. The k-th instance (0-based, by id) of
// an AZ with n instances sits at position (2k+1)/(2n) of the sequence; ties go
// to the AZ name.
//
//	a: 4 instances at 1/8 3/8 5/8 7/8, b: 2 at 1/4 3/4 -> a1 b1 a2 a3 b2 a4
func azBalanced(instances []Instance) []string {
	byAZ := map[string][]string{}
	for _, inst := range instances {
		byAZ[inst.AZ] = append(byAZ[inst.AZ], inst.ID)
	}
	type slot struct {
		az   string
		id   string
		k, n int
	}
	var slots []slot
	for az, ids := range byAZ {
		sort.Strings(ids)
		for k, id := range ids {
			slots = append(slots, slot{az: az, id: id, k: k, n: len(ids)})
		}
	}
	sort.Slice(slots, func(i, j int) bool {
		a, b := slots[i], slots[j]
		// (2ka+1)/(2na) < (2kb+1)/(2nb)  <=>  (2ka+1)*nb < (2kb+1)*na
		l, r := (2*a.k+1)*b.n, (2*b.k+1)*a.n
		if l != r {
			return l < r
		}
		if a.az != b.az {
			return a.az < b.az
		}
		return a.id < b.id
	})
	ids := make([]string, len(slots))
	for i, s := range slots {
		ids[i] = s.id
	}
	return ids
}

// planBatches groups the ordered out-of-date instances into batches the way
// the engine takes them when every instance succeeds: the canary batch first,
// then batches limited by the batch size and the capacity floor, an instance
// that was out of service counting as in service again once its batch is done.
// It fails, saying what would work, when the floor lets nothing move.
func planBatches(s Spec) ([][]string, error) {
	s, _, err := planningSpec(s)
	if err != nil {
		return nil, err
	}
	insts := liveInstances(s.Fleet.Instances)
	n := floorSize(insts)
	floor := minInService(n, s.Strategy.MinHealthyPercent)
	available := map[string]bool{}
	inService := 0
	for _, inst := range insts {
		if isInService(inst) {
			available[inst.ID] = true
			inService++
		}
	}
	asgs := asgsByName(s.Fleet.AutoScalingGroups)
	byID := make(map[string]Instance, len(insts))
	for _, inst := range insts {
		byID[inst.ID] = inst
	}
	queue := surgeFirst(orderOutOfDate(insts, s.Release.Version, s.Strategy.Order), byID)
	room := map[string]int{}
	for _, g := range s.Fleet.AutoScalingGroups {
		room[g.Name] = standbyRoom(g)
	}
	var batches [][]string
	for len(queue) > 0 {
		limit := batchLimit(s.Strategy, n)
		if len(batches) == 0 && s.Strategy.CanarySize > 0 {
			limit = s.Strategy.CanarySize
		}
		head := len(queue)
		if s.Strategy.Order == OrderZoneByZone {
			head = zoneRun(queue, func(id string) string { return byID[id].AZ })
		}
		costly := make([]bool, head)
		group := make([]string, head)
		for i, id := range queue[:head] {
			costly[i] = available[id]
			group[i] = standbyGroup(byID[id], asgs)
		}
		take := takeNext(costly, limit, inService-floor, group, room)
		if len(take) == 0 {
			return batches, floorError(n, inService, s.Strategy.MinHealthyPercent, floor)
		}
		var batch []string
		batch, queue = pick(queue, take)
		batches = append(batches, batch)
		for _, id := range batch {
			if !available[id] {
				available[id] = true
				inService++
			}
		}
	}
	return batches, nil
}

// floorError says why the capacity floor lets no in-service instance leave
// and which min_healthy_percent would let one move at a time. With a in
// service out of n, one may leave when ceil(n*p/100) <= a-1, i.e. for every
// p <= floor((a-1)*100/n).
func floorError(n, inService, percent, floor int) error {
	best := 0
	if inService > 0 {
		best = (inService - 1) * 100 / n
	}
	noun := "instances"
	if n == 1 {
		noun = "instance"
	}
	if inService == n {
		return &ValidationError{Problems: []string{fmt.Sprintf(
			"min_healthy_percent must be at most %d for %d %s to move one at a time (%d%% keeps all %d in service)",
			best, n, noun, percent, floor)}}
	}
	return &ValidationError{Problems: []string{fmt.Sprintf(
		"min_healthy_percent %d keeps %d of %d %s in service but only %d are in service now, so none may leave; "+
			"at most %d would let one move at a time", percent, floor, n, noun, inService, best)}}
}

// PlanSchedule computes the rollout's schedule without side effects: which
// instances are out of date, in which batches they move, the capacity floor
// and the expected duration. It returns a *ValidationError for a bad Spec or
// an impossible floor.
func PlanSchedule(s Spec) (Schedule, error) {
	if err := s.validateShape(); err != nil {
		return Schedule{}, err
	}
	in := s
	s, surge, err := planningSpec(s)
	if err != nil {
		return Schedule{}, err
	}
	live := len(liveInstances(s.Fleet.Instances))
	n := floorSize(liveInstances(s.Fleet.Instances))
	floor := minInService(n, s.Strategy.MinHealthyPercent)
	batches, err := planBatches(s)
	if err != nil {
		return Schedule{}, err
	}
	var outOfDate []string
	for _, b := range batches {
		outOfDate = append(outOfDate, b...)
	}
	var zones []string
	var bakeFirst []string
	expected := expectedDuration(s, batches) + surgeDuration(s, surge)
	if s.Strategy.Order == OrderZoneByZone {
		zones = batchZones(batches, instancesByID(s.Fleet.Instances))
		if bakeFirst = zonesOwingABake(s, outOfDate); bakeFirst != nil {
			expected += s.Strategy.ZoneBakeTime
		}
	}
	return Schedule{
		OutOfDate:        outOfDate,
		Batches:          batches,
		Zones:            zones,
		BakeFirst:        bakeFirst,
		MaxUnavailable:   live - floor,
		MinInService:     floor,
		ExpectedDuration: expected,
		Surge:            surge,
		TakenOver:        adoptable(in),
	}, nil
}

// expectedDuration estimates the rollout with the model of duration.go:
// each instance out for its own time, the longest deregistration delay and
// healthy_threshold x interval of its target groups (the delay capped by
// drain_timeout), its steps at their recorded pace, and the bake; batch
// mode's batches one after the other, each as long as its slowest member,
// with the canary pause and the pauses between batches; window mode's
// canary batch alone, then as many at once as the batch size and the floor
// allow, each slot refilled the moment it frees.
//
//	4 instances, batches of 2, drain 30s, steps 20s + 30s (nothing
//	recorded: min(timeout, 30s) each), health 3 x 10s, bake 60s, pause 10s
//	-> 170s + 10s + 170s = 5m50s
//	the same with steps recorded at 20s +- 4s and 30s +- 6s -> each batch
//	  its slower member's time, about 4s more: 5m59s
//	window mode, 6 instances, 2 at once, 100s each -> 3 x 100s = 5m0s
//
// It is the AWS-imposed time the engine aims to add almost nothing to, and
// the lower bound the benchmarks measure it against.
func expectedDuration(s Spec, batches [][]string) time.Duration {
	byID := instancesByID(s.Fleet.Instances)
	tgs := targetGroupsByARN(s.Fleet.TargetGroups)
	var fixed []time.Duration
	var waves [][]int
	for _, batch := range batches {
		var wave []int
		for _, id := range batch {
			var drain, health time.Duration
			for arn := range byID[id].Targets {
				tg := tgs[arn]
				drain = max(drain, drainExpected(tg, s.Strategy))
				health = max(health, healthExpected(tg))
			}
			wave = append(wave, len(fixed))
			fixed = append(fixed, drain+health+s.Strategy.BakeTime)
		}
		waves = append(waves, wave)
	}
	if len(fixed) == 0 {
		return 0
	}
	steps := releasePaces(s.Release.Steps, recordedPaces(s.Fleet.Instances))
	canary := s.Strategy.CanarySize > 0 && len(batches) > 1
	var ends []bool
	if s.Strategy.Order == OrderZoneByZone {
		ends = zoneEnds(batchZones(batches, byID))
	}
	if s.Strategy.Mode == ModeWindow {
		live := liveInstances(s.Fleet.Instances)
		n := floorSize(live)
		k := max(min(batchLimit(s.Strategy, n), len(live)-minInService(n, s.Strategy.MinHealthyPercent)), 1)
		if ends != nil {
			return zonedWindowDuration(s, fixed, steps, instanceZones(batches, byID), canaryWave(canary, waves), k)
		}
		if canary {
			return ownPaceDuration(fixed, steps, waves[:1], []time.Duration{s.Strategy.CanaryPause}, len(waves[0]), k)
		}
		return ownPaceDuration(fixed, steps, nil, nil, 0, k)
	}
	pauses := make([]time.Duration, len(batches))
	for i := range batches {
		switch {
		case i == 0 && canary:
			pauses[i] = s.Strategy.CanaryPause
		case i < len(batches)-1:
			pauses[i] = s.Strategy.PauseBetweenBatches
		}
		if ends != nil && ends[i] {
			pauses[i] = max(pauses[i], s.Strategy.ZoneBakeTime)
		}
	}
	if s.Strategy.Lockstep {
		return lockstepDuration(fixed, steps, waves, pauses)
	}
	return ownPaceDuration(fixed, steps, waves, pauses, len(fixed), 0)
}

func expectedStepTime(st Step) time.Duration {
	return min(stepTimeout(st), nominalStepTime)
}

func stepTimeout(st Step) time.Duration {
	if st.Timeout > 0 {
		return st.Timeout
	}
	return DefaultStepTimeout
}

// drainExpected is how long deregistration from tg should take: its
// deregistration delay, capped by an explicit drain timeout.
func drainExpected(tg TargetGroup, s Strategy) time.Duration {
	d := tg.DeregistrationDelay
	if s.DrainTimeout > 0 && s.DrainTimeout < d {
		d = s.DrainTimeout
	}
	return d
}

// healthExpected is how long a newly registered target takes to be healthy:
// healthy_threshold consecutive checks, interval apart.
func healthExpected(tg TargetGroup) time.Duration {
	th := tg.HealthyThreshold
	if th < 1 {
		th = 1
	}
	return time.Duration(th) * tg.HealthCheckInterval
}

func instancesByID(insts []Instance) map[string]Instance {
	m := make(map[string]Instance, len(insts))
	for _, inst := range insts {
		m[inst.ID] = inst
	}
	return m
}

func targetGroupsByARN(tgs []TargetGroup) map[string]TargetGroup {
	m := make(map[string]TargetGroup, len(tgs))
	for _, tg := range tgs {
		m[tg.ARN] = tg
	}
	return m
}
