package fleetsim

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Options configure a simulator. The zero value is usable.
type Options struct {
	Region      string            // default "us-east-1"
	AccountID   string            // default "123456789012"
	TimeScale   float64           // wall seconds per simulated second; 0 means 1
	Credentials map[string]string // access key id -> secret key; nil = accept any signed request
	Throttling  bool              // AWS-like rate limits on
	RandSeed    int64
	// Latency is how long each call takes, in simulated time (latency.go);
	// the zero value answers at once. AWSLatency() is what AWS is like.
	Latency Latency
	// Start is the simulated time at creation; zero means the wall clock now.
	Start time.Time
	// TickInterval is how often (wall time) a background ticker advances the
	// simulated clock so the event backlog stays short between API calls;
	// 0 means 50ms, negative disables the ticker (time then advances only
	// lazily, on API and admin calls).
	TickInterval time.Duration
	// Policy is an IAM policy document (JSON) every caller is held to;
	// nil = no enforcement. See doc.go; a policy that does not parse denies
	// every call (use ParsePolicy to check it first).
	Policy []byte
	// LaunchTags are tags every instance carries from launch, seeded or
	// launched by a group, as an account's launch templates give them; the
	// instance's own tags win. Tag-scoped IAM policies rely on such a tag.
	LaunchTags map[string]string
}

// Sim is an in-memory AWS region holding one fleet. All state is guarded by
// one mutex: API calls are short, and a single lock keeps the model's
// invariants (counts, timelines) simple to reason about.
type Sim struct {
	mu sync.Mutex

	opts      Options
	scale     float64
	wallStart time.Time
	simStart  time.Time
	offset    time.Duration // added by Advance
	now       time.Time     // simulated time of the last processed event or advance
	events    eventQueue
	eventSeq  uint64
	rng       *rand.Rand
	timing    Timing
	// latency and its own random source, so that turning latency on or
	// off does not change the model's draws (step times) for a seed.
	latency    Latency
	latencyRNG *rand.Rand
	held       int // calls waiting out their latency (tests watch it)

	instances   map[string]*instance
	instanceSeq int
	ipSeq       int
	tgs         map[string]*targetGroup // by ARN
	tgSeq       int
	lbs         map[string]*loadBalancer
	asgs        map[string]*autoScalingGroup
	alarms      map[string]*alarm
	documents   map[string]*document
	commands    map[string]*command
	commandList []*command // send order
	tempCreds   map[string]tempCredential
	parameters  map[string]*parameter // Parameter Store, by name
	iam         iamState
	instanceIAM iamState // the instances' own calls (instance_parameters.go)

	// eventBridge is EventBridge's buses and published events
	// (api_events.go), nil until first used.
	eventBridge *eventBridgeState

	recorder *Recorder
	seeding  bool // inside AddInstances: capacity changes are the baseline, not dips
	faults   *Faults

	stop     chan struct{}
	stopOnce sync.Once
}

// New returns a running simulator. Call Close to stop its ticker.
func New(opts Options) *Sim {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	scale := opts.TimeScale
	if scale <= 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		scale = 1
	}
	start := opts.Start
	if start.IsZero() {
		start = time.Now().UTC().Truncate(time.Millisecond)
	}
	s := &Sim{
		opts:      opts,
		scale:     scale,
		wallStart: time.Now(),
		simStart:  start,
		now:       start,
		rng:       rand.New(rand.NewPCG(uint64(opts.RandSeed), 0x5eed)),
		timing:    defaultTiming(),
		latency:   opts.Latency,
		// A different stream of the same seed.
		latencyRNG: rand.New(rand.NewPCG(uint64(opts.RandSeed), 0x1a7e)),
		instances:  map[string]*instance{},
		tgs:        map[string]*targetGroup{},
		lbs:        map[string]*loadBalancer{},
		asgs:       map[string]*autoScalingGroup{},
		alarms:     map[string]*alarm{},
		documents:  map[string]*document{},
		commands:   map[string]*command{},
		tempCreds:  map[string]tempCredential{},
		stop:       make(chan struct{}),
	}
	s.recorder = &Recorder{sim: s}
	s.recorder.resetLocked()
	s.faults = newFaults(s)
	s.addBuiltinDocuments()
	s.iam = loadPolicy(opts.Policy)
	tick := opts.TickInterval
	if tick == 0 {
		tick = 50 * time.Millisecond
	}
	if tick > 0 {
		go s.tickLoop(tick)
	}
	return s
}

func (s *Sim) tickLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.advanceLocked()
			s.mu.Unlock()
		}
	}
}

// Close stops the background ticker. The Sim stays usable (time then
// advances lazily on each call).
func (s *Sim) Close() { s.stopOnce.Do(func() { close(s.stop) }) }

// Region is the region the simulator claims to be.
func (s *Sim) Region() string { return s.opts.Region }

// AccountID is the account that owns every simulated resource.
func (s *Sim) AccountID() string { return s.opts.AccountID }

// TimeScale is the effective wall seconds per simulated second.
func (s *Sim) TimeScale() float64 { return s.scale }

// Now is the simulated time; every model transition due by then has happened.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advanceLocked()
}

// Advance moves simulated time forward by d at once (processing every event
// due on the way), independently of the wall clock. Tests use it to skip long
// modelled waits without a tiny TimeScale.
func (s *Sim) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
	s.advanceLocked()
}

// WallDuration converts a simulated duration into the wall time it takes.
func (s *Sim) WallDuration(sim time.Duration) time.Duration {
	wall := float64(sim) * s.scale
	if wall > float64(math.MaxInt64/2) {
		return math.MaxInt64 / 2 // a frozen simulator: "never"
	}
	return time.Duration(wall)
}

func (s *Sim) clockLocked() time.Time {
	wall := time.Since(s.wallStart)
	t := s.simStart.Add(time.Duration(float64(wall)/s.scale) + s.offset)
	if t.Before(s.now) {
		return s.now
	}
	return t
}

// advanceLocked runs every event due by the current simulated time, in time
// order, each seeing s.now equal to its own due time, and returns that time.
func (s *Sim) advanceLocked() time.Time {
	target := s.clockLocked()
	for len(s.events) > 0 && !s.events[0].at.After(target) {
		e, _ := heap.Pop(&s.events).(*event)
		if e.at.After(s.now) {
			s.now = e.at
		}
		e.fn()
	}
	s.now = target
	return target
}

// at schedules fn at simulated time t (or now, if t is in the past). Events
// at the same instant run in scheduling order.
func (s *Sim) at(t time.Time, fn func()) {
	if t.Before(s.now) {
		t = s.now
	}
	s.eventSeq++
	heap.Push(&s.events, &event{at: t, seq: s.eventSeq, fn: fn})
}

func (s *Sim) after(d time.Duration, fn func()) { s.at(s.now.Add(d), fn) }

type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any) {
	if e, ok := x.(*event); ok {
		*q = append(*q, e)
	}
}
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// Timing is the model of how long things take, in simulated time.
type Timing struct {
	StepMean  time.Duration // run time of one command line; default 2s
	StepSigma float64       // lognormal sigma, 0 = constant
	// Delivery is how long an SSM invocation stays Pending before the agent
	// picks it up; default 500ms.
	Delivery time.Duration
	// InvocationLag is how long GetCommandInvocation answers
	// InvocationDoesNotExist after SendCommand (AWS is eventually
	// consistent); default 0.
	InvocationLag time.Duration
	// Launch is how long an instance stays pending: launched by an Auto
	// Scaling group, or started again by StartInstances; default 20s.
	Launch time.Duration
	// Undeliverable is how long delivery to an offline agent is retried
	// (invocation Delayed) before it ends Undeliverable; default 30s.
	Undeliverable time.Duration
	// Stop is how long StopInstances leaves an instance stopping before it
	// is stopped; default 30s.
	Stop time.Duration
	// Shutdown is how long TerminateInstances (or an Auto Scaling group's
	// scale-in) leaves an instance shutting-down before it is terminated;
	// default 30s.
	Shutdown time.Duration
	// StatusChecks is how long EC2's status checks of an instance that has
	// just reached running report initializing before ok; default 2m.
	// Seeded instances have been running for long and report ok at once.
	StatusChecks time.Duration
}

func defaultTiming() Timing {
	return Timing{StepMean: 2 * time.Second, Delivery: 500 * time.Millisecond, Launch: 20 * time.Second, Undeliverable: 30 * time.Second,
		Stop: 30 * time.Second, Shutdown: 30 * time.Second, StatusChecks: 2 * time.Minute}
}

// SetTiming replaces the timing model; zero fields keep their defaults
// (except StepSigma and InvocationLag, whose zero is meaningful).
func (s *Sim) SetTiming(t Timing) {
	d := defaultTiming()
	if t.StepMean <= 0 {
		t.StepMean = d.StepMean
	}
	if t.Delivery <= 0 {
		t.Delivery = d.Delivery
	}
	if t.Launch <= 0 {
		t.Launch = d.Launch
	}
	if t.Undeliverable <= 0 {
		t.Undeliverable = d.Undeliverable
	}
	if t.Stop <= 0 {
		t.Stop = d.Stop
	}
	if t.Shutdown <= 0 {
		t.Shutdown = d.Shutdown
	}
	if t.StatusChecks <= 0 {
		t.StatusChecks = d.StatusChecks
	}
	if t.StepSigma < 0 || math.IsNaN(t.StepSigma) {
		t.StepSigma = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timing = t
}

// stepDurationLocked samples the run time of one command line.
func (s *Sim) stepDurationLocked() time.Duration {
	mean := float64(s.timing.StepMean)
	sigma := s.timing.StepSigma
	if sigma == 0 {
		return s.timing.StepMean
	}
	// Lognormal with the requested mean: mu = ln(mean) - sigma^2/2.
	mu := math.Log(mean) - sigma*sigma/2
	d := math.Exp(mu + sigma*s.rng.NormFloat64())
	if d > float64(24*time.Hour) {
		d = float64(24 * time.Hour)
	}
	return time.Duration(d)
}

func (s *Sim) hexLocked(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[s.rng.IntN(16)]
	}
	return string(b)
}

func (s *Sim) uuidLocked() string {
	h := s.hexLocked(32)
	return fmt.Sprintf("%s-%s-4%s-a%s-%s", h[0:8], h[8:12], h[13:16], h[17:20], h[20:32])
}

func (s *Sim) upperLocked(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[s.rng.IntN(len(chars))]
	}
	return string(b)
}

var _ http.Handler = (*Sim)(nil)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
