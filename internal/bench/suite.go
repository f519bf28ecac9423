package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Goals of issue 7, checked by the table (never by tests: a slow machine
// must not fail the build, and a missed goal is a finding to report).
const (
	GoalRatio100        = 1.05
	GoalRatio1000       = 1.10
	GoalWindowSpeedup   = 0.20 // window at least 20 % faster than batch at 100
	GoalCallsPerInst    = 4.0
	GoalPlan            = 3 * time.Second
	GoalRSSBytes        = 150 << 20
	GoalStateBytes      = 1 << 20
	GoalCLISpeedup      = 2.0
	throttledFleetSize  = 1000
	speedupCompareSize  = 100
	nominalStepCheckFor = 100
)

// Options choose what the rollout scenarios (1-3) run.
type Options struct {
	Sizes     []int   // fleet sizes; default 10, 100, 1000
	TimeScale float64 // wall seconds per simulated second; default 0.05
	// Throttled adds the scenario-3 run with the simulator's AWS-like rate
	// limits on, at ThrottledSize instances (default 1,000).
	Throttled     bool
	ThrottledSize int
	// NominalSteps adds a window run at 100 instances whose steps take the
	// engine's nominal 30 s, isolating the engine's own overhead from its
	// guess of how long a step runs.
	NominalSteps bool
	// StepHeavy adds scenario 2's batch and window runs of StepHeavyFleet
	// at 100 instances, with StepHeavySeeds simulator seeds each (default
	// 3): the slowest of ten step times varies from run to run, and batch
	// mode's time with it.
	StepHeavy      bool
	StepHeavySeeds int
	// StepHeavySize is the step-heavy fleet's size; default 100, where the
	// goal applies.
	StepHeavySize int
	// Progress, when set, gets a line per finished run.
	Progress io.Writer
}

// Report holds every rollout run of scenarios 1-3.
type Report struct {
	Runs      []Result // per size: batch then window
	Nominal   *Result
	Throttled *Result
	StepHeavy []Result // per seed: batch then window, StepHeavyFleet
}

// RunRollouts runs scenarios 1-3. A rollout that fails is kept in the report
// with its error (the table shows it) and also returned as the error.
func RunRollouts(ctx context.Context, o Options) (Report, error) {
	if len(o.Sizes) == 0 {
		o.Sizes = []int{10, 100, 1000}
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 0.05
	}
	var rep Report
	var errs []string
	run := func(f Fleet, label string) Result {
		r, err := RunRollout(ctx, f)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", label, err))
			if r.Err == nil {
				r.Err = err
			}
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "  %-34s sim %-10s wall %-8s ratio %.3f\n", label,
				r.Sim.Round(time.Second), r.Wall.Round(100*time.Millisecond), r.Ratio())
		}
		return r
	}
	for _, n := range o.Sizes {
		for _, mode := range []rollout.Mode{rollout.ModeBatch, rollout.ModeWindow} {
			f := RealisticFleet(n)
			f.Mode, f.TimeScale = mode, o.TimeScale
			rep.Runs = append(rep.Runs, run(f, fmt.Sprintf("%d instances, %s", n, mode)))
		}
	}
	if o.NominalSteps {
		f := RealisticFleet(nominalStepCheckFor)
		f.TimeScale, f.StepMean = o.TimeScale, 30*time.Second
		r := run(f, fmt.Sprintf("%d instances, window, 30 s steps", nominalStepCheckFor))
		rep.Nominal = &r
	}
	if o.StepHeavy {
		seeds := o.StepHeavySeeds
		if seeds <= 0 {
			seeds = 3
		}
		stepHeavySize := o.StepHeavySize
		if stepHeavySize <= 0 {
			stepHeavySize = speedupCompareSize
		}
		for seed := 1; seed <= seeds; seed++ {
			for _, mode := range []rollout.Mode{rollout.ModeBatch, rollout.ModeWindow} {
				f := StepHeavyFleet(stepHeavySize)
				f.Mode, f.TimeScale, f.Seed = mode, o.TimeScale, int64(seed)
				rep.StepHeavy = append(rep.StepHeavy, run(f, fmt.Sprintf("%d instances, %s, step-heavy, seed %d", stepHeavySize, mode, seed)))
			}
		}
	}
	if o.Throttled {
		n := o.ThrottledSize
		if n <= 0 {
			n = throttledFleetSize
		}
		f := RealisticFleet(n)
		f.TimeScale, f.Throttling = o.TimeScale, true
		r := run(f, fmt.Sprintf("%d instances, window, throttled", n))
		rep.Throttled = &r
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return rep, nil
}

// find finds the run of n instances in mode.
func find(rs []Result, n int, mode rollout.Mode) (Result, bool) {
	for _, r := range rs {
		if r.Fleet.Instances == n && r.Fleet.Mode == mode {
			return r, true
		}
	}
	return Result{}, false
}

// MeanBySeed averages runs of the same size and mode over their seeds: one
// Result per (size, mode) with the mean simulated time (an error in any
// run is kept).
func MeanBySeed(rs []Result) []Result {
	type key struct {
		n    int
		mode rollout.Mode
	}
	var order []key
	sum := map[key]Result{}
	count := map[key]int{}
	for _, r := range rs {
		k := key{r.Fleet.Instances, r.Fleet.Mode}
		m, seen := sum[k]
		if !seen {
			order = append(order, k)
			m = r
			m.Sim = 0
		}
		m.Sim += r.Sim
		if r.Err != nil {
			m.Err = r.Err
		}
		sum[k], count[k] = m, count[k]+1
	}
	var out []Result
	for _, k := range order {
		m := sum[k]
		m.Sim /= time.Duration(count[k])
		out = append(out, m)
	}
	return out
}

// WindowSpeedup is 1 - window/batch simulated time at n instances, in rs.
func WindowSpeedup(rs []Result, n int) (float64, bool) {
	b, ok1 := find(rs, n, rollout.ModeBatch)
	w, ok2 := find(rs, n, rollout.ModeWindow)
	if !ok1 || !ok2 || b.Sim <= 0 || b.Err != nil || w.Err != nil {
		return 0, false
	}
	return 1 - float64(w.Sim)/float64(b.Sim), true
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func ratioGoal(n int) (float64, bool) {
	switch {
	case n >= 1000:
		return GoalRatio1000, true
	case n >= 100:
		return GoalRatio100, true
	}
	return 0, false
}

func status(r Result) string {
	if r.Err != nil {
		return "ERROR: " + r.Err.Error()
	}
	return string(r.Status)
}

// Print writes scenarios 1-3 as one table each.
func (rep Report) Print(w io.Writer) {
	if len(rep.Runs) > 0 {
		f := rep.Runs[0].Fleet
		fmt.Fprintf(w, "\n1. Overhead against the lower bound (simulated time; deregistration delay %s, health %s x %d, "+
			"%d steps of %s mean (lognormal sigma %.2f) + %s SSM delivery, bake %s, min_healthy_percent %d, time scale %g)\n",
			f.DeregistrationDelay, f.HealthCheckInterval, f.HealthyThreshold, stepsPerInstance, f.StepMean, f.StepSigma,
			simDelivery, f.BakeTime, f.MinHealthyPercent, f.TimeScale)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "instances\tmode\tbatch\twaves\tper wave\tlower bound\tsimulated\twall\tratio\tvs mean\tgoal\t\tstatus\t")
		rows := append([]Result(nil), rep.Runs...)
		if rep.Nominal != nil {
			rows = append(rows, *rep.Nominal)
		}
		for _, r := range rows {
			goal, verdictText := "-", ""
			if g, ok := ratioGoal(r.Fleet.Instances); ok {
				goal = fmt.Sprintf("<= %.2f", g)
				verdictText = verdict(r.Err == nil && r.Ratio() <= g)
			}
			mode := string(r.Fleet.Mode)
			if r.Fleet.StepMean != RealisticFleet(0).StepMean {
				mode += fmt.Sprintf(" (%s steps)", r.Fleet.StepMean)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%s\t%s\t%s\n", r.Fleet.Instances, mode,
				r.Fleet.Instances-r.Floor, r.Waves, r.PerWave.Round(100*time.Millisecond), r.Bound.Round(100*time.Millisecond),
				r.Sim.Round(100*time.Millisecond), r.Wall.Round(100*time.Millisecond), r.Ratio(),
				float64(r.Sim)/float64(r.Fleet.MeanBound()), goal, verdictText, status(r))
		}
		tw.Flush()
		fmt.Fprintln(w, "   (each strategy against its own bound: window mode's is waves x the per-instance minimum at the mean step time;"+
			" batch mode's waits at every step for the expected slowest of the batch. \"vs mean\" divides by window's bound for both)")

		fmt.Fprintf(w, "\n2. Window vs batch (step sigma %.2f; ceiling = 1 - window's bound / batch's bound, the most any engine could gain)\n", f.StepSigma)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "fleet\tinstances\tbatch\twindow\twindow faster by\tceiling\tgoal\t\t")
		line := func(name string, rs []Result, n int, withGoal bool) {
			b, _ := find(rs, n, rollout.ModeBatch)
			wr, _ := find(rs, n, rollout.ModeWindow)
			sp, ok := WindowSpeedup(rs, n)
			goal, v := "-", ""
			if withGoal {
				goal, v = fmt.Sprintf(">= %.0f%%", GoalWindowSpeedup*100), verdict(ok && sp >= GoalWindowSpeedup)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.1f%%\t%.1f%%\t%s\t%s\n", name, n, b.Sim.Round(time.Second), wr.Sim.Round(time.Second),
				sp*100, b.Fleet.WindowCeiling()*100, goal, v)
		}
		for _, n := range sizes(rep.Runs) {
			line("realistic", rep.Runs, n, false)
		}
		var perSeed []string
		for i := 0; i+1 < len(rep.StepHeavy); i += 2 {
			pair := rep.StepHeavy[i : i+2]
			n := pair[0].Fleet.Instances
			line(fmt.Sprintf("step-heavy, seed %d", pair[0].Fleet.Seed), pair, n, false)
			if sp, ok := WindowSpeedup(pair, n); ok {
				perSeed = append(perSeed, fmt.Sprintf("%.1f%%", sp*100))
			}
		}
		if len(rep.StepHeavy) > 0 {
			n := rep.StepHeavy[0].Fleet.Instances
			line("step-heavy, mean of seeds", MeanBySeed(rep.StepHeavy), n, n == speedupCompareSize)
			h := rep.StepHeavy[0].Fleet
			tw.Flush()
			fmt.Fprintf(w, "   step-heavy fleet: deregistration delay %s, health %s x %d, %d steps of %s mean + %s delivery, no bake. "+
				"The goal is judged on it (per seed: %s): on the realistic fleet the ceiling itself is below 20%%\n",
				h.DeregistrationDelay, h.HealthCheckInterval, h.HealthyThreshold, stepsPerInstance, h.StepMean, simDelivery,
				strings.Join(perSeed, ", "))
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\n3. API economy (calls per instance = (rollout calls + the fleet discovery before it) / instances)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "instances\tmode\tbatch\tcalls\tper instance\tgoal\t\tthrottled\tby action\t")
	rows := append([]Result(nil), rep.Runs...)
	if rep.Throttled != nil {
		rows = append(rows, *rep.Throttled)
	}
	for _, r := range rows {
		batch := r.Fleet.Instances - r.Floor
		goal, v := "-", ""
		if r.Fleet.Instances >= 100 && batch >= 10 && r.Fleet.Mode == rollout.ModeBatch {
			goal, v = fmt.Sprintf("<= %.0f", GoalCallsPerInst), verdict(r.Err == nil && r.CallsPerInstance() <= GoalCallsPerInst)
		}
		mode := string(r.Fleet.Mode)
		if r.Fleet.Throttling {
			mode += " (rate limits on)"
			goal, v = "0 errors surfaced", verdict(r.Err == nil)
		}
		var by []string
		for _, a := range SortedActions(r.Calls) {
			by = append(by, fmt.Sprintf("%s %d", a, r.Calls[a]))
		}
		by = append(by, fmt.Sprintf("discovery %d", r.Discovery))
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f\t%s\t%s\t%d\t%s\n", r.Fleet.Instances, mode, batch,
			r.TotalCalls()+r.Discovery, r.CallsPerInstance(), goal, v, r.Throttled, strings.Join(by, ", "))
	}
	tw.Flush()
	fmt.Fprintln(w, "   (the goal is for batches of 10+, i.e. batch mode: window mode moves instances one by one, at least 6 mutating calls each"+
		" (deregister, register, 4 steps) unless a poll finds several at the same point)")
	if rep.Throttled != nil {
		fmt.Fprintf(w, "   throttled run: %s, %d throttling answers retried by the SDK, simulated %s (bound %s, ratio %.3f)\n",
			status(*rep.Throttled), rep.Throttled.Throttled, rep.Throttled.Sim.Round(time.Second), rep.Throttled.Bound, rep.Throttled.Ratio())
	}
}

func sizes(rs []Result) []int {
	var out []int
	seen := map[int]bool{}
	for _, r := range rs {
		if !seen[r.Fleet.Instances] {
			seen[r.Fleet.Instances] = true
			out = append(out, r.Fleet.Instances)
		}
	}
	return out
}
