package awsclient

import (
	"slices"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The surge's Auto Scaling calls against moto: the requests the SDK builds
// for them are valid outside our own simulator too.
func TestMoto_capacityRecordsASurgeRaisesDesiredAndTerminatesWithDecrement(t *testing.T) {
	f := newMotoFixture(t)
	group, ids := f.autoScalingGroup(2) // min 0, desired 2, max 3
	capy := f.c.Ports(nil, nil).Capacity
	rec := rollout.SurgeRecord{RolloutID: "ro-moto", Desired: 2, Count: 1}
	if err := capy.RecordSurge(f.ctx, group, rec); err != nil {
		t.Fatalf("RecordSurge: %v", err)
	}
	if err := capy.SetDesiredCapacity(f.ctx, group, 3); err != nil {
		t.Fatalf("SetDesiredCapacity: %v", err)
	}
	g, err := capy.Group(f.ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if g.Surge == nil || *g.Surge != rec || g.DesiredCapacity != 3 || len(g.Members) != 3 {
		t.Fatalf("group after the surge: %+v", g)
	}
	var fresh string
	for _, m := range g.Members {
		if !slices.Contains(ids, m.ID) {
			fresh = m.ID
		}
	}
	if err := capy.TerminateInstance(f.ctx, fresh); err != nil {
		t.Fatalf("TerminateInstance: %v", err)
	}
	if err := capy.ClearSurge(f.ctx, group); err != nil {
		t.Fatalf("ClearSurge: %v", err)
	}
	g, err = capy.Group(f.ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if g.Surge != nil || g.DesiredCapacity != 2 {
		t.Fatalf("group after the undo: %+v", g)
	}
}
