package provider

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// Crash mid-surge: SIGKILL of terraform's whole process group while the
// surge's new instances are launching, or once the rollout is past them.
// The record stays on the group. The next apply terminates a surge still
// launching before anything else and makes its own; it takes over a whole
// one (its instances in service), so that the floor holds while it puts back
// the instances the killed run left out. Either way it ends with every
// instance on v2 and the group at its original desired capacity.
func TestAccCrash_aKilledSurgeIsUndoneByTheNextApply(t *testing.T) {
	for _, phase := range []struct {
		name      string
		takenOver bool // always (else only when the surge was whole)
		reached   func(f *testFleet, tg string, seeded []string) bool
	}{
		{"surge_wait", false, func(f *testFleet, tg string, seeded []string) bool {
			g := f.group("web-asg")
			return g.Desired == 8 && len(g.Members) == 8 && f.countLaunched(seeded, func(s fleetsim.InstanceSnapshot) bool { return s.Targets[tg] != "healthy" }) > 0
		}},
		{"mid_rollout", true, func(f *testFleet, tg string, seeded []string) bool {
			deployed := f.countLaunched(seeded, func(s fleetsim.InstanceSnapshot) bool { return s.Tags["rolling:version"] == "v2" })
			out := 0
			for _, id := range seeded {
				if snap, _ := f.sim.Instance(id); snap.Tags["rolling:phase"] != "" {
					out++
				}
			}
			return deployed == 2 && out > 0
		}},
	} {
		t.Run(phase.name, func(t *testing.T) {
			t.Parallel()
			f := newTestFleet(t)
			// Slow enough to be caught: launches of 60 s, steps of 100 s.
			f.sim.SetTiming(fleetsim.Timing{StepMean: 100 * time.Second, StepSigma: 0.01, Launch: 60 * time.Second})
			tg, ids := surgeFleet(f, 6, 10)
			c := realFleetRun(t, f, tg, "batch_size = 2\n    min_healthy_percent = 100\n    max_surge = 2", "rollback = false")
			c.applyThenEmpty("adopting the fleet", "-var", "app_version=v1")

			cmd, out, done := startApply(t, c.cli, "v2")
			deadline := time.Now().Add(90 * time.Second)
			for !phase.reached(f, tg, ids) {
				select {
				case err := <-done:
					t.Fatalf("terraform exited (%v) before %s:\n%s", err, phase.name, out.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("never reached %s:\n%s", phase.name, out.String())
				}
				time.Sleep(2 * time.Millisecond)
			}
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-done
			if g := f.group("web-asg"); g.Tags["rolling:surge"] == "" || len(g.Members) != 8 {
				t.Fatalf("after the kill: %d members, record %q; want the surge and its record on the group", len(g.Members), g.Tags["rolling:surge"])
			}
			killed := f.launchedIDs(ids)
			// A surge is taken over when it is whole (both its instances
			// tagged and running by the next apply's read; in the surge wait
			// they may be), else undone first.
			if phase.takenOver && f.countLaunched(ids, func(s fleetsim.InstanceSnapshot) bool { return s.Tags["rolling:surge"] != "" }) != 2 {
				t.Fatalf("killed mid-rollout with the surge not whole")
			}
			f.sim.Recorder().Reset()
			c.applyThenEmpty("the apply after the kill", "-var", "app_version=v2")
			assertConvergedOn(t, f, tg, ids, "v2")
			assertSurgeUndone(t, f, ids, 6)
			if low := f.sim.Recorder().MinInService(tg); low < 6 {
				t.Errorf("in service fell to %d during the next apply, below the original 6", low)
			}
			first, last := map[string]int{}, map[string]int{}
			for i, call := range f.sim.Recorder().Calls("") {
				key := call.Action
				if key == "TerminateInstanceInAutoScalingGroup" && slices.Contains(killed, call.InstanceIDs[0]) {
					key = "killed"
				}
				if _, seen := first[key]; !seen {
					first[key] = i
				}
				last[key] = i
			}
			term, ok := first["killed"]
			if !ok {
				t.Fatalf("the next apply did not terminate the killed surge's instances %v", killed)
			}
			_, relaunched := first["SetDesiredCapacity"]
			if phase.takenOver && relaunched {
				t.Errorf("the whole surge was undone and launched again instead of taken over")
			}
			if !relaunched {
				// Taken over: its instances go at the end.
				if term < last["SendCommand"] {
					t.Errorf("the surge taken over was terminated at call %d, before the last SendCommand (%d)", term, last["SendCommand"])
				}
			} else {
				// Undone before anything else moves.
				for _, action := range []string{"CreateOrUpdateTags", "SetDesiredCapacity", "EnterStandby", "DeregisterTargets", "SendCommand"} {
					if i, seen := first[action]; seen && i < term {
						t.Errorf("%s before the killed surge was undone", action)
					}
				}
			}
		})
	}
}

// launchedIDs are the instances the simulator holds beyond seeded.
func (f *testFleet) launchedIDs(seeded []string) []string {
	var out []string
	for _, snap := range f.sim.Snapshot().Instances {
		if !slices.Contains(seeded, snap.ID) {
			out = append(out, snap.ID)
		}
	}
	return out
}

func (f *testFleet) countLaunched(seeded []string, match func(fleetsim.InstanceSnapshot) bool) int {
	n := 0
	for _, snap := range f.sim.Snapshot().Instances {
		if !slices.Contains(seeded, snap.ID) && snap.State != "terminated" && match(snap) {
			n++
		}
	}
	return n
}

// kill -9 of terraform's process group while a surge rollout's second batch
// is in standby, at min_healthy_percent = 100. What it leaves: the surge's
// instances, the undo record on the group and two members in standby (the
// desired capacity decremented for them). The next plan must work (it
// failed with "min_healthy_percent must be at most 83": the new surge's
// instances went before the members left out, which cost no capacity), and
// the next apply must put the group back where it was (it recorded the
// decremented desired capacity, 4, and set it back to that at the end:
// Auto Scaling terminated two members of the fleet).
func TestAccSurge_aKilledSurgeRolloutIsFinishedByTheNextApply(t *testing.T) {
	f := newTestFleet(t)
	f.sim.SetTiming(fleetsim.Timing{StepMean: 200 * time.Second, StepSigma: 0.01})
	tg, ids := surgeFleet(f, 6, 10)
	c := realFleetRun(t, f, tg, "batch_size = 2\n    min_healthy_percent = 100\n    max_surge = 2", "rollback = false")
	c.applyThenEmpty("adopting the fleet", "-var", "app_version=v1")

	cmd, out, done := startApply(t, c.cli, "v2")
	member := map[string]bool{}
	for _, id := range ids {
		member[id] = true
	}
	deadline := time.Now().Add(90 * time.Second)
	for standby := 0; standby < 2; {
		select {
		case err := <-done:
			t.Fatalf("terraform exited (%v) before a batch of members was in standby:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no batch of members entered standby:\n%s", out.String())
		}
		time.Sleep(2 * time.Millisecond)
		standby = 0
		for _, id := range ids {
			if snap, _ := f.sim.Instance(id); snap.LifecycleState == "Standby" {
				standby++
			}
		}
	}
	if g := f.group("web-asg"); g.Tags["rolling:surge"] == "" {
		t.Fatalf("members in standby before the surge was recorded: %+v", g)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done

	code, plan := c.cli.code("plan", "-detailed-exitcode", "-no-color", "-input=false", "-var", "app_version=v2")
	// Whole (its instances up and tagged): taken over, so that the floor
	// holds while the members in standby are put back.
	if code != 2 || !strings.Contains(plan, "the surge of rollout") || !strings.Contains(plan, "is taken over") {
		t.Fatalf("the plan after the kill exited %d, want 2 taking over the killed rollout's surge:\n%s", code, plan)
	}
	c.applyThenEmpty("the apply after the kill", "-var", "app_version=v2")
	for _, id := range ids {
		if snap, _ := f.sim.Instance(id); snap.State != "running" {
			t.Errorf("member %s is %s: the undo took the group below its desired capacity", id, snap.State)
		}
	}
	assertConvergedOn(t, f, tg, ids, "v2")
	assertSurgeUndone(t, f, ids, 6)
}
