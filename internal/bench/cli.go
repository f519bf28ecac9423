package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// CLIOptions size scenario 5.
type CLIOptions struct {
	Instances int // default 6
	BatchSize int // default 2
	// Rounds is how many times each way is timed (default 5); in each
	// round the script and the provider run at the same time, each on its
	// own simulator: both mostly wait.
	Rounds int
	Log    io.Writer
}

// CLIResult is scenario 5: the same rollout by a bash script of the AWS CLI
// and by terraform apply, each on a fresh simulator in real time.
type CLIResult struct {
	Options   CLIOptions
	Scripts   []CLIRun
	Providers []CLIRun
	Err       error
}

// CLIRun is one way of rolling out, once.
type CLIRun struct {
	Wall  time.Duration
	Calls map[string]int
}

// Total is every API call of the run.
func (r CLIRun) Total() int {
	n := 0
	for _, c := range r.Calls {
		n += c
	}
	return n
}

func walls(runs []CLIRun) spread {
	var vs []float64
	for _, r := range runs {
		vs = append(vs, float64(r.Wall))
	}
	return spreadOf(vs)
}

// rolloutScript is what users write today: per batch, leave the target
// group and wait with the CLI's waiter, run the steps as one command (one
// line each, as the provider's steps here) and wait for every instance
// with the CLI's waiter, rejoin and wait until in service.
const rolloutScript = `#!/usr/bin/env bash
set -euo pipefail
aws() { command aws --endpoint-url "$ENDPOINT" --output text "$@"; }
read -r -a ids <<<"$IDS"
for ((i = 0; i < ${#ids[@]}; i += BATCH)); do
  batch=("${ids[@]:i:BATCH}")
  targets=()
  for id in "${batch[@]}"; do targets+=("Id=$id"); done
  aws elbv2 deregister-targets --target-group-arn "$TG" --targets "${targets[@]}"
  aws elbv2 wait target-deregistered --target-group-arn "$TG" --targets "${targets[@]}"
  cid=$(aws ssm send-command --document-name AWS-RunShellScript --instance-ids "${batch[@]}" \
    --parameters "{\"commands\":[\"app stop\",\"app deploy $VERSION\",\"app start\",\"app check\"]}" \
    --query Command.CommandId)
  for id in "${batch[@]}"; do
    aws ssm wait command-executed --command-id "$cid" --instance-id "$id"
  done
  aws elbv2 register-targets --target-group-arn "$TG" --targets "${targets[@]}"
  aws elbv2 wait target-in-service --target-group-arn "$TG" --targets "${targets[@]}"
done
`

// cliSettings is scenario 5's fleet, in real time, on settings AWS
// accepts: a 2 s deregistration delay, health checks every 5 s with a
// healthy threshold of 2 (ELB's minimums; the scenario's 2 s interval
// before was below them), steps of 1 s, AWS's latency, a floor that lets
// exactly one batch out at a time.
func cliSettings(n, batch int) Fleet {
	f := RealisticFleet(n)
	f.DeregistrationDelay, f.HealthCheckInterval, f.HealthyThreshold = 2*time.Second, 5*time.Second, 2
	f.StepMean, f.StepSigma, f.BakeTime, f.TimeScale = time.Second, 0, 0, 1
	f.MinHealthyPercent, f.BatchSize, f.Mode = (n-batch)*100/n, batch, rollout.ModeBatch
	return f
}

// cliFleet seeds scenario 5's fleet.
func cliFleet(n int) (*fleetsim.Sim, string, []string) {
	f := cliSettings(n, 1)
	sim := fleetsim.New(fleetsim.Options{TimeScale: 1, RandSeed: 5, Latency: f.Latency})
	sim.SetTiming(fleetsim.Timing{StepMean: f.StepMean})
	arn := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "cli", Port: 8080,
		HealthCheckInterval: f.HealthCheckInterval, HealthyThreshold: f.HealthyThreshold, DeregistrationDelay: f.DeregistrationDelay})
	ids := sim.AddInstances(fleetsim.InstanceConfig{Count: n, AppVersion: "v1",
		Tags: map[string]string{rollout.TagVersion: "v1"}, TargetGroupARNs: []string{arn}})
	return sim, arn, ids
}

// checkDeployed fails unless every instance runs v2 and is healthy.
func checkDeployed(sim *fleetsim.Sim, ids []string) error {
	for _, id := range ids {
		inst, ok := sim.Instance(id)
		if !ok || inst.AppVersion != "v2" {
			return fmt.Errorf("%s is not on v2 (%+v)", id, inst)
		}
	}
	return nil
}

// RunCLI runs scenario 5.
func RunCLI(ctx context.Context, opts CLIOptions) (res CLIResult, err error) {
	if opts.Instances <= 0 {
		opts.Instances = 6
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	res.Options = opts
	defer func() { res.Err = err }()
	f := cliSettings(opts.Instances, opts.BatchSize)
	if err := f.Validate(); err != nil {
		return res, err
	}
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		return res, errors.New("the aws CLI is not on PATH")
	}

	fmt.Fprintln(opts.Log, "  building the provider")
	ws, err := newWorkspace(ctx, opts.Log)
	if err != nil {
		return res, err
	}
	defer ws.remove()
	rounds := opts.Rounds
	if rounds <= 0 {
		rounds = 5
	}
	for i := 0; i < rounds; i++ {
		fmt.Fprintf(opts.Log, "  round %d: bash + AWS CLI and terraform apply, side by side\n", i+1)
		var script, provider CLIRun
		var scriptErr, providerErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			script, scriptErr = runScript(ctx, awsBin, opts)
		}()
		go func() {
			defer wg.Done()
			provider, providerErr = runProvider(ctx, ws, i, opts)
		}()
		wg.Wait()
		if scriptErr != nil {
			return res, fmt.Errorf("script: %w", scriptErr)
		}
		if providerErr != nil {
			return res, providerErr
		}
		res.Scripts, res.Providers = append(res.Scripts, script), append(res.Providers, provider)
	}
	return res, nil
}

// runProvider rolls the fleet out with terraform apply (a create on a fresh
// state rolls out), in a configuration directory of its own.
func runProvider(ctx context.Context, ws *workspace, round int, opts CLIOptions) (CLIRun, error) {
	sim, arn, ids := cliFleet(opts.Instances)
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	rw, err := ws.fresh(round)
	if err != nil {
		return CLIRun{}, err
	}
	// The floor that lets exactly one batch out at a time.
	minHealthy := (opts.Instances - opts.BatchSize) * 100 / opts.Instances
	if err := writeConfig(rw.dir, map[string]any{"endpoint": srv.URL, "app_version": "v2", "target_group_arns": []string{arn},
		"batch_size": opts.BatchSize, "min_healthy_percent": minHealthy}); err != nil {
		return CLIRun{}, err
	}
	sim.Recorder().Reset()
	wall, _, err := rw.terraform(ctx, "apply", "-auto-approve")
	run := CLIRun{Wall: wall, Calls: sim.Recorder().CallCount()}
	if err != nil {
		return run, err
	}
	if err := checkDeployed(sim, ids); err != nil {
		return run, fmt.Errorf("after terraform apply: %w", err)
	}
	return run, nil
}

func runScript(ctx context.Context, awsBin string, opts CLIOptions) (CLIRun, error) {
	sim, arn, ids := cliFleet(opts.Instances)
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	dir, err := os.MkdirTemp("", "rolling-bench-cli-")
	if err != nil {
		return CLIRun{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "rollout.sh")
	if err := os.WriteFile(script, []byte(rolloutScript), 0o755); err != nil {
		return CLIRun{}, err
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PATH="+filepath.Dir(awsBin)+":"+os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=AKIABENCH", "AWS_SECRET_ACCESS_KEY=bench-secret", "AWS_DEFAULT_REGION="+sim.Region(),
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
		"ENDPOINT="+srv.URL, "TG="+arn, "IDS="+strings.Join(ids, " "), fmt.Sprintf("BATCH=%d", opts.BatchSize), "VERSION=v2")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	sim.Recorder().Reset()
	start := time.Now()
	err = cmd.Run()
	run := CLIRun{Wall: time.Since(start), Calls: sim.Recorder().CallCount()}
	if err != nil {
		return run, fmt.Errorf("%v\n%s", err, tail(out.String(), 2000))
	}
	return run, checkDeployed(sim, ids)
}

// Print writes scenario 5's table.
func (r CLIResult) Print(w io.Writer) {
	f := cliSettings(r.Options.Instances, r.Options.BatchSize)
	fmt.Fprintf(w, "\n5. Against a bash script of the AWS CLI (%d instances, batch %d, real time, AWS call latency on: deregistration delay %s, "+
		"health %s x %d, 4 steps of %s)\n", r.Options.Instances, r.Options.BatchSize, f.DeregistrationDelay, f.HealthCheckInterval,
		f.HealthyThreshold, f.StepMean)
	fmt.Fprintln(w, "   script: per batch deregister-targets, wait target-deregistered, one send-command with the 4 lines, wait command-executed\n"+
		"   per instance, register-targets, wait target-in-service (the CLI's standard waiters)")
	if r.Err != nil {
		fmt.Fprintf(w, "   ERROR: %v\n", r.Err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "how\twall (median of %d (min-max))\tAPI calls\tby action (the median run's)\t\n", len(r.Scripts))
	for _, row := range []struct {
		name string
		runs []CLIRun
	}{{"bash + aws CLI waiters", r.Scripts}, {"terraform apply (provider)", r.Providers}} {
		if len(row.runs) == 0 {
			continue
		}
		med := medianCLIRun(row.runs)
		var by []string
		for _, a := range SortedActions(med.Calls) {
			by = append(by, fmt.Sprintf("%s %d", a, med.Calls[a]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t\n", row.name, walls(row.runs).millis(), med.Total(), strings.Join(by, ", "))
	}
	tw.Flush()
	if len(r.Scripts) > 0 && len(r.Providers) > 0 {
		script, provider := walls(r.Scripts), walls(r.Providers)
		speed := script.med / provider.med
		var perRound []float64
		for i := range r.Providers {
			perRound = append(perRound, float64(r.Scripts[i].Wall)/float64(r.Providers[i].Wall))
		}
		fmt.Fprintf(w, "   provider %.2fx faster (median over median; per round %s; goal >= %.0fx: %s), %.2fx the API calls\n", speed,
			spreadOf(perRound).format("%.2f"), GoalCLISpeedup, verdict(r.Err == nil && speed >= GoalCLISpeedup),
			float64(medianCLIRun(r.Providers).Total())/float64(max(medianCLIRun(r.Scripts).Total(), 1)))
	}
}

// medianCLIRun is the run of median wall time (the lower middle one).
func medianCLIRun(runs []CLIRun) CLIRun {
	s := append([]CLIRun(nil), runs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Wall < s[j].Wall })
	return s[(len(s)-1)/2]
}
