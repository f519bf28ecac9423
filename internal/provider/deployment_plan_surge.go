package provider

import (
	"fmt"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The plan's lines for a surge (strategy.max_surge) and for the undo of
// one an interrupted rollout left behind:
//
//	#4 undo: the surge of rollout ro-20250101-abcd in asg-web is removed first (desired 8 -> 6)
//	#4 surge: +2 instances in asg-web (desired 6 -> 8, max 10), deployed first, terminated at the end
//	#4 surge: the surge of rollout ro-20250101-abcd in asg-web (+2, desired 6 -> 8) is taken over and terminated at the end
//
// An interrupted rollout's surge is taken over when it is whole and this
// rollout asks for the same (rollout.Schedule.TakenOver), else undone first.
//
// The surge's new instances appear in the batches as "(new 1 in asg-web)":
// their ids exist only once they are launched.

func surgeTotal(sched rollout.Schedule) int {
	n := 0
	for _, p := range sched.Surge {
		n += p.Count
	}
	return n
}

func surgeLines(prefix string, sched rollout.Schedule) []string {
	var lines []string
	for _, p := range sched.Surge {
		if old, ok := sched.TakenOver[p.Group]; ok {
			lines = append(lines, fmt.Sprintf("%s surge: the surge of rollout %s in %s (+%d, desired %d -> %d) is taken over and terminated at the end",
				prefix, old, p.Group, p.Count, p.Desired, p.Desired+p.Count))
			continue
		}
		lines = append(lines, fmt.Sprintf("%s surge: +%d %s in %s (desired %d -> %d, max %d), deployed first, terminated at the end",
			prefix, p.Count, plural(p.Count, "instance"), p.Group, p.Desired, p.Desired+p.Count, p.Max))
	}
	return lines
}

func undoLines(prefix string, f rollout.Fleet, sched rollout.Schedule) []string {
	var lines []string
	for _, g := range f.AutoScalingGroups {
		if _, taken := sched.TakenOver[g.Name]; g.Surge != nil && !taken {
			lines = append(lines, fmt.Sprintf("%s undo: the surge of rollout %s in %s is removed first (desired %d -> %d)",
				prefix, g.Surge.RolloutID, g.Name, g.DesiredCapacity, g.Surge.Desired))
		}
	}
	return lines
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
