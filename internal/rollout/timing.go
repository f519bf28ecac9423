package rollout

import (
	"sort"
	"time"
)

// The timing policy: when the engine looks again after each thing it does.
// Every wait a stage sets is one of the small pure functions below, of the
// stage's inputs (the target groups' settings, the strategy, the step, the
// step durations seen so far), so the policy can be tuned here, with its
// table tests (timing_test.go), without touching the stages.
//
// The rule throughout: wait until the outcome is expected, not on a short
// fixed timer, then poll at a modest interval until a bound.
//
//	after             first look                        then every                   gives up at
//	deregistration    the deregistration delay          1 s                          delay + 30 s (drain_timeout)
//	sending a step    2 s, or a percentile of the       half the elapsed time, or    step timeout + 1 min
//	                  durations seen (stepPolls.first)  a share of the learned time
//	registration      healthy_threshold x interval      interval / 5 (1 s .. 15 s)   health_timeout
//	the bake          (U + H - 1) x interval, at most   the same                     bake_time
//	                  bake_time

// The least and the most any poll interval is, and the share of an
// expected time it is once that time has passed (pollEvery).
const (
	minPollEvery = time.Second
	maxPollEvery = 15 * time.Second
)

// pollEvery is the interval of polls once the expected time has passed:
// a fifth of it, between 1 s and 15 s, so a late outcome is seen soon
// without hammering the API.
//
//	expected 30 s -> every 6 s;  2 s -> every 1 s;  5 min -> every 15 s
func pollEvery(expected time.Duration) time.Duration {
	return min(max(expected/5, minPollEvery), maxPollEvery)
}

// lookSoon is the wait after a read or a call that failed (health during a
// bake, a step's cancellation, the fleet's health before a departure: a
// failed read says nothing about the instances), and of a fragment whose
// siblings are due now (waitForSiblings): look again in a second.
const lookSoon = minPollEvery

// --- leave: deregistration and draining (leave.go) -------------------------

// drainMargin is added to the deregistration delay to get the drain bound.
const drainMargin = 30 * time.Second

// drainWait is when a departure is first looked at after its
// deregistration (the longest deregistration delay of its target groups,
// capped by drain_timeout) and the bound of the wait (the longest delay
// plus drainMargin, or drain_timeout when set). tgs are the target groups
// of every member, one entry per registration.
//
//	delays 300 s and 10 s, no drain_timeout -> first look at 300 s, bound 330 s
//	delay 300 s, drain_timeout 60 s         -> first look at 60 s, bound 60 s
func drainWait(tgs []TargetGroup, s Strategy) (expected, bound time.Duration) {
	for _, tg := range tgs {
		expected = max(expected, drainExpected(tg, s))
		bound = max(bound, tg.DeregistrationDelay+drainMargin)
	}
	if s.DrainTimeout > 0 {
		bound = s.DrainTimeout
	}
	return expected, bound
}

// drainPollAgain is the wait between looks at a departure still draining
// after its first look: that came as the deregistration delay ended, so
// draining is over any moment now. It is a second whatever is left of the
// bound (the fifth of what is left, at most a second).
func drainPollAgain(untilBound time.Duration) time.Duration {
	return min(pollEvery(untilBound), minPollEvery)
}

// --- steps: sending and polling SSM commands (steps.go) --------------------

const (
	// deliveryMargin is added to a step's timeout for its deadline: SSM
	// may take this long to deliver a command.
	deliveryMargin = time.Minute
	// firstPollAfter is the first poll of a step not seen run before.
	firstPollAfter = 2 * time.Second
	// largeGroup: from this size on, a group's step is polled more
	// closely (stepPollEvery): one poll costs a call per 50 instances
	// (per SSM command), so it costs a large group little per member.
	largeGroup = 30
)

// stepDeadline is how long after its send a step is given up on: its
// timeout (SSM's executionTimeout) plus deliveryMargin.
//
//	timeout 5 min -> 6 min;  no timeout (10 min) -> 11 min
func stepDeadline(st Step) time.Duration {
	return stepTimeout(st) + deliveryMargin
}

// stepPolls is what the polls of one group's step depend on: the step, its
// per-instance durations seen earlier in this rollout (the engine's
// stepTimes, most recent last), the mode and the group's size.
type stepPolls struct {
	step     Step
	seen     []time.Duration
	windowed bool
	// ownPace: batch mode without lockstep, where members seen done go on
	// to their next step; members is then the whole batch's size.
	ownPace bool
	members int
}

// first is when a just-sent step is first polled. Once the step has run in
// this rollout, that is a high percentile of its observed per-instance
// durations (learned): most members are done by then and, in window mode,
// go on; the rest are polled every stepPollEvery. (The slowest duration
// seen so far would make every later batch wait for the worst case, and
// the estimate could only grow.) The first time, nothing is known but that
// SSM commands often take seconds, so the first poll is after
// firstPollAfter and the next ones further apart (next): a short step is
// not held for the nominal 30 s, and a long one costs a handful of extra
// calls. Never later than the step's timeout.
//
//	nothing seen                      -> 2 s
//	batch of 10, seen 1 s .. 10 s     -> 9 s (the 90th percentile)
//	window, seen 1 s .. 10 s          -> 3 s (the 25th)
func (p stepPolls) first() time.Duration {
	if d, ok := p.learned(); ok {
		return min(d, stepTimeout(p.step))
	}
	return min(firstPollAfter, stepTimeout(p.step))
}

// next is the wait before the next poll of a step still running after
// elapsed. A step whose duration is known is polled at stepPollEvery: its
// stragglers are usually close behind. Otherwise each wait is half the
// time elapsed (2 s, 3 s, 4.5 s, ...) up to pollEvery of the step's
// expected time: a step is seen done at most a third of its time late.
//
//	nothing seen, 2 s elapsed   -> 1 s;  9 s elapsed -> 4.5 s
//	nothing seen, 60 s elapsed  -> 6 s (a fifth of the nominal 30 s)
//	batch of 10, seen 5 s       -> 0.5 s (a tenth of 5 s)
func (p stepPolls) next(elapsed time.Duration) time.Duration {
	if d, ok := p.learned(); ok {
		if p.ownPace {
			return ownPacePollEvery(d, p.members)
		}
		return stepPollEvery(d, p.windowed, p.members)
	}
	return min(max(elapsed/2, minPollEvery), pollEvery(expectedStepTime(p.step)), maxPollEvery)
}

// learned is when a step should first be polled, from its observed
// durations: the 90th percentile in batch mode, where the group waits for
// all of its members anyway (one poll then sees most of it done); the 25th
// in window mode, where each member seen done goes on at once, so the
// polls start early and are close together (stepPollEvery). Window groups
// polling at the same moment share one read (invocations, pulledIn). A
// large batch is first looked at when its last members should be done:
// the slowest of k draws is about the k/(k+1) quantile (the 99th
// percentile for 100 members, never higher).
//
//	seen 1 s, 2 s, ..., 10 s: batch of 10 -> 9 s; window -> 3 s;
//	batch of 100 -> 9 s (the 99th of ten samples is the ninth)
func (p stepPolls) learned() (time.Duration, bool) {
	if len(p.seen) == 0 {
		return 0, false
	}
	sorted := append([]time.Duration(nil), p.seen...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	q := 0.9
	switch {
	case p.windowed:
		q = 0.25
	case p.ownPace && p.members >= largeGroup:
		q = ownPaceLargeQuantile
	case p.ownPace:
		// The 80th percentile, but no more than ownPaceMaxEvery past the
		// median: with long steps the fast members would wait long.
		at := func(q float64) time.Duration { return sorted[int(float64(len(sorted)-1)*q)] }
		return min(at(ownPaceQuantile), at(0.5)+ownPaceMaxEvery), true
	case p.members >= largeGroup:
		q = min(1-1/float64(p.members+1), 0.99)
	}
	return sorted[int(float64(len(sorted)-1)*q)], true
}

// stepPollEvery is the poll interval of a step that takes about d. In
// batch mode the first poll comes when nearly all should be done (learned)
// and the rest is polled every tenth of d, at least a quarter of a second:
// only the last members are waited for. A large batch's poll covers many
// members for a call per 50, so it looks twice as often (a twentieth). In
// window mode each member seen done goes on at once, so the interval is
// how late it goes on: a fifteenth of d, at least a second (half a second
// for a large group). The window's groups share their polls (pulledIn), so
// this costs about one call per interval for the whole window. Never more
// than 15 s.
//
//	batch of 10:   5 s step -> 0.5 s;  2 s -> 0.25 s;  10 min -> 15 s
//	batch of 100:  5 s step -> 0.25 s; 30 s -> 1.5 s
//	window of 10:  30 s step -> 2 s;   5 s -> 1 s
//	window of 40:  5 s step -> 0.5 s
func stepPollEvery(d time.Duration, windowed bool, members int) time.Duration {
	if !windowed {
		if members >= largeGroup {
			return min(max(d/20, minPollEvery/4), maxPollEvery)
		}
		return min(max(d/10, minPollEvery/4), maxPollEvery)
	}
	floor := minPollEvery
	if members >= largeGroup {
		floor = minPollEvery / 2
	}
	return min(max(d/15, floor), maxPollEvery)
}

// The polls of batch mode at its own pace (the default: no lockstep). A
// member seen done is sent its next step with whoever the same poll found
// done, so a poll that finds someone done costs a send as well, and the
// batch ends when its slowest member's last step does: the others have time
// to spare. A batch's polls are one call (its fragments' commands are
// listed together, pulledIn, invocations). A small batch first looks at the
// 80th percentile of the step's durations, then every quarter of it: the
// fast members wait a little, and few polls find a member or two each. A
// large batch pays a call per poll for many members: it looks from the
// median, every tenth. Either way the first look is at most 3 s past the
// median and the next at most 3 s apart.
//
// Measured (the benchmarks' fleet, four 5.5 s steps, 5 seeds; the figures
// of the final tree are in BENCHMARKS.md): 10 a batch, in the fake world
// (no latency) the 90th percentile and a tenth gave 1.034 x the own-pace
// bound at 3.9 calls per instance, the 75th and a quarter 1.033 at 3.3,
// the 80th and a quarter 1.037 at 3.1, the median and a tenth 1.011 at
// 7.0; with AWS latency the 80th and a quarter 1.050 at 3.84 (the 75th
// 1.045-1.052 at 4.1-4.2). 100 a batch, with latency: the median and a
// tenth 1.042 at 1.8.
const (
	ownPaceQuantile      = 0.8
	ownPaceDivisor       = 4
	ownPaceLargeQuantile = 0.5
	ownPaceLargeDivisor  = 10
	ownPaceMaxEvery      = 3 * time.Second
)

// ownPacePollEvery is the poll interval of an own-pace batch of members
// whose step takes about d: a quarter of d for a small batch, a tenth for
// a large one, at least a quarter of a second, at most ownPaceMaxEvery.
//
//	batch of 10:   5.5 s step -> 1.375 s;  30 s -> 3 s
//	batch of 100:  5.5 s step -> 0.55 s;   2 s -> 0.25 s
func ownPacePollEvery(d time.Duration, members int) time.Duration {
	div := time.Duration(ownPaceDivisor)
	if members >= largeGroup {
		div = ownPaceLargeDivisor
	}
	return min(max(d/div, minPollEvery/4), ownPaceMaxEvery)
}

// --- window mode: waiting for siblings (window.go) -------------------------

// joinHold and maxJoinHold bound how long a fragment ready to rejoin waits
// for the rest of its departure (waitForSiblings): half the learned time of
// the last step, at most 2 s. The wait trades time out of service for
// calls; measured in the fake world of the benchmarks (perf_test.go, 100
// instances, four lognormal 5 s steps): no wait gives 1.027 x the lower
// bound at 14.9 calls per instance, this one 1.033 at 10.7, twice the step
// time 1.053 at 5.9. With 30 s steps the cap matters: half the step time
// uncapped cost about 2 % more time than 2 s.
const (
	joinHold    = 0.5
	maxJoinHold = 2 * time.Second
)

// siblingHold is how long a fragment ready to rejoin may wait for the rest
// of its departure, when its last step takes about d.
//
//	d 3 s -> 1.5 s;  d 30 s -> 2 s
func siblingHold(d time.Duration) time.Duration {
	return min(time.Duration(joinHold*float64(d)), maxJoinHold)
}

// pullIn is how far ahead of its own poll time a group waiting for a step
// (window mode, batch mode at its own pace) is polled along with one that
// is due now: its read then
// shares the call (invocations), and the window's groups settle on a
// common poll rhythm instead of each polling on its own clock. Draining
// and health waits are not pulled in: they are polled at times computed
// from the target groups' delays, and an early read would only move their
// next one later.
const pullIn = time.Second

// --- join, health and bake (join.go, bake.go) ------------------------------

const (
	// restoreMargin is added to twice the expected health time for the
	// health timeout of an instance put back (restore).
	restoreMargin = 30 * time.Second
	// unknownGrace (or the health timeout, if longer) is how long past its
	// deadline a health wait goes on when health cannot be read or an
	// instance cannot be registered: transient API errors must not leave a
	// healthy instance out.
	unknownGrace = 30 * time.Second
)

// healthTimeout is how long a registered instance may take to be healthy:
// health_timeout, or DefaultHealthTimeout (10 min).
func healthTimeout(s Strategy) time.Duration {
	if t := s.HealthTimeout; t > 0 {
		return t
	}
	return DefaultHealthTimeout
}

// healthWait is when a group just registered is first read (the slowest
// target group's healthy_threshold x interval: the checks started when AWS
// got the registration) and how long it may take (healthTimeout). An
// instance put back (restore) has its application already running, or
// not: it passes within a couple of check rounds or never, so its timeout
// is at most twice the expected time plus restoreMargin, which keeps a
// cancelled run's cleanup short.
//
//	interval 10 s, healthy 3                   -> first read at 30 s, timeout 10 min
//	the same, restore                          -> first read at 30 s, timeout 90 s
//	interval 5 s, healthy 2 and 10 s, healthy 5 -> first read at 50 s
func healthWait(tgs []TargetGroup, s Strategy, restore bool) (expected, timeout time.Duration) {
	for _, tg := range tgs {
		expected = max(expected, healthExpected(tg))
	}
	timeout = healthTimeout(s)
	if restore {
		timeout = min(timeout, 2*expected+restoreMargin)
	}
	return expected, timeout
}

// registerRetry is the first read after a registration that failed for
// some member: soon, since it is retried at every health read.
//
//	expected 30 s -> 1 s;  expected 0 -> 0
func registerRetry(expected time.Duration) time.Duration {
	return min(expected, minPollEvery)
}

// unknownBound is how long past a wait's end the engine goes on when
// health cannot be read: unknownGrace or the health timeout, the longer.
//
//	health timeout 10 min -> 10 min;  10 s -> 30 s
func unknownBound(healthTimeout time.Duration) time.Duration {
	return max(unknownGrace, healthTimeout)
}

// healthPoll is how often a group waiting to be healthy is read once the
// expected time has passed: a fifth of the longest health check interval
// of its target groups, between 1 s and 15 s.
//
//	interval 30 s -> 6 s;  5 s -> 1 s;  300 s -> 15 s
func healthPoll(tgs []TargetGroup) time.Duration {
	var interval time.Duration
	for _, tg := range tgs {
		interval = max(interval, tg.HealthCheckInterval)
	}
	return min(max(interval/5, minPollEvery), maxPollEvery)
}

// bakePoll is how often a baking group's health is read. A healthy target
// becomes unhealthy only after unhealthy_threshold failed checks, and
// healthy again only after healthy_threshold passed ones, interval apart:
// a target healthy at two reads (U + H - 1) x interval apart was healthy
// throughout. Reading that often proves the bake, with fewer reads than
// one per interval; a target that fails is seen at the next read. The most
// demanding target group decides; never below a second.
//
//	interval 10s, unhealthy 2, healthy 3 -> every 40s: a 30s bake is one
//	read, at its end
//	interval 5s, unhealthy 2, healthy 2 -> every 15s
//	interval 5s, unhealthy 0 (ELB's least is 2), healthy 0 (1) -> every 10s
func bakePoll(tgs []TargetGroup) time.Duration {
	var poll time.Duration
	for _, tg := range tgs {
		unhealthy := tg.UnhealthyThreshold
		if unhealthy < 2 {
			unhealthy = 2 // ELB's least
		}
		healthy := max(tg.HealthyThreshold, 1)
		span := time.Duration(unhealthy+healthy-1) * tg.HealthCheckInterval
		if poll == 0 || span < poll {
			poll = span
		}
	}
	return max(poll, minPollEvery)
}

// --- finish and between departures (finish.go, decide.go, run.go) ----------

// finishAttempts and finishRetryAfter bound the retries of the final tag
// writes.
const (
	finishAttempts   = 6
	finishRetryAfter = 5 * time.Second
)

// finishRetry is the wait before the next try of the final tag writes
// after the tries-th failed one: 5 s, 10 s, 20s, ... (five retries, 155 s
// in all, then the instance is reported).
//
//	tries 1 -> 5 s;  2 -> 10 s;  5 -> 80 s
func finishRetry(tries int) time.Duration {
	return finishRetryAfter << (tries - 1)
}

// batchPause is how long nothing leaves after a batch finished:
// pause_between_batches in batch mode, nothing in window mode, and
// canary_pause after the canary.
//
//	batch mode, pause 60 s -> 60 s;  window -> 0;  canary, canary_pause 5 min -> 5 min
func batchPause(s Strategy, canary bool) time.Duration {
	pause := s.PauseBetweenBatches
	if s.Mode == ModeWindow {
		pause = 0
	}
	if canary {
		pause = s.CanaryPause
	}
	return pause
}

// cancelGrace is how long running steps may go on after a cancellation:
// cancel_grace_period, or DefaultCancelGracePeriod (30 s).
func cancelGrace(s Strategy) time.Duration {
	if s.CancelGracePeriod > 0 {
		return s.CancelGracePeriod
	}
	return DefaultCancelGracePeriod
}

// alarmCheckInterval is how often alarms are read while instances are out
// or the rollout is paused; they are also read before every departure.
const alarmCheckInterval = 30 * time.Second

// readinessFresh is how long a readiness check of an instance holds: a
// batch leaving later is checked again.
const readinessFresh = time.Minute
