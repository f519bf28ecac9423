package rollout

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// scenario is one generated rollout: a fleet, a strategy, a failure policy
// and a schedule of faults.
type scenario struct {
	w        *world
	s        Spec
	cancelAt time.Duration
	faulty   bool
}

func drawScenario(t *rapid.T) scenario {
	n := rapid.IntRange(1, 60).Draw(t, "instances")
	o := fleetOpts{
		n:          n,
		azs:        rapid.IntRange(1, 3).Draw(t, "azs"),
		tgs:        rapid.IntRange(1, 3).Draw(t, "targetGroups"),
		asgEvery:   rapid.IntRange(0, 3).Draw(t, "asgEvery"),
		delay:      rapid.SampledFrom([]time.Duration{0, 5 * time.Second, 30 * time.Second, 5 * time.Minute}).Draw(t, "delay"),
		interval:   rapid.SampledFrom([]time.Duration{5 * time.Second, 10 * time.Second, 30 * time.Second}).Draw(t, "interval"),
		threshold:  rapid.IntRange(2, 5).Draw(t, "threshold"),
		portsPerTG: rapid.IntRange(1, 2).Draw(t, "ports"),
		unhealthy:  map[int]bool{},
		onVersion:  map[int]string{},
	}
	for i := 0; i < n; i++ {
		switch rapid.IntRange(0, 19).Draw(t, fmt.Sprintf("state%d", i)) {
		case 0:
			o.unhealthy[i] = true
		case 1, 2:
			o.onVersion[i] = "v2"
		}
	}
	w := newWorld(o)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("i-%04d", i)
		if rapid.IntRange(0, 29).Draw(t, fmt.Sprintf("leftOut%d", i)) == 0 {
			w.leaveOut(id, "step:deploy", rapid.SampledFrom([]string{"v1", "v2"}).Draw(t, "leftVersion"), rapid.Bool().Draw(t, "leftHealthy"))
		}
	}
	faulty := len(w.leftOutIDs()) > 0 // recovery may make the floor impossible
	steps := []string{"stop", "deploy", "start", "verify", "prev-deploy"}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("i-%04d", i)
		switch rapid.IntRange(0, 24).Draw(t, fmt.Sprintf("fault%d", i)) {
		case 0:
			w.failStep[id] = rapid.SampledFrom(steps).Draw(t, "failStep")
			faulty = true
		case 1:
			w.hangStep[id] = rapid.SampledFrom(steps).Draw(t, "hangStep")
			faulty = true
		case 2:
			w.badVersion[id] = "v2"
			faulty = true
		case 3:
			w.terminateAt[id] = epoch.Add(time.Duration(rapid.IntRange(0, 3600).Draw(t, "terminateAt")) * time.Second)
			faulty = true
		case 4, 5:
			w.slow[id] = time.Duration(rapid.IntRange(1, 240).Draw(t, "slow")) * time.Second
		}
		// The SSM agent offline from the start or after a step ran.
		switch rapid.IntRange(0, 39).Draw(t, fmt.Sprintf("agent%d", i)) {
		case 0:
			w.agentOffline[id] = true
			faulty = true
		case 1:
			w.offlineAfter[id] = rapid.SampledFrom(steps).Draw(t, "offlineAfter")
			faulty = true
		}
	}
	if rapid.Bool().Draw(t, "stepJitter") {
		// Step run times vary per invocation (2-18 s), so window-mode
		// fragments diverge and meet again (waitForSiblings, coalesce).
		seed := rapid.Uint64().Draw(t, "jitterSeed")
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		w.stepTimeOf = func(string, string) time.Duration {
			return 2*time.Second + time.Duration(rng.Int64N(int64(16*time.Second)))
		}
	}
	w.noSSMTimes = rapid.Bool().Draw(t, "noSSMTimes")
	if o.tgs > 1 && rapid.IntRange(0, 5).Draw(t, "deleteTG") == 0 {
		// A target group the engine manages (not the Auto Scaling
		// group's) deleted mid-rollout.
		arn := w.tgARN[rapid.IntRange(1, o.tgs-1).Draw(t, "deletedTG")]
		w.deleteTGAt[arn] = epoch.Add(time.Duration(rapid.IntRange(0, 3600).Draw(t, "deleteTGAt")) * time.Second)
		faulty = true
	}
	if rapid.IntRange(0, 5).Draw(t, "healthDown") == 0 {
		// Health unreadable for a while (throttling beyond the retries).
		w.healthDownFrom = epoch.Add(time.Duration(rapid.IntRange(0, 3600).Draw(t, "healthDownFrom")) * time.Second)
		w.healthDownUntil = w.healthDownFrom.Add(time.Duration(rapid.IntRange(1, 3600).Draw(t, "healthDownFor")) * time.Second)
		faulty = true
	}
	s := baseSpec(w)
	if rapid.Bool().Draw(t, "withVerify") == false {
		s.Release.Steps = s.Release.Steps[:3]
	}
	st := &s.Strategy
	st.BatchSize = 0
	if rapid.Bool().Draw(t, "byPercent") {
		st.BatchPercent = rapid.IntRange(1, 100).Draw(t, "batchPercent")
	} else {
		st.BatchSize = rapid.IntRange(1, 10).Draw(t, "batchSize")
	}
	st.MinHealthyPercent = rapid.IntRange(0, 100).Draw(t, "minHealthy")
	st.Mode = rapid.SampledFrom([]Mode{ModeBatch, ModeWindow}).Draw(t, "mode")
	st.Order = rapid.SampledFrom([]Order{OrderAZBalanced, OrderSorted}).Draw(t, "order")
	st.CanarySize = rapid.IntRange(0, 2).Draw(t, "canary")
	if st.CanarySize > 0 {
		st.CanaryPause = time.Duration(rapid.IntRange(0, 120).Draw(t, "canaryPause")) * time.Second
	}
	st.BakeTime = time.Duration(rapid.IntRange(0, 120).Draw(t, "bake")) * time.Second
	st.HealthTimeout = time.Duration(o.threshold)*o.interval + time.Duration(rapid.IntRange(1, 600).Draw(t, "healthTimeoutExtra"))*time.Second
	if rapid.IntRange(0, 19).Draw(t, "badHealthTimeout") == 0 {
		st.HealthTimeout = time.Duration(o.threshold) * o.interval // invalid: Validate must say so
	}
	st.PauseBetweenBatches = time.Duration(rapid.IntRange(0, 60).Draw(t, "pause")) * time.Second
	f := &s.Failure
	if rapid.Bool().Draw(t, "failByPercent") {
		f.MaxFailedPercent = rapid.IntRange(0, 50).Draw(t, "maxFailedPercent")
	} else {
		f.MaxFailedInstances = rapid.IntRange(0, 3).Draw(t, "maxFailed")
	}
	f.Rollback = rapid.Bool().Draw(t, "rollback")
	if rapid.IntRange(0, 4).Draw(t, "alarm") == 0 {
		f.AlarmNames = []string{"web-5xx"}
		w.alarmAt = epoch.Add(time.Duration(rapid.IntRange(0, 7200).Draw(t, "alarmAt")) * time.Second)
		faulty = true
	}
	if rapid.IntRange(0, 3).Draw(t, "flaky") == 0 {
		w.flakyEvery = rapid.IntRange(4, 20).Draw(t, "flakyEvery")
		w.flakyState = rapid.Uint64().Draw(t, "flakySeed")
		faulty = true
	}
	var cancelAt time.Duration
	if rapid.IntRange(0, 4).Draw(t, "cancel") == 0 {
		cancelAt = time.Duration(rapid.IntRange(1, 7200).Draw(t, "cancelAt")) * time.Second
		faulty = true
	}
	s.Fleet = w.fleet()
	return scenario{w: w, s: s, cancelAt: cancelAt, faulty: faulty}
}

func TestRun_invariantsHoldForGeneratedFleetsStrategiesAndFaults(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sc := drawScenario(t)
		if err := sc.s.Validate(); err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate returned %T: %v", err, err)
			}
			res, _, runErr := simulate(t, sc.w, sc.s, 0)
			if runErr == nil || len(sc.w.calls) != 0 || res.Count(InstanceUpdated) != 0 {
				t.Fatalf("invalid spec ran: err %v, calls %v", runErr, sc.w.calls)
			}
			return
		}
		res, rec, err := simulate(t, sc.w, sc.s, sc.cancelAt)
		if v := invariantViolations(sc.w, sc.s, res, err); len(v) > 0 {
			if os.Getenv("ROLLOUT_DEBUG") != "" {
				for _, e := range rec.events {
					if e.Kind != EventPoll {
						fmt.Println(e.Time.Sub(epoch), e.Kind, e.Batch, e.InstanceID, e.Phase, e.Message)
					}
				}
				for _, c := range sc.w.calls {
					fmt.Println(c)
				}
			}
			t.Fatalf("invariants:\n%s", joinLines(v))
		}
		succeeded := res.Status == StatusSucceeded || res.Status == StatusNoop
		if succeeded != (err == nil) {
			t.Fatalf("status %s with error %v", res.Status, err)
		}
		if !sc.faulty {
			if !succeeded {
				t.Fatalf("fault-free rollout ended %s: %v", res.Status, err)
			}
		}
		if res.StopReason == "" {
			if v := endsSettled(res); len(v) > 0 {
				t.Fatal(joinLines(v))
			}
		}
		if !sc.faulty && sc.s.Strategy.Mode == ModeBatch {
			plan, err := PlanSchedule(sc.s)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(plan.Batches) != fmt.Sprint(res.Batches) {
				t.Fatalf("executed batches %v, planned %v", res.Batches, plan.Batches)
			}
		}
	})
}
