package fleetsim

import (
	"sort"
	"time"
)

// Call is one recorded API call.
type Call struct {
	Service        string            `json:"service"` // signing name: elasticloadbalancing, ec2, ssm, ...
	Action         string            `json:"action"`
	Protocol       string            `json:"protocol"` // query, ec2, json, cbor
	AccessKeyID    string            `json:"access_key_id,omitempty"`
	TargetGroupARN string            `json:"target_group_arn,omitempty"`
	TargetIDs      []string          `json:"target_ids,omitempty"`
	InstanceIDs    []string          `json:"instance_ids,omitempty"`
	CommandID      string            `json:"command_id,omitempty"`
	Params         map[string]string `json:"params,omitempty"` // other key parameters
	SimTime        time.Time         `json:"sim_time"`
	WallTime       time.Time         `json:"wall_time"`
	// Latency is the simulated time the call took on top of being served:
	// the latency drawn (Options.Latency) plus a slow fault's delay, not
	// the per-KiB part.
	Latency    time.Duration `json:"latency,omitempty"`
	ErrorCode  string        `json:"error_code,omitempty"`
	HTTPStatus int           `json:"http_status"`
}

// TimelinePoint is the healthy count of a target group from At onwards.
type TimelinePoint struct {
	At      time.Time `json:"at"` // simulated time
	Healthy int       `json:"healthy"`
}

type tgRecord struct {
	timeline []TimelinePoint
	min      int
	// pristine means only seeding has changed the group since recording
	// started, so seeding healthy instances raises the baseline instead of
	// counting the empty group as a dip.
	pristine bool
}

// maxRecordedCalls bounds memory for a long-running demo; the oldest calls
// are dropped first (counts are kept exactly).
const maxRecordedCalls = 200000

const maxTimelinePoints = 100000

// Recorder keeps every API call and, per target group, the healthy count over
// time. Its methods are safe for concurrent use.
type Recorder struct {
	sim          *Sim
	calls        []Call
	counts       map[string]int
	tgs          map[string]*tgRecord
	outOfService int
	maxOut       int
}

func (r *Recorder) resetLocked() {
	r.calls = nil
	r.counts = map[string]int{}
	r.tgs = map[string]*tgRecord{}
	for arn, tg := range r.sim.tgs {
		r.tgs[arn] = &tgRecord{timeline: []TimelinePoint{{At: r.sim.now, Healthy: tg.healthy}}, min: tg.healthy, pristine: true}
	}
	r.maxOut = r.outOfService
}

func (r *Recorder) trackTargetGroupLocked(tg *targetGroup) {
	if r.tgs[tg.arn] == nil {
		r.tgs[tg.arn] = &tgRecord{timeline: []TimelinePoint{{At: r.sim.now, Healthy: tg.healthy}}, min: tg.healthy, pristine: true}
	}
}

func (r *Recorder) healthyChangedLocked(tg *targetGroup) {
	rec := r.tgs[tg.arn]
	if rec == nil {
		r.trackTargetGroupLocked(tg)
		return
	}
	now := r.sim.now
	if n := len(rec.timeline); n > 0 && r.sim.seeding && rec.pristine {
		// Seeding builds the starting point; it is not a change over time.
		rec.timeline[n-1] = TimelinePoint{At: now, Healthy: tg.healthy}
	} else {
		if len(rec.timeline) >= maxTimelinePoints {
			rec.timeline = append(rec.timeline[:0], rec.timeline[len(rec.timeline)/2:]...)
		}
		rec.timeline = append(rec.timeline, TimelinePoint{At: now, Healthy: tg.healthy})
	}
	switch {
	case r.sim.seeding && rec.pristine:
		rec.min = tg.healthy
	case tg.healthy < rec.min:
		rec.min = tg.healthy
	}
	if !r.sim.seeding {
		rec.pristine = false
	}
}

func (r *Recorder) outOfServiceChangedLocked(out bool) {
	if out {
		r.outOfService++
	} else {
		r.outOfService--
	}
	if r.outOfService > r.maxOut && !r.sim.seeding {
		r.maxOut = r.outOfService
	}
}

func (r *Recorder) recordLocked(c Call) {
	r.counts[c.Action]++
	if len(r.calls) >= maxRecordedCalls {
		r.calls = append(r.calls[:0], r.calls[len(r.calls)/2:]...)
	}
	r.calls = append(r.calls, c)
}

// Calls returns the recorded calls of one action ("" = all), oldest first.
func (r *Recorder) Calls(action string) []Call {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	var out []Call
	for _, c := range r.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// CallCount counts recorded calls per action (failed ones included).
func (r *Recorder) CallCount() map[string]int {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	out := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// MinInService is the minimum healthy count of a target group seen since
// recording started (New or Reset); -1 for an unknown target group.
func (r *Recorder) MinInService(tgARN string) int {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.sim.advanceLocked()
	rec := r.tgs[tgARN]
	if rec == nil {
		return -1
	}
	return rec.min
}

// MaxOutOfService is the largest number of fleet instances out of service at
// once since recording started. A fleet instance is one registered in some
// target group since launch; it is out of service while it is not terminated
// and not healthy in every such group that still exists.
func (r *Recorder) MaxOutOfService() int {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.sim.advanceLocked()
	return r.maxOut
}

// OutOfService is the current number of fleet instances out of service.
func (r *Recorder) OutOfService() int {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.sim.advanceLocked()
	return r.outOfService
}

// InServiceTimeline is the healthy count of a target group over simulated
// time since recording started: one point per change.
func (r *Recorder) InServiceTimeline(tgARN string) []TimelinePoint {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.sim.advanceLocked()
	rec := r.tgs[tgARN]
	if rec == nil {
		return nil
	}
	return append([]TimelinePoint(nil), rec.timeline...)
}

// Reset forgets calls and starts new timelines from the current state.
func (r *Recorder) Reset() {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	r.sim.advanceLocked()
	r.resetLocked()
}

// RecorderReport is the JSON form of the recorder (GET /_sim/recorder).
type RecorderReport struct {
	SimTime         time.Time                  `json:"sim_time"`
	CallCount       map[string]int             `json:"call_count"`
	Calls           []Call                     `json:"calls,omitempty"`
	MinInService    map[string]int             `json:"min_in_service"`
	MaxOutOfService int                        `json:"max_out_of_service"`
	OutOfService    int                        `json:"out_of_service"`
	Timelines       map[string][]TimelinePoint `json:"timelines,omitempty"`
}

// Report snapshots the recorder; calls and timelines only when asked.
func (r *Recorder) Report(withCalls, withTimelines bool) RecorderReport {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	now := r.sim.advanceLocked()
	rep := RecorderReport{SimTime: now, CallCount: map[string]int{}, MinInService: map[string]int{},
		MaxOutOfService: r.maxOut, OutOfService: r.outOfService}
	for k, v := range r.counts {
		rep.CallCount[k] = v
	}
	arns := make([]string, 0, len(r.tgs))
	for arn := range r.tgs {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	if withTimelines {
		rep.Timelines = map[string][]TimelinePoint{}
	}
	for _, arn := range arns {
		rep.MinInService[arn] = r.tgs[arn].min
		if withTimelines {
			rep.Timelines[arn] = append([]TimelinePoint(nil), r.tgs[arn].timeline...)
		}
	}
	if withCalls {
		rep.Calls = append([]Call(nil), r.calls...)
	}
	return rep
}

// Recorder returns the call and capacity recorder.
func (s *Sim) Recorder() *Recorder { return s.recorder }
