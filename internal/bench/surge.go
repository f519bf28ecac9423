package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/clock"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Scenario 6 (issue 18): a surge at a 100 % floor against the best in-place
// schedule at 75 %. Both roll the realistic fleet's timings over the members
// of one Auto Scaling group in window mode (the own-pace schedule, the best
// in-place one), as many out at once: in place, the quarter the 75 % floor
// lets go; with the surge, as many new instances launched first (on the
// group's launch template, 60 s to InService), so that the floor is the
// whole fleet. What the surge costs: the launch, one more wave (its own
// instances are deployed too) and their removal (draining, shutdown); what
// it buys: capacity never below 100 %.

// SurgeOptions choose scenario 6's runs.
type SurgeOptions struct {
	Instances int     // default 40
	Seeds     int     // default 5
	TimeScale float64 // default 0.05
}

// SurgeRun is one rollout of scenario 6.
type SurgeRun struct {
	Seed         int64
	Sim          time.Duration // simulated time of rollout.Run
	Expected     time.Duration // the plan's expected_duration
	MinInService int           // the target group's least healthy count during the run
	Floor        int
	MaxSurge     int
	Calls        int
	Err          error
}

// SurgeReport is scenario 6: in place at 75 %, surge at 100 %.
type SurgeReport struct {
	Options        SurgeOptions
	InPlace, Surge []SurgeRun
}

// RunSurge runs scenario 6, each seed's two rollouts at once on their own
// simulators.
func RunSurge(ctx context.Context, o SurgeOptions) (SurgeReport, error) {
	if o.Instances < 4 {
		o.Instances = 40
	}
	if o.Seeds <= 0 {
		o.Seeds = defaultSeeds
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 0.05
	}
	rep := SurgeReport{Options: o}
	out := o.Instances - int(math.Ceil(float64(o.Instances)*0.75))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for seed := int64(1); seed <= int64(o.Seeds); seed++ {
		for _, surge := range []bool{false, true} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := runSurgeRollout(ctx, o, seed, out, surge)
				mu.Lock()
				defer mu.Unlock()
				if surge {
					rep.Surge = append(rep.Surge, r)
				} else {
					rep.InPlace = append(rep.InPlace, r)
				}
				if r.Err != nil && firstErr == nil {
					firstErr = r.Err
				}
			}()
		}
	}
	wg.Wait()
	return rep, firstErr
}

func runSurgeRollout(ctx context.Context, o SurgeOptions, seed int64, out int, surge bool) SurgeRun {
	f := RealisticFleet(o.Instances)
	run := SurgeRun{Seed: seed, Floor: int(math.Ceil(float64(o.Instances) * 0.75))}
	sim := fleetsim.New(fleetsim.Options{TimeScale: o.TimeScale, RandSeed: seed, Latency: f.Latency})
	sim.SetTiming(fleetsim.Timing{StepMean: f.StepMean, StepSigma: f.StepSigma, Delivery: simDelivery, Launch: 60 * time.Second})
	tg := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "bench", Port: 8080, HealthCheckInterval: f.HealthCheckInterval,
		HealthyThreshold: f.HealthyThreshold, DeregistrationDelay: f.DeregistrationDelay})
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "bench-asg", TargetGroupARNs: []string{tg}, Min: 1,
		Max: o.Instances + out, LaunchVersion: "v0"})
	sim.AddInstances(fleetsim.InstanceConfig{Count: o.Instances, AppVersion: "v1", AutoScalingGroup: "bench-asg",
		Tags: map[string]string{rollout.TagVersion: "v1"}})
	srv := httptest.NewServer(sim)
	defer func() { srv.Close(); sim.Close() }()
	env := &Env{Sim: sim, URL: srv.URL, TGARNs: []string{tg}, scale: o.TimeScale}
	client, err := env.Client(ctx)
	if err != nil {
		run.Err = err
		return run
	}
	fleet, err := client.DiscoverFleet(ctx, env.TGARNs, nil)
	if err != nil {
		run.Err = err
		return run
	}
	spec := rollout.Spec{RolloutID: fmt.Sprintf("bench-surge-%d", seed), Fleet: fleet,
		Release:  rollout.Release{Version: "v2", Steps: steps("v2")},
		Previous: &rollout.Release{Version: "v1", Steps: steps("v1")},
		Strategy: rollout.Strategy{BatchSize: out, MinHealthyPercent: 75, Mode: rollout.ModeWindow, BakeTime: f.BakeTime}}
	if surge {
		spec.Strategy.MinHealthyPercent, spec.Strategy.MaxSurge = 100, out
		run.Floor, run.MaxSurge = o.Instances, out
	}
	sched, err := rollout.PlanSchedule(spec)
	if err != nil {
		run.Err = fmt.Errorf("schedule: %w", err)
		return run
	}
	run.Expected = sched.ExpectedDuration
	rec := sim.Recorder()
	rec.Reset()
	start := sim.Now()
	res, err := rollout.Run(ctx, spec, client.Ports(clock.Scaled(o.TimeScale), nopObserver{}))
	run.Sim = sim.Now().Sub(start)
	run.MinInService = rec.MinInService(tg)
	run.Calls = len(rec.Calls(""))
	switch g, _ := sim.AutoScalingGroup("bench-asg"); {
	case err != nil:
		run.Err = fmt.Errorf("rollout %s: %w", res.Status, err)
	case res.Count(rollout.InstanceUpdated) != o.Instances:
		run.Err = fmt.Errorf("rollout updated %d of %d", res.Count(rollout.InstanceUpdated), o.Instances)
	case g.Desired != o.Instances || g.Tags[rollout.TagSurge] != "":
		run.Err = fmt.Errorf("the group ended at desired %d (record %q)", g.Desired, g.Tags[rollout.TagSurge])
	}
	return run
}

// Print writes scenario 6's table: medians of the seeds, with the range.
func (r SurgeReport) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "\n6. Surge at a 100 %% floor against in place at 75 %% (%d instances of one Auto Scaling group, window mode, %d seeds)\n\n",
		o.Instances, o.Seeds)
	fmt.Fprintln(w, "| strategy | out at once | floor | least in service (measured) | rollout time | expected_duration | calls |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	row := func(name string, runs []SurgeRun) {
		if len(runs) == 0 {
			return
		}
		get := func(v func(SurgeRun) float64) spread {
			var vs []float64
			for _, r := range runs {
				if r.Err == nil {
					vs = append(vs, v(r))
				}
			}
			return spreadOf(vs)
		}
		failed := 0
		for _, r := range runs {
			if r.Err != nil {
				failed++
			}
		}
		sim := get(func(r SurgeRun) float64 { return float64(r.Sim) })
		exp := get(func(r SurgeRun) float64 { return float64(r.Expected) })
		low := get(func(r SurgeRun) float64 { return float64(r.MinInService) })
		calls := get(func(r SurgeRun) float64 { return float64(r.Calls) })
		out := o.Instances - runs[0].Floor
		if runs[0].MaxSurge > 0 {
			out = runs[0].MaxSurge
		}
		note := ""
		if failed > 0 {
			note = fmt.Sprintf(" (%d of %d runs failed: %v)", failed, len(runs), firstSurgeErr(runs))
		}
		fmt.Fprintf(w, "| %s%s | %d | %d of %d | %s | %s | %s | %s |\n", name, note, out, runs[0].Floor, o.Instances,
			low.format("%.0f"), sim.duration(), exp.duration(), calls.format("%.0f"))
	}
	row("in place, min_healthy_percent = 75", r.InPlace)
	row(fmt.Sprintf("surge, max_surge = %d, min_healthy_percent = 100", max(o.Instances-int(math.Ceil(float64(o.Instances)*0.75)), 1)), r.Surge)
	if len(r.InPlace) > 0 && len(r.Surge) > 0 {
		a := spreadOf(durations(r.InPlace)).med
		b := spreadOf(durations(r.Surge)).med
		fmt.Fprintf(w, "\nThe surge takes %.0f %% longer (median) and keeps every instance of the fleet in service.\n", (b/a-1)*100)
	}
}

func durations(runs []SurgeRun) []float64 {
	var out []float64
	for _, r := range runs {
		if r.Err == nil {
			out = append(out, r.Sim.Seconds())
		}
	}
	return out
}

func firstSurgeErr(runs []SurgeRun) error {
	for _, r := range runs {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}
