package rollout

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Zone by zone (order = zone_by_zone), after CodeDeploy's zonal
// configuration: every out-of-date instance of one Availability Zone
// before any of the next, so that a bad version reaches one zone only.
// A batch never spans two zones; the capacity floor is still counted over
// the whole fleet; the canary batch is the first zone's. Once a zone is
// done the rollout waits ZoneBakeTime with the alarms watched (CodeDeploy's
// monitorDuration) before the next zone's first instance leaves, and a
// failure or an alarm in the zone stops the rollout before another zone is
// touched. There is no bake after the last zone: it would protect nothing.
//
// Zone order (zoneOrder): a zone the rollout has begun comes first (some of
// its instances are on the version, or were left out of service by an
// earlier run), so that a rollout stopped by a failure or a crash goes on
// in the zone where it stopped; then the zone with the fewest instances to
// move, so that the first zone, the one a bad version shows itself in, is
// the smallest share of the fleet; ties by name.
//
//	a: 3 to move, b: 2, c: 2, nothing on the version yet -> b c a
//	the same after b's first instance was updated and c's failed -> b c a
//	a: 1 to move and 2 on the version (an interrupted run) -> a b c

// zoneOrder returns the zones of the out-of-date instances among insts, in
// the order they are rolled.
func zoneOrder(insts []Instance, version string) []string {
	toMove, begun := map[string]int{}, map[string]bool{}
	for _, inst := range insts {
		if needsUpdate(inst, version) {
			toMove[inst.AZ]++
		}
		if inst.Tags[TagPhase] != "" || inst.Version() == version {
			begun[inst.AZ] = true
		}
	}
	zones := make([]string, 0, len(toMove))
	for az := range toMove {
		zones = append(zones, az)
	}
	sort.Slice(zones, func(i, j int) bool {
		a, b := zones[i], zones[j]
		if begun[a] != begun[b] {
			return begun[a]
		}
		if toMove[a] != toMove[b] {
			return toMove[a] < toMove[b]
		}
		return a < b
	})
	return zones
}

// zoneByZone orders the classes of orderOutOfDate zone by zone: within a
// zone, the classes in their order, each by id.
func zoneByZone(insts []Instance, version string, classes [][]Instance) []string {
	var ids []string
	for _, az := range zoneOrder(insts, version) {
		for _, class := range classes {
			var in []Instance
			for _, inst := range class {
				if inst.AZ == az {
					in = append(in, inst)
				}
			}
			ids = append(ids, sortedIDs(in)...)
		}
	}
	return ids
}

// zoneRun is how many instances at the head of queue are in the head's
// zone: all that the next batch may take from.
func zoneRun(queue []string, azOf func(string) string) int {
	if len(queue) == 0 {
		return 0
	}
	az := azOf(queue[0])
	n := 1
	for n < len(queue) && azOf(queue[n]) == az {
		n++
	}
	return n
}

// batchZones is the zone of each batch.
func batchZones(batches [][]string, byID map[string]Instance) []string {
	zones := make([]string, len(batches))
	for i, b := range batches {
		if len(b) > 0 {
			zones[i] = byID[b[0]].AZ
		}
	}
	return zones
}

// zoneEnds reports, per batch, whether it is the last of its zone with a
// zone after it: where the zone bake goes.
func zoneEnds(zones []string) []bool {
	ends := make([]bool, len(zones))
	for i := 0; i+1 < len(zones); i++ {
		ends[i] = zones[i] != zones[i+1]
	}
	return ends
}

// zoneProblems are the checks zone_by_zone adds: every instance to move has
// a known zone (otherwise the promise that a bad version stays in one zone
// could not be kept), and zone_bake_time goes with zone_by_zone only.
func zoneProblems(s Spec) []string {
	st := s.Strategy
	if st.Order != OrderZoneByZone {
		if st.ZoneBakeTime > 0 {
			return []string{fmt.Sprintf("zone_bake_time needs order = %q", OrderZoneByZone)}
		}
		return nil
	}
	var unknown []string
	for _, inst := range liveInstances(s.Fleet.Instances) {
		if inst.AZ == "" && needsUpdate(inst, s.Release.Version) {
			unknown = append(unknown, inst.ID)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	const shown = 5
	list := strings.Join(unknown[:min(len(unknown), shown)], ", ")
	if len(unknown) > shown {
		list += fmt.Sprintf(" and %d more", len(unknown)-shown)
	}
	return []string{fmt.Sprintf("order = %q needs each instance's Availability Zone, and EC2 did not report it for %s",
		OrderZoneByZone, list)}
}

// zonedWindowDuration is window mode's expected duration zone by zone: each
// zone's instances k at a time (the first zone's canary batch alone
// first), the zone drained before the next starts, a bake between zones.
// fixed is in queue order, zones per instance.
func zonedWindowDuration(s Spec, fixed []time.Duration, steps []stepPace, zones []string, canary []int, k int) time.Duration {
	var total time.Duration
	for lo := 0; lo < len(fixed); {
		hi := lo + 1
		for hi < len(fixed) && zones[hi] == zones[lo] {
			hi++
		}
		gap := s.Strategy.ZoneBakeTime
		if lo == 0 && len(canary) > 0 {
			pause := s.Strategy.CanaryPause
			if len(canary) == hi-lo {
				// The canary is the whole zone: its pause and the zone
				// bake run together.
				gap, pause = max(gap, pause), 0
			}
			total += ownPaceDuration(fixed[lo:hi], steps, [][]int{canary}, []time.Duration{pause}, len(canary), k)
		} else {
			total += ownPaceDuration(fixed[lo:hi], steps, nil, nil, 0, k)
		}
		if hi < len(fixed) {
			total += gap
		}
		lo = hi
	}
	return total
}

// instanceZones is the zone of each instance of the batches, in order.
func instanceZones(batches [][]string, byID map[string]Instance) []string {
	var zones []string
	for _, b := range batches {
		for _, id := range b {
			zones = append(zones, byID[id].AZ)
		}
	}
	return zones
}

// canaryWave is the canary batch's positions when there is one.
func canaryWave(canary bool, waves [][]int) []int {
	if !canary || len(waves) == 0 {
		return nil
	}
	return waves[0]
}

// zonesOwingABake are the zones whose zone bake the rollout owes before its
// first departure: when the first zone of the queue has none of its
// instances on the version yet while other zones have some (and none left
// to move), a rollout of the version finished those zones and was stopped
// (Ctrl-C, a kill, a timeout) before the next one began, during or before
// the zone bake. Resuming goes through that bake again rather than
// skipping it. Nil when nothing is owed: no bake, a zone begun goes first,
// no zone holds the version yet, or the last rollout of the version
// succeeded (Spec.Converged). Sorted.
func zonesOwingABake(s Spec, queue []string) []string {
	if s.Strategy.Order != OrderZoneByZone || s.Strategy.ZoneBakeTime <= 0 || len(queue) == 0 || s.Converged {
		return nil
	}
	byID := instancesByID(s.Fleet.Instances)
	first := byID[queue[0]].AZ
	moving := map[string]bool{}
	for _, id := range queue {
		moving[byID[id].AZ] = true
	}
	done := map[string]bool{}
	for _, inst := range liveInstances(s.Fleet.Instances) {
		if inst.AZ == first && inst.Tags[TagPhase] != "" {
			return nil // begun, an instance left out of service in it: the rollout goes on in it
		}
		if needsUpdate(inst, s.Release.Version) || inst.Tags[TagSurge] != "" {
			continue
		}
		if inst.AZ == first {
			return nil // begun: the rollout goes on in it
		}
		if !moving[inst.AZ] {
			done[inst.AZ] = true
		}
	}
	if len(done) == 0 {
		return nil
	}
	return sortedKeys(done)
}
