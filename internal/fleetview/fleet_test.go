package fleetview

import (
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

const (
	tgA = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
	tgB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tls/0123456789abcdef"
)

// instance is a running instance on version, in the given target states
// (A then B; "" = not registered there), with an optional rolling:phase tag.
func instance(version, phase, stateA, stateB string) fleetsim.InstanceSnapshot {
	is := fleetsim.InstanceSnapshot{
		ID: "i-0123456789abcdef0", AZ: "us-east-1a", State: "running", AppVersion: version,
		Tags: map[string]string{"rolling:version": version}, Targets: map[string]string{},
	}
	if phase != "" {
		is.Tags[tagPhase] = phase
	}
	if stateA != "" {
		is.Targets[tgA] = stateA
	}
	if stateB != "" {
		is.Targets[tgB] = stateB
	}
	return is
}

func TestClassify_readsPhaseFromTagsTargetHealthAndInstanceState(t *testing.T) {
	stopped := instance("v1", "", "unused", "unused")
	stopped.State = "stopped"
	standby := instance("v1", "", "", "")
	standby.LifecycleState = "Standby"
	for _, tc := range []struct {
		name       string
		in         fleetsim.InstanceSnapshot
		outcome    Phase
		wantPhase  Phase
		wantDetail string
		inService  bool
	}{
		{"healthy everywhere", instance("v1", "", "healthy", "healthy"), "", PhaseInService, "", true},
		{"draining in one group", instance("v1", "", "healthy", "draining"), "", PhaseDraining, "", false},
		{"initial after registration", instance("v1", "", "initial", "healthy"), "", PhaseJoining, "", false},
		{"failing health checks", instance("v1", "", "unhealthy", "healthy"), "", PhaseUnhealthy, "", false},
		{"registered nowhere", instance("v1", "", "", ""), "", PhaseOutOfService, "unregistered", false},
		{"rollout draining it", instance("v1", "draining", "draining", "draining"), "", PhaseDraining, "", false},
		{"rollout running a step", instance("v1", "step:deploy", "", ""), "", PhaseStep, "deploy", false},
		{"rollout waiting for health", instance("v2", "joining", "initial", "initial"), "", PhaseJoining, "", false},
		{"rollout baking, already serving", instance("v2", "baking", "healthy", "healthy"), "", PhaseBaking, "", true},
		{"rollout rolling back", instance("v2", "rollback", "", ""), "", PhaseRollingBack, "", false},
		{"unknown phase tag shown as written", instance("v2", "warming", "", ""), "", PhaseStep, "warming", false},
		{"stopped instance", stopped, "", PhaseStopped, "stopped", false},
		{"auto scaling standby", standby, "", PhaseStandby, "Standby", false},
		{"failed earlier, serving again", instance("v1", "", "healthy", "healthy"), PhaseFailed, PhaseFailed, "", true},
		{"rolled back earlier, serving again", instance("v1", "", "healthy", "healthy"), PhaseRolledBack, PhaseRolledBack, "", true},
		{"a live phase beats an earlier outcome", instance("v1", "draining", "draining", ""), PhaseFailed, PhaseDraining, "", false},
		{"draining beats an earlier outcome", instance("v1", "", "draining", ""), PhaseRolledBack, PhaseDraining, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.in, tc.outcome)
			if got.Phase != tc.wantPhase || got.Detail != tc.wantDetail || got.InService != tc.inService {
				t.Errorf("classify = phase %q detail %q in service %t, want %q %q %t",
					got.Phase, got.Detail, got.InService, tc.wantPhase, tc.wantDetail, tc.inService)
			}
		})
	}
}

func TestFloor_roundsUpLikeTheProvider(t *testing.T) {
	for _, tc := range []struct{ percent, total, want int }{
		{75, 6, 5},    // 4.5 -> 5
		{75, 12, 9},   // exact
		{66, 6, 4},    // 3.96 -> 4
		{0, 12, 0},    // no floor
		{100, 7, 7},   // everything
		{50, 0, 0},    // empty fleet
		{50, 13, 7},   // 6.5 -> 7
		{34, 3, 2},    // 1.02 -> 2
		{100, 0, 0},   // empty fleet, full floor
		{1, 1000, 10}, // exact at scale
	} {
		if got := floor(tc.percent, tc.total); got != tc.want {
			t.Errorf("floor(%d%%, %d) = %d, want %d", tc.percent, tc.total, got, tc.want)
		}
	}
}

// replay feeds one instance's snapshots to a tracker, one simulated second
// apart, and returns the phase shown after the last one.
func replay(t *testing.T, steps ...fleetsim.InstanceSnapshot) Phase {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTracker(nil, Options{})
	var f Fleet
	for i, is := range steps {
		f = tr.observe(fleetsim.FleetSnapshot{SimTime: start.Add(time.Duration(i) * time.Second), Instances: []fleetsim.InstanceSnapshot{is}})
	}
	return f.Instances[0].Phase
}

func TestTracker_marksInstanceRolledBackWhenNewVersionWasUndone(t *testing.T) {
	got := replay(t,
		instance("v2", "", "healthy", "healthy"),
		instance("v2", "draining", "draining", ""),
		instance("v2", "step:deploy", "", ""),
		instance("v3", "step:verify", "", ""),
		instance("v3", "rollback", "", ""),
		instance("v2", "joining", "initial", ""),
		instance("v2", "", "healthy", "healthy"),
	)
	if got != PhaseRolledBack {
		t.Errorf("after v2 -> v3 -> rollback -> v2 the grid shows %q, want %q", got, PhaseRolledBack)
	}
}

func TestTracker_marksInstanceFailedWhenNewVersionNeverInstalled(t *testing.T) {
	got := replay(t,
		instance("v2", "", "healthy", "healthy"),
		instance("v2", "draining", "draining", ""),
		instance("v2", "step:deploy", "", ""),
		instance("v2", "rollback", "", ""),
		instance("v2", "joining", "initial", ""),
		instance("v2", "", "healthy", "healthy"),
	)
	if got != PhaseFailed {
		t.Errorf("after a failed deploy and rollback the grid shows %q, want %q", got, PhaseFailed)
	}
}

func TestTracker_showsInServiceAfterSuccessfulUpdate(t *testing.T) {
	got := replay(t,
		instance("v1", "", "healthy", "healthy"),
		instance("v1", "draining", "draining", ""),
		instance("v2", "step:deploy", "", ""),
		instance("v2", "joining", "initial", ""),
		instance("v2", "", "healthy", "healthy"),
	)
	if got != PhaseInService {
		t.Errorf("after a successful update the grid shows %q, want %q", got, PhaseInService)
	}
}

func TestTracker_forgetsOutcomeWhenInstanceLeavesAgain(t *testing.T) {
	got := replay(t,
		instance("v2", "", "healthy", "healthy"),
		instance("v2", "draining", "draining", ""),
		instance("v2", "rollback", "", ""),
		instance("v2", "", "healthy", "healthy"), // failed
		instance("v2", "draining", "draining", ""),
		instance("v4", "step:deploy", "", ""),
		instance("v4", "", "healthy", "healthy"),
	)
	if got != PhaseInService {
		t.Errorf("a failed instance updated by the next rollout shows %q, want %q", got, PhaseInService)
	}
}

func TestTracker_recordsCapacityOnlyWhenItChanges(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTracker(nil, Options{MinHealthyPercent: 50})
	a := instance("v1", "", "healthy", "")
	a.ID = "i-0000000000000000a"
	b := instance("v1", "", "healthy", "")
	b.ID = "i-0000000000000000b"
	bOut := instance("v1", "draining", "draining", "")
	bOut.ID = b.ID
	frames := [][]fleetsim.InstanceSnapshot{{a, b}, {a, b}, {a, bOut}, {a, bOut}, {a, b}}
	var f Fleet
	for i, insts := range frames {
		f = tr.observe(fleetsim.FleetSnapshot{SimTime: start.Add(time.Duration(i) * 10 * time.Second), Instances: insts})
	}
	want := []Point{{T: 0, InService: 2, Floor: 1}, {T: 20, InService: 1, Floor: 1, Busy: true}, {T: 40, InService: 2, Floor: 1}}
	if len(f.Capacity) != len(want) {
		t.Fatalf("capacity = %+v, want %+v", f.Capacity, want)
	}
	for i := range want {
		if f.Capacity[i] != want[i] {
			t.Errorf("capacity[%d] = %+v, want %+v", i, f.Capacity[i], want[i])
		}
	}
	if f.Total != 2 || f.InService != 2 || f.Floor != 1 || f.Elapsed != 40 {
		t.Errorf("frame totals = total %d in service %d floor %d elapsed %v, want 2 2 1 40", f.Total, f.InService, f.Floor, f.Elapsed)
	}
}

func TestTracker_marksInstanceRolledBackWhenAnEarlierBatchIsUndone(t *testing.T) {
	// Batch 1 finished on v3; a later batch failed, and rollback took the
	// instance out a second time to put v2 back.
	got := replay(t,
		instance("v2", "", "healthy", "healthy"),
		instance("v2", "draining", "draining", ""),
		instance("v3", "step:verify", "", ""),
		instance("v3", "", "healthy", "healthy"),
		instance("v3", "draining", "draining", ""),
		instance("v3", "rollback", "", ""),
		instance("v2", "joining", "initial", ""),
		instance("v2", "", "healthy", "healthy"),
	)
	if got != PhaseRolledBack {
		t.Errorf("an updated instance rolled back in a second trip shows %q, want %q", got, PhaseRolledBack)
	}
}

func TestTracker_marksTheFleetBusyOnlyWhileAnInstanceIsOnItsWay(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTracker(nil, Options{})
	stopped := instance("v1", "", "unused", "")
	stopped.State = "stopped"
	for i, tc := range []struct {
		name string
		in   fleetsim.InstanceSnapshot
		busy bool
	}{
		{"in service", instance("v1", "", "healthy", ""), false},
		{"running a step", instance("v1", "step:deploy", "", ""), true},
		{"joining", instance("v2", "", "initial", ""), true},
		{"back in service", instance("v2", "", "healthy", ""), false},
		// A stopped instance can stay stopped for hours: not a rollout.
		{"stopped", stopped, false},
	} {
		// An hour apart: the stretch before each frame is what the page
		// would compress when it is not busy.
		f := tr.observe(fleetsim.FleetSnapshot{SimTime: start.Add(time.Duration(i) * time.Hour), Instances: []fleetsim.InstanceSnapshot{tc.in}})
		if got := f.Capacity[len(f.Capacity)-1].Busy; got != tc.busy {
			t.Errorf("%s: busy = %v, want %v", tc.name, got, tc.busy)
		}
	}
}
