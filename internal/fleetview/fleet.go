package fleetview

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// The provider's tags as they appear on an instance. They are spelled here
// rather than imported from the rollout engine: this package reads AWS the way
// a user would, and the tag names are part of the provider's public contract.
const (
	tagPhase = "rolling:phase"
)

// Phase is what the grid says an instance is doing.
type Phase string

// Phases, from what AWS shows of an instance (target health, the
// rolling:phase tag, the instance state) plus, for failed and rolled back,
// what happened to it since the page started watching.
const (
	PhaseInService    Phase = "in service"     // healthy in every target group it is registered in
	PhaseDraining     Phase = "draining"       // leaving its target groups
	PhaseStep         Phase = "running step"   // running a deployment step; Detail names it
	PhaseJoining      Phase = "joining"        // registered again, health checks not yet passed
	PhaseBaking       Phase = "baking"         // healthy, waiting out the bake time
	PhaseRollingBack  Phase = "rolling back"   // re-running the previous version's steps
	PhaseFailed       Phase = "failed"         // its rollout failed on it (it may be serving its old version again)
	PhaseRolledBack   Phase = "rolled back"    // updated, then returned to the previous version
	PhaseUnhealthy    Phase = "unhealthy"      // failing health checks
	PhaseOutOfService Phase = "out of service" // registered nowhere, or unused
	PhaseStandby      Phase = "standby"        // Auto Scaling standby
	PhaseStopped      Phase = "stopped"        // not running; Detail has the EC2 state
)

// transient reports whether an instance in phase p is on its way somewhere,
// as during a rollout; the others are where an instance can stay for hours.
func (p Phase) transient() bool {
	switch p {
	case PhaseDraining, PhaseStep, PhaseJoining, PhaseBaking, PhaseRollingBack, PhaseUnhealthy:
		return true
	}
	return false
}

// Instance is one cell of the grid.
type Instance struct {
	ID      string `json:"id"`
	AZ      string `json:"az"`
	ASG     string `json:"asg,omitempty"`
	Version string `json:"version"` // installed application version
	Phase   Phase  `json:"phase"`
	// Detail qualifies the phase: the step name, a target health reason, an
	// EC2 state.
	Detail    string `json:"detail,omitempty"`
	InService bool   `json:"in_service"`
}

// Point is the in-service capacity from T (simulated seconds since the view
// started) onwards.
type Point struct {
	T         float64 `json:"t"`
	InService int     `json:"in_service"`
	Floor     int     `json:"floor"`
	// Busy: some instance is on its way somewhere (draining, running a
	// step, joining, baking, rolling back, unhealthy). The page compresses
	// long stretches without it on its time axis: they are the time spent
	// at the demo's prompts, not rollouts.
	Busy bool `json:"busy"`
}

// Alarm is a CloudWatch alarm and its state.
type Alarm struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Fleet is one frame of the page, and what /fleet.json returns.
type Fleet struct {
	Title     string     `json:"title"`
	SimTime   time.Time  `json:"sim_time"`
	Elapsed   float64    `json:"elapsed"` // simulated seconds since the view started
	Instances []Instance `json:"instances"`
	InService int        `json:"in_service"`
	Total     int        `json:"total"`
	Floor     int        `json:"floor"`
	Capacity  []Point    `json:"capacity"`
	Alarms    []Alarm    `json:"alarms"`
}

// Options configure the view.
type Options struct {
	// Title heads the page; default "Fleet".
	Title string
	// MinHealthyPercent draws the capacity floor: this percentage of the
	// instances, rounded up, as rolling_deployment counts it. 0 draws none.
	MinHealthyPercent int
	// Interval is how often /events looks for a change (wall time); default
	// 200ms. A frame is sent on change, and at least every few seconds.
	Interval time.Duration
	// SampleEvery is how often Tracker.Run samples the fleet (wall time);
	// default 50ms. Short phases at a fast time scale are only inferred
	// correctly if sampled.
	SampleEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.Title == "" {
		o.Title = "Fleet"
	}
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = 50 * time.Millisecond
	}
	if o.MinHealthyPercent < 0 {
		o.MinHealthyPercent = 0
	}
	if o.MinHealthyPercent > 100 {
		o.MinHealthyPercent = 100
	}
	return o
}

// maxPoints bounds the capacity history; the oldest half is dropped first.
const maxPoints = 2000

// Tracker follows a fleet across snapshots. Its methods are safe for
// concurrent use.
type Tracker struct {
	source func() fleetsim.FleetSnapshot
	opts   Options

	mu       sync.Mutex
	memory   map[string]*memory
	start    time.Time
	capacity []Point
}

// memory is what one instance went through since it last left service: the
// snapshot alone cannot tell a failed or rolled-back instance, serving its old
// version again, from one that was never touched.
type memory struct {
	away         bool   // a rolling:phase tag is set: a rollout has it
	startVersion string // installed version when it left
	changed      bool   // another version was installed meanwhile
	rollingBack  bool   // seen in the rollback phase
	outcome      Phase  // PhaseFailed or PhaseRolledBack until it leaves again
}

// NewTracker follows sim. Sampling happens on every View call and, while Run
// runs, every Options.SampleEvery.
func NewTracker(sim *fleetsim.Sim, opts Options) *Tracker {
	return newTracker(sim.Snapshot, opts)
}

// NewTrackerFunc follows the fleet source returns, for a page fed from
// something else than a simulator: the provider's live page of a real
// rollout builds its snapshots from the calls the rollout makes anyway
// (internal/provider/progress_page.go). source is called on every sample.
func NewTrackerFunc(source func() fleetsim.FleetSnapshot, opts Options) *Tracker {
	return newTracker(source, opts)
}

func newTracker(source func() fleetsim.FleetSnapshot, opts Options) *Tracker {
	return &Tracker{source: source, opts: opts.withDefaults(), memory: map[string]*memory{}}
}

// Run samples the fleet until ctx is done, so that phases shorter than the
// page's refresh still leave their mark (a rollback seen for 50 ms).
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.opts.SampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.View()
		}
	}
}

// View samples the fleet now and returns the frame.
func (t *Tracker) View() Fleet {
	return t.observe(t.source())
}

func (t *Tracker) observe(snap fleetsim.FleetSnapshot) Fleet {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.start.IsZero() {
		t.start = snap.SimTime
	}
	f := Fleet{Title: t.opts.Title, SimTime: snap.SimTime, Instances: []Instance{}, Alarms: []Alarm{}}
	seen := map[string]bool{}
	busy := false
	for _, is := range snap.Instances {
		seen[is.ID] = true
		m := t.memory[is.ID]
		if m == nil {
			m = &memory{}
			t.memory[is.ID] = m
		}
		m.follow(is)
		inst := classify(is, m.current())
		if is.State != "terminated" && is.State != "shutting-down" {
			f.Total++
		}
		if inst.InService {
			f.InService++
		}
		busy = busy || inst.Phase.transient()
		f.Instances = append(f.Instances, inst)
	}
	for id := range t.memory {
		if !seen[id] {
			delete(t.memory, id)
		}
	}
	f.Floor = floor(t.opts.MinHealthyPercent, f.Total)
	for _, a := range snap.Alarms {
		f.Alarms = append(f.Alarms, Alarm{Name: a.Name, State: a.State})
	}
	f.Elapsed = snap.SimTime.Sub(t.start).Seconds()
	t.record(Point{T: f.Elapsed, InService: f.InService, Floor: f.Floor, Busy: busy})
	f.Capacity = append([]Point(nil), t.capacity...)
	return f
}

// record appends p when the capacity, the floor or whether the fleet is busy
// changed.
func (t *Tracker) record(p Point) {
	if n := len(t.capacity); n > 0 {
		last := t.capacity[n-1]
		if last.InService == p.InService && last.Floor == p.Floor && last.Busy == p.Busy {
			return
		}
		if p.T < last.T {
			p.T = last.T
		}
	}
	if len(t.capacity) >= maxPoints {
		t.capacity = append(t.capacity[:0], t.capacity[len(t.capacity)/2:]...)
	}
	t.capacity = append(t.capacity, p)
}

// floor is the capacity floor as rolling_deployment computes it: percent of
// total, rounded up. Worked example: 75% of 6 is 4.5, so 5 must stay in service.
func floor(percent, total int) int {
	return (percent*total + 99) / 100
}

// follow updates what the instance went through with one more snapshot.
func (m *memory) follow(is fleetsim.InstanceSnapshot) {
	phase := is.Tags[tagPhase]
	switch {
	case phase != "" && !m.away:
		*m = memory{away: true, startVersion: is.AppVersion}
	case phase == "" && m.away:
		// Back from a rollout. After a rollback: rolled back if a new version
		// had been installed (in this trip out or an earlier one: the
		// version it comes back with differs from the one it left with, or
		// changed on the way), failed if none ever was. Without a rollback
		// seen (sampled too rarely), coming back to the version it left with
		// after a change still counts as rolled back.
		m.away = false
		switch {
		case m.rollingBack && (m.changed || is.AppVersion != m.startVersion):
			m.outcome = PhaseRolledBack
		case m.rollingBack:
			m.outcome = PhaseFailed
		case m.changed && is.AppVersion == m.startVersion:
			m.outcome = PhaseRolledBack
		}
		return
	}
	if !m.away {
		return
	}
	if is.AppVersion != m.startVersion {
		m.changed = true
	}
	if phase == "rollback" || strings.HasPrefix(phase, "rollback:") {
		m.rollingBack = true
	}
}

// current is the sticky outcome to show instead of "in service".
func (m *memory) current() Phase {
	if m.away {
		return ""
	}
	return m.outcome
}

// classify reads one instance: the EC2 state first (nothing else matters on
// a stopped instance), then the rollout's own tag, then Auto Scaling standby,
// then target health, worst state first.
func classify(is fleetsim.InstanceSnapshot, outcome Phase) Instance {
	inst := Instance{ID: is.ID, AZ: is.AZ, ASG: is.ASG, Version: is.AppVersion}
	if is.State != "running" {
		inst.Phase, inst.Detail = PhaseStopped, is.State
		return inst
	}
	healthy, worst := targetHealth(is.Targets)
	inst.InService = healthy
	switch phase := is.Tags[tagPhase]; {
	case phase == "draining":
		inst.Phase = PhaseDraining
	case strings.HasPrefix(phase, "step:"):
		inst.Phase, inst.Detail = PhaseStep, strings.TrimPrefix(phase, "step:")
	case phase == "step":
		inst.Phase = PhaseStep
	case phase == "joining":
		inst.Phase = PhaseJoining
	case phase == "baking":
		inst.Phase = PhaseBaking
	case phase == "rollback" || strings.HasPrefix(phase, "rollback:"):
		inst.Phase, inst.Detail = PhaseRollingBack, strings.TrimPrefix(strings.TrimPrefix(phase, "rollback"), ":")
	case phase != "":
		// A phase this page does not know yet: show it as the provider wrote it.
		inst.Phase, inst.Detail = PhaseStep, phase
	case strings.Contains(is.LifecycleState, "Standby"):
		inst.Phase, inst.Detail = PhaseStandby, is.LifecycleState
	case healthy && outcome != "":
		inst.Phase = outcome
	case healthy:
		inst.Phase = PhaseInService
	case worst == "draining":
		inst.Phase = PhaseDraining
	case worst == "initial":
		inst.Phase = PhaseJoining
	case worst == "unhealthy":
		inst.Phase = PhaseUnhealthy
	case outcome != "":
		inst.Phase = outcome
	default:
		inst.Phase, inst.Detail = PhaseOutOfService, worst
	}
	return inst
}

// targetHealth says whether the instance is healthy in every target group it
// is registered in (and in at least one), and names its worst target state.
func targetHealth(targets map[string]string) (healthy bool, worst string) {
	rank := map[string]int{"healthy": 0, "initial": 1, "draining": 2, "unhealthy": 3, "unavailable": 4, "unused": 5}
	if len(targets) == 0 {
		return false, "unregistered"
	}
	arns := make([]string, 0, len(targets))
	for arn := range targets {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	worst, worstRank := "healthy", 0
	for _, arn := range arns {
		state := targets[arn]
		r, known := rank[state]
		if !known {
			r = len(rank)
		}
		if r > worstRank {
			worst, worstRank = state, r
		}
	}
	return worst == "healthy", worst
}
