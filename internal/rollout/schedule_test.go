package rollout

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMinInService_roundsUpSoTheFloorIsNeverBreached(t *testing.T) {
	for _, c := range []struct{ n, pct, want int }{
		{10, 75, 8}, // 7.5 -> 8
		{3, 50, 2},  // 1.5 -> 2
		{2, 100, 2},
		{4, 0, 0},
		{0, 90, 0},
		{7, 1, 1}, // 0.07 -> 1
		{100, 99, 99},
		{1, 50, 1},
	} {
		if got := minInService(c.n, c.pct); got != c.want {
			t.Errorf("minInService(%d, %d%%) = %d, want %d", c.n, c.pct, got, c.want)
		}
	}
}

func TestBatchLimit_percentRoundsDownButAtLeastOneMoves(t *testing.T) {
	for _, c := range []struct {
		s    Strategy
		n    int
		want int
	}{
		{Strategy{BatchPercent: 25}, 10, 2}, // 2.5 -> 2
		{Strategy{BatchPercent: 10}, 3, 1},  // 0.3 -> 0 -> 1
		{Strategy{BatchPercent: 100}, 7, 7},
		{Strategy{BatchPercent: 50}, 1, 1},
		{Strategy{BatchSize: 3}, 100, 3},
		{Strategy{BatchSize: 30}, 4, 30}, // capped later by the queue and the floor
	} {
		if got := batchLimit(c.s, c.n); got != c.want {
			t.Errorf("batchLimit(%+v, %d) = %d, want %d", c.s, c.n, got, c.want)
		}
	}
}

func TestMaxFailures_percentOfOutOfDateRoundsDown(t *testing.T) {
	for _, c := range []struct {
		f         FailurePolicy
		outOfDate int
		want      int
	}{
		{FailurePolicy{MaxFailedInstances: 2}, 10, 2},
		{FailurePolicy{MaxFailedPercent: 25}, 10, 2},
		{FailurePolicy{MaxFailedPercent: 10}, 3, 0},
		{FailurePolicy{MaxFailedInstances: 5, MaxFailedPercent: 50}, 4, 2}, // percent wins
	} {
		if got := maxFailures(c.f, c.outOfDate); got != c.want {
			t.Errorf("maxFailures(%+v, %d) = %d, want %d", c.f, c.outOfDate, got, c.want)
		}
	}
}

func TestTakeNext_unhealthyInstancesCostNoCapacityAndOrderIsKept(t *testing.T) {
	T, F := true, false
	for _, c := range []struct {
		costly       []bool
		limit, spare int
		want         int
	}{
		{[]bool{T, T, T}, 2, 5, 2}, // batch-limited
		{[]bool{T, T, T}, 3, 1, 1}, // floor-limited
		{[]bool{F, F, T}, 3, 0, 2}, // unhealthy ones are free
		{[]bool{T, F}, 3, 0, 0},    // stalled at the head: never skips ahead
		{[]bool{F, T, F}, 3, 1, 3},
		{nil, 3, 3, 0},
		{[]bool{T}, 0, 3, 0},
	} {
		if got := len(takeNext(c.costly, c.limit, c.spare, nil, nil)); got != c.want {
			t.Errorf("takeNext(%v, %d, %d) = %d, want %d", c.costly, c.limit, c.spare, got, c.want)
		}
	}
}

// instancesIn builds n healthy instances in the given AZs (round robin).
func instancesIn(n int, azs ...string) []Instance {
	tg := "arn:tg/web/1"
	var out []Instance
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("i-%02d", i)
		out = append(out, Instance{ID: id, AZ: azs[i%len(azs)], State: "running",
			Targets: map[string][]Target{tg: {{InstanceID: id, Port: 80}}},
			Health:  map[string]TargetHealth{tg: {Target: Target{InstanceID: id, Port: 80}, State: HealthHealthy}},
			Tags:    map[string]string{TagVersion: "v1"}})
	}
	return out
}

func specFor(insts []Instance, st Strategy) Spec {
	return Spec{
		RolloutID: "ro",
		Fleet: Fleet{TargetGroups: []TargetGroup{{ARN: "arn:tg/web/1", DeregistrationDelay: 30 * time.Second,
			HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3}}, Instances: insts},
		Release:  Release{Version: "v2", Steps: []Step{{Name: "deploy", Commands: []string{"install"}, Timeout: time.Minute}}},
		Strategy: st,
	}
}

func TestAZBalanced_interleavesInProportionToAZSize(t *testing.T) {
	insts := []Instance{
		{ID: "a1", AZ: "a"}, {ID: "a2", AZ: "a"}, {ID: "a3", AZ: "a"}, {ID: "a4", AZ: "a"},
		{ID: "b1", AZ: "b"}, {ID: "b2", AZ: "b"},
	}
	if got, want := azBalanced(insts), []string{"a1", "b1", "a2", "a3", "b2", "a4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("azBalanced = %v, want %v", got, want)
	}
}

func TestPlanSchedule_workedExamples(t *testing.T) {
	for _, c := range []struct {
		name  string
		insts []Instance
		st    Strategy
		want  [][]string
	}{
		{"batch of 2 over 4, AZ balanced", instancesIn(4, "a", "b"), Strategy{BatchSize: 2, MinHealthyPercent: 50},
			[][]string{{"i-00", "i-01"}, {"i-02", "i-03"}}},
		{"floor caps the batch: 10 at 80% lets 2 out", instancesIn(10, "a"), Strategy{BatchSize: 5, MinHealthyPercent: 80},
			[][]string{{"i-00", "i-01"}, {"i-02", "i-03"}, {"i-04", "i-05"}, {"i-06", "i-07"}, {"i-08", "i-09"}}},
		{"canary first, then batches", instancesIn(5, "a"), Strategy{BatchSize: 2, CanarySize: 1, MinHealthyPercent: 0},
			[][]string{{"i-00"}, {"i-01", "i-02"}, {"i-03", "i-04"}}},
		{"25% of 5 rounds down to 1", instancesIn(5, "a"), Strategy{BatchPercent: 25, MinHealthyPercent: 0, Order: OrderSorted},
			[][]string{{"i-00"}, {"i-01"}, {"i-02"}, {"i-03"}, {"i-04"}}},
		{"sorted order ignores AZs", instancesIn(4, "b", "a"), Strategy{BatchSize: 2, Order: OrderSorted},
			[][]string{{"i-00", "i-01"}, {"i-02", "i-03"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, err := PlanSchedule(specFor(c.insts, c.st))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plan.Batches, c.want) {
				t.Fatalf("batches %v, want %v", plan.Batches, c.want)
			}
		})
	}
}

func TestPlanSchedule_unhealthyOutOfDateInstancesGoFirstAndCostNoCapacity(t *testing.T) {
	// 4 instances, floor 75% = 3 in service; i-02 is already unhealthy.
	// Taking it costs nothing, so it moves first and alone (one healthy one
	// may not join it: 3 healthy - 1 = 2 < 3). Once it is back, one healthy
	// instance at a time may move.
	insts := instancesIn(4, "a")
	insts[2].Health["arn:tg/web/1"] = TargetHealth{State: HealthUnhealthy}
	plan, err := PlanSchedule(specFor(insts, Strategy{BatchSize: 2, MinHealthyPercent: 75, Order: OrderSorted}))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"i-02"}, {"i-00"}, {"i-01"}, {"i-03"}}
	if !reflect.DeepEqual(plan.Batches, want) {
		t.Fatalf("batches %v, want %v", plan.Batches, want)
	}
	if plan.MinInService != 3 || plan.MaxUnavailable != 1 {
		t.Fatalf("floor %d, max unavailable %d", plan.MinInService, plan.MaxUnavailable)
	}
}

func TestPlanSchedule_skipsInstancesAlreadyOnTheVersionButNotThoseLeftOut(t *testing.T) {
	insts := instancesIn(3, "a")
	insts[0].Tags[TagVersion] = "v2"
	insts[1].Tags[TagVersion] = "v2"
	insts[1].Tags[TagPhase] = PhaseJoining // left out by an earlier run
	plan, err := PlanSchedule(specFor(insts, Strategy{BatchSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"i-01", "i-02"}; !reflect.DeepEqual(plan.OutOfDate, want) {
		t.Fatalf("out of date %v, want %v", plan.OutOfDate, want)
	}
}

func TestPlanSchedule_emptyFleetIsANoop(t *testing.T) {
	plan, err := PlanSchedule(specFor(nil, Strategy{BatchSize: 1, MinHealthyPercent: 100}))
	if err != nil || len(plan.Batches) != 0 || plan.ExpectedDuration != 0 {
		t.Fatalf("plan %+v, err %v", plan, err)
	}
}

func TestPlanSchedule_impossibleFloorSaysWhatWouldWork(t *testing.T) {
	for _, c := range []struct {
		n, pct    int
		unhealthy int
		want      string
	}{
		{2, 100, 0, "min_healthy_percent must be at most 50 for 2 instances to move one at a time"},
		{3, 100, 0, "min_healthy_percent must be at most 66 for 3 instances"},
		{1, 50, 0, "min_healthy_percent must be at most 0 for 1 instance to move"},
		{4, 75, 1, "min_healthy_percent 75 keeps 3 of 4 instances in service but only 3 are in service now"},
	} {
		insts := instancesIn(c.n, "a")
		if c.unhealthy > 0 {
			// An unhealthy instance that is up to date still uses up capacity.
			insts[0].Health["arn:tg/web/1"] = TargetHealth{State: HealthUnhealthy}
			insts[0].Tags[TagVersion] = "v2"
		}
		_, err := PlanSchedule(specFor(insts, Strategy{BatchSize: 1, MinHealthyPercent: c.pct}))
		var verr *ValidationError
		if !errors.As(err, &verr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("n=%d pct=%d: err %v, want it to contain %q", c.n, c.pct, err, c.want)
		}
	}
}

func TestPlanSchedule_expectedDurationSumsDrainStepsHealthAndBakePerBatch(t *testing.T) {
	s := specFor(instancesIn(4, "a"), Strategy{BatchSize: 2, BakeTime: time.Minute, PauseBetweenBatches: 10 * time.Second})
	s.Release.Steps = []Step{
		{Name: "short", Commands: []string{"x"}, Timeout: 20 * time.Second}, // 20s
		{Name: "long", Commands: []string{"y"}},                             // min(10m, 30s) = 30s
	}
	plan, err := PlanSchedule(s)
	if err != nil {
		t.Fatal(err)
	}
	// per batch: drain 30s + steps 50s + health 3x10s + bake 60s = 170s; 2 batches + 1 pause.
	if want := 2*170*time.Second + 10*time.Second; plan.ExpectedDuration != want {
		t.Fatalf("expected duration %s, want %s", plan.ExpectedDuration, want)
	}
}

// FuzzPlanSchedule checks the schedule arithmetic on arbitrary fleets: every
// out-of-date instance is scheduled exactly once, batches respect the batch
// limit, and no batch takes more in-service instances than the floor allows.
func FuzzPlanSchedule(f *testing.F) {
	f.Add(uint8(4), uint8(2), uint8(0), uint8(50), uint8(0), uint16(0), uint8(2))
	f.Add(uint8(10), uint8(0), uint8(25), uint8(75), uint8(1), uint16(5), uint8(3))
	f.Add(uint8(2), uint8(1), uint8(0), uint8(100), uint8(0), uint16(0), uint8(1))
	f.Add(uint8(60), uint8(7), uint8(0), uint8(90), uint8(3), uint16(0xffff), uint8(3))
	f.Add(uint8(0), uint8(1), uint8(0), uint8(0), uint8(0), uint16(0), uint8(1))
	f.Fuzz(func(t *testing.T, n, size, percent, minHealthy, canary uint8, unhealthyMask uint16, azs uint8) {
		if azs == 0 {
			azs = 1
		}
		insts := instancesIn(int(n%80), "a")
		for i := range insts {
			insts[i].AZ = fmt.Sprintf("az%d", i%int(azs))
			if unhealthyMask&(1<<(i%16)) != 0 && i%3 == 0 {
				insts[i].Health["arn:tg/web/1"] = TargetHealth{State: HealthUnhealthy}
			}
			if i%5 == 4 {
				insts[i].Tags[TagVersion] = "v2"
			}
		}
		st := Strategy{BatchSize: int(size % 20), BatchPercent: int(percent % 101), MinHealthyPercent: int(minHealthy % 101),
			CanarySize: int(canary % 4)}
		if st.BatchSize > 0 {
			st.BatchPercent = 0
		}
		s := specFor(insts, st)
		plan, err := PlanSchedule(s)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("non-validation error %v", err)
			}
			return
		}
		floor := minInService(len(insts), st.MinHealthyPercent)
		inService := map[string]bool{}
		for _, inst := range insts {
			inService[inst.ID] = isInService(inst)
		}
		seen := map[string]bool{}
		limit := batchLimit(st, len(insts))
		for i, b := range plan.Batches {
			l := limit
			if i == 0 && st.CanarySize > 0 {
				l = st.CanarySize
			}
			if len(b) == 0 || len(b) > l {
				t.Fatalf("batch %d has %d instances, limit %d", i, len(b), l)
			}
			up := 0
			for _, v := range inService {
				if v {
					up++
				}
			}
			costly := 0
			for _, id := range b {
				if seen[id] {
					t.Fatalf("%s scheduled twice", id)
				}
				seen[id] = true
				if inService[id] {
					up--
					costly++
				}
			}
			if costly > 0 && up < floor {
				t.Fatalf("batch %d leaves %d in service, floor %d", i, up, floor)
			}
			for _, id := range b {
				inService[id] = true
			}
		}
		for _, inst := range insts {
			if needsUpdate(inst, "v2") != seen[inst.ID] {
				t.Fatalf("%s: out of date %v, scheduled %v", inst.ID, needsUpdate(inst, "v2"), seen[inst.ID])
			}
		}
	})
}

// benchFleetSpec is the benchmarks' fleet (30 s delay, health 3 x 10 s,
// 30 s bake, four steps) of n instances, n/10 at a time; recorded is the
// TagSteps value on every instance ("" = none).
func benchFleetSpec(n int, mode Mode, recorded string) Spec {
	insts := instancesIn(n, "a", "b")
	for i := range insts {
		if recorded != "" {
			insts[i].Tags[TagSteps] = recorded
		}
	}
	s := specFor(insts, Strategy{BatchSize: n / 10, MinHealthyPercent: 90, Mode: mode, BakeTime: 30 * time.Second})
	s.Release.Steps = nil
	for _, name := range []string{"stop", "deploy", "start", "verify"} {
		s.Release.Steps = append(s.Release.Steps, Step{Name: name, Commands: []string{"x"}})
	}
	return s
}

// The expected duration is the model of duration.go: each instance out for
// its own time, the batches one after the other (each as long as its
// slowest member) or a window of slots refilled at once. Figures with a
// spread are the mean of the seeded simulation: exact for these inputs,
// within a second of the long-run expectation.
func TestPlanSchedule_expectedDurationIsTheOwnPaceModel(t *testing.T) {
	paced := "stop=5.50/1.27 deploy=5.50/1.27 start=5.50/1.27 verify=5.50/1.27"
	twoSteps := func(recorded string, mode Mode, n, batch int) Spec {
		s := specFor(instancesIn(n, "a"), Strategy{BatchSize: batch, BakeTime: time.Minute, PauseBetweenBatches: 10 * time.Second, Mode: mode})
		s.Release.Steps = []Step{
			{Name: "short", Commands: []string{"x"}, Timeout: 20 * time.Second},
			{Name: "long", Commands: []string{"y"}},
		}
		for i := range s.Fleet.Instances {
			if recorded != "" {
				s.Fleet.Instances[i].Tags[TagSteps] = recorded
			}
		}
		return s
	}
	for _, c := range []struct {
		name      string
		spec      Spec
		want, tol time.Duration
	}{
		// 30s drain + 20s + 30s (min(timeout, 30s)) + 3 x 10s + 60s bake =
		// 170s a batch, 2 batches and a pause.
		{"nothing recorded: nominal steps", twoSteps("", ModeBatch, 4, 2), 5*time.Minute + 50*time.Second, 0},
		// Each batch lasts as long as the slower of its two: about 4 s more.
		{"recorded with spread", twoSteps("short=20/4 long=30/6", ModeBatch, 4, 2), 5*time.Minute + 59*time.Second, time.Second},
		// A recorded mean above the timeout counts as the timeout.
		{"recorded above the timeout", twoSteps("short=50/0 long=30/0", ModeBatch, 4, 2), 5*time.Minute + 50*time.Second, 0},
		// Window mode, 6 instances 2 at once, 170 s each, no pauses.
		{"window, no spread", twoSteps("", ModeWindow, 6, 2), 3 * 170 * time.Second, 0},
		// The benchmarks' fleet: 112 s +- 2.5 s an instance.
		{"100 instances, batch", benchFleetSpec(100, ModeBatch, paced), 19*time.Minute + 21*time.Second, time.Second},
		{"100 instances, window", benchFleetSpec(100, ModeWindow, paced), 18*time.Minute + 53*time.Second, time.Second},
		{"100 instances, batch, nothing recorded", benchFleetSpec(100, ModeBatch, ""), 10 * 210 * time.Second, 0},
		{"1000 instances, batch", benchFleetSpec(1000, ModeBatch, paced), 19*time.Minute + 52*time.Second, time.Second},
		{"1000 instances, window", benchFleetSpec(1000, ModeWindow, paced), 19*time.Minute + 1*time.Second, time.Second},
		// Lockstep: each step as long as the slowest of the batch's draws.
		{"100 instances, batch, lockstep", lockstep(benchFleetSpec(100, ModeBatch, paced)), 20*time.Minute + 7*time.Second, time.Second},
		{"1000 instances, batch, lockstep", lockstep(benchFleetSpec(1000, ModeBatch, paced)), 21*time.Minute + 21*time.Second, time.Second},
		// Without spread lockstep costs nothing.
		{"nothing recorded: nominal steps, lockstep", lockstep(twoSteps("", ModeBatch, 4, 2)), 5*time.Minute + 50*time.Second, 0},
	} {
		plan, err := PlanSchedule(c.spec)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d := plan.ExpectedDuration - c.want; d > c.tol || d < -c.tol {
			t.Errorf("%s: expected duration %s, want %s", c.name, plan.ExpectedDuration, c.want)
		}
		// The same fleet always gets the same figure: Terraform plans
		// twice and refuses an apply whose plans differ.
		if again, _ := PlanSchedule(c.spec); again.ExpectedDuration != plan.ExpectedDuration {
			t.Errorf("%s: %s, then %s", c.name, plan.ExpectedDuration, again.ExpectedDuration)
		}
	}
}

func lockstep(s Spec) Spec {
	s.Strategy.Lockstep = true
	return s
}

func TestStepTimesTag_roundTripsAndStaysWithinEC2Limits(t *testing.T) {
	steps := []Step{{Name: "stop"}, {Name: "deploy app"}, {Name: "start"}}
	v := encodeStepTimes(steps, map[string]stepPace{
		"stop": {mean: 5520 * time.Millisecond, sd: 1310 * time.Millisecond}, "deploy app": {mean: time.Second}})
	if v != "stop=5.52/1.31" {
		t.Fatalf("encoded %q: a name with a space is not recorded, a step without samples neither", v)
	}
	if got := decodeStepTimes(v + " junk x=1 y=-1/2 start=1.5/0.25"); len(got) != 2 ||
		got["stop"] != (stepPace{mean: 5520 * time.Millisecond, sd: 1310 * time.Millisecond}) ||
		got["start"] != (stepPace{mean: 1500 * time.Millisecond, sd: 250 * time.Millisecond}) {
		t.Fatalf("decoded %v", got)
	}
	many := map[string]stepPace{}
	var long []Step
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("step-number-%02d", i)
		long = append(long, Step{Name: name})
		many[name] = stepPace{mean: 1234 * time.Second, sd: 56 * time.Second}
	}
	if v := encodeStepTimes(long, many); len(v) > maxTagValue || !strings.HasPrefix(v, "step-number-00=1234.00/56.00 ") {
		t.Fatalf("%d characters: %q", len(v), v)
	}
	// The median over instances: one odd instance does not set the pace.
	insts := []Instance{{Tags: map[string]string{TagSteps: "a=1/0"}}, {Tags: map[string]string{TagSteps: "a=2/0"}},
		{Tags: map[string]string{TagSteps: "a=90/9"}}, {Tags: map[string]string{}}}
	if p := recordedPaces(insts)["a"]; p.mean != 2*time.Second || p.sd != 0 {
		t.Fatalf("recorded pace %+v, want the median 2s", p)
	}
}
