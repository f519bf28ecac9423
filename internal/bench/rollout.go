package bench

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"sort"
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

	// TimeScale is wall seconds per simulated second, for the simulator and
	// the engine's clock alike.
	TimeScale  float64
	Throttling bool // the simulator's AWS-like rate limits
	Seed       int64
}

// RealisticFleet is the fleet of scenario 1: a 30 s deregistration delay,
// health checks every 10 s with a healthy threshold of 3, four steps of 5 s
// mean (lognormal sigma 0.25), 30 s bake, a 90 % capacity floor, so every
// size moves in 10 waves.
func RealisticFleet(n int) Fleet {
	return Fleet{
		Instances: n, TargetGroups: 1,
		DeregistrationDelay: 30 * time.Second, HealthCheckInterval: 10 * time.Second, HealthyThreshold: 3,
		StepMean: 5 * time.Second, StepSigma: 0.25, BakeTime: 30 * time.Second,
		MinHealthyPercent: 90, Mode: rollout.ModeWindow, TimeScale: 0.05, Seed: 1,
	}
}

// StepHeavyFleet is the second fleet of scenario 2, one whose deployment
// time is mostly its steps, where step time variance matters: a 15 s
// deregistration delay, health checks every 5 s with a healthy threshold of
// 2 (AWS's minimums), four steps of 30 s mean (lognormal sigma 0.25), no
// bake, a 90 % floor. On RealisticFleet the fixed delays are 90 of 112 s
// per instance, so no engine can make window mode much faster than batch
// mode there (Fleet.WindowCeiling).
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
	Fleet     Fleet
	Status    rollout.Status
	Err       error
	Sim       time.Duration // simulated time of rollout.Run
	Wall      time.Duration
	Bound     time.Duration // LowerBound of the fleet (its strategy's)
	Waves     int
	PerWave   time.Duration // Bound / Waves
	Updated   int
	Calls     map[string]int // per action, rollout.Run only
	Discovery int            // calls of the DiscoverFleet before the run
	Throttled int            // calls the simulator answered with a throttling error
	MaxOut    int            // most instances out of service at once
	Floor     int            // capacity floor in instances
	// PhaseMeans is the mean time per instance in each phase (draining,
	// step:<name>, joining, baking), from the engine's result.
	PhaseMeans map[string]time.Duration
}

// Ratio is simulated rollout time over the lower bound.
func (r Result) Ratio() float64 {
	if r.Bound <= 0 {
		return math.NaN()
	}
	return float64(r.Sim) / float64(r.Bound)
}

// TotalCalls is every API call of the run.
func (r Result) TotalCalls() int {
	n := 0
	for _, c := range r.Calls {
		n += c
	}
	return n
}

// CallsPerInstance counts the run's calls plus the fleet discovery a
// terraform apply makes before it, per instance.
func (r Result) CallsPerInstance() float64 {
	if r.Fleet.Instances == 0 {
		return 0
	}
	return float64(r.TotalCalls()+r.Discovery) / float64(r.Fleet.Instances)
}

// simDelivery is fleetsim's default SSM delivery delay (Timing.Delivery):
// every step waits for it before its command line starts.
const simDelivery = 500 * time.Millisecond

// PerInstanceMinimum is the least time one instance can be out of service
// with these AWS settings: draining for the deregistration delay, each step
// delivered and run (at its mean time), healthy_threshold checks interval
// apart after registering again, then the bake.
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

// LowerBound is the theoretical minimum of the fleet's strategy: for
// window mode, waves x the per-instance minimum (every slot is refilled the
// moment an instance is done, and each takes the mean time); for batch
// mode, which runs each step in lockstep, waves x the per-wave minimum,
// where each step lasts as long as its slowest member (LockstepWave).
func (f Fleet) LowerBound() time.Duration {
	if f.Mode == rollout.ModeBatch {
		return f.LockstepBound()
	}
	return f.MeanBound()
}

// MeanBound is waves x the per-instance minimum: window mode's bound, and
// the least any strategy can do.
func (f Fleet) MeanBound() time.Duration {
	w, _ := f.Waves()
	return time.Duration(w) * f.PerInstanceMinimum()
}

// LockstepBound is batch mode's bound: the waves one after the other, each
// taking LockstepWave for its size.
func (f Fleet) LockstepBound() time.Duration {
	w, floor := f.Waves()
	if w == 0 {
		return 0
	}
	out := f.Instances - floor
	if f.BatchSize > 0 {
		out = min(out, f.BatchSize)
	}
	var total time.Duration
	for left := f.Instances; left > 0; left -= out {
		total += f.LockstepWave(min(out, left))
	}
	return total
}

// LockstepWave is the least time a batch of k instances takes when each
// step waits for all of them: the per-instance minimum with each step's
// mean replaced by the expected maximum of k step times.
func (f Fleet) LockstepWave(k int) time.Duration {
	step := time.Duration(float64(f.StepMean) * ExpectedMaxLognormal(k, f.StepSigma))
	return f.PerInstanceMinimum() + stepsPerInstance*(step-f.StepMean)
}

// WindowCeiling is how much faster than batch mode window mode can be at
// best on this fleet: 1 - window's bound / batch's bound.
func (f Fleet) WindowCeiling() float64 {
	b := f.LockstepBound()
	if b <= 0 {
		return 0
	}
	return 1 - float64(f.MeanBound())/float64(b)
}

// ExpectedMaxLognormal is E[max of k draws] / mean for a lognormal with
// shape sigma, the distribution fleetsim draws step times from: with Z(k)
// the largest of k standard normals, E[exp(sigma Z(k))] / exp(sigma^2/2),
// integrated numerically (Simpson's rule over z in [-9, 9]).
func ExpectedMaxLognormal(k int, sigma float64) float64 {
	if k <= 1 || sigma == 0 {
		return 1
	}
	const lo, hi, n = -9.0, 9.0, 3600
	h := (hi - lo) / n
	f := func(z float64) float64 {
		pdf := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
		cdf := 0.5 * math.Erfc(-z/math.Sqrt2)
		return math.Exp(sigma*z) * float64(k) * pdf * math.Pow(cdf, float64(k-1))
	}
	sum := f(lo) + f(hi)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(lo+float64(i)*h)
	}
	return sum * h / 3 / math.Exp(sigma*sigma/2)
}

// Env is a simulator serving HTTP on 127.0.0.1 with one fleet on v1.
type Env struct {
	Sim    *fleetsim.Sim
	URL    string
	TGARNs []string
	IDs    []string
	close  func()
}

// Close stops the server and the simulator.
func (e *Env) Close() { e.close() }

// NewEnv seeds a simulator with f's fleet, every instance running v1 and
// healthy in every target group.
func NewEnv(f Fleet) *Env {
	sim := fleetsim.New(fleetsim.Options{TimeScale: f.TimeScale, Throttling: f.Throttling, RandSeed: f.Seed})
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
	return &Env{Sim: sim, URL: srv.URL, TGARNs: arns, IDs: ids, close: func() { srv.Close(); sim.Close() }}
}

// Client is an awsclient for the simulator, as the provider would build it.
func (e *Env) Client(ctx context.Context) (*awsclient.Client, error) {
	eps := map[string]string{}
	for _, k := range []string{"ec2", "elbv2", "ssm", "autoscaling", "cloudwatch", "sts"} {
		eps[k] = e.URL
	}
	return awsclient.New(ctx, awsclient.Config{
		Region: e.Sim.Region(), AccessKey: "AKIABENCH", SecretKey: "bench-secret", Endpoints: eps,
		UserAgentVersion: "bench",
	})
}

// throttlingCodes are the codes fleetsim throttles with (AWS's).
var throttlingCodes = map[string]bool{"Throttling": true, "RequestLimitExceeded": true, "ThrottlingException": true}

// RunRollout seeds f's fleet and rolls v2 out over it with the engine, the
// way the provider's apply does (discover, then Run), and measures it.
func RunRollout(ctx context.Context, f Fleet) (Result, error) {
	env := NewEnv(f)
	defer env.Close()
	return RunRolloutEnv(ctx, f, env)
}

// RunRolloutEnv is RunRollout on a fleet already seeded by NewEnv(f).
func RunRolloutEnv(ctx context.Context, f Fleet, env *Env) (Result, error) {
	res := Result{Fleet: f, Bound: f.LowerBound()}
	res.Waves, res.Floor = f.Waves()
	res.PerWave = res.Bound / time.Duration(max(1, res.Waves))

	client, err := env.Client(ctx)
	if err != nil {
		return res, fmt.Errorf("client: %w", err)
	}
	env.Sim.Recorder().Reset()
	fleet, err := client.DiscoverFleet(ctx, env.TGARNs, nil)
	if err != nil {
		return res, fmt.Errorf("discover: %w", err)
	}
	for _, n := range env.Sim.Recorder().CallCount() {
		res.Discovery += n
	}
	spec := rollout.Spec{
		RolloutID: "bench",
		Fleet:     fleet,
		Release:   rollout.Release{Version: "v2", Steps: steps("v2")},
		Previous:  &rollout.Release{Version: "v1", Steps: steps("v1")},
		Strategy: rollout.Strategy{
			BatchSize: max(f.Instances-res.Floor, 1), MinHealthyPercent: f.MinHealthyPercent,
			Mode: f.Mode, BakeTime: f.BakeTime,
		},
	}
	if f.BatchSize > 0 {
		spec.Strategy.BatchSize = f.BatchSize
	}
	sched, err := rollout.PlanSchedule(spec)
	if err != nil {
		return res, fmt.Errorf("schedule: %w", err)
	}
	if f.Mode == rollout.ModeBatch && len(sched.Batches) != res.Waves {
		// The bound would be for another schedule than the one run.
		return res, fmt.Errorf("engine plans %d batches, the bound assumes %d waves", len(sched.Batches), res.Waves)
	}

	env.Sim.Recorder().Reset()
	simStart, wallStart := env.Sim.Now(), time.Now()
	out, runErr := rollout.Run(ctx, spec, client.Ports(clock.Scaled(f.TimeScale), nopObserver{}))
	res.Sim, res.Wall = env.Sim.Now().Sub(simStart), time.Since(wallStart)
	res.Status, res.Err = out.Status, runErr
	res.Updated = out.Count(rollout.InstanceUpdated)
	res.PhaseMeans = map[string]time.Duration{}
	for _, o := range out.Instances {
		for k, v := range o.PhaseDurations {
			res.PhaseMeans[k] += v / time.Duration(max(1, len(out.Instances)))
		}
	}
	rec := env.Sim.Recorder()
	res.Calls = rec.CallCount()
	res.MaxOut = rec.MaxOutOfService()
	for _, c := range rec.Calls("") {
		if throttlingCodes[c.ErrorCode] {
			res.Throttled++
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("rollout %s: %w", out.Status, runErr)
	}
	if res.Updated != f.Instances {
		return res, fmt.Errorf("rollout %s updated %d of %d instances", out.Status, res.Updated, f.Instances)
	}
	return res, nil
}

type nopObserver struct{}

func (nopObserver) Event(rollout.Event) {}

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
