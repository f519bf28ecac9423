package rollout

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// How long a rollout should take (Schedule.ExpectedDuration), and the lower
// bound the benchmarks measure the engine against: both are this model.
//
// Every instance is out of service for its own time: the deregistration
// delay, each step's run time at its own pace, healthy_threshold x interval
// to be healthy again, the bake. The capacity floor (and the batch size)
// decide how many are out at once, k:
//
//   - batch mode takes the batches one after the other, each lasting as
//     long as its slowest member (E[max of k]), plus the pauses; with
//     lockstep (Strategy.Lockstep) every step of a batch lasts as long as
//     its slowest member's, so a batch lasts its fixed time plus, per step,
//     the slowest of k draws (lockstepDuration);
//   - window mode refills a slot the moment an instance is done (greedy
//     list scheduling, in queue order), after the canary batch if any.
//
// A step's run time is lognormal with the mean and standard deviation the
// previous rollout recorded on the instances (TagSteps), or, before any
// rollout, min(timeout, 30 s) and no spread. With spread, the expectation
// is computed by simulating the schedule paceRuns times from a fixed seed:
// the same fleet always gets the same figure (a plan and the plan Terraform
// makes again at apply time must agree), and no closed form is needed for
// the slowest of k sums of lognormals.
//
// Worked example (the benchmarks' fleet): 100 instances, 10 at a time, a
// 30 s delay, four steps of 5.5 s +- 1.27 s, health 3 x 10 s, bake 30 s:
// each instance 112 s on average, 2.5 s spread. Batch mode: 10 waves of
// E[max of 10] = 116.1 s = 19m21s. Window mode: 18m53s (1133 s: 10 x 112 s
// plus the last slots emptying one by one). At 1,000 instances, 100 at a
// time: 19m52s (waves of 119.2 s) and 19m1s. Without spread all four are
// 10 x 112 s = 18m40s.

// stepPace is one step's run time on one instance (SSM's request to
// finish, delivery included).
type stepPace struct {
	mean, sd time.Duration
}

// paceRuns is how many times the schedule is simulated: about 200,000
// instance draws in all, at least 20 runs (the mean of 20 makespans of
// 1,000 instances is within about 0.1 % of its limit), at most 400.
func paceRuns(n int) int {
	return min(max(200000/max(n, 1), 20), 400)
}

// paceSeed seeds the simulation of the schedule.
const paceSeed = 0x5ced

// paceDraws is how many runs of the model to average for n instances (one
// when no step time varies) and the seeded source of their draws, so a plan
// made twice gives the same estimate.
func paceDraws(steps []stepPace, n int) (int, *rand.Rand) {
	runs := 1
	for _, st := range steps {
		if st.sd > 0 {
			runs = paceRuns(n)
			break
		}
	}
	return runs, rand.New(rand.NewPCG(paceSeed, uint64(n)))
}

// ownPaceDuration is the model's expected rollout time. fixed[i] is
// instance i's time out of service without its steps, in queue order. The
// waves run one after the other, each as long as its slowest member and
// followed by its pause; then the instances from windowFrom on run k at a
// time, each slot refilled at once (window mode; batch mode has every
// instance in a wave).
func ownPaceDuration(fixed []time.Duration, steps []stepPace, waves [][]int, pauses []time.Duration, windowFrom, k int) time.Duration {
	runs, rng := paceDraws(steps, len(fixed))
	draw := stepSampler(steps, rng)
	var total float64
	times := make([]float64, len(fixed))
	for r := 0; r < runs; r++ {
		for i, f := range fixed {
			times[i] = float64(f) + draw()
		}
		total += scheduleTime(times, waves, pauses, windowFrom, k)
	}
	return time.Duration(total / float64(runs))
}

// lockstepDuration is ownPaceDuration for batch mode in lockstep: each wave
// lasts its longest fixed time plus, for every step, the slowest of its
// members' draws of that step, then its pause. Worked example (the
// benchmarks' fleet, 10 at a time, four steps of 5.5 s +- 1.27 s): the
// slowest of 10 draws is about 7.6 s a step, so a wave is 90 s + 30.6 s and
// 10 waves 20m7s, against 19m21s (21m21s against 19m52s at 1,000, 100 at a time) at their own pace.
func lockstepDuration(fixed []time.Duration, steps []stepPace, waves [][]int, pauses []time.Duration) time.Duration {
	runs, rng := paceDraws(steps, len(fixed))
	draws := make([]func() float64, len(steps))
	for j, st := range steps {
		draws[j] = stepSampler([]stepPace{st}, rng)
	}
	var total float64
	for r := 0; r < runs; r++ {
		for w, wave := range waves {
			var longest float64
			for _, i := range wave {
				longest = math.Max(longest, float64(fixed[i]))
			}
			for _, draw := range draws {
				var slowest float64
				for range wave {
					slowest = math.Max(slowest, draw())
				}
				longest += slowest
			}
			total += longest
			if w < len(pauses) {
				total += float64(pauses[w])
			}
		}
	}
	return time.Duration(total / float64(runs))
}

// stepSampler returns a function drawing one instance's total step time.
func stepSampler(steps []stepPace, rng *rand.Rand) func() float64 {
	type logn struct{ mu, sigma, constant float64 }
	ls := make([]logn, len(steps))
	for i, st := range steps {
		m, d := float64(st.mean), float64(st.sd)
		if m <= 0 || d <= 0 {
			ls[i] = logn{constant: math.Max(m, 0)}
			continue
		}
		// A lognormal of mean m and standard deviation d.
		s2 := math.Log(1 + d*d/(m*m))
		ls[i] = logn{mu: math.Log(m) - s2/2, sigma: math.Sqrt(s2)}
	}
	return func() float64 {
		var t float64
		for _, l := range ls {
			if l.sigma == 0 {
				t += l.constant
				continue
			}
			t += math.Exp(l.mu + l.sigma*rng.NormFloat64())
		}
		return t
	}
}

// scheduleTime is one simulated rollout of instances taking times[i]:
// the waves, then the window.
func scheduleTime(times []float64, waves [][]int, pauses []time.Duration, windowFrom, k int) float64 {
	var t float64
	for w, wave := range waves {
		var longest float64
		for _, i := range wave {
			longest = math.Max(longest, times[i])
		}
		t += longest
		if w < len(pauses) {
			t += float64(pauses[w])
		}
	}
	if windowFrom >= len(times) {
		return t
	}
	slots := make(slotHeap, max(k, 1))
	for i := range slots {
		slots[i] = t
	}
	end := t
	for _, d := range times[windowFrom:] {
		slots[0] += d
		end = math.Max(end, slots[0])
		heap.Fix(&slots, 0)
	}
	return end
}

// slotHeap holds when each slot of the window frees, earliest first.
type slotHeap []float64

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h slotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slotHeap) Push(x any) {
	if v, ok := x.(float64); ok {
		*h = append(*h, v)
	}
}
func (h *slotHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// TagSteps records on each instance the step run times its rollout saw,
// per step name: "deploy=5.52/1.31 start=1.10/0.20" (mean/standard
// deviation in seconds, SSM's request to finish). The next plan reads it
// for its expected duration; the engine writes it with the version, in the
// same call. Names outside [A-Za-z0-9_.-] are not recorded. A destroy
// leaves it (see ProviderTags).
const TagSteps = "rolling:steps"

// maxTagValue is EC2's limit on a tag value.
const maxTagValue = 256

// encodeStepTimes renders the recorded paces of steps, skipping steps
// without samples or with names a tag value should not carry, and stopping
// before the value would exceed EC2's 256 characters.
func encodeStepTimes(steps []Step, paces map[string]stepPace) string {
	var parts []string
	n := 0
	for _, st := range steps {
		p, ok := paces[st.Name]
		if !ok || !plainName(st.Name) {
			continue
		}
		part := fmt.Sprintf("%s=%.2f/%.2f", st.Name, p.mean.Seconds(), p.sd.Seconds())
		if n+len(part)+1 > maxTagValue {
			break
		}
		parts = append(parts, part)
		n += len(part) + 1
	}
	return strings.Join(parts, " ")
}

func plainName(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '.' && r != '-' {
			return false
		}
	}
	return s != ""
}

// decodeStepTimes parses TagSteps; malformed parts are skipped.
func decodeStepTimes(v string) map[string]stepPace {
	out := map[string]stepPace{}
	for _, part := range strings.Fields(v) {
		name, val, ok := strings.Cut(part, "=")
		m, d, ok2 := strings.Cut(val, "/")
		if !ok || !ok2 {
			continue
		}
		mean, err1 := strconv.ParseFloat(m, 64)
		sd, err2 := strconv.ParseFloat(d, 64)
		if err1 != nil || err2 != nil || mean < 0 || sd < 0 || math.IsNaN(mean) || math.IsNaN(sd) || mean > 1e7 || sd > 1e7 {
			continue
		}
		out[name] = stepPace{mean: time.Duration(mean * float64(time.Second)), sd: time.Duration(sd * float64(time.Second))}
	}
	return out
}

// recordedPaces are the step paces the fleet's instances carry (TagSteps),
// per step name: the median over the instances of each recorded mean and
// standard deviation, so that one odd instance does not set the estimate.
func recordedPaces(insts []Instance) map[string]stepPace {
	means, sds := map[string][]time.Duration{}, map[string][]time.Duration{}
	for _, inst := range insts {
		for name, p := range decodeStepTimes(inst.Tags[TagSteps]) {
			means[name] = append(means[name], p.mean)
			sds[name] = append(sds[name], p.sd)
		}
	}
	out := map[string]stepPace{}
	for name := range means {
		out[name] = stepPace{mean: medianDuration(means[name]), sd: medianDuration(sds[name])}
	}
	return out
}

func medianDuration(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// paceOf is the mean and standard deviation of durations.
func paceOf(ds []time.Duration) stepPace {
	if len(ds) == 0 {
		return stepPace{}
	}
	var sum float64
	for _, d := range ds {
		sum += float64(d)
	}
	mean := sum / float64(len(ds))
	var ss float64
	for _, d := range ds {
		ss += (float64(d) - mean) * (float64(d) - mean)
	}
	sd := 0.0
	if len(ds) > 1 {
		sd = math.Sqrt(ss / float64(len(ds)-1))
	}
	return stepPace{mean: time.Duration(mean), sd: time.Duration(sd)}
}

// releasePaces are the paces the model gives the release's steps: what
// the fleet recorded for a step of that name (its run time under its
// timeout), else min(timeout, 30 s) with no spread.
func releasePaces(steps []Step, recorded map[string]stepPace) []stepPace {
	out := make([]stepPace, len(steps))
	for i, st := range steps {
		p, ok := recorded[st.Name]
		if !ok || p.mean <= 0 {
			out[i] = stepPace{mean: expectedStepTime(st)}
			continue
		}
		p.mean = min(p.mean, stepTimeout(st))
		out[i] = p
	}
	return out
}

// stepTimesTag is TagSteps for the release's steps: the mean and spread
// of every duration observed in this rollout so far.
func (e *engine) stepTimesTag() string {
	paces := map[string]stepPace{}
	for _, st := range e.spec.Release.Steps {
		if obs := e.stepTimes["deploy:"+st.Name]; len(obs) > 0 {
			paces[st.Name] = paceOf(obs)
		}
	}
	return encodeStepTimes(e.spec.Release.Steps, paces)
}
