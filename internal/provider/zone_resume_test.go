package provider

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// Ctrl-C during the zone bake after the first zone, then the next apply: it
// must bake before the next zone's first instance leaves. It went straight
// on ("us-east-1a, us-east-1b (one zone, no zone bake)"-like plans), so a
// bad version that an alarm would have caught in the bake reached the next
// zones.
func TestAccZoneByZone_anApplyInterruptedInTheZoneBakeBakesBeforeTheNextZone(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(5, "v1") // us-east-1a: 2, us-east-1b: 2, us-east-1c: 1
	f.sim.AddAlarm("web-5xx", "OK")
	zone := f.zoneOf(ids)
	c := realFleetRun(t, f, tg, "batch_size = 2\n    min_healthy_percent = 60\n    order = \"zone_by_zone\"\n    zone_bake_time = \"1h\"",
		"rollback = true\n    alarm_names = [\"web-5xx\"]")
	c.applyThenEmpty("adopting the fleet", "-var", "app_version=v1")

	cmd, out, done := startApply(t, c.cli, "v2")
	var first string // us-east-1c, the smallest zone, goes first
	for _, id := range ids {
		if zone[id] == "us-east-1c" {
			first = id
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		snap, _ := f.sim.Instance(first)
		if snap.Tags["rolling:version"] == "v2" && snap.Tags["rolling:phase"] == "" {
			break // the zone is done: its bake runs (an hour, 3.6 s of wall time)
		}
		select {
		case err := <-done:
			t.Fatalf("terraform exited (%v) before the first zone was done:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first zone was never done:\n%s", out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-done
	for _, id := range ids {
		if zone[id] != "us-east-1c" {
			if snap, _ := f.sim.Instance(id); snap.AppVersion != "v1" {
				t.Fatalf("%s (%s) runs %s: the interrupt came after the bake:\n%s", id, zone[id], snap.AppVersion, out.String())
			}
		}
	}

	plan := c.expectUpdate("the plan after the interrupt", "-var", "app_version=v2")
	if want := "zone by zone: a 1h0m0s bake first (us-east-1c is done), then us-east-1a, us-east-1b"; !strings.Contains(plan, want) {
		t.Errorf("the plan does not say the zone bake is owed (%q):\n%s", want, plan)
	}
	f.sim.Recorder().Reset()
	start := f.sim.Now()
	c.applyThenEmpty("the apply after the interrupt", "-var", "app_version=v2")
	for id, at := range leftAt(f.sim.Recorder()) {
		if at.Before(start.Add(time.Hour)) {
			t.Errorf("%s (%s) left %s after the apply started: before the owed 1h zone bake", id, zone[id], at.Sub(start))
		}
	}
	assertConvergedOn(t, f, tg, ids, "v2")
}

// A drift fix after a rollout that succeeded owes no zone bake: the single
// instance of us-east-1c replaced by one on v1 is deployed at once.
func TestAccZoneByZone_aDriftFixAfterASucceededRolloutOwesNoBake(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(5, "v1") // us-east-1c holds one
	zone := f.zoneOf(ids)
	c := realFleetRun(t, f, tg, "batch_size = 2\n    min_healthy_percent = 60\n    order = \"zone_by_zone\"\n    zone_bake_time = \"10m\"", "rollback = true")
	c.applyThenEmpty("adopting the fleet", "-var", "app_version=v1")
	c.applyThenEmpty("the rollout of v2", "-var", "app_version=v2")
	for _, id := range ids {
		if zone[id] == "us-east-1c" {
			if err := f.sim.Faults().TerminateInstance(id, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AZs: []string{"us-east-1c"}, AppVersion: "v1",
		Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg}})
	plan := c.expectUpdate("the drift plan", "-var", "app_version=v2")
	if !strings.Contains(plan, "zone by zone: us-east-1c (one zone, no zone bake)") || strings.Contains(plan, "bake first") {
		t.Fatalf("the drift fix of one zone must start at once:\n%s", plan)
	}
}
