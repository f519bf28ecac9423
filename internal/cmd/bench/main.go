package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "100,1000", "fleet sizes of scenarios 1-3, comma separated")
	scale := fs.Float64("scale", 0.05, "wall seconds per simulated second in scenarios 1-3")
	seeds := fs.Int("seeds", 5, "simulator seeds per configuration in scenarios 1-3 (figures are their median, with the range)")
	parallel := fs.Int("parallel", 6, "rollouts run at once in scenarios 1-3 (each has its own simulator)")
	rounds := fs.Int("rounds", 5, "times each command of scenarios 4 and 5 is timed (figures are their median, with the range)")
	plan := fs.Bool("plan", true, "scenario 4: terraform plan at 1,000 instances (builds the provider)")
	planSize := fs.Int("plan-instances", 1000, "instances of scenario 4, spread over 4 target groups")
	lockstep := fs.Bool("lockstep", true, "scenarios 1-2: also batch mode in lockstep (strategy.lockstep) at 100 instances")
	cli := fs.Bool("cli", true, "scenario 5: a bash script of the AWS CLI against the provider (real time, minutes)")
	only := fs.String("only", "", "run only these scenarios, e.g. 4,5")
	surgeSize := fs.Int("surge-instances", 40, "instances of scenario 6 (surge at a 100 % floor against in place at 75 %)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	want := func(n int) bool {
		if *only == "" {
			return n <= 3 || (n == 4 && *plan) || (n == 5 && *cli) || n == 6
		}
		return strings.Contains(*only, strconv.Itoa(n))
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fmt.Fprintf(stderr, "bench: bad size %q (want integers >= 2)\n", s)
			return 2
		}
		ns = append(ns, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stdout, "rolling benchmarks: go run ./internal/cmd/bench %s\n%s\n", strings.Join(args, " "), bench.Machine())
	// Scenario 5 runs in real time and mostly waits (the CLI's waiters, the
	// provider's polls): it runs beside scenarios 1-3, whose time is
	// simulated and barely notice it. Scenario 4 times terraform plan in
	// wall time: it runs alone, after them.
	var failed atomic.Bool
	var cliResult bench.CLIResult
	var wg sync.WaitGroup
	if want(5) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintln(stderr, "scenario 5: AWS CLI script against the provider")
			var err error
			cliResult, err = bench.RunCLI(ctx, bench.CLIOptions{Rounds: *rounds, Log: stderr})
			if err != nil {
				fmt.Fprintf(stderr, "bench: cli: %v\n", err)
				failed.Store(true)
			}
		}()
	}
	if want(1) || want(2) || want(3) {
		fmt.Fprintln(stderr, "scenarios 1-3: rollouts against the fleet simulator")
		rep, err := bench.RunRollouts(ctx, bench.Options{
			Sizes: ns, TimeScale: *scale, Seeds: *seeds, Parallel: *parallel, Throttled: want(3), StepHeavy: want(2), Lockstep: *lockstep, Progress: stderr,
		})
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			failed.Store(true)
		}
		rep.Print(stdout)
	}
	if want(6) {
		fmt.Fprintln(stderr, "scenario 6: surge at a 100 % floor against in place at 75 %")
		r, err := bench.RunSurge(ctx, bench.SurgeOptions{Instances: *surgeSize, Seeds: *seeds, TimeScale: *scale})
		if err != nil {
			fmt.Fprintf(stderr, "bench: surge: %v\n", err)
			failed.Store(true)
		}
		r.Print(stdout)
	}
	wg.Wait()
	if want(4) {
		fmt.Fprintln(stderr, "scenario 4: terraform plan at scale")
		r, err := bench.RunPlan(ctx, bench.PlanOptions{Instances: *planSize, TargetGroups: 4, Repeats: *rounds, Log: stderr})
		if err != nil {
			fmt.Fprintf(stderr, "bench: plan: %v\n", err)
			failed.Store(true)
		}
		r.Print(stdout)
	}
	if want(5) {
		cliResult.Print(stdout)
	}
	if failed.Load() {
		return 1
	}
	return 0
}
