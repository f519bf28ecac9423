package bench

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// Validate refuses settings AWS would refuse, so that no figure rests on a
// fleet that cannot exist: ELB health checks every 5-300 s with healthy
// and unhealthy thresholds of 2-10 and a timeout of 2-120 s below the
// interval, a deregistration delay of 0-3600 s, at most 5 target groups an
// instance is registered in here (ELB allows more; the benchmarks stay
// plain), SSM's execution timeout of 1 s to 48 h and a step timeout of at
// least 30 s (SendCommand's TimeoutSeconds), a capacity floor of 0-100 %.
// Sources: AWS-FACTS.md sections 4 and 5.
func (f Fleet) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if f.Instances < 1 {
		bad("instances %d: at least 1", f.Instances)
	}
	if tgs := max(f.TargetGroups, 1); tgs > 5 {
		bad("target groups %d: at most 5 here", tgs)
	}
	if f.HealthCheckInterval < 5*time.Second || f.HealthCheckInterval > 300*time.Second || f.HealthCheckInterval%time.Second != 0 {
		bad("health check interval %s: ELB takes whole seconds from 5 to 300", f.HealthCheckInterval)
	}
	if f.HealthyThreshold < 2 || f.HealthyThreshold > 10 {
		bad("healthy threshold %d: ELB takes 2 to 10", f.HealthyThreshold)
	}
	if timeout := f.healthCheckTimeout(); timeout < 2*time.Second || timeout > 120*time.Second || timeout >= f.HealthCheckInterval {
		bad("health check timeout %s: ELB takes 2 to 120 s, below the interval", timeout)
	}
	if f.DeregistrationDelay < 0 || f.DeregistrationDelay > 3600*time.Second || f.DeregistrationDelay%time.Second != 0 {
		bad("deregistration delay %s: ELB takes whole seconds from 0 to 3600", f.DeregistrationDelay)
	}
	if f.StepMean <= 0 || f.StepMean > 48*time.Hour {
		bad("step time %s: SSM runs a command for at most 48 h", f.StepMean)
	}
	if f.StepSigma < 0 || f.StepSigma > 2 || math.IsNaN(f.StepSigma) {
		bad("step sigma %g: 0 to 2", f.StepSigma)
	}
	if f.BakeTime < 0 {
		bad("bake time %s: not negative", f.BakeTime)
	}
	if f.MinHealthyPercent < 0 || f.MinHealthyPercent > 100 {
		bad("min_healthy_percent %d: 0 to 100", f.MinHealthyPercent)
	}
	if f.BatchSize < 0 {
		bad("batch size %d: not negative", f.BatchSize)
	}
	if w, _ := f.Waves(); w == 0 && f.Instances > 0 {
		bad("min_healthy_percent %d lets no instance of %d leave", f.MinHealthyPercent, f.Instances)
	}
	if f.TimeScale <= 0 {
		bad("time scale %g: above 0", f.TimeScale)
	}
	if len(problems) > 0 {
		return errors.New("bench: AWS would refuse this fleet: " + strings.Join(problems, "; "))
	}
	return nil
}

// healthCheckTimeout is ELB's default for HTTP checks (6 s), or less when
// the interval is shorter, as ELB requires.
func (f Fleet) healthCheckTimeout() time.Duration {
	return min(6*time.Second, f.HealthCheckInterval-time.Second)
}

// stepPace is one step's run time as the simulator draws it, in the form
// a rollout records it (rollout.TagSteps): SSM's request to finish, so the
// delivery delay and the lognormal run time, whose standard deviation is
// mean x sqrt(exp(sigma^2) - 1).
func (f Fleet) stepPace() string {
	mean := (simDelivery + f.StepMean).Seconds()
	sd := f.StepMean.Seconds() * math.Sqrt(math.Expm1(f.StepSigma*f.StepSigma))
	var parts []string
	for _, st := range steps("v2") {
		parts = append(parts, fmt.Sprintf("%s=%.3f/%.3f", st.Name, mean, sd))
	}
	return strings.Join(parts, " ")
}

// withRecorded is spec with every instance carrying recorded as the step
// times of the last rollout (rollout.TagSteps); the fleet is copied.
func withRecorded(spec rollout.Spec, recorded string) rollout.Spec {
	insts := make([]rollout.Instance, len(spec.Fleet.Instances))
	for i, inst := range spec.Fleet.Instances {
		tags := make(map[string]string, len(inst.Tags)+1)
		for k, v := range inst.Tags {
			tags[k] = v
		}
		delete(tags, rollout.TagSteps)
		if recorded != "" {
			tags[rollout.TagSteps] = recorded
		}
		inst.Tags = tags
		insts[i] = inst
	}
	spec.Fleet.Instances = insts
	return spec
}

// modelDuration is rollout.PlanSchedule's expected duration of spec when
// its steps run as recorded says.
func modelDuration(spec rollout.Spec, recorded string) (time.Duration, error) {
	sched, err := rollout.PlanSchedule(withRecorded(spec, recorded))
	if err != nil {
		return 0, err
	}
	return sched.ExpectedDuration, nil
}

// bounds are the lower bound of the spec's own mode and window mode's (the
// least any strategy can do), from the simulator's true step times: the
// model of rollout's expected duration with exact inputs, every member at
// its own pace (batch mode in lockstep is measured against the same bound:
// waiting at every step for the batch's slowest member is its choice, not
// AWS's).
func (f Fleet) bounds(spec rollout.Spec) (own, best time.Duration, err error) {
	spec.Strategy.Lockstep = false
	if own, err = modelDuration(spec, f.stepPace()); err != nil {
		return 0, 0, err
	}
	window := spec
	window.Strategy.Mode = rollout.ModeWindow
	best, err = modelDuration(window, f.stepPace())
	return own, best, err
}

// lockstepModel is what batch mode in lockstep needs at least: rollout's
// model (its expected duration with lockstep) with the simulator's true
// step times, each step of a batch as long as the slowest of its members'.
// It is no bound of the strategy, only the part of a lockstep run's time
// its lockstep costs: the tables show runs against it too.
func (f Fleet) lockstepModel(spec rollout.Spec) (time.Duration, error) {
	spec.Strategy.Lockstep = true
	return modelDuration(spec, f.stepPace())
}
