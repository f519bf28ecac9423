package rollout

import (
	"strings"
	"testing"
	"time"
)

// asgSpec is six instances of asg-web (min 2, desired 6, max 10) behind one
// target group, all on v1, rolled to v2 at the given floor.
func asgSpec(minHealthy int, st Strategy) Spec {
	insts := instancesIn(6, "a", "b")
	for i := range insts {
		insts[i].AutoScalingGroup, insts[i].LifecycleState = "asg-web", "InService"
	}
	st.MinHealthyPercent = minHealthy
	if st.BatchSize == 0 && st.BatchPercent == 0 {
		st.BatchSize = 2
	}
	s := specFor(insts, st)
	s.Fleet.AutoScalingGroups = []AutoScalingGroup{{Name: "asg-web", TargetGroupARNs: []string{"arn:tg/web/1"},
		MinSize: 2, DesiredCapacity: 6, MaxSize: 10, SizesKnown: true}}
	return s
}

func TestSurgeCount_countOrPercentOfDesiredRoundedUp(t *testing.T) {
	for _, c := range []struct {
		st      Strategy
		desired int
		want    int
	}{
		{Strategy{MaxSurge: 2}, 6, 2},
		{Strategy{MaxSurgePercent: 25}, 6, 2}, // ceil(1.5)
		{Strategy{MaxSurgePercent: 10}, 3, 1}, // ceil(0.3)
		{Strategy{MaxSurgePercent: 50}, 0, 1}, // at least one
		{Strategy{MaxSurgePercent: 100}, 4, 4},
		{Strategy{}, 6, 0},
	} {
		if got := surgeCount(c.st, c.desired); got != c.want {
			t.Errorf("surgeCount(%+v, %d) = %d, want %d", c.st, c.desired, got, c.want)
		}
	}
}

func TestSurgeRecord_roundTripsAndRejectsOtherValues(t *testing.T) {
	r := SurgeRecord{RolloutID: "ro-1a2b", Desired: 6, Count: 2}
	if got, ok := ParseSurgeRecord(r.String()); !ok || got != r {
		t.Fatalf("round trip %q -> %+v %v", r.String(), got, ok)
	}
	if len(r.String()) > 256 {
		t.Fatalf("tag value longer than Auto Scaling allows: %q", r.String())
	}
	for _, bad := range []string{"", "yes", "rollout=x desired=6", "rollout= desired=6 surge=2", "rollout=x desired=-1 surge=2", "rollout=x desired=6 surge=2 extra=1"} {
		if _, ok := ParseSurgeRecord(bad); ok {
			t.Errorf("ParseSurgeRecord(%q) accepted", bad)
		}
	}
}

func TestPlanSchedule_surgeLetsAFullFloorMoveAndDeploysTheNewInstancesFirst(t *testing.T) {
	s := asgSpec(100, Strategy{MaxSurge: 2})
	sched, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(sched.Surge) != 1 || sched.Surge[0] != (SurgePlan{Group: "asg-web", Count: 2, Desired: 6, Max: 10}) {
		t.Fatalf("surge %+v", sched.Surge)
	}
	if sched.MinInService != 6 || sched.MaxUnavailable != 2 {
		t.Fatalf("floor %d, max unavailable %d: want 6 of the original 6 kept, 2 out at once", sched.MinInService, sched.MaxUnavailable)
	}
	if len(sched.Batches) != 4 || strings.Join(sched.Batches[0], ",") != surgePlaceholder("asg-web", 1)+","+surgePlaceholder("asg-web", 2) {
		t.Fatalf("batches %v: the new instances first, then three batches of 2", sched.Batches)
	}
	// Without the surge the same floor lets nothing move.
	s.Strategy.MaxSurge = 0
	if _, err := PlanSchedule(s); err == nil || !strings.Contains(err.Error(), "min_healthy_percent") {
		t.Fatalf("100 %% without a surge: %v", err)
	}
}

func TestPlanSchedule_surgeAddsItsLaunchHealthAndRemovalToTheExpectedDuration(t *testing.T) {
	plain, err := PlanSchedule(asgSpec(75, Strategy{BatchSize: 2}))
	if err != nil {
		t.Fatal(err)
	}
	surged, err := PlanSchedule(asgSpec(100, Strategy{BatchSize: 2, MaxSurge: 2}))
	if err != nil {
		t.Fatal(err)
	}
	// 75 % of 6 keeps 5: one at a time, 6 batches. The surge moves 2 at a
	// time: its own two instances, then three batches, plus launch 60s +
	// health 3 x 10s + drain 30s + shutdown 30s.
	perBatch := plain.ExpectedDuration / time.Duration(len(plain.Batches))
	want := 4*perBatch + 150*time.Second
	if len(plain.Batches) != 6 || len(surged.Batches) != 4 || surged.ExpectedDuration != want {
		t.Fatalf("plain %d batches %s, surged %d batches %s, want %s", len(plain.Batches), plain.ExpectedDuration,
			len(surged.Batches), surged.ExpectedDuration, want)
	}
}

func TestPlanSchedule_surgeErrorsSayWhatWouldWork(t *testing.T) {
	noGroup := specFor(instancesIn(4, "a"), Strategy{BatchSize: 1, MinHealthyPercent: 100, MaxSurge: 1})
	atMax := asgSpec(100, Strategy{MaxSurge: 2})
	atMax.Fleet.AutoScalingGroups[0].MaxSize = 7
	detached := asgSpec(100, Strategy{MaxSurge: 1})
	detached.Fleet.AutoScalingGroups[0].TargetGroupARNs = []string{"arn:tg/other/2"}
	for _, c := range []struct {
		name string
		s    Spec
		want string
	}{
		{"no Auto Scaling group", noGroup, "none of the fleet's 4 instances is in one"},
		{"max reached", atMax, "desired capacity 6 and max_size 7, so it cannot add 2 (raise max_size to at least 8, or lower the surge to 1)"},
		{"no attached target group", detached, "has none of the fleet's target groups attached"},
	} {
		_, err := PlanSchedule(c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err := c.s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate %v", c.name, err)
		}
	}
}

func TestValidate_surgeSettingsThatNeverWork(t *testing.T) {
	s := asgSpec(100, Strategy{MaxSurge: 1, MaxSurgePercent: 10})
	s.Failure.SuspendProcesses = []string{"Launch", "AZRebalance"}
	s.Fleet.Scoped = true
	s.Strategy.Order = OrderZoneByZone
	err := s.Validate()
	for _, want := range []string{"only one of max_surge and max_surge_percent", "must not include Launch", "cannot be used with instance_ids",
		`cannot be used with order = "zone_by_zone"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

func TestPlanSchedule_anEarlierRunsSurgeIsUndoneFirstAndNotScheduled(t *testing.T) {
	s := asgSpec(100, Strategy{MaxSurge: 2})
	left := instancesIn(8, "a", "b")[6:] // i-06, i-07: launched by rollout "old", on v2 already
	for i := range left {
		left[i].AutoScalingGroup, left[i].LifecycleState = "asg-web", "InService"
		left[i].Tags = map[string]string{TagVersion: "v2", TagSurge: "old"}
	}
	s.Fleet.Instances = append(s.Fleet.Instances, left...)
	s.Fleet.AutoScalingGroups[0].DesiredCapacity = 8
	s.Fleet.AutoScalingGroups[0].Surge = &SurgeRecord{RolloutID: "old", Desired: 6, Count: 2}
	sched, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(sched.Surge) != 1 || sched.Surge[0].Desired != 6 || sched.Surge[0].Count != 2 {
		t.Fatalf("surge %+v: from the recorded desired 6, not the current 8", sched.Surge)
	}
	for _, b := range sched.Batches {
		for _, id := range b {
			if id == "i-06" || id == "i-07" {
				t.Fatalf("the earlier surge's instance %s is scheduled: %v", id, sched.Batches)
			}
		}
	}
}

// Instances an interrupted run left out of service go before the surge's:
// until they are back, the surge's capacity is what keeps the floor.
func TestPlanSchedule_instancesLeftOutGoBeforeTheSurge(t *testing.T) {
	s := asgSpec(100, Strategy{MaxSurge: 2})
	for _, i := range []int{2, 3} {
		s.Fleet.Instances[i].Tags = map[string]string{TagVersion: "v1", TagPhase: PhaseDraining}
		s.Fleet.Instances[i].Health = map[string]TargetHealth{}
	}
	sched, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sched.Batches[0], ","); got != "i-02,i-03" {
		t.Fatalf("batches %v: the two left out first", sched.Batches)
	}
	if got := strings.Join(sched.Batches[1], ","); got != surgePlaceholder("asg-web", 1)+","+surgePlaceholder("asg-web", 2) {
		t.Fatalf("batches %v: the surge's second", sched.Batches)
	}
}
