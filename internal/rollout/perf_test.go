package rollout

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// realisticWorld is the fleet of the benchmarks (BENCHMARKS.md, scenario 1)
// in the fake world: a 30 s deregistration delay, health checks every 10 s
// with a threshold of 3, four steps of 5 s mean run time (lognormal, sigma
// 0.25, drawn from a fixed seed), a 30 s bake and a 90 % floor, so every
// size moves in 10 waves. The fake world answers instantly, so what is
// measured is the engine's waiting alone, not API latency.
func realisticWorld(n int, mode Mode) (*world, Spec, time.Duration) {
	return benchWorld(n, mode, 5*time.Second)
}

// lognormalSteps makes every step of w take a lognormal time of the given
// mean, sigma 0.25 (mu = ln(mean) - sigma^2/2), drawn from a fixed seed.
func lognormalSteps(w *world, mean time.Duration) {
	rng := rand.New(rand.NewPCG(1, 2))
	const sigma = 0.25
	w.stepTimeOf = func(string, string) time.Duration {
		return time.Duration(float64(mean) * math.Exp(sigma*rng.NormFloat64()-sigma*sigma/2))
	}
}

// benchWorld is realisticWorld with steps of the given mean run time.
func benchWorld(n int, mode Mode, mean time.Duration) (*world, Spec, time.Duration) {
	w := newWorld(fleetOpts{n: n, delay: 30 * time.Second, threshold: 3})
	lognormalSteps(w, mean)
	s := baseSpec(w)
	s.Strategy = Strategy{BatchSize: n / 10, MinHealthyPercent: 90, Mode: mode, BakeTime: 30 * time.Second}
	perInstance := 30*time.Second + 4*mean + 3*10*time.Second + 30*time.Second
	return w, s, 10 * perInstance
}

// Window mode lets each member go through its steps at its own pace: a
// member seen done sends its next step at once, with whatever else the same
// poll found done, and polls of the window's groups at about the same
// moment share one read. A departure's fragments wait at most 2 s for each
// other before rejoining. So window mode stays close to the lower bound
// (its mean-based one) at a call cost bounded well above batch mode's.
func TestRun_windowModeStaysNearTheLowerBoundAndSharesItsPolls(t *testing.T) {
	w, s, bound := realisticWorld(100, ModeWindow)
	res, rec, took, ratio, perInstance := measure(t, w, s, bound)
	eachDepartureFinishedOnce(t, res, rec)
	shared, polls := 0, 0
	for _, c := range w.calls {
		var n, cmds int
		if _, err := fmt.Sscanf(c, "Invocations %d of %d commands", &n, &cmds); err == nil {
			polls++
			if cmds > 1 {
				shared++
			}
		}
	}
	t.Logf("window: %s (bound %s, ratio %.3f), %d calls (%.2f per instance) %v, %d departures, %d of %d polls read several commands",
		took, bound, ratio, len(w.calls), perInstance, callsByKind(w), len(res.Batches), shared, polls)
	if ratio > 1.05 {
		t.Errorf("window mode took %s, %.3f x the lower bound %s; want <= 1.05", took, ratio, bound)
	}
	if perInstance > 12 {
		t.Errorf("%.2f API calls per instance, want <= 12", perInstance)
	}
	if shared*5 < polls {
		t.Errorf("%d of %d step polls read several commands at once, want at least a fifth", shared, polls)
	}
}

// stepHeavyWorld is the step-heavy fleet of the benchmarks (scenario 2):
// a 15 s deregistration delay, health checks every 5 s with a threshold of
// 2, four steps of 30 s mean (lognormal, sigma 0.25), no bake, 90 % floor.
// Its lower bound is window mode's: 10 waves of the per-instance minimum.
func stepHeavyWorld(n int, mode Mode) (*world, Spec, time.Duration) {
	const mean = 30 * time.Second
	w := newWorld(fleetOpts{n: n, delay: 15 * time.Second, threshold: 2, interval: 5 * time.Second})
	lognormalSteps(w, mean)
	s := baseSpec(w)
	s.Strategy = Strategy{BatchSize: n / 10, MinHealthyPercent: 90, Mode: mode}
	return w, s, 10 * (15*time.Second + 4*mean + 2*5*time.Second)
}

// Where steps are most of an instance's time, waiting for the slowest of
// ten at every step costs batch mode in lockstep about 40 % of the step
// time; window mode does not pay it. The most it can gain here is about
// 26 % (the benchmarks' ceiling); the engine keeps most of it. Batch mode
// at its own pace (the default) pays only each batch's slowest member, so
// it is faster than lockstep, and window mode's lead over it is smaller.
func TestRun_windowModeGainsOnBatchModeWhereStepsVary(t *testing.T) {
	took := map[string]time.Duration{}
	for _, c := range []struct {
		name     string
		mode     Mode
		lockstep bool
	}{{"batch lockstep", ModeBatch, true}, {"batch", ModeBatch, false}, {"window", ModeWindow, false}} {
		w, s, bound := stepHeavyWorld(100, c.mode)
		s.Strategy.Lockstep = c.lockstep
		d, _, _, ratio, perInstance := measureTook(t, w, s, bound)
		took[c.name] = d
		t.Logf("%s: %s, %.3f x window's lower bound %s, %.2f calls per instance", c.name, d, ratio, bound, perInstance)
	}
	gain := func(a, b string) float64 { return 1 - float64(took[a])/float64(took[b]) }
	t.Logf("window faster than batch in lockstep by %.1f %%, than batch by %.1f %%; batch faster than lockstep by %.1f %%",
		100*gain("window", "batch lockstep"), 100*gain("window", "batch"), 100*gain("batch", "batch lockstep"))
	if g := gain("window", "batch lockstep"); g < 0.18 {
		t.Errorf("window mode is %.1f %% faster than batch mode in lockstep, want at least 18 %%", g*100)
	}
	if g := gain("batch", "batch lockstep"); g < 0.05 {
		t.Errorf("batch mode at its own pace is %.1f %% faster than in lockstep, want at least 5 %%", g*100)
	}
	if g := gain("window", "batch"); g < 0.08 {
		t.Errorf("window mode is %.1f %% faster than batch mode, want at least 8 %%", g*100)
	}
}

// At 100 instances, 10 a batch, batch mode at its own pace is faster than
// in lockstep (which waits at every step for the slowest of ten: about
// 1.4 x the mean) and stays within its call budget; lockstep costs fewer
// calls (one command and a few polls per step).
func TestRun_batchModeWaitsOnlyForEachBatchsSlowestStepAtAHundredInstances(t *testing.T) {
	var took [2]time.Duration
	for i, lockstep := range []bool{true, false} {
		w, s, bound := realisticWorld(100, ModeBatch)
		s.Strategy.Lockstep = lockstep
		d, _, _, ratio, perInstance := measureTook(t, w, s, bound)
		took[i] = d
		t.Logf("lockstep %v: %s (bound %s, ratio %.3f), %d calls (%.2f per instance) %v", lockstep, d, bound, ratio, len(w.calls), perInstance, callsByKind(w))
		// The slowest of 10 lognormal (sigma 0.25) draws is about 1.4 x
		// the mean: 4 steps x 2 s = 8 s over a 110 s wave, plus polling.
		if ratio > 1.10 {
			t.Errorf("lockstep %v: batch mode took %s, %.3f x the lower bound %s; want <= 1.10", lockstep, d, ratio, bound)
		}
		limit := 3.4
		if lockstep {
			limit = 3
		}
		if perInstance > limit {
			t.Errorf("lockstep %v: %.2f API calls per instance, want <= %.1f", lockstep, perInstance, limit)
		}
	}
	if took[1] >= took[0] {
		t.Errorf("batch mode at its own pace took %s, in lockstep %s", took[1], took[0])
	}
}

// measureTook is measure, the time first.
func measureTook(t *testing.T, w *world, s Spec, bound time.Duration) (time.Duration, Result, *recorder, float64, float64) {
	t.Helper()
	res, rec, took, ratio, perInstance := measure(t, w, s, bound)
	return took, res, rec, ratio, perInstance
}

// One slow instance in the first batch must not set the pace of the
// later ones: they are first polled when the step is usually done, not when
// it was done on the slowest instance so far.
func TestRun_laterBatchesAreNotPolledAtTheSlowestDurationSeenSoFar(t *testing.T) {
	w := newWorld(fleetOpts{n: 6})
	w.slow["i-0000"] = 20 * time.Second
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Strategy.Order = OrderSorted
	res, _, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	for _, id := range []string{"i-0002", "i-0003", "i-0004", "i-0005"} {
		if d := statusOf(res, id).PhaseDurations["step:deploy"]; d != 10*time.Second {
			t.Errorf("%s: deploy (10 s) took %s; the slow i-0000 took 30 s", id, d)
		}
	}
}

// SSM reports when each command was requested and finished: a step is then
// known to take 10 s, where the polls of the first batch only saw it done at
// 10.125 s (polls at 2 s, 3 s, 4.5 s, 6.75 s, 10.125 s).
func TestRun_stepDurationsComeFromSSMTimesWhenReported(t *testing.T) {
	for _, reported := range []bool{true, false} {
		w := newWorld(fleetOpts{n: 4})
		w.noSSMTimes = !reported
		s := baseSpec(w)
		s.Strategy.BatchSize = 2
		s.Strategy.Order = OrderSorted
		res, _, err := simulate(t, w, s, 0)
		mustSucceed(t, w, s, res, err)
		want := 10*time.Second + 125*time.Millisecond
		if reported {
			want = 10 * time.Second
		}
		if d := statusOf(res, "i-0003").PhaseDurations["step:stop"]; d != want {
			t.Errorf("SSM times reported %v: second batch's stop took %s, want %s", reported, d, want)
		}
	}
}

// measure runs s in w to the end (it must succeed) and returns how long it
// took, that over bound, and the world's calls per instance.
func measure(t *testing.T, w *world, s Spec, bound time.Duration) (Result, *recorder, time.Duration, float64, float64) {
	t.Helper()
	res, rec, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	took := res.FinishedAt.Sub(res.StartedAt)
	return res, rec, took, float64(took) / float64(bound), float64(len(w.calls)) / float64(len(s.Fleet.Instances))
}

// eachDepartureFinishedOnce: merged window fragments may finish parts of
// several departures at once; each departure is still reported finished,
// once.
func eachDepartureFinishedOnce(t *testing.T, res Result, rec *recorder) {
	t.Helper()
	finished := map[int]int{}
	for _, ev := range rec.kinds(EventBatchFinished) {
		finished[ev.Batch]++
	}
	for b := 1; b <= len(res.Batches); b++ {
		if finished[b] != 1 {
			t.Errorf("departure %d reported finished %d times", b, finished[b])
		}
	}
}

// callsByKind counts the world's calls by their first word.
func callsByKind(w *world) map[string]int {
	out := map[string]int{}
	for _, c := range w.calls {
		k, _, _ := strings.Cut(c, " ")
		out[k]++
	}
	return out
}

// At 1,000 instances with 30 s steps, fragments of different departures
// reach their end together and are merged (coalesce): each departure is
// still reported finished, once.
func TestRun_mergedWindowFragmentsReportEachDepartureFinishedOnce(t *testing.T) {
	w, s, _ := benchWorld(1000, ModeWindow, 30*time.Second)
	res, rec, err := simulate(t, w, s, 0)
	mustSucceed(t, w, s, res, err)
	eachDepartureFinishedOnce(t, res, rec)
}
