package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// spread is a median with the range it was taken over.
type spread struct{ med, lo, hi float64 }

func spreadOf(vs []float64) spread {
	var kept []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	sort.Float64s(kept)
	n := len(kept)
	med := kept[n/2]
	if n%2 == 0 {
		med = (kept[n/2-1] + kept[n/2]) / 2
	}
	return spread{med, kept[0], kept[n-1]}
}

func (s spread) format(f string) string {
	if math.IsNaN(s.med) {
		return "-"
	}
	return fmt.Sprintf(f+" ("+f+"-"+f+")", s.med, s.lo, s.hi)
}

func (s spread) duration() string {
	if math.IsNaN(s.med) {
		return "-"
	}
	d := func(v float64) string { return time.Duration(v).Round(time.Second).String() }
	return fmt.Sprintf("%s (%s-%s)", d(s.med), d(s.lo), d(s.hi))
}

func (s spread) millis() string {
	if math.IsNaN(s.med) {
		return "-"
	}
	d := func(v float64) string { return time.Duration(v).Round(10 * time.Millisecond).String() }
	return fmt.Sprintf("%s (%s-%s)", d(s.med), d(s.lo), d(s.hi))
}

func (s spread) percent() string {
	if math.IsNaN(s.med) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%% (%+.1f%% to %+.1f%%)", 100*s.med, 100*s.lo, 100*s.hi)
}

// of maps the runs that succeeded to values.
func (s Series) of(v func(Result) float64) spread {
	var vs []float64
	for _, r := range s.Runs {
		if r.Err == nil {
			vs = append(vs, v(r))
		}
	}
	return spreadOf(vs)
}

func (s Series) failures() string {
	n := 0
	for _, r := range s.Runs {
		if r.Err != nil {
			n++
		}
	}
	if n == 0 {
		return fmt.Sprintf("%d seeds ok", len(s.Runs))
	}
	return fmt.Sprintf("%d of %d seeds FAILED", n, len(s.Runs))
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

func callsGoal(f Fleet) (float64, bool) {
	if f.Instances < 100 {
		return 0, false
	}
	if f.Mode == rollout.ModeBatch {
		return GoalCallsBatch, true
	}
	return GoalCallsWindow, true
}

func estimateGoal(m rollout.Mode) float64 {
	if m == rollout.ModeBatch {
		return GoalEstimateBatch
	}
	return GoalEstimateWindow
}

// Print writes scenarios 1-3 as one table each.
func (rep Report) Print(w io.Writer) {
	all := append(append(append([]Series(nil), rep.Realistic...), rep.StepHeavy...), rep.Lockstep...)
	if len(all) == 0 {
		return
	}
	f := rep.Realistic[0].Fleet()
	fmt.Fprintf(w, "\n1. Rollout time against the bound (simulated time, AWS call latency on; median of %d seeds (min-max))\n", rep.Options.Seeds)
	fmt.Fprintf(w, "   realistic fleet: deregistration delay %s, health %s x %d, %d steps of %s mean (lognormal sigma %.2f) + %s SSM delivery, "+
		"bake %s, min_healthy_percent %d; time scale %g\n", f.DeregistrationDelay, f.HealthCheckInterval, f.HealthyThreshold,
		stepsPerInstance, f.StepMean, f.StepSigma, simDelivery, f.BakeTime, f.MinHealthyPercent, rep.Options.TimeScale)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fleet\tinstances\tmode\tat once\tbound\tsimulated\tratio\tgoal\t\tvs window bound\tvs lockstep model\texpected_duration error\tgoal\t\truns\t")
	for _, s := range all {
		fl := s.Fleet()
		name := fl.Kind()
		own := s.of(Result.Ratio)
		goal, v := "-", ""
		if g, ok := ratioGoal(fl.Instances); ok && name == "realistic" && !fl.Lockstep {
			goal, v = fmt.Sprintf("<= %.2f", g), verdict(own.med <= g)
		}
		est := s.of(Result.EstimateError)
		eg := estimateGoal(fl.Mode)
		lockstep := "-"
		if fl.Mode == rollout.ModeBatch {
			lockstep = s.of(func(r Result) float64 { return ratio(r.Sim, r.LockstepModel) }).format("%.3f")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, fl.Instances, fl.ModeLabel(),
			fl.Instances-s.Runs[0].Floor, s.Runs[0].Bound.Round(time.Second), s.of(func(r Result) float64 { return float64(r.Sim) }).duration(),
			own.format("%.3f"), goal, v, s.of(Result.BestRatio).format("%.3f"), lockstep, est.percent(),
			fmt.Sprintf("within %.0f%%", 100*eg), verdict(math.Abs(est.med) <= eg), s.failures())
	}
	tw.Flush()
	fmt.Fprintln(w, "   bound: every instance out for its own time (drain, its 4 steps at their own pace, health, bake), as many at once as\n"+
		"   the floor allows; batch mode's batches each as long as their slowest member, window mode's slots refilled at once\n"+
		"   (rollout's own-pace model with the simulator's true step times), for every row, lockstep included. \"vs window\n"+
		"   bound\": over window mode's bound, the least any strategy can do. \"vs lockstep model\": over what batch mode in\n"+
		"   lockstep needs at least (each step waits for the batch's slowest member; the model its expected_duration uses):\n"+
		"   below 1 is what own pace saves, for a lockstep row the engine's own overhead. The ratio goals apply to each mode's\n"+
		"   default (batch: own pace). expected_duration: the plan's, from the step times the next seed's run recorded\n"+
		"   (rolling:steps), against the measured time.")
	for _, s := range all {
		if first := s.Runs[0].First; first > 0 {
			fmt.Fprintf(w, "   %s: a first rollout's plan (nothing recorded, 30 s a step) says %s, %+.0f%%\n", s.Name,
				first.Round(time.Second), 100*(s.of(func(r Result) float64 { return ratio(r.First, r.Sim) }).med-1))
		}
	}

	if len(rep.StepHeavy) == 2 || len(rep.Realistic) >= 2 {
		var stepHeavyLockstep *Series
		for i := range rep.Lockstep {
			if rep.Lockstep[i].Fleet().Kind() == "step-heavy" {
				stepHeavyLockstep = &rep.Lockstep[i]
			}
		}
		fmt.Fprintln(w, "\n2. Window vs batch (median over seeds of 1 - window/batch for the same seed (min-max); ceiling = 1 - window bound / batch bound)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "fleet\tinstances\tbatch\twindow\twindow faster by\tceiling\tgoal\t\t")
		pair := func(name string, b, wi Series, withGoal bool) {
			var gains []float64
			for i := range b.Runs {
				if i < len(wi.Runs) && b.Runs[i].Err == nil && wi.Runs[i].Err == nil {
					gains = append(gains, 1-float64(wi.Runs[i].Sim)/float64(b.Runs[i].Sim))
				}
			}
			g := spreadOf(gains)
			ceiling := 1 - float64(b.Runs[0].Best)/float64(b.Runs[0].Bound)
			if b.Fleet().Lockstep {
				ceiling = 1 - float64(b.Runs[0].Best)/float64(b.Runs[0].LockstepModel)
			}
			goal, v := "-", ""
			if withGoal {
				goal, v = fmt.Sprintf(">= %.0f%%", 100*GoalWindowSpeedup), verdict(g.med >= GoalWindowSpeedup)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.1f%%\t%s\t%s\t\n", name, b.Fleet().Instances,
				b.of(func(r Result) float64 { return float64(r.Sim) }).duration(), wi.of(func(r Result) float64 { return float64(r.Sim) }).duration(),
				g.percent(), 100*ceiling, goal, v)
		}
		for i := 0; i+1 < len(rep.Realistic); i += 2 {
			pair("realistic", rep.Realistic[i], rep.Realistic[i+1], false)
		}
		if len(rep.StepHeavy) == 2 {
			// Issue 7's goal was set against batch mode in lockstep, what
			// batch mode was then; its own pace leaves window mode a
			// ceiling of about 11 % on this fleet.
			pair("step-heavy", rep.StepHeavy[0], rep.StepHeavy[1], stepHeavyLockstep == nil && rep.StepHeavy[0].Fleet().Instances == speedupCompareSize)
			if stepHeavyLockstep != nil {
				pair("step-heavy, batch lockstep", *stepHeavyLockstep, rep.StepHeavy[1], stepHeavyLockstep.Fleet().Instances == speedupCompareSize)
			}
		}
		tw.Flush()
		if len(rep.StepHeavy) == 2 {
			h := rep.StepHeavy[0].Fleet()
			fmt.Fprintf(w, "   step-heavy fleet: deregistration delay %s, health %s x %d, %d steps of %s mean + %s delivery, no bake\n",
				h.DeregistrationDelay, h.HealthCheckInterval, h.HealthyThreshold, stepsPerInstance, h.StepMean, simDelivery)
		}
	}

	fmt.Fprintln(w, "\n3. API economy (calls per instance: the run's, with its readiness checks, and those a terraform apply makes around it:\n"+
		"   the plan's and the apply's fleet reads with the preflight's, the document check, the lease, the read after; median (min-max))")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fleet\tinstances\tmode\tper instance\tgoal\t\trun\taround\tthrottled\tby action (the median run's)\t")
	rows := append([]Series(nil), all...)
	if rep.Throttled != nil && len(rep.Throttled.Runs) > 0 {
		rows = append(rows, *rep.Throttled)
	}
	for _, s := range rows {
		fl := s.Fleet()
		name := fl.Kind()
		per := s.of(Result.CallsPerInstance)
		goal, v := "-", ""
		if g, ok := callsGoal(fl); ok && !fl.Throttling && name == "realistic" {
			goal, v = fmt.Sprintf("<= %.0f", g), verdict(per.med <= g)
		}
		mode := fl.ModeLabel()
		if fl.Throttling {
			mode += " (rate limits on)"
			goal, v = "0 errors surfaced", verdict(!strings.Contains(s.failures(), "FAILED"))
		}
		med := s.medianRun(Result.CallsPerInstance)
		var by []string
		for _, a := range SortedActions(med.Calls) {
			by = append(by, fmt.Sprintf("%s %d", a, med.Calls[a]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", name, fl.Instances, mode, per.format("%.2f"), goal, v,
			med.TotalCalls(), med.AroundCalls(), s.of(func(r Result) float64 { return float64(r.Throttled) }).format("%.0f"),
			strings.Join(by, ", "))
	}
	tw.Flush()
	if rep.Throttled != nil && len(rep.Throttled.Runs) > 0 {
		t := *rep.Throttled
		fmt.Fprintf(w, "   rate limits on: %s; simulated %s, %s x its bound (buckets refill and the SDK backs off in simulated time)\n",
			t.failures(), t.of(func(r Result) float64 { return float64(r.Sim) }).duration(), t.of(Result.Ratio).format("%.3f"))
	}
}

// medianRun is the run whose v is the median (the lower middle one).
func (s Series) medianRun(v func(Result) float64) Result {
	var ok []Result
	for _, r := range s.Runs {
		if r.Err == nil {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return s.Runs[0]
	}
	sort.Slice(ok, func(i, j int) bool { return v(ok[i]) < v(ok[j]) })
	return ok[(len(ok)-1)/2]
}

// SortedActions lists the actions of calls, most called first.
func SortedActions(calls map[string]int) []string {
	var out []string
	for a := range calls {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if calls[out[i]] != calls[out[j]] {
			return calls[out[i]] > calls[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
