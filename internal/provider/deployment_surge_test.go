package provider

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// surgeFleet seeds n members of web-asg (min 2, max maxSize) on v1 behind
// one target group. The group launches on "v0": a new instance is not on
// the release until the rollout deploys it.
func surgeFleet(f *testFleet, n, maxSize int) (string, []string) {
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 30 * time.Second,
		HealthCheckInterval: 10 * time.Second, HealthyThreshold: 2})
	f.sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tg}, Min: 2, Max: maxSize,
		LaunchVersion: "v0", Tags: map[string]string{"Name": "web"}})
	ids := f.sim.AddInstances(fleetsim.InstanceConfig{Count: n, AppVersion: "v1", AutoScalingGroup: "web-asg",
		Tags: map[string]string{"rolling:version": "v1", "Name": "web"}})
	sort.Strings(ids)
	return tg, ids
}

func (f *testFleet) group(name string) fleetsim.AutoScalingGroupSnapshot {
	f.t.Helper()
	g, ok := f.sim.AutoScalingGroup(name)
	if !ok {
		f.t.Fatalf("no group %s", name)
	}
	return g
}

// assertSurgeUndone: the group is back at desired, without the record, and
// every instance the simulator holds beyond ids is terminated.
func assertSurgeUndone(t *testing.T, f *testFleet, ids []string, desired int) {
	t.Helper()
	g := f.group("web-asg")
	if g.Desired != desired || g.Tags["rolling:surge"] != "" || len(g.Members) != desired {
		t.Errorf("web-asg after the rollout: desired %d, %d members, record %q; want desired %d", g.Desired, len(g.Members), g.Tags["rolling:surge"], desired)
	}
	seeded := map[string]bool{}
	for _, id := range ids {
		seeded[id] = true
	}
	for _, snap := range f.sim.Snapshot().Instances {
		if !seeded[snap.ID] && snap.State != "terminated" {
			t.Errorf("surge instance %s is %s (%s), targets %v", snap.ID, snap.State, snap.LifecycleState, snap.Targets)
		}
	}
}

func TestAccSurge_fullFloorRollsAnAutoScalingFleetAndRestoresTheGroup(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := surgeFleet(f, 6, 10)
	c := realFleetRun(t, f, tg, "batch_size = 2\n    min_healthy_percent = 100\n    max_surge = 2", "rollback = true")
	v1, v2 := []string{"-var", "app_version=v1"}, []string{"-var", "app_version=v2"}
	c.applyThenEmpty("adopting the fleet", v1...)

	out := c.expectUpdate("a version bump", v2...)
	for _, want := range []string{
		"surge: +2 instances in web-asg (desired 6 -> 8, max 10), deployed first, terminated at the end",
		"(new 1 in web-asg), (new 2 in web-asg)",
		"6 of 6 instances out of date, 4 batches, surge +2, at least 6 of 6 in service",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	f.sim.Recorder().Reset()
	c.applyThenEmpty("the surge rollout", v2...)

	if low := f.sim.Recorder().MinInService(tg); low < 6 {
		t.Errorf("in service fell to %d, below the original 6", low)
	}
	assertConvergedOn(t, f, tg, ids, "v2")
	assertSurgeUndone(t, f, ids, 6)
	raise := f.sim.Recorder().Calls("SetDesiredCapacity")
	term := f.sim.Recorder().Calls("TerminateInstanceInAutoScalingGroup")
	if len(raise) != 1 || raise[0].Params["DesiredCapacity"] != "8" || len(term) != 2 {
		t.Fatalf("SetDesiredCapacity %+v, TerminateInstanceInAutoScalingGroup %+v", raise, term)
	}
	for _, c := range term {
		if c.Params["ShouldDecrementDesiredCapacity"] != "true" {
			t.Errorf("terminated without decrementing: %+v", c)
		}
		snap, _ := f.sim.Instance(c.InstanceIDs[0])
		if snap.AppVersion != "v2" || snap.Tags["rolling:surge"] == "" {
			t.Errorf("terminated %s on %s with tags %v: want a surge instance on v2", snap.ID, snap.AppVersion, snap.RollingTags)
		}
	}
	order := map[string]int{}
	for i, c := range f.sim.Recorder().Calls("") {
		if key := c.Service + ":" + c.Action; c.Service == "autoscaling" {
			order[key] = i // the last one
		}
	}
	if r, ok := order["autoscaling:CreateOrUpdateTags"]; !ok || r > order["autoscaling:SetDesiredCapacity"] ||
		order["autoscaling:DeleteTags"] < order["autoscaling:TerminateInstanceInAutoScalingGroup"] {
		t.Errorf("the undo record must be written before the desired capacity is raised and deleted after the surge is gone: %v", order)
	}
}

func TestAccSurge_planTimeErrorsChangeNothing(t *testing.T) {
	for _, c := range []struct {
		name, want string
		seed       func(f *testFleet) string
	}{
		{"no Auto Scaling group", "none of the fleet's 4 instances is in one", func(f *testFleet) string {
			tg, _ := f.web(4, "v1")
			return tg
		}},
		{"max reached", "web-asg has desired capacity 6 and max_size 7, so it cannot add 2", func(f *testFleet) string {
			tg, _ := surgeFleet(f, 6, 7)
			return tg
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTestFleet(t)
			tg := c.seed(f)
			r := realFleetRun(t, f, tg, "batch_size = 2\n    min_healthy_percent = 100\n    max_surge = 2", "rollback = true")
			r.applyThenEmpty("adopting the fleet", "-var", "app_version=v1")
			f.sim.Recorder().Reset()
			out, ok := r.cli.run("apply", "-auto-approve", "-no-color", "-var", "app_version=v2")
			flat := strings.Join(strings.Fields(out), " ")
			if ok || !strings.Contains(flat, c.want) {
				t.Fatalf("apply: ok %v, want the error %q:\n%s", ok, c.want, out)
			}
			if m := f.mutatingCalls(); len(m) > 0 {
				t.Fatalf("a plan-time error made mutating calls: %v", m)
			}
		})
	}
}
