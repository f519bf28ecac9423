package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// smokeScale runs 1 simulated second in 2 wall milliseconds: a 10-instance
// rollout of the realistic fleet (about 19 simulated minutes) then takes a
// few wall seconds.
const smokeScale = 0.002

func TestLowerBound_isWavesTimesThePerInstanceMinimum(t *testing.T) {
	f := RealisticFleet(100) // floor 90 -> 10 out at once -> 10 waves
	waves, floor := f.Waves()
	if waves != 10 || floor != 90 {
		t.Fatalf("waves %d floor %d, want 10 and 90", waves, floor)
	}
	// 30 s drain + 4 x (0.5 s delivery + 5 s step) + 3 x 10 s health + 30 s bake.
	if got, want := f.PerInstanceMinimum(), 112*time.Second; got != want {
		t.Fatalf("per instance %s, want %s", got, want)
	}
	if got, want := f.LowerBound(), 1120*time.Second; got != want {
		t.Fatalf("bound %s, want %s", got, want)
	}
	f.BatchSize = 4 // a smaller batch than the floor allows sets the waves
	if waves, _ := f.Waves(); waves != 25 {
		t.Fatalf("waves with batch 4: %d, want 25", waves)
	}
}

// Batch mode's bound waits, at every step, for the slowest of the batch:
// the expected maximum of k lognormal draws. For k = 2 it has a closed form,
// E[max] / mean = 2 Phi(sigma / sqrt 2); a batch of one is the mean.
func TestLockstepBound_usesTheExpectedSlowestStepOfEachBatch(t *testing.T) {
	for _, sigma := range []float64{0.1, 0.25, 0.5} {
		want := 2 * 0.5 * math.Erfc(-sigma/math.Sqrt2/math.Sqrt2)
		if got := ExpectedMaxLognormal(2, sigma); math.Abs(got-want) > 1e-6 {
			t.Errorf("E[max of 2], sigma %.2f: %.6f, want %.6f", sigma, got, want)
		}
	}
	if got := ExpectedMaxLognormal(1, 0.25); got != 1 {
		t.Errorf("E[max of 1] = %.4f, want 1", got)
	}
	// The maximum grows with k, slowly.
	e10, e100 := ExpectedMaxLognormal(10, 0.25), ExpectedMaxLognormal(100, 0.25)
	if !(1.3 < e10 && e10 < e100 && e100 < 2) {
		t.Errorf("E[max of 10] %.3f, of 100 %.3f", e10, e100)
	}
	f := RealisticFleet(100)
	f.Mode = rollout.ModeBatch
	wave := f.PerInstanceMinimum() + 4*time.Duration(float64(f.StepMean)*(e10-1))
	if got := f.LowerBound(); got != 10*wave {
		t.Errorf("batch bound %s, want 10 x %s", got, wave)
	}
	if f.LockstepWave(1) != f.PerInstanceMinimum() {
		t.Errorf("a batch of one: %s, want the per-instance minimum %s", f.LockstepWave(1), f.PerInstanceMinimum())
	}
	f.Mode = rollout.ModeWindow
	if got := f.LowerBound(); got != f.MeanBound() || got != 1120*time.Second {
		t.Errorf("window bound %s, want the mean bound 1120 s", got)
	}
	// The step-heavy fleet leaves window mode room to be 20 % faster.
	if c := StepHeavyFleet(100).WindowCeiling(); c < 0.22 {
		t.Errorf("step-heavy fleet: window can be at most %.1f %% faster, want room for 20 %%", c*100)
	}
}

func TestRunRollouts_smallFleetGivesSaneFigures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// No throttled run: the simulator's rate limits refill in wall time and
	// the SDK backs off in wall time, so at this time scale one back-off of
	// a second is eight simulated minutes and a step times out. The
	// benchmarks run it at 0.05.
	// The step-heavy fleet at 10 instances, not 100: at this scale a step's
	// default 10 min timeout is 1.2 wall seconds, and a hundred instances'
	// calls on a loaded machine came close to it.
	rep, err := RunRollouts(ctx, Options{Sizes: []int{10}, TimeScale: smokeScale, StepHeavy: true, StepHeavySeeds: 1, StepHeavySize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 {
		t.Fatalf("%d runs, want batch and window", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		if r.Status != rollout.StatusSucceeded || r.Updated != 10 {
			t.Fatalf("%s: status %s, %d updated", r.Fleet.Mode, r.Status, r.Updated)
		}
		// Nothing beats AWS's own delays (a small slack for the variance of
		// step times in window mode), and the run must have been measured
		// in simulated time, not wall time.
		if r.Ratio() < 0.9 || r.Ratio() > 10 {
			t.Fatalf("%s: ratio %.3f (sim %s, bound %s) is not plausible", r.Fleet.Mode, r.Ratio(), r.Sim, r.Bound)
		}
		if r.Sim < 100*r.Wall {
			t.Fatalf("%s: simulated %s for %s of wall time: not time-scaled", r.Fleet.Mode, r.Sim, r.Wall)
		}
		// The capacity floor of 9 of 10 means one instance out at a time.
		if r.MaxOut != 1 {
			t.Fatalf("%s: %d instances out at once, floor allows 1", r.Fleet.Mode, r.MaxOut)
		}
		// Every instance leaves and rejoins once, and runs each step once.
		if r.Calls["DeregisterTargets"] != 10 || r.Calls["RegisterTargets"] != 10 || r.Calls["SendCommand"] != 40 {
			t.Fatalf("%s: calls %v", r.Fleet.Mode, r.Calls)
		}
		if r.Discovery == 0 || r.CallsPerInstance() <= float64(r.TotalCalls())/10 {
			t.Fatalf("%s: discovery calls %d not counted", r.Fleet.Mode, r.Discovery)
		}
	}
	if len(rep.StepHeavy) != 2 || rep.StepHeavy[0].Updated != 10 || rep.StepHeavy[1].Fleet.Mode != rollout.ModeWindow {
		t.Fatalf("step-heavy runs: %d, %+v", len(rep.StepHeavy), rep.StepHeavy)
	}
	var out bytes.Buffer
	rep.Print(&out)
	for _, want := range []string{"1. Overhead", "2. Window vs batch", "3. API economy", "SendCommand 40",
		"step-heavy, seed 1", "step-heavy, mean of seeds"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMeanBySeed_averagesEachSizeAndMode(t *testing.T) {
	run := func(mode rollout.Mode, seed int64, sim time.Duration) Result {
		f := StepHeavyFleet(100)
		f.Mode, f.Seed = mode, seed
		return Result{Fleet: f, Sim: sim}
	}
	rs := MeanBySeed([]Result{
		run(rollout.ModeBatch, 1, 30*time.Minute), run(rollout.ModeWindow, 1, 24*time.Minute),
		run(rollout.ModeBatch, 2, 34*time.Minute), run(rollout.ModeWindow, 2, 26*time.Minute),
	})
	if len(rs) != 2 || rs[0].Sim != 32*time.Minute || rs[1].Sim != 25*time.Minute {
		t.Fatalf("means: %+v", rs)
	}
	if sp, ok := WindowSpeedup(rs, 100); !ok || math.Abs(sp-(1-25.0/32)) > 1e-9 {
		t.Fatalf("speedup %v %v", sp, ok)
	}
}
