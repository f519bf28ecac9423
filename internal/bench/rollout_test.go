package bench

import (
	"bytes"
	"container/heap"
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// smokeScale runs 1 simulated second in 2 wall milliseconds: a 10-instance
// rollout of the realistic fleet (about 19 simulated minutes) then takes a
// few wall seconds.
const smokeScale = 0.002

func TestValidate_refusesWhatAWSRefuses(t *testing.T) {
	for _, f := range []Fleet{RealisticFleet(100), StepHeavyFleet(100), RealisticFleet(1000)} {
		if err := f.Validate(); err != nil {
			t.Fatalf("a fleet of the benchmarks: %v", err)
		}
	}
	for _, c := range []struct {
		change func(*Fleet)
		want   string
	}{
		{func(f *Fleet) { f.HealthCheckInterval = 2 * time.Second }, "interval"},
		{func(f *Fleet) { f.HealthCheckInterval = 301 * time.Second }, "interval"},
		{func(f *Fleet) { f.HealthyThreshold = 1 }, "healthy threshold"},
		{func(f *Fleet) { f.HealthyThreshold = 11 }, "healthy threshold"},
		{func(f *Fleet) { f.DeregistrationDelay = 3601 * time.Second }, "deregistration delay"},
		{func(f *Fleet) { f.DeregistrationDelay = 1500 * time.Millisecond }, "deregistration delay"},
		{func(f *Fleet) { f.MinHealthyPercent = 100 }, "lets no instance"},
		{func(f *Fleet) { f.StepMean = 0 }, "step time"},
	} {
		f := RealisticFleet(100)
		c.change(&f)
		if err := f.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error about %s, got %v", c.want, err)
		}
		if _, err := RunRollout(context.Background(), f); err == nil {
			t.Errorf("RunRollout ran a fleet AWS refuses (%s)", c.want)
		}
	}
}

// exactBound simulates the bound with the simulator's own step times (the
// delivery delay plus a lognormal run time) instead of the model's
// lognormal of the same mean and spread: the two must agree.
func exactBound(f Fleet, mode rollout.Mode, runs int) time.Duration {
	rng := rand.New(rand.NewPCG(7, 8))
	waves, floor := f.Waves()
	k := f.Instances - floor
	fixed := float64(f.DeregistrationDelay + time.Duration(f.HealthyThreshold)*f.HealthCheckInterval + f.BakeTime)
	mu := math.Log(float64(f.StepMean)) - f.StepSigma*f.StepSigma/2
	one := func() float64 {
		t := fixed
		for s := 0; s < stepsPerInstance; s++ {
			t += float64(simDelivery) + math.Exp(mu+f.StepSigma*rng.NormFloat64())
		}
		return t
	}
	var total float64
	for r := 0; r < runs; r++ {
		if mode == rollout.ModeBatch {
			for w := 0; w < waves; w++ {
				var longest float64
				for i := 0; i < k; i++ {
					longest = math.Max(longest, one())
				}
				total += longest
			}
			continue
		}
		slots := make(floatHeap, k)
		end := 0.0
		for i := 0; i < f.Instances; i++ {
			slots[0] += one()
			end = math.Max(end, slots[0])
			heap.Fix(&slots, 0)
		}
		total += end
	}
	return time.Duration(total / float64(runs))
}

type floatHeap []float64

func (h floatHeap) Len() int           { return len(h) }
func (h floatHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h floatHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *floatHeap) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *floatHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// boundSpec is the batch-mode rollout of f's fleet, as read from its
// simulator, that the bound and model tests compute on.
func boundSpec(t *testing.T, f Fleet) rollout.Spec {
	t.Helper()
	env := NewEnv(f)
	client, err := env.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := client.DiscoverFleet(context.Background(), env.TGARNs, nil)
	env.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, floor := f.Waves()
	return rollout.Spec{RolloutID: "bound", Fleet: fleet, Release: rollout.Release{Version: "v2", Steps: steps("v2")},
		Strategy: rollout.Strategy{BatchSize: f.Instances - floor, MinHealthyPercent: 90, Mode: rollout.ModeBatch, BakeTime: f.BakeTime}}
}

// The bound is rollout's own-pace model fed the simulator's true step
// times: per instance 112 s on average, 10 waves at 100 instances.
func TestBounds_areTheOwnPaceModelOfTheSimulatorsStepTimes(t *testing.T) {
	for _, c := range []struct {
		fleet         Fleet
		batch, window time.Duration
	}{
		{RealisticFleet(100), 19*time.Minute + 21*time.Second, 18*time.Minute + 53*time.Second},
		{RealisticFleet(1000), 19*time.Minute + 52*time.Second, 19*time.Minute + 1*time.Second},
	} {
		spec := boundSpec(t, c.fleet)
		own, best, err := c.fleet.bounds(spec)
		if err != nil {
			t.Fatal(err)
		}
		if d := own - c.batch; d < -2*time.Second || d > 2*time.Second {
			t.Errorf("%d batch bound %s, want %s", c.fleet.Instances, own, c.batch)
		}
		if d := best - c.window; d < -2*time.Second || d > 2*time.Second {
			t.Errorf("%d window bound %s, want %s", c.fleet.Instances, best, c.window)
		}
		for mode, got := range map[rollout.Mode]time.Duration{rollout.ModeBatch: own, rollout.ModeWindow: best} {
			exact := exactBound(c.fleet, mode, 200000/c.fleet.Instances)
			if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.005 {
				t.Errorf("%d %s: model %s, the simulator's own distribution %s", c.fleet.Instances, mode, got, exact)
			}
		}
	}
}

func TestRunRollouts_smallFleetGivesSaneFigures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// At this time scale the latency (tens of simulated ms) is below what
	// serving a call costs in wall time: the figures are not the
	// benchmarks', only their plumbing is checked. The step-heavy fleet at
	// 10 instances: a step's default 10 min timeout is 1.2 wall seconds.
	rep, err := RunRollouts(ctx, Options{Sizes: []int{10}, TimeScale: smokeScale, Seeds: 2, Parallel: 4,
		StepHeavy: true, StepHeavySize: 10, Lockstep: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Realistic) != 2 || len(rep.StepHeavy) != 2 || len(rep.Lockstep) != 1 {
		t.Fatalf("%d realistic, %d step-heavy and %d lockstep series, want batch and window of each and the step-heavy lockstep",
			len(rep.Realistic), len(rep.StepHeavy), len(rep.Lockstep))
	}
	for _, s := range append(append(rep.Realistic, rep.StepHeavy...), rep.Lockstep...) {
		if len(s.Runs) != 2 {
			t.Fatalf("%s: %d runs, want 2 seeds", s.Name, len(s.Runs))
		}
		for _, r := range s.Runs {
			if r.Status != rollout.StatusSucceeded || r.Updated != 10 {
				t.Fatalf("%s seed %d: status %s, %d updated", s.Name, r.Fleet.Seed, r.Status, r.Updated)
			}
			// Nothing beats AWS's own delays (a small slack for the
			// variance of step times), and the run was measured in
			// simulated time, not wall time.
			if r.Ratio() < 0.9 || r.Ratio() > 10 || r.Best > r.Bound {
				t.Fatalf("%s: ratio %.3f (sim %s, bound %s, best %s) is not plausible", s.Name, r.Ratio(), r.Sim, r.Bound, r.Best)
			}
			if r.Sim < 100*r.Wall {
				t.Fatalf("%s: simulated %s for %s of wall time: not time-scaled", s.Name, r.Sim, r.Wall)
			}
			// The capacity floor of 9 of 10 means one instance out at a time.
			if r.MaxOut != 1 {
				t.Fatalf("%s: %d instances out at once, floor allows 1", s.Name, r.MaxOut)
			}
			// Every instance leaves and rejoins once, and runs each step once.
			if r.Calls["DeregisterTargets"] != 10 || r.Calls["RegisterTargets"] != 10 || r.Calls["SendCommand"] != 40 {
				t.Fatalf("%s: calls %v", s.Name, r.Calls)
			}
			// The reads around the run: three fleet reads with the
			// preflight's, the lease (created, released), the document.
			if r.Around["DescribeTargetHealth"] != 3 || r.Around["DescribeInstanceStatus"] != 3 || r.Around["PutParameter"] == 0 ||
				r.Around["DeleteParameter"] != 1 || r.Around["DescribeDocument"] != 1 {
				t.Fatalf("%s: around the run %v", s.Name, r.Around)
			}
			// The run recorded its step times, and the plan of the other
			// seed's run used them: not the 30 s a step of a first plan
			// (the realistic fleet's steps take 5 s).
			if !strings.Contains(r.Recorded[0], "deploy=") || r.Estimate <= 0 ||
				(r.Fleet.StepMean < 10*time.Second && r.Estimate >= r.First) {
				t.Fatalf("%s: recorded %q, estimate %s, first plan %s", s.Name, r.Recorded[0], r.Estimate, r.First)
			}
		}
	}
	var out bytes.Buffer
	rep.Print(&out)
	for _, want := range []string{"1. Rollout time against the bound", "2. Window vs batch", "3. API economy", "SendCommand 40",
		"step-heavy", "expected_duration", "2 seeds ok", "batch lockstep", "step-heavy, batch lockstep"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSpread_isTheMedianAndRange(t *testing.T) {
	s := spreadOf([]float64{3, 1, 2, math.NaN(), 5})
	if s.med != 2.5 || s.lo != 1 || s.hi != 5 {
		t.Fatalf("%+v", s)
	}
	if got := spreadOf([]float64{1.0123, 1.04, 1.02}).format("%.3f"); got != "1.020 (1.012-1.040)" {
		t.Fatalf("%q", got)
	}
}

// Batch mode in lockstep needs each step's slowest of the batch: 10 waves
// of 120.8 s at 100 instances (E[max of 10] = 1.44 x the 5 s mean), of
// 128.4 s at 1,000 (1.82 x), against the own-pace bound's 116.1 s and
// 119.2 s. The model (rollout's expected duration with lockstep) agrees
// with a Monte Carlo of the simulator's own distribution.
func TestLockstepModel_waitsForEachStepsSlowest(t *testing.T) {
	for _, c := range []struct {
		fleet Fleet
		want  time.Duration
	}{{RealisticFleet(100), 20*time.Minute + 8*time.Second}, {RealisticFleet(1000), 21*time.Minute + 24*time.Second}} {
		spec := boundSpec(t, c.fleet)
		got, err := c.fleet.lockstepModel(spec)
		if err != nil {
			t.Fatal(err)
		}
		exact := exactLockstep(c.fleet)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.005 {
			t.Errorf("%d instances: model %s, the simulator's own distribution %s", c.fleet.Instances, got, exact)
		}
		if d := exact - c.want; d < -2*time.Second || d > 2*time.Second {
			t.Errorf("%d instances: lockstep needs %s, want %s", c.fleet.Instances, exact, c.want)
		}
		// The own-pace bound, which lockstep is measured against too, is
		// below it.
		if own, _, err := c.fleet.bounds(spec); err != nil || own >= got {
			t.Errorf("%d instances: own-pace bound %s (%v), lockstep %s", c.fleet.Instances, own, err, got)
		}
	}
}

// exactLockstep simulates batch mode in lockstep with the simulator's own
// step distribution: each wave its fixed time plus, per step, the slowest
// of its members' draws.
func exactLockstep(f Fleet) time.Duration {
	waves, floor := f.Waves()
	k := f.Instances - floor
	rng := rand.New(rand.NewPCG(11, uint64(f.Instances)))
	fixed := float64(f.DeregistrationDelay + time.Duration(max(f.HealthyThreshold, 1))*f.HealthCheckInterval + f.BakeTime)
	mu := math.Log(float64(f.StepMean)) - f.StepSigma*f.StepSigma/2
	runs := max(20, 200000/(f.Instances*stepsPerInstance))
	var total float64
	for r := 0; r < runs; r++ {
		for w := 0; w < waves; w++ {
			wave := fixed
			for s := 0; s < stepsPerInstance; s++ {
				var slowest float64
				for i := 0; i < k; i++ {
					slowest = math.Max(slowest, math.Exp(mu+f.StepSigma*rng.NormFloat64()))
				}
				wave += float64(simDelivery) + slowest
			}
			total += wave
		}
	}
	return time.Duration(total / float64(runs))
}
