package rollout

import "sort"

// Auto Scaling limits. EnterStandby (with ShouldDecrementDesiredCapacity,
// as the engine sends it) lowers the group's desired capacity by one per
// instance, and Auto Scaling refuses it below MinSize: "AutoScalingGroup X
// has min-size=2, max-size=8, and desired-size=2". So at most desired − min
// members of a group may be in standby at once.
//
//	min 2, desired 3, max 8 -> 1 member at a time through standby
//	min 2, desired 6        -> 4 at a time
//	min = desired = 3       -> none: its members leave by deregistration
//
// A group at its minimum (common: min = max = desired) has no room at all.
// Its members then leave and rejoin their target groups directly, like
// instances in no group, while the group's HealthCheck and ReplaceUnhealthy
// processes are suspended, so that it neither marks them unhealthy nor
// replaces them meanwhile (deregistrationProcesses).

// deregistrationProcesses are suspended, besides the configured ones, on a
// group whose members leave by deregistration.
var deregistrationProcesses = []string{"HealthCheck", "ReplaceUnhealthy"}

// standbyRoom is desired − min, or -1 (no limit) when the sizes are unknown.
func standbyRoom(g AutoScalingGroup) int {
	if !g.SizesKnown {
		return -1
	}
	return max(g.DesiredCapacity-g.MinSize, 0)
}

// leavesViaStandby reports whether an instance leaves through standby: it
// is in an Auto Scaling group that has room for it.
func leavesViaStandby(inst Instance, asgs map[string]AutoScalingGroup) bool {
	if inst.AutoScalingGroup == "" {
		return false
	}
	g, ok := asgs[inst.AutoScalingGroup]
	return !ok || standbyRoom(g) != 0
}

func asgsByName(groups []AutoScalingGroup) map[string]AutoScalingGroup {
	out := make(map[string]AutoScalingGroup, len(groups))
	for _, g := range groups {
		out[g.Name] = g
	}
	return out
}

// standbyGroup is the group whose standby room an instance uses when it
// leaves, "" when it uses none (no group, a group at its minimum, or
// already in standby).
func standbyGroup(inst Instance, asgs map[string]AutoScalingGroup) string {
	if !leavesViaStandby(inst, asgs) || inst.LifecycleState == "Standby" {
		return ""
	}
	return inst.AutoScalingGroup
}

// processesFor are the processes suspended on group g for a rollout:
// the configured ones, and for a group whose members leave by
// deregistration also deregistrationProcesses.
func processesFor(configured []string, g AutoScalingGroup) []string {
	if standbyRoom(g) != 0 {
		return configured
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range append(append([]string(nil), configured...), deregistrationProcesses...) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
