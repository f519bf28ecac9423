package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Goals of issues 7 and 19, checked by the tables (never by tests: a slow
// machine must not fail the build, and a missed goal is a finding to
// report). Every goal is judged on the median of the seeds.
const (
	GoalRatio100           = 1.05 // rollout time over the bound at 100 instances
	GoalRatio1000          = 1.08 // and at 1,000
	GoalWindowSpeedup      = 0.20 // window at least 20 % faster than batch (step-heavy, 100)
	GoalCallsBatch         = 4.0  // calls per instance at 100+, batch mode
	GoalCallsWindow        = 6.0  // and window mode
	GoalEstimateBatch      = 0.10 // |expected_duration - measured| / measured, batch mode
	GoalEstimateWindow     = 0.15 // and window mode
	GoalPlan               = 2 * time.Second
	GoalRSSBytes           = 150 << 20
	GoalStateBytes         = 1 << 20
	GoalCLISpeedup         = 2.0
	throttledFleetSize     = 1000
	speedupCompareSize     = 100
	defaultSeeds           = 5
	defaultParallelRollout = 6
)

// Options choose what the rollout scenarios (1-3) run.
type Options struct {
	Sizes     []int   // fleet sizes; default 100, 1000
	TimeScale float64 // wall seconds per simulated second; default 0.05
	// Seeds is how many simulator seeds each configuration runs with
	// (default 5); every figure is their median, with the range.
	Seeds int
	// Parallel is how many rollouts run at once (default 6). Each has its
	// own simulator; the rollouts mostly wait, and latency is simulated
	// time, so a run hardly notices the others.
	Parallel int
	// Throttled adds scenario 3's runs with the simulator's AWS-like rate
	// limits on, window mode at ThrottledSize instances (default 1,000).
	Throttled     bool
	ThrottledSize int
	// StepHeavy adds scenario 2's batch and window runs of StepHeavyFleet
	// at StepHeavySize instances (default 100).
	StepHeavy     bool
	StepHeavySize int
	// Lockstep adds batch mode's opt-in lockstep at 100 instances
	// (speedupCompareSize) on the realistic fleet, and on the step-heavy
	// one with StepHeavy: what it costs, and its expected_duration.
	Lockstep bool
	// Progress, when set, gets a line per finished run.
	Progress io.Writer
}

// Series is one configuration's runs, one per seed.
type Series struct {
	Name string
	Runs []Result
}

// Fleet is the configuration (the first seed's).
func (s Series) Fleet() Fleet { return s.Runs[0].Fleet }

// Report holds every rollout run of scenarios 1-3.
type Report struct {
	Options   Options
	Realistic []Series // per size: batch, then window
	StepHeavy []Series // batch, then window
	// Lockstep: batch mode in lockstep, realistic (100 instances) then
	// step-heavy, those that ran.
	Lockstep  []Series
	Throttled *Series
}

// RunRollouts runs scenarios 1-3. A rollout that fails is kept in the
// report with its error (the tables show it) and also returned as the
// error.
func RunRollouts(ctx context.Context, o Options) (Report, error) {
	if len(o.Sizes) == 0 {
		o.Sizes = []int{100, 1000}
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 0.05
	}
	if o.Seeds <= 0 {
		o.Seeds = defaultSeeds
	}
	if o.Parallel <= 0 {
		o.Parallel = defaultParallelRollout
	}
	rep := Report{Options: o}
	type job struct {
		series *Series
		fleet  Fleet
	}
	var jobs []job
	add := func(list *[]Series, name string) { *list = append(*list, Series{Name: name}) }
	for _, n := range o.Sizes {
		for _, mode := range []rollout.Mode{rollout.ModeBatch, rollout.ModeWindow} {
			add(&rep.Realistic, fmt.Sprintf("%d instances, %s", n, mode))
		}
	}
	if o.StepHeavy {
		n := o.StepHeavySize
		if n <= 0 {
			n = speedupCompareSize
		}
		for _, mode := range []rollout.Mode{rollout.ModeBatch, rollout.ModeWindow} {
			add(&rep.StepHeavy, fmt.Sprintf("%d instances, %s, step-heavy", n, mode))
		}
	}
	if o.Throttled {
		n := o.ThrottledSize
		if n <= 0 {
			n = throttledFleetSize
		}
		rep.Throttled = &Series{Name: fmt.Sprintf("%d instances, window, rate limits on", n)}
	}
	lockstepFleets := o.lockstepFleets()
	for _, f := range lockstepFleets {
		name := fmt.Sprintf("%d instances, batch lockstep", f.Instances)
		if f.Kind() == "step-heavy" {
			name += ", step-heavy"
		}
		add(&rep.Lockstep, name)
	}
	// The jobs, seed by seed, so that an interrupted run still has every
	// configuration's first seeds.
	for seed := 1; seed <= o.Seeds; seed++ {
		i := 0
		for _, n := range o.Sizes {
			for _, mode := range []rollout.Mode{rollout.ModeBatch, rollout.ModeWindow} {
				f := RealisticFleet(n)
				f.Mode, f.TimeScale, f.Seed = mode, o.TimeScale, int64(seed)
				jobs = append(jobs, job{&rep.Realistic[i], f})
				i++
			}
		}
		for i, mode := range []rollout.Mode{rollout.ModeBatch, rollout.ModeWindow} {
			if !o.StepHeavy {
				break
			}
			n := o.StepHeavySize
			if n <= 0 {
				n = speedupCompareSize
			}
			f := StepHeavyFleet(n)
			f.Mode, f.TimeScale, f.Seed = mode, o.TimeScale, int64(seed)
			jobs = append(jobs, job{&rep.StepHeavy[i], f})
		}
		for i, f := range lockstepFleets {
			f.TimeScale, f.Seed = o.TimeScale, int64(seed)
			jobs = append(jobs, job{&rep.Lockstep[i], f})
		}
		if rep.Throttled != nil {
			n := o.ThrottledSize
			if n <= 0 {
				n = throttledFleetSize
			}
			f := RealisticFleet(n)
			f.TimeScale, f.Throttling, f.Seed = o.TimeScale, true, int64(seed)
			jobs = append(jobs, job{rep.Throttled, f})
		}
	}

	var mu sync.Mutex
	var errs []string
	work := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < o.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				r, err := RunRollout(ctx, j.fleet)
				mu.Lock()
				label := fmt.Sprintf("%s, seed %d", j.series.Name, j.fleet.Seed)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", label, err))
					if r.Err == nil {
						r.Err = err
					}
				}
				j.series.Runs = append(j.series.Runs, r)
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "  %-48s sim %-9s wall %-7s ratio %.3f  %.2f calls/instance\n", label,
						r.Sim.Round(time.Second), r.Wall.Round(time.Second), r.Ratio(), r.CallsPerInstance())
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	for _, list := range [][]Series{rep.Realistic, rep.StepHeavy, rep.Lockstep} {
		for i := range list {
			estimate(&list[i])
		}
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return rep, nil
}

// lockstepFleets are the lockstep configurations o runs: the realistic
// fleet at 100 instances when that size runs, the step-heavy one when it
// runs.
func (o Options) lockstepFleets() []Fleet {
	if !o.Lockstep {
		return nil
	}
	var out []Fleet
	for _, n := range o.Sizes {
		if n == speedupCompareSize {
			f := RealisticFleet(n)
			f.Mode, f.Lockstep = rollout.ModeBatch, true
			out = append(out, f)
		}
	}
	if o.StepHeavy {
		n := o.StepHeavySize
		if n <= 0 {
			n = speedupCompareSize
		}
		f := StepHeavyFleet(n)
		f.Mode, f.Lockstep = rollout.ModeBatch, true
		out = append(out, f)
	}
	return out
}

// estimate sets each run's Estimate: the expected duration its plan shows
// when the fleet carries the step times another seed's run recorded (the
// next seed's, cyclically), as a fleet does after its first rollout.
func estimate(s *Series) {
	sortBySeed(s.Runs)
	n := len(s.Runs)
	if n < 2 {
		return
	}
	for i := range s.Runs {
		other := s.Runs[(i+1)%n]
		if d, err := s.Runs[i].estimateFrom(other.Recorded); err == nil {
			s.Runs[i].Estimate = d
		}
	}
}

func sortBySeed(rs []Result) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Fleet.Seed < rs[j-1].Fleet.Seed; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
