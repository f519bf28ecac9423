package rollout

import (
	"testing"
	"time"
)

// The table tests pin today's timing policy (timing.go): a change to a
// figure here is a change of behaviour, to be measured with make bench.

const ms = time.Millisecond

func secs(n ...float64) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, s := range n {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

func TestPollEvery_isAFifthBetweenOneAndFifteenSeconds(t *testing.T) {
	for _, c := range []struct{ expected, want time.Duration }{
		{0, time.Second},
		{2 * time.Second, time.Second},
		{30 * time.Second, 6 * time.Second},
		{75 * time.Second, 15 * time.Second},
		{5 * time.Minute, 15 * time.Second},
	} {
		if got := pollEvery(c.expected); got != c.want {
			t.Errorf("pollEvery(%v) = %v, want %v", c.expected, got, c.want)
		}
	}
}

func TestDrainWait_firstLookAtTheLongestDelayBoundedByMarginOrDrainTimeout(t *testing.T) {
	tg := func(delay time.Duration) TargetGroup { return TargetGroup{DeregistrationDelay: delay} }
	for _, c := range []struct {
		name            string
		tgs             []TargetGroup
		drainTimeout    time.Duration
		expected, bound time.Duration
	}{
		{"one group", []TargetGroup{tg(300 * time.Second)}, 0, 300 * time.Second, 330 * time.Second},
		{"longest of two", []TargetGroup{tg(10 * time.Second), tg(300 * time.Second)}, 0, 300 * time.Second, 330 * time.Second},
		{"drain_timeout shorter", []TargetGroup{tg(300 * time.Second)}, time.Minute, time.Minute, time.Minute},
		{"drain_timeout longer", []TargetGroup{tg(10 * time.Second)}, 5 * time.Minute, 10 * time.Second, 5 * time.Minute},
		{"no delay", []TargetGroup{tg(0)}, 0, 0, 30 * time.Second},
		{"no target group", nil, 0, 0, 0},
	} {
		expected, bound := drainWait(c.tgs, Strategy{DrainTimeout: c.drainTimeout})
		if expected != c.expected || bound != c.bound {
			t.Errorf("%s: drainWait = %v, %v, want %v, %v", c.name, expected, bound, c.expected, c.bound)
		}
	}
}

func TestDrainPollAgain_isASecondWhateverIsLeft(t *testing.T) {
	for _, left := range []time.Duration{0, 500 * ms, 5 * time.Second, 30 * time.Second, time.Hour} {
		if got := drainPollAgain(left); got != time.Second {
			t.Errorf("drainPollAgain(%v) = %v, want 1s", left, got)
		}
	}
}

func TestStepDeadline_isTheTimeoutPlusAMinuteForDelivery(t *testing.T) {
	for _, c := range []struct{ timeout, want time.Duration }{
		{5 * time.Minute, 6 * time.Minute},
		{0, 11 * time.Minute}, // DefaultStepTimeout
		{30 * time.Second, 90 * time.Second},
	} {
		if got := stepDeadline(Step{Timeout: c.timeout}); got != c.want {
			t.Errorf("stepDeadline(timeout %v) = %v, want %v", c.timeout, got, c.want)
		}
	}
}

func TestStepPolls_firstPollIsAPercentileOfWhatWasSeenOrTwoSeconds(t *testing.T) {
	oneToTen := secs(10, 1, 9, 2, 8, 3, 7, 4, 6, 5) // order does not matter
	for _, c := range []struct {
		name string
		p    stepPolls
		want time.Duration
	}{
		{"nothing seen", stepPolls{}, 2 * time.Second},
		{"nothing seen, 1 s timeout", stepPolls{step: Step{Timeout: time.Second}}, time.Second},
		{"batch of 10: the 90th percentile", stepPolls{seen: oneToTen, members: 10}, 9 * time.Second},
		{"window: the 25th percentile", stepPolls{seen: oneToTen, windowed: true, members: 10}, 3 * time.Second},
		{"large window: still the 25th", stepPolls{seen: oneToTen, windowed: true, members: 100}, 3 * time.Second},
		{"batch of 100: the 99th", stepPolls{seen: oneToTen, members: 100}, 9 * time.Second},
		{"batch of 30: the 30/31 quantile", stepPolls{seen: secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32), members: 30}, 31 * time.Second},
		{"batch of 29: the 90th", stepPolls{seen: secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32), members: 29}, 28 * time.Second},
		{"capped at the step timeout", stepPolls{step: Step{Timeout: 4 * time.Second}, seen: oneToTen, members: 10}, 4 * time.Second},
		{"one sample", stepPolls{seen: secs(7), members: 3}, 7 * time.Second},
		{"own-pace batch of 10: the 80th percentile", stepPolls{seen: oneToTen, ownPace: true, members: 10}, 8 * time.Second},
		{"own-pace batch of 10, long steps: at most 3 s past the median", stepPolls{seen: secs(20, 25, 30, 35, 40, 45), ownPace: true, members: 10}, 33 * time.Second},
		{"own-pace batch of 100: the median", stepPolls{seen: oneToTen, ownPace: true, members: 100}, 5 * time.Second},
	} {
		if got := c.p.first(); got != c.want {
			t.Errorf("%s: first() = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestStepPolls_learnedDoesNotReorderTheSamples(t *testing.T) {
	seen := secs(3, 1, 2)
	if d, ok := (stepPolls{seen: seen, members: 2}).learned(); !ok || d != 2*time.Second {
		t.Fatalf("learned() = %v, %v, want 2s, true", d, ok)
	}
	if seen[0] != 3*time.Second || seen[1] != time.Second {
		t.Fatalf("learned() sorted the engine's own record: %v", seen)
	}
	if _, ok := (stepPolls{}).learned(); ok {
		t.Fatal("learned() with nothing seen says it knows")
	}
}

func TestStepPolls_nextPollSpreadsOutUntilTheStepTimeIsKnown(t *testing.T) {
	for _, c := range []struct {
		name    string
		p       stepPolls
		elapsed time.Duration
		want    time.Duration
	}{
		{"nothing seen, 2 s elapsed: half of it", stepPolls{}, 2 * time.Second, time.Second},
		{"nothing seen, 1 s elapsed: at least a second", stepPolls{}, time.Second, time.Second},
		{"nothing seen, 9 s elapsed", stepPolls{}, 9 * time.Second, 4500 * ms},
		{"nothing seen, 60 s elapsed: a fifth of the nominal 30 s", stepPolls{}, time.Minute, 6 * time.Second},
		{"nothing seen, short timeout caps the expected time", stepPolls{step: Step{Timeout: 10 * time.Second}}, time.Minute, 2 * time.Second},
		{"batch of 10 seen 5 s: a tenth", stepPolls{seen: secs(5), members: 10}, time.Minute, 500 * ms},
		{"window of 10 seen 30 s: a fifteenth", stepPolls{seen: secs(30), windowed: true, members: 10}, time.Second, 2 * time.Second},
		{"own-pace batch of 10 seen 5 s: a quarter", stepPolls{seen: secs(5), ownPace: true, members: 10}, time.Minute, 1250 * ms},
		{"own-pace batch of 10 seen 30 s: at most 3 s", stepPolls{seen: secs(30), ownPace: true, members: 10}, time.Minute, 3 * time.Second},
		{"own-pace batch of 100 seen 5 s: a tenth", stepPolls{seen: secs(5), ownPace: true, members: 100}, time.Minute, 500 * ms},
		{"own-pace batch of 100 seen 2 s: at least a quarter second", stepPolls{seen: secs(2), ownPace: true, members: 100}, time.Minute, 250 * ms},
	} {
		if got := c.p.next(c.elapsed); got != c.want {
			t.Errorf("%s: next(%v) = %v, want %v", c.name, c.elapsed, got, c.want)
		}
	}
}

func TestStepPollEvery_byModeAndGroupSize(t *testing.T) {
	for _, c := range []struct {
		d        time.Duration
		windowed bool
		members  int
		want     time.Duration
	}{
		// Batch: a tenth, at least a quarter second; a twentieth from 30 members.
		{5 * time.Second, false, 10, 500 * ms},
		{2 * time.Second, false, 10, 250 * ms},
		{10 * time.Minute, false, 10, 15 * time.Second},
		{5 * time.Second, false, 29, 500 * ms},
		{5 * time.Second, false, 30, 250 * ms},
		{30 * time.Second, false, 100, 1500 * ms},
		{time.Second, false, 100, 250 * ms},
		// Window: a fifteenth, at least a second; half a second from 30 members.
		{30 * time.Second, true, 10, 2 * time.Second},
		{5 * time.Second, true, 10, time.Second},
		{5 * time.Second, true, 40, 500 * ms},
		{15 * time.Second, true, 40, time.Second},
		{10 * time.Minute, true, 1, 15 * time.Second},
	} {
		if got := stepPollEvery(c.d, c.windowed, c.members); got != c.want {
			t.Errorf("stepPollEvery(%v, windowed %v, %d members) = %v, want %v", c.d, c.windowed, c.members, got, c.want)
		}
	}
}

func TestSiblingHold_isHalfTheStepTimeAtMostTwoSeconds(t *testing.T) {
	for _, c := range []struct{ d, want time.Duration }{
		{3 * time.Second, 1500 * ms},
		{4 * time.Second, 2 * time.Second},
		{30 * time.Second, 2 * time.Second},
		{0, 0},
	} {
		if got := siblingHold(c.d); got != c.want {
			t.Errorf("siblingHold(%v) = %v, want %v", c.d, got, c.want)
		}
	}
}

func TestHealthWait_expectedIsTheSlowestThresholdTimesIntervalRestoreIsShort(t *testing.T) {
	tg := func(interval time.Duration, healthy int) TargetGroup {
		return TargetGroup{HealthCheckInterval: interval, HealthyThreshold: healthy}
	}
	for _, c := range []struct {
		name              string
		tgs               []TargetGroup
		healthTimeout     time.Duration
		restore           bool
		expected, timeout time.Duration
	}{
		{"default timeout", []TargetGroup{tg(10*time.Second, 3)}, 0, false, 30 * time.Second, 10 * time.Minute},
		{"restore: twice expected plus 30 s", []TargetGroup{tg(10*time.Second, 3)}, 0, true, 30 * time.Second, 90 * time.Second},
		{"restore under a short health_timeout", []TargetGroup{tg(10*time.Second, 3)}, time.Minute, true, 30 * time.Second, time.Minute},
		{"slowest of two", []TargetGroup{tg(5*time.Second, 2), tg(10*time.Second, 5)}, 0, false, 50 * time.Second, 10 * time.Minute},
		{"threshold 0 counts as 1", []TargetGroup{tg(10*time.Second, 0)}, 2 * time.Minute, false, 10 * time.Second, 2 * time.Minute},
	} {
		expected, timeout := healthWait(c.tgs, Strategy{HealthTimeout: c.healthTimeout}, c.restore)
		if expected != c.expected || timeout != c.timeout {
			t.Errorf("%s: healthWait = %v, %v, want %v, %v", c.name, expected, timeout, c.expected, c.timeout)
		}
	}
}

func TestRegisterRetryAndUnknownBound(t *testing.T) {
	for _, c := range []struct{ expected, want time.Duration }{
		{30 * time.Second, time.Second}, {500 * ms, 500 * ms}, {0, 0},
	} {
		if got := registerRetry(c.expected); got != c.want {
			t.Errorf("registerRetry(%v) = %v, want %v", c.expected, got, c.want)
		}
	}
	for _, c := range []struct{ timeout, want time.Duration }{
		{10 * time.Minute, 10 * time.Minute}, {10 * time.Second, 30 * time.Second}, {0, 30 * time.Second},
	} {
		if got := unknownBound(c.timeout); got != c.want {
			t.Errorf("unknownBound(%v) = %v, want %v", c.timeout, got, c.want)
		}
	}
}

func TestHealthPoll_isAFifthOfTheLongestInterval(t *testing.T) {
	for _, c := range []struct {
		intervals []time.Duration
		want      time.Duration
	}{
		{[]time.Duration{30 * time.Second}, 6 * time.Second},
		{[]time.Duration{5 * time.Second}, time.Second},
		{[]time.Duration{300 * time.Second}, 15 * time.Second},
		{[]time.Duration{5 * time.Second, 30 * time.Second}, 6 * time.Second},
		{nil, time.Second},
	} {
		var tgs []TargetGroup
		for _, i := range c.intervals {
			tgs = append(tgs, TargetGroup{HealthCheckInterval: i})
		}
		if got := healthPoll(tgs); got != c.want {
			t.Errorf("healthPoll(%v) = %v, want %v", c.intervals, got, c.want)
		}
	}
}

func TestBakePoll_readsOncePerSpanAHealthyTargetCannotHideAFailure(t *testing.T) {
	for _, c := range []struct {
		name string
		tgs  []TargetGroup
		want time.Duration
	}{
		{"10 s, U2, H3", []TargetGroup{{HealthCheckInterval: 10 * time.Second, UnhealthyThreshold: 2, HealthyThreshold: 3}}, 40 * time.Second},
		{"5 s, U2, H2", []TargetGroup{{HealthCheckInterval: 5 * time.Second, UnhealthyThreshold: 2, HealthyThreshold: 2}}, 15 * time.Second},
		{"thresholds unset: U2, H1", []TargetGroup{{HealthCheckInterval: 5 * time.Second}}, 10 * time.Second},
		{"the most demanding group decides", []TargetGroup{
			{HealthCheckInterval: 10 * time.Second, UnhealthyThreshold: 2, HealthyThreshold: 3},
			{HealthCheckInterval: 5 * time.Second, UnhealthyThreshold: 2, HealthyThreshold: 2},
		}, 15 * time.Second},
		{"never below a second", []TargetGroup{{HealthCheckInterval: 100 * ms, UnhealthyThreshold: 2, HealthyThreshold: 2}}, time.Second},
		{"no target group", nil, time.Second},
	} {
		if got := bakePoll(c.tgs); got != c.want {
			t.Errorf("%s: bakePoll = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFinishRetry_doublesFromFiveSeconds(t *testing.T) {
	var total time.Duration
	for tries, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 5: 80 * time.Second} {
		if got := finishRetry(tries); got != want {
			t.Errorf("finishRetry(%d) = %v, want %v", tries, got, want)
		}
	}
	for tries := 1; tries < finishAttempts; tries++ {
		total += finishRetry(tries)
	}
	if total != 155*time.Second {
		t.Errorf("the retries of the final tags span %v, want 155s", total)
	}
}

func TestBatchPause_byModeAndCanary(t *testing.T) {
	for _, c := range []struct {
		name   string
		s      Strategy
		canary bool
		want   time.Duration
	}{
		{"batch", Strategy{Mode: ModeBatch, PauseBetweenBatches: time.Minute}, false, time.Minute},
		{"window never pauses", Strategy{Mode: ModeWindow, PauseBetweenBatches: time.Minute}, false, 0},
		{"canary pause", Strategy{Mode: ModeBatch, PauseBetweenBatches: time.Minute, CanaryPause: 5 * time.Minute}, true, 5 * time.Minute},
		{"canary pause in window mode", Strategy{Mode: ModeWindow, CanaryPause: 5 * time.Minute}, true, 5 * time.Minute},
		{"canary without a pause", Strategy{Mode: ModeBatch, PauseBetweenBatches: time.Minute}, true, 0},
	} {
		if got := batchPause(c.s, c.canary); got != c.want {
			t.Errorf("%s: batchPause = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestHealthTimeoutAndCancelGrace_defaults(t *testing.T) {
	if got := healthTimeout(Strategy{}); got != DefaultHealthTimeout {
		t.Errorf("healthTimeout() = %v, want %v", got, DefaultHealthTimeout)
	}
	if got := healthTimeout(Strategy{HealthTimeout: time.Minute}); got != time.Minute {
		t.Errorf("healthTimeout(1m) = %v", got)
	}
	if got := cancelGrace(Strategy{}); got != DefaultCancelGracePeriod {
		t.Errorf("cancelGrace() = %v, want %v", got, DefaultCancelGracePeriod)
	}
	if got := cancelGrace(Strategy{CancelGracePeriod: 2 * time.Minute}); got != 2*time.Minute {
		t.Errorf("cancelGrace(2m) = %v", got)
	}
}
