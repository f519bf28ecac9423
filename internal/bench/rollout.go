package bench

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/awsclient"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/clock"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Fleet is one rollout scenario: the simulated fleet, its AWS timings and
// the strategy the engine runs with.
type Fleet struct {
	Instances    int
	TargetGroups int // every instance is registered in each; default 1

	DeregistrationDelay time.Duration
	HealthCheckInterval time.Duration
	HealthyThreshold    int

	StepMean  time.Duration // run time of one step (one command line)
	StepSigma float64       // lognormal sigma of the step time; 0 = constant
	BakeTime  time.Duration

	MinHealthyPercent int
	BatchSize         int // 0 = as many as the capacity floor allows
	Mode              rollout.Mode
	// Lockstep is batch mode's opt-in: every step waits for the whole
	// batch (rollout.Strategy.Lockstep).
	Lockstep bool

	// TimeScale is wall seconds per simulated second, for the simulator and
	// the engine's clock alike.
	TimeScale  float64
	Throttling bool // the simulator's AWS-like rate limits
	// Latency is every call's latency, in simulated time (fleetsim); the
	// fleets here have fleetsim.AWSLatency().
	Latency fleetsim.Latency
	Seed    int64
}

// RealisticFleet is the fleet of scenario 1: a 30 s deregistration delay,
// health checks every 10 s with a healthy threshold of 3, four steps of 5 s
// mean (lognormal sigma 0.25), 30 s bake, a 90 % capacity floor, so every
// size moves in 10 waves; AWS's call latency.
func RealisticFleet(n int) Fleet {
	return Fleet{
		Instances: n, TargetGroups: 1,
		DeregistrationDelay: 30 * time.Second, HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3,
		StepMean: 5 * time.Second, StepSigma: 0.25, BakeTime: 30 * time.Second,
		MinHealthyPercent: 90, Mode: rollout.ModeWindow, TimeScale: 0.05, Latency: fleetsim.AWSLatency(), Seed: 1,
	}
}

// StepHeavyFleet is the second fleet of scenario 2, one whose deployment
// time is mostly its steps, where step time variance matters: a 15 s
// deregistration delay, health checks every 5 s with a healthy threshold of
// 2 (AWS's minimums), four steps of 30 s mean (lognormal sigma 0.25), no
// bake, a 90 % floor.
func StepHeavyFleet(n int) Fleet {
	f := RealisticFleet(n)
	f.DeregistrationDelay, f.HealthCheckInterval, f.HealthyThreshold = 15*time.Second, 5*time.Second, 2
	f.StepMean, f.BakeTime = 30*time.Second, 0
	return f
}

// steps deploy v2 the way the simulator understands: each is one command
// line, so each takes one sample of the step time.
func steps(version string) []rollout.Step {
	return []rollout.Step{
		{Name: "stop", Commands: []string{"app stop"}},
		{Name: "deploy", Commands: []string{"app deploy " + version}},
		{Name: "start", Commands: []string{"app start"}},
		{Name: "verify", Commands: []string{"app check"}},
	}
}

// stepsPerInstance is len(steps(...)), each one line.
const stepsPerInstance = 4

// Result is what one rollout measured.
type Result struct {
	Fleet  Fleet
	Status rollout.Status
	Err    error
	Sim    time.Duration // simulated time of rollout.Run
	Wall   time.Duration
	// Bound is the lower bound of the fleet's mode, Best window mode's (the
	// least any strategy can do): both rollout's own-pace model with the
	// simulator's true step times (bound.go).
	Bound, Best time.Duration
	// LockstepModel (batch mode) is what the same model gives with every
	// step waiting for the batch's slowest member (each step the slowest of
	// k draws): what batch mode in lockstep needs at least.
	LockstepModel time.Duration
	// Estimate is the plan's expected_duration from the step times another
	// run of the same fleet recorded (set by RunRollouts), First the one a
	// first rollout shows (nothing recorded: 30 s a step).
	Estimate, First time.Duration
	Waves           int
	Updated         int
	Calls           map[string]int // per action, rollout.Run only
	// Around counts the calls a terraform apply makes around the run: the
	// fleet read (DiscoverFleet and the preflight's CheckInstances) at plan
	// time, before the run and after it, the document check, the lease.
	Around    map[string]int
	Throttled int // calls the simulator answered with a throttling error
	MaxOut    int // most instances out of service at once
	Floor     int // capacity floor in instances
	// PhaseMeans is the mean time per instance in each phase (draining,
	// step:<name>, joining, baking), from the engine's result.
	PhaseMeans map[string]time.Duration
	// Recorded is every instance's rollout.TagSteps after the run, in
	// fleet order: what the next plan estimates with.
	Recorded []string
	spec     rollout.Spec
}

// Kind is the fleet as the tables name it: "step-heavy" for the fleet of
// long steps, else "realistic".
func (f Fleet) Kind() string {
	if f.StepMean != RealisticFleet(0).StepMean {
		return "step-heavy"
	}
	return "realistic"
}

// ModeLabel is the fleet's mode as the tables show it: batch, batch
// lockstep or window.
func (f Fleet) ModeLabel() string {
	if f.Lockstep {
		return string(f.Mode) + " lockstep"
	}
	return string(f.Mode)
}

// Ratio is simulated rollout time over the lower bound of its mode.
func (r Result) Ratio() float64 { return ratio(r.Sim, r.Bound) }

// BestRatio is simulated rollout time over window mode's bound.
func (r Result) BestRatio() float64 { return ratio(r.Sim, r.Best) }

// EstimateError is (estimate - measured) / measured.
func (r Result) EstimateError() float64 { return ratio(r.Estimate, r.Sim) - 1 }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// TotalCalls is every API call of the run.
func (r Result) TotalCalls() int { return sum(r.Calls) }

// AroundCalls is every call made around the run.
func (r Result) AroundCalls() int { return sum(r.Around) }

func sum(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// CallsPerInstance counts the run's calls and those around it, per
// instance.
func (r Result) CallsPerInstance() float64 {
	if r.Fleet.Instances == 0 {
		return 0
	}
	return float64(r.TotalCalls()+r.AroundCalls()) / float64(r.Fleet.Instances)
}

// simDelivery is fleetsim's default SSM delivery delay (Timing.Delivery):
// every step waits for it before its command line starts.
const simDelivery = 500 * time.Millisecond

// PerInstanceMinimum is the least time one instance can be out of service
// with these AWS settings on average: draining for the deregistration
// delay, each step delivered and run (at its mean time), healthy_threshold
// checks interval apart after registering again, then the bake.
func (f Fleet) PerInstanceMinimum() time.Duration {
	th := max(f.HealthyThreshold, 1)
	return f.DeregistrationDelay + stepsPerInstance*(simDelivery+f.StepMean) +
		time.Duration(th)*f.HealthCheckInterval + f.BakeTime
}

// Waves is how many instance departures must follow one another: the
// instances divided by how many may be out at once under the capacity floor
// (ceil(N x min_healthy_percent) stay in) and the batch size.
func (f Fleet) Waves() (waves, floor int) {
	floor = int(math.Ceil(float64(f.Instances) * float64(f.MinHealthyPercent) / 100))
	out := f.Instances - floor
	if f.BatchSize > 0 {
		out = min(out, f.BatchSize)
	}
	if out < 1 {
		return 0, floor
	}
	return (f.Instances + out - 1) / out, floor
}

// Env is a simulator serving HTTP on 127.0.0.1 with one fleet on v1.
type Env struct {
	Sim    *fleetsim.Sim
	URL    string
	TGARNs []string
	IDs    []string
	scale  float64
	close  func()
}

// Close stops the server and the simulator.
func (e *Env) Close() { e.close() }

// NewEnv seeds a simulator with f's fleet, every instance running v1 and
// healthy in every target group.
func NewEnv(f Fleet) *Env {
	sim := fleetsim.New(fleetsim.Options{TimeScale: f.TimeScale, Throttling: f.Throttling, RandSeed: f.Seed, Latency: f.Latency})
	sim.SetTiming(fleetsim.Timing{StepMean: f.StepMean, StepSigma: f.StepSigma, Delivery: simDelivery})
	var arns []string
	for i := 0; i < max(f.TargetGroups, 1); i++ {
		arns = append(arns, sim.AddTargetGroup(fleetsim.TargetGroupConfig{
			Name: fmt.Sprintf("bench-%d", i+1), Port: int32(8080 + i),
			HealthCheckInterval: f.HealthCheckInterval, HealthyThreshold: f.HealthyThreshold,
			DeregistrationDelay: f.DeregistrationDelay,
		}))
	}
	ids := sim.AddInstances(fleetsim.InstanceConfig{
		Count: f.Instances, AppVersion: "v1", Tags: map[string]string{rollout.TagVersion: "v1"},
		TargetGroupARNs: arns,
	})
	srv := httptest.NewServer(sim)
	return &Env{Sim: sim, URL: srv.URL, TGARNs: arns, IDs: ids, scale: f.TimeScale, close: func() { srv.Close(); sim.Close() }}
}

// Client is an awsclient for the simulator, as the provider would build it
// (its retry back-off scaled to the simulator's time, as the provider does
// against a time-scaled simulator).
func (e *Env) Client(ctx context.Context) (*awsclient.Client, error) {
	eps := map[string]string{}
	for _, k := range []string{"ec2", "elbv2", "ssm", "autoscaling", "cloudwatch", "sts"} {
		eps[k] = e.URL
	}
	return awsclient.New(ctx, awsclient.Config{
		Region: e.Sim.Region(), AccessKey: "AKIABENCH", SecretKey: "bench-secret", Endpoints: eps,
		UserAgentVersion: "bench", BackoffScale: e.scale, SkipCredentialsValidation: true,
	})
}

// throttlingCodes are the codes fleetsim throttles with (AWS's).
var throttlingCodes = map[string]bool{"Throttling": true, "RequestLimitExceeded": true, "ThrottlingException": true}

// RunRollout seeds f's fleet and rolls v2 out over it with the engine, the
// way the provider's apply does, and measures it.
func RunRollout(ctx context.Context, f Fleet) (Result, error) {
	if err := f.Validate(); err != nil {
		return Result{Fleet: f, Err: err}, err
	}
	env := NewEnv(f)
	defer env.Close()
	return RunRolloutEnv(ctx, f, env)
}

// readFleet is what the provider reads of a fleet at plan time, before a
// run and after it (internal/provider readFleet): DiscoverFleet, then the
// preflight's status checks and SSM agents of the running instances.
func readFleet(ctx context.Context, c *awsclient.Client, arns []string) (rollout.Fleet, error) {
	fleet, err := c.DiscoverFleet(ctx, arns, nil)
	if err != nil {
		return fleet, fmt.Errorf("discover: %w", err)
	}
	var running []string
	for _, inst := range fleet.Instances {
		if inst.State == "running" {
			running = append(running, inst.ID)
		}
	}
	if _, err := c.CheckInstances(ctx, running); err != nil {
		return fleet, fmt.Errorf("preflight: %w", err)
	}
	return fleet, nil
}

// RunRolloutEnv is RunRollout on a fleet already seeded by NewEnv(f): the
// calls of a terraform apply of a new version (the plan's reads and
// document check, the lease, the reads before the run), the run, the read
// after it; only the run is timed.
func RunRolloutEnv(ctx context.Context, f Fleet, env *Env) (Result, error) {
	res := Result{Fleet: f}
	res.Waves, res.Floor = f.Waves()
	client, err := env.Client(ctx)
	if err != nil {
		return res, fmt.Errorf("client: %w", err)
	}
	rec := env.Sim.Recorder()
	rec.Reset()
	if _, err := readFleet(ctx, client, env.TGARNs); err != nil { // plan
		return res, err
	}
	if _, err := client.CheckDocument(ctx, "AWS-RunShellScript", ""); err != nil {
		return res, fmt.Errorf("document: %w", err)
	}
	clk := clock.Scaled(f.TimeScale)
	lease, err := client.CreateLease(ctx, awsclient.LeasePath+fmt.Sprintf("/bench-%d", f.Seed), awsclient.LeaseValue{
		RolloutID: "bench", Origin: "bench", Process: "bench", TargetGroups: env.TGARNs,
		AcquiredAt: clk.Now().UTC(), RenewedAt: clk.Now().UTC(), TTL: leaseTTL.String(),
	})
	if err != nil {
		return res, fmt.Errorf("lease: %w", err)
	}
	fleet, err := readFleet(ctx, client, env.TGARNs) // apply
	if err != nil {
		return res, err
	}
	spec := rollout.Spec{
		RolloutID: "bench",
		Fleet:     fleet,
		Release:   rollout.Release{Version: "v2", Steps: steps("v2")},
		Previous:  &rollout.Release{Version: "v1", Steps: steps("v1")},
		Strategy: rollout.Strategy{
			BatchSize: max(f.Instances-res.Floor, 1), MinHealthyPercent: f.MinHealthyPercent,
			Mode: f.Mode, BakeTime: f.BakeTime, Lockstep: f.Lockstep,
		},
	}
	if f.BatchSize > 0 {
		spec.Strategy.BatchSize = f.BatchSize
	}
	res.spec = spec
	sched, err := rollout.PlanSchedule(spec)
	if err != nil {
		return res, fmt.Errorf("schedule: %w", err)
	}
	if f.Mode == rollout.ModeBatch && len(sched.Batches) != res.Waves {
		return res, fmt.Errorf("engine plans %d batches, the fleet has %d waves", len(sched.Batches), res.Waves)
	}
	if res.Bound, res.Best, err = f.bounds(spec); err != nil {
		return res, err
	}
	if f.Mode == rollout.ModeBatch {
		if res.LockstepModel, err = f.lockstepModel(spec); err != nil {
			return res, err
		}
	}
	res.First = sched.ExpectedDuration
	before := rec.CallCount()

	// The lease is renewed every third of its TTL while the run lasts, as
	// the provider does.
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-clk.After(leaseTTL / 3):
				_ = lease.Renew(renewCtx, clk.Now().UTC())
			}
		}
	}()
	simStart, wallStart := env.Sim.Now(), time.Now()
	out, runErr := rollout.Run(ctx, spec, client.Ports(clk, nopObserver{}))
	res.Sim, res.Wall = env.Sim.Now().Sub(simStart), time.Since(wallStart)
	stopRenewing()
	<-renewed
	during := rec.CallCount()
	res.Calls = diffCounts(during, before)
	res.Calls = without(res.Calls, "PutParameter", "GetParameter") // the renewals count as around
	res.MaxOut = rec.MaxOutOfService()
	for _, c := range rec.Calls("") {
		if throttlingCodes[c.ErrorCode] {
			res.Throttled++
		}
	}
	res.Status, res.Err = out.Status, runErr
	res.Updated = out.Count(rollout.InstanceUpdated)
	res.PhaseMeans = map[string]time.Duration{}
	for _, o := range out.Instances {
		for k, v := range o.PhaseDurations {
			res.PhaseMeans[k] += v / time.Duration(max(1, len(out.Instances)))
		}
	}
	if _, err := readFleet(ctx, client, env.TGARNs); err != nil { // after
		return res, err
	}
	if err := lease.Release(ctx); err != nil {
		return res, fmt.Errorf("lease: %w", err)
	}
	res.Around = diffCounts(rec.CallCount(), res.Calls)
	for _, id := range env.IDs {
		inst, _ := env.Sim.Instance(id)
		res.Recorded = append(res.Recorded, inst.Tags[rollout.TagSteps])
	}
	if runErr != nil {
		return res, fmt.Errorf("rollout %s: %w", out.Status, runErr)
	}
	if res.Updated != f.Instances {
		return res, fmt.Errorf("rollout %s updated %d of %d instances", out.Status, res.Updated, f.Instances)
	}
	return res, nil
}

// leaseTTL is the provider's default lease TTL (renewed every third).
const leaseTTL = 5 * time.Minute

// without is counts less the actions named.
func without(counts map[string]int, actions ...string) map[string]int {
	out := map[string]int{}
	for a, n := range counts {
		out[a] = n
	}
	for _, a := range actions {
		delete(out, a)
	}
	return out
}

// estimateFrom is the plan's expected duration of r's rollout had the
// fleet carried the step times of recorded (another run's instances).
func (r Result) estimateFrom(recorded []string) (time.Duration, error) {
	spec := r.spec
	insts := make([]rollout.Instance, len(spec.Fleet.Instances))
	for i, inst := range spec.Fleet.Instances {
		tags := map[string]string{}
		for k, v := range inst.Tags {
			tags[k] = v
		}
		if len(recorded) > 0 && recorded[i%len(recorded)] != "" {
			tags[rollout.TagSteps] = recorded[i%len(recorded)]
		}
		inst.Tags = tags
		insts[i] = inst
	}
	spec.Fleet.Instances = insts
	sched, err := rollout.PlanSchedule(spec)
	if err != nil {
		return 0, err
	}
	return sched.ExpectedDuration, nil
}

type nopObserver struct{}

func (nopObserver) Event(rollout.Event) {}
