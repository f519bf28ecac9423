package fleetsim

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// A call is served halfway through its latency and answered at its end,
// both in simulated time: a frozen clock holds the answer whatever the
// wall clock does, and Advance releases it.
func TestLatency_aCallIsServedHalfwayAndAnsweredAtTheEndInSimulatedTime(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{Latency: Latency{Default: LatencyDist{Median: 200 * time.Millisecond}}})
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	start := s.Now()
	done := make(chan error, 1)
	go func() {
		_, err := elbv2.NewFromConfig(cfg).DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		done <- err
	}()
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.held == 1 }, "the call to arrive")
	time.Sleep(30 * time.Millisecond) // wall time alone serves nothing
	if n := s.Recorder().CallCount()["DescribeTargetHealth"]; n != 0 || len(done) != 0 {
		t.Fatalf("served (%d) or answered (%d) before any simulated time passed", n, len(done))
	}
	s.Advance(100 * time.Millisecond)
	waitFor(t, func() bool { return s.Recorder().CallCount()["DescribeTargetHealth"] == 1 }, "the call to be served")
	call := s.Recorder().Calls("DescribeTargetHealth")[0]
	if got := call.SimTime.Sub(start); got != 100*time.Millisecond {
		t.Fatalf("served %v after arrival, want 100ms (half the latency)", got)
	}
	if call.Latency != 200*time.Millisecond {
		t.Fatalf("recorded latency %v", call.Latency)
	}
	time.Sleep(30 * time.Millisecond)
	if len(done) != 0 {
		t.Fatal("answered before its latency was over")
	}
	s.Advance(100 * time.Millisecond)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not answered once the latency was over")
	}
}

// The same latency costs the same simulated time at two time scales a
// hundred times apart.
func TestLatency_isIndependentOfTheTimeScale(t *testing.T) {
	for _, scale := range []float64{0.001, 0.1} {
		s, cfg, _ := newFrozenSim(t, Options{TimeScale: scale, Latency: Latency{Default: LatencyDist{Median: 500 * time.Millisecond}}})
		c := ec2.NewFromConfig(cfg)
		before, wallStart := s.Now(), time.Now()
		if _, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
			t.Fatal(err)
		}
		took, wall := s.Now().Sub(before), time.Since(wallStart)
		// At least the latency; at most the latency plus what serving the
		// call cost in wall time, scaled (generous: a loaded machine).
		if took < 500*time.Millisecond || took > 500*time.Millisecond+time.Duration(float64(wall)/scale) {
			t.Fatalf("scale %g: the call took %v simulated (%v wall), want 500ms", scale, took, wall)
		}
		if wantWall := time.Duration(0.5 * scale * float64(time.Second)); wall < wantWall {
			t.Fatalf("scale %g: answered after %v of wall time, before its %v", scale, wall, wantWall)
		}
	}
}

// AWSLatency's distributions have the medians and p99s they claim, and a
// large answer costs more than a small one.
func TestLatency_awsDefaultsHaveTheirMediansAndTails(t *testing.T) {
	l := AWSLatency()
	rng := rand.New(rand.NewPCG(1, 2))
	for svc, d := range l.Services {
		const n = 20000
		draws := make([]float64, n)
		for i := range draws {
			draws[i] = float64(l.sample(rng, svc))
		}
		sort.Float64s(draws)
		med, p99 := time.Duration(draws[n/2]), time.Duration(draws[n*99/100])
		if rel(med, d.Median) > 0.05 || rel(p99, d.P99) > 0.1 {
			t.Errorf("%s: median %v p99 %v, want %v and %v", svc, med, p99, d.Median, d.P99)
		}
		if d.Median < 40*time.Millisecond || d.Median > 80*time.Millisecond || d.P99 < 150*time.Millisecond || d.P99 > 300*time.Millisecond {
			t.Errorf("%s: %v / %v is outside the documented range", svc, d.Median, d.P99)
		}
		if highest := time.Duration(draws[n-1]); highest > maxLatencyFactor*d.P99 {
			t.Errorf("%s: a draw of %v exceeds the cap", svc, highest)
		}
	}
	if l.sample(rng, "nosuchservice") == 0 {
		t.Error("an unlisted service has no latency")
	}
	if small, large := l.bodyCost(2<<10), l.bodyCost(2<<20); small >= time.Millisecond || large < 100*time.Millisecond {
		t.Errorf("2 KiB cost %v, 2 MiB %v", small, large)
	}
	if (Latency{}).On() || !l.On() {
		t.Error("On: the zero value is off, the AWS model on")
	}
}

func rel(got, want time.Duration) float64 {
	return math.Abs(float64(got)-float64(want)) / float64(want)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
