package awsclient

import (
	"errors"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

func TestSim_capacityRecordsASurgeRaisesDesiredAndTerminatesWithDecrement(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 10 * time.Second,
		HealthCheckInterval: 5 * time.Second, HealthyThreshold: 2})
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{arn}, Min: 1, Max: 5, LaunchVersion: "v1",
		Tags: map[string]string{"fleet": "web"}})
	sim.AddInstances(fleetsim.InstanceConfig{Count: 3, AppVersion: "v1", TargetGroupARNs: []string{arn}, AutoScalingGroup: "web-asg",
		Tags: map[string]string{"fleet": "web", rollout.TagVersion: "v1"}})
	capy := c.Ports(nil, nil).Capacity
	ctx := testContext(t)

	rec := rollout.SurgeRecord{RolloutID: "ro-1", Desired: 3, Count: 2}
	if err := capy.RecordSurge(ctx, "web-asg", rec); err != nil {
		t.Fatalf("RecordSurge: %v", err)
	}
	if err := capy.SetDesiredCapacity(ctx, "web-asg", 5); err != nil {
		t.Fatalf("SetDesiredCapacity: %v", err)
	}
	g, err := capy.Group(ctx, "web-asg")
	if err != nil {
		t.Fatal(err)
	}
	if g.Surge == nil || *g.Surge != rec || g.DesiredCapacity != 5 || g.MaxSize != 5 || len(g.Members) != 5 {
		t.Fatalf("group after the surge: %+v", g)
	}
	var fresh []string
	for _, m := range g.Members[3:] {
		if m.LifecycleState != "Pending" || m.AZ == "" {
			t.Fatalf("new member %+v", m)
		}
		fresh = append(fresh, m.ID)
	}
	sim.Advance(20*time.Second + 10*time.Second) // launch, then two passing checks
	g, _ = capy.Group(ctx, "web-asg")
	if g.Members[3].LifecycleState != "InService" || !g.Members[3].Healthy {
		t.Fatalf("launched member %+v", g.Members[3])
	}
	// The record is the group's: the launched instances do not carry it.
	if snap, _ := sim.Instance(fresh[0]); snap.Tags["fleet"] != "web" || snap.Tags[rollout.TagSurge] != "" {
		t.Fatalf("launched instance's tags %v", snap.Tags)
	}
	// The fleet read sees the record too.
	fleet, err := c.DiscoverFleet(ctx, []string{arn}, nil)
	if err != nil || len(fleet.AutoScalingGroups) != 1 || fleet.AutoScalingGroups[0].Surge == nil || *fleet.AutoScalingGroups[0].Surge != rec {
		t.Fatalf("DiscoverFleet: %v %+v", err, fleet.AutoScalingGroups)
	}

	for _, id := range fresh {
		if err := capy.TerminateInstance(ctx, id); err != nil {
			t.Fatalf("TerminateInstance: %v", err)
		}
	}
	calls := sim.Recorder().Calls("TerminateInstanceInAutoScalingGroup")
	if len(calls) != 2 || calls[0].Params["ShouldDecrementDesiredCapacity"] != "true" {
		t.Fatalf("TerminateInstanceInAutoScalingGroup calls %+v", calls)
	}
	g, _ = capy.Group(ctx, "web-asg")
	if g.DesiredCapacity != 3 {
		t.Fatalf("desired %d after terminating the surge, want 3", g.DesiredCapacity)
	}
	sim.Advance(time.Minute) // draining, then shutdown
	// Terminating again an instance that is gone is no error.
	if err := capy.TerminateInstance(ctx, fresh[0]); err != nil {
		t.Fatalf("TerminateInstance of a terminated instance: %v", err)
	}
	if err := capy.ClearSurge(ctx, "web-asg"); err != nil {
		t.Fatalf("ClearSurge: %v", err)
	}
	if err := capy.ClearSurge(ctx, "web-asg"); err != nil {
		t.Fatalf("ClearSurge again: %v", err)
	}
	g, _ = capy.Group(ctx, "web-asg")
	if g.Surge != nil || len(g.Members) != 3 || g.DesiredCapacity != 3 {
		t.Fatalf("group after the undo: %+v", g)
	}
	if _, err := capy.Group(ctx, "no-such-asg"); !errors.Is(err, rollout.ErrNotFound) {
		t.Fatalf("missing group: %v", err)
	}
}
