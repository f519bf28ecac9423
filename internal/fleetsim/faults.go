package fleetsim

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Faults injects failures. Every method is safe for concurrent use; "after"
// durations are simulated time from now (0 = immediately).
type Faults struct {
	sim *Sim

	throttling bool
	limits     map[string]rateLimit // action -> own bucket override
	buckets    map[string]*tokenBucket

	serverErrors map[string]float64 // action ("" = all) -> probability
	slow         map[string]slowFault

	failDeploy   map[string]instanceSet // version -> instances (empty = all)
	neverHealthy map[string]instanceSet
	hangs        []hangFault

	alarmAfterCalls map[string]int // alarm -> DescribeAlarms calls left before ALARM

	statusChecks map[string]statusOverride // instance -> forced EC2 status check results
}

type instanceSet map[string]bool

func (set instanceSet) has(id string) bool { return len(set) == 0 || set[id] }

type rateLimit struct {
	Burst     int
	PerSecond float64
}

type slowFault struct {
	rate  float64
	delay time.Duration
}

type hangFault struct {
	match string
	ids   instanceSet
}

type tokenBucket struct {
	limit  rateLimit
	tokens float64
	last   time.Time
}

func newFaults(s *Sim) *Faults {
	return &Faults{
		sim: s, throttling: s.opts.Throttling, limits: map[string]rateLimit{}, buckets: map[string]*tokenBucket{},
		serverErrors: map[string]float64{}, slow: map[string]slowFault{}, failDeploy: map[string]instanceSet{},
		neverHealthy: map[string]instanceSet{}, alarmAfterCalls: map[string]int{}, statusChecks: map[string]statusOverride{},
	}
}

// Faults returns the fault injector.
func (s *Sim) Faults() *Faults { return s.faults }

// SetThrottling switches the AWS-like API rate limits on or off.
func (f *Faults) SetThrottling(on bool) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	f.throttling = on
	f.buckets = map[string]*tokenBucket{}
}

// SetRateLimit gives one action its own token bucket (burst tokens, refilled
// at perSecond per simulated second), whether or not the AWS-like defaults
// are on. perSecond 0 means the bucket never refills. Buckets refill in
// simulated time so that a rate limit means the same at every time scale:
// a client must then back off in simulated time too (awsclient scales the
// SDK's back-off by the time scale).
func (f *Faults) SetRateLimit(action string, burst int, perSecond float64) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	f.limits[action] = rateLimit{Burst: burst, PerSecond: perSecond}
	delete(f.buckets, "action:"+action)
}

// defaultLimit is the bucket an action shares and its size. ELBv2 numbers are
// AWS's documented Describe* limits and the AWS LB controller's defaults for
// Register/Deregister; the others are AWS-like guesses (AWS-FACTS.md).
func defaultLimit(service, action string) (string, rateLimit) {
	describe := strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "List") || strings.HasPrefix(action, "Get")
	switch service {
	case "elasticloadbalancing":
		switch {
		case describe:
			return "elb:describe", rateLimit{40, 10}
		case action == "RegisterTargets" || action == "DeregisterTargets":
			return "elb:registration", rateLimit{20, 4}
		}
		return "elb:mutate", rateLimit{40, 10}
	case "ec2":
		if describe {
			return "ec2:describe", rateLimit{100, 20}
		}
		return "ec2:mutate", rateLimit{200, 5}
	case "ssm":
		return "ssm:" + action, rateLimit{40, 10}
	case "sts":
		return "sts", rateLimit{100, 50}
	}
	return service, rateLimit{40, 10}
}

// takeTokenLocked reports whether the call may proceed under throttling at
// simulated time now.
func (f *Faults) takeTokenLocked(service, action string, now time.Time) bool {
	key, limit := defaultLimit(service, action)
	if l, ok := f.limits[action]; ok {
		key, limit = "action:"+action, l
	} else if !f.throttling {
		return true
	}
	b := f.buckets[key]
	if b == nil {
		b = &tokenBucket{limit: limit, tokens: float64(limit.Burst), last: now}
		f.buckets[key] = b
	}
	if now.After(b.last) {
		b.tokens = math.Min(float64(b.limit.Burst), b.tokens+now.Sub(b.last).Seconds()*b.limit.PerSecond)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// ServerErrors makes a fraction (0..1) of the calls to action ("" = every
// action) fail with the service's 5xx error.
func (f *Faults) ServerErrors(action string, rate float64) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	if rate <= 0 {
		delete(f.serverErrors, action)
		return
	}
	f.serverErrors[action] = rate
}

// SlowResponses delays a fraction of the calls to action ("" = all) by delay
// of simulated time before they are served, on top of Options.Latency: a
// slow call costs the same share of a rollout at every time scale.
func (f *Faults) SlowResponses(action string, rate float64, delay time.Duration) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	if rate <= 0 || delay <= 0 {
		delete(f.slow, action)
		return
	}
	f.slow[action] = slowFault{rate: rate, delay: delay}
}

func (f *Faults) serverErrorLocked(action string) bool {
	for _, key := range []string{action, ""} {
		if rate, ok := f.serverErrors[key]; ok && f.sim.rng.Float64() < rate {
			return true
		}
	}
	return false
}

func (f *Faults) slowDelayLocked(action string) time.Duration {
	for _, key := range []string{action, ""} {
		if sf, ok := f.slow[key]; ok && f.sim.rng.Float64() < sf.rate {
			return sf.delay
		}
	}
	return 0
}

func toSet(ids []string) instanceSet {
	set := instanceSet{}
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// FailDeploy makes `app deploy VERSION` exit 1 with a stderr message on the
// given instances (none = every instance).
func (f *Faults) FailDeploy(version string, instanceIDs ...string) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	f.failDeploy[version] = toSet(instanceIDs)
}

// NeverHealthy makes VERSION deploy fine but fail every health check and
// `app check` on the given instances (none = every instance).
func (f *Faults) NeverHealthy(version string, instanceIDs ...string) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	f.neverHealthy[version] = toSet(instanceIDs)
}

// HangCommands makes command lines containing match ("" = any line) hang on
// the given instances (none = all) until the execution timeout or
// CancelCommand. Non-shell documents hang when match is "".
func (f *Faults) HangCommands(match string, instanceIDs ...string) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	f.hangs = append(f.hangs, hangFault{match: match, ids: toSet(instanceIDs)})
}

func (f *Faults) deployFailsLocked(version, id string) bool {
	set, ok := f.failDeploy[version]
	return ok && set.has(id)
}

func (f *Faults) neverHealthyLocked(version, id string) bool {
	set, ok := f.neverHealthy[version]
	return ok && set.has(id)
}

func (f *Faults) hangsLocked(id, line string) bool {
	for _, h := range f.hangs {
		if h.ids.has(id) && strings.Contains(line, h.match) {
			return true
		}
	}
	return false
}

// Clear removes every fault (throttling returns to the Options setting).
func (f *Faults) Clear() {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	s := f.sim
	*f = *newFaults(s)
}

// instanceFault runs fn on the instance now or after a simulated delay.
func (f *Faults) instanceFault(id string, after time.Duration, fn func(*instance)) error {
	s := f.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	inst := s.instances[id]
	if inst == nil {
		return fmt.Errorf("fleetsim: no instance %q", id)
	}
	if after <= 0 {
		fn(inst)
		return nil
	}
	s.after(after, func() { fn(inst) })
	return nil
}

// SetAgentOnline takes the SSM agent of an instance offline or back online.
func (f *Faults) SetAgentOnline(id string, online bool) error {
	return f.SetAgentOnlineAfter(id, online, 0)
}

// SetAgentOnlineAfter does SetAgentOnline after a simulated delay. An
// offline agent of a running instance reports PingStatus ConnectionLost and
// leaves commands Delayed, then Undeliverable; the instance keeps running and
// serving.
func (f *Faults) SetAgentOnlineAfter(id string, online bool, after time.Duration) error {
	return f.instanceFault(id, after, func(inst *instance) { inst.agentOnline = online })
}

// SetStatusChecks forces the result of an instance's EC2 status checks
// (DescribeInstanceStatus) from a simulated delay on: instanceStatus and
// systemStatus are each ok, impaired, initializing, insufficient-data, or ""
// for the modelled result. They apply while the instance runs; a stopped or
// terminated instance reports not-applicable whatever is forced. The
// instance keeps running and serving: combine with NeverHealthy for one
// that also fails its load balancer health checks.
func (f *Faults) SetStatusChecks(id, instanceStatus, systemStatus string, after time.Duration) error {
	for _, v := range []string{instanceStatus, systemStatus} {
		switch v {
		case "", StatusOK, StatusImpaired, StatusInitializing, StatusInsufficientData:
		default:
			return fmt.Errorf("fleetsim: status check result %q is not ok, impaired, initializing or insufficient-data", v)
		}
	}
	return f.instanceFault(id, after, func(inst *instance) {
		if instanceStatus == "" && systemStatus == "" {
			delete(f.statusChecks, id)
			return
		}
		f.statusChecks[id] = statusOverride{instance: instanceStatus, system: systemStatus, since: f.sim.now}
	})
}

// StopInstance stops an instance (its targets become unused/Target.InvalidState).
func (f *Faults) StopInstance(id string, after time.Duration) error {
	return f.instanceFault(id, after, func(inst *instance) {
		if inst.state != StateTerminated {
			f.sim.setInstanceStateLocked(inst, StateStopped)
		}
	})
}

// StartInstance starts a stopped instance again; the app starts if a version
// is installed, and health checks resume from initial.
func (f *Faults) StartInstance(id string, after time.Duration) error {
	return f.instanceFault(id, after, func(inst *instance) {
		if inst.state == StateStopped {
			inst.appRunning = inst.appVersion != ""
			f.sim.setInstanceStateLocked(inst, StateRunning)
		}
	})
}

// TerminateInstance terminates an instance. A member of an Auto Scaling group
// leaves it (deregistered from attached groups) and is not replaced.
func (f *Faults) TerminateInstance(id string, after time.Duration) error {
	return f.instanceFault(id, after, func(inst *instance) {
		if inst.state == StateTerminated {
			return
		}
		if inst.asg != "" {
			f.sim.terminateMemberLocked(inst)
			return
		}
		f.sim.setInstanceStateLocked(inst, StateTerminated)
	})
}

// ReplaceInstance has the instance's Auto Scaling group terminate it and
// launch a replacement (new id, launch version, no rolling tags), as
// ReplaceUnhealthy or a Spot interruption would.
func (f *Faults) ReplaceInstance(id string, after time.Duration) error {
	return f.instanceFault(id, after, func(inst *instance) {
		if inst.state != StateTerminated && inst.asg != "" {
			f.sim.replaceInstanceLocked(inst)
		}
	})
}

// AlarmAt sets an alarm to ALARM after a simulated delay (0 = now).
func (f *Faults) AlarmAt(name string, after time.Duration) error {
	s := f.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	a := s.alarms[name]
	if a == nil {
		return fmt.Errorf("fleetsim: no alarm %q", name)
	}
	fire := func() { s.setAlarmStateLocked(a, "ALARM", "Threshold Crossed: fleetsim fault") }
	if after <= 0 {
		fire()
	} else {
		s.after(after, fire)
	}
	return nil
}

// AlarmAfterCalls sets an alarm to ALARM once n more DescribeAlarms calls
// have been answered (the n-th one still sees the old state).
func (f *Faults) AlarmAfterCalls(name string, n int) error {
	s := f.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alarms[name] == nil {
		return fmt.Errorf("fleetsim: no alarm %q", name)
	}
	if n <= 0 {
		s.setAlarmStateLocked(s.alarms[name], "ALARM", "Threshold Crossed: fleetsim fault")
		return nil
	}
	f.alarmAfterCalls[name] = n
	return nil
}

func (f *Faults) afterDescribeAlarmsLocked() {
	for name, left := range f.alarmAfterCalls {
		left--
		if left > 0 {
			f.alarmAfterCalls[name] = left
			continue
		}
		delete(f.alarmAfterCalls, name)
		if a := f.sim.alarms[name]; a != nil {
			f.sim.setAlarmStateLocked(a, "ALARM", "Threshold Crossed: fleetsim fault")
		}
	}
}

func (s *Sim) setAlarmStateLocked(a *alarm, state, reason string) {
	if a.state != state {
		a.updated = s.now
	}
	a.state, a.reason = state, reason
}

// DeleteTargetGroup deletes a target group out from under its users (after a
// simulated delay, 0 = now): every later call naming it gets TargetGroupNotFound.
func (f *Faults) DeleteTargetGroup(arn string, after time.Duration) error {
	s := f.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	tg := s.tgs[arn]
	if tg == nil {
		return fmt.Errorf("fleetsim: no target group %q", arn)
	}
	del := func() { s.deleteTargetGroupLocked(tg) }
	if after <= 0 {
		del()
	} else {
		s.after(after, del)
	}
	return nil
}

func (s *Sim) deleteTargetGroupLocked(tg *targetGroup) {
	if s.tgs[tg.arn] != tg {
		return
	}
	for _, t := range sortedTargets(tg) {
		t.gen++
		if t.state == TargetHealthy {
			s.setTargetStateLocked(tg, t, TargetUnused, ReasonNotRegistered)
		}
	}
	delete(s.tgs, tg.arn)
	for _, t := range tg.targets {
		if inst := s.instances[t.key.id]; inst != nil {
			delete(inst.homeTGs, tg.arn)
			s.refreshOutOfServiceLocked(inst)
		}
	}
}
