package rollout

import (
	"fmt"
	"strings"
	"testing"
)

func TestStandbyRoom_isDesiredMinusMin(t *testing.T) {
	for _, c := range []struct {
		g    AutoScalingGroup
		want int
	}{
		{AutoScalingGroup{MinSize: 2, DesiredCapacity: 3, MaxSize: 8, SizesKnown: true}, 1},
		{AutoScalingGroup{MinSize: 2, DesiredCapacity: 6, MaxSize: 8, SizesKnown: true}, 4},
		{AutoScalingGroup{MinSize: 3, DesiredCapacity: 3, MaxSize: 3, SizesKnown: true}, 0},
		{AutoScalingGroup{MinSize: 4, DesiredCapacity: 3, SizesKnown: true}, 0}, // desired below min (being fixed by AWS): none
		{AutoScalingGroup{}, -1}, // sizes unknown: no limit
	} {
		if got := standbyRoom(c.g); got != c.want {
			t.Errorf("standbyRoom(%+v) = %d, want %d", c.g, got, c.want)
		}
	}
}

func TestTakeNext_skipsMembersOfAGroupWithoutStandbyRoom(t *testing.T) {
	T := true
	got := takeNext([]bool{T, T, T, T}, 3, 5, []string{"a", "a", "", "a"}, map[string]int{"a": 1})
	if fmt.Sprint(got) != "[0 2]" {
		t.Fatalf("takeNext = %v, want [0 2]: one member of a, then the plain instance", got)
	}
	if got := takeNext([]bool{T, T}, 2, 5, []string{"a", "a"}, map[string]int{"a": -1}); len(got) != 2 {
		t.Fatalf("a group with unknown sizes limits nothing: %v", got)
	}
}

// Group asg-a: min 3, desired 4 (room for one in standby) plus plain
// instances, batch_size 4: no batch takes two of its members, and Auto
// Scaling never refuses a standby.
func TestRun_standbyNeverTakesAGroupBelowItsMinimum(t *testing.T) {
	w := newWorld(fleetOpts{n: 8, azs: 2, asgEvery: 2, asgMin: 3, asgDesired: 4})
	s := baseSpec(w)
	s.Strategy.BatchSize = 4
	s.Strategy.MinHealthyPercent = 50
	sched, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range sched.Batches {
		members := 0
		for _, id := range b {
			if w.insts[id].asg != "" {
				members++
			}
		}
		if members > 1 {
			t.Errorf("planned batch %d %v takes %d members of asg-a, which has room for 1 in standby", i+1, b, members)
		}
	}
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if w.standbyRefused > 0 {
		t.Fatalf("Auto Scaling refused %d standby calls: %v", w.standbyRefused, w.calls)
	}
	if n := w.countCalls("EnterStandby asg-a"); n != 4 {
		t.Fatalf("%d EnterStandby calls for 4 members, one at a time: %v", n, w.calls)
	}
}

// A group at its minimum (min = desired) has no room for standby: its
// members leave and rejoin the attached target group directly, with the
// group's health checks and replacements suspended meanwhile.
func TestRun_membersOfAGroupAtItsMinimumLeaveByDeregistration(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, tgs: 2, asgEvery: 1, asgMin: 4, asgDesired: 4})
	s := baseSpec(w)
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	if n := w.countCalls("EnterStandby"); n != 0 || w.standbyRefused != 0 {
		t.Fatalf("%d EnterStandby calls on a group at its minimum: %v", n, w.calls)
	}
	if w.countCalls("Deregister "+w.tgARN[0]) != 4 || w.countCalls("Register "+w.tgARN[0]) != 4 {
		t.Fatalf("the group's own target group was not left and rejoined directly: %v", w.calls)
	}
	procs := strings.Join(w.asgs["asg-a"].procs, ",")
	for _, p := range []string{"HealthCheck", "ReplaceUnhealthy"} {
		if !strings.Contains(procs, p) {
			t.Errorf("suspended %s on a group whose members leave by deregistration; %s is missing", procs, p)
		}
	}
}
