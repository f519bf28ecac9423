package provider

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

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
	if code != 2 || !strings.Contains(plan, "undo: the surge of rollout") {
		t.Fatalf("the plan after the kill exited %d, want 2 with the undo of the killed rollout's surge:\n%s", code, plan)
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
