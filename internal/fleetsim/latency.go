package fleetsim

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// Latency is how long AWS takes to answer a call, in simulated time: a
// lognormal distribution per service (by SigV4 signing name), plus a cost
// per KiB of response body. Because it is simulated time, a call costs the
// same share of a rollout at every Options.TimeScale, and the wall time the
// simulator itself spends serving a call is hidden inside it (it only shows
// when it exceeds the drawn latency, which at the benchmarks' scale is a
// loaded machine's, not AWS's, doing).
//
// The request reaches AWS halfway through: a call is served (reads the
// model, changes it) at its arrival plus half its latency, and answered at
// arrival plus all of it. The zero value is off: every call is served and
// answered the moment it arrives, as unit tests want.
type Latency struct {
	// Services by signing name (elasticloadbalancing, ec2, ssm,
	// autoscaling, monitoring, sts); a service missing here uses Default.
	Services map[string]LatencyDist
	Default  LatencyDist
	// PerKiB is added per KiB of response body: transferring and
	// marshalling a 1,000-instance DescribeInstances is not free.
	PerKiB time.Duration
}

// LatencyDist is a lognormal distribution given by its median and 99th
// percentile (sigma = ln(P99/Median) / 2.326). A zero Median means no
// latency; a P99 at or below the Median means a constant Median.
type LatencyDist struct {
	Median, P99 time.Duration
}

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263478740408408

// AWSLatency is the latency model the benchmarks and the demo run with.
// The figures are estimates of same-region SDK calls, within the range
// public measurements show (sources in the package documentation, "Call
// latency"): medians of 50-80 ms, a p99 of about 250 ms, EC2's Describe
// calls a little slower (larger XML answers) and STS a little faster.
// PerKiB (about 16 MiB/s of answer) is an estimate, not a measurement.
func AWSLatency() Latency {
	return Latency{
		Services: map[string]LatencyDist{
			"elasticloadbalancing": {Median: 60 * time.Millisecond, P99: 250 * time.Millisecond},
			"ec2":                  {Median: 80 * time.Millisecond, P99: 300 * time.Millisecond},
			"ssm":                  {Median: 55 * time.Millisecond, P99: 250 * time.Millisecond},
			"autoscaling":          {Median: 70 * time.Millisecond, P99: 250 * time.Millisecond},
			"monitoring":           {Median: 50 * time.Millisecond, P99: 200 * time.Millisecond},
			"sts":                  {Median: 40 * time.Millisecond, P99: 150 * time.Millisecond},
		},
		Default: LatencyDist{Median: 60 * time.Millisecond, P99: 250 * time.Millisecond},
		PerKiB:  60 * time.Microsecond,
	}
}

// On reports whether the model adds any latency.
func (l Latency) On() bool {
	if l.Default.Median > 0 || l.PerKiB > 0 {
		return true
	}
	for _, d := range l.Services {
		if d.Median > 0 {
			return true
		}
	}
	return false
}

// maxLatencyFactor caps a draw at this many times the distribution's p99:
// a lognormal's far tail is no model of AWS, whose SDK times out first.
const maxLatencyFactor = 4

// sample draws one latency of service.
func (l Latency) sample(rng *rand.Rand, service string) time.Duration {
	d, ok := l.Services[service]
	if !ok {
		d = l.Default
	}
	if d.Median <= 0 {
		return 0
	}
	if d.P99 <= d.Median {
		return d.Median
	}
	sigma := math.Log(float64(d.P99)/float64(d.Median)) / z99
	v := float64(d.Median) * math.Exp(sigma*rng.NormFloat64())
	return time.Duration(min(v, maxLatencyFactor*float64(d.P99)))
}

// bodyCost is PerKiB for a response of n bytes.
func (l Latency) bodyCost(n int) time.Duration {
	if l.PerKiB <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(float64(l.PerKiB) * float64(n) / 1024)
}

// SetLatency replaces the latency model (Latency{} turns it off). Calls in
// flight keep the latency they drew.
func (s *Sim) SetLatency(l Latency) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = l
}

// arrival is the simulated time a call arrived at, the latency it drew
// and the slow fault's extra delay for its action.
func (s *Sim) arrival(service, action string) (time.Time, time.Duration, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.advanceLocked()
	var lat time.Duration
	if s.latency.On() {
		lat = s.latency.sample(s.latencyRNG, service)
	}
	slow := s.faults.slowDelayLocked(action)
	if lat > 0 || slow > 0 {
		s.held++
	}
	return now, lat, slow
}

// released ends a call that arrival counted as held.
func (s *Sim) released() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held--
}

// maxWaitSlice bounds one wall-clock sleep of waitUntil, so a wait notices
// an Advance (tests skip simulated time with it) within that much wall time.
const maxWaitSlice = 20 * time.Millisecond

// waitUntil returns once the simulated clock reads t (true), or when ctx
// ends first (false).
func (s *Sim) waitUntil(ctx context.Context, t time.Time) bool {
	for {
		now := s.Now()
		if !now.Before(t) {
			return true
		}
		d := min(s.WallDuration(t.Sub(now)), maxWaitSlice)
		timer := time.NewTimer(max(d, 50*time.Microsecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// heldResponse holds an answer until its latency is over.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newHeldResponse() *heldResponse { return &heldResponse{header: http.Header{}} }

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

// sendTo writes the held answer to w.
func (h *heldResponse) sendTo(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	w.WriteHeader(h.status)
	_, _ = w.Write(h.body.Bytes())
}
