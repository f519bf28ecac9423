package fleetsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Instance states as EC2 names them, with their state codes.
const (
	StatePending      = "pending"
	StateRunning      = "running"
	StateShuttingDown = "shutting-down"
	StateTerminated   = "terminated"
	StateStopping     = "stopping"
	StateStopped      = "stopped"
)

var stateCodes = map[string]int{
	StatePending: 0, StateRunning: 16, StateShuttingDown: 32, StateTerminated: 48, StateStopping: 64, StateStopped: 80,
}

// Target health states and reasons as ELBv2 reports them.
const (
	TargetInitial   = "initial"
	TargetHealthy   = "healthy"
	TargetUnhealthy = "unhealthy"
	TargetUnused    = "unused"
	TargetDraining  = "draining"

	ReasonRegistrationInProgress = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking  = "Elb.InitialHealthChecking"
	ReasonFailedHealthChecks     = "Target.FailedHealthChecks"
	ReasonNotRegistered          = "Target.NotRegistered"
	ReasonInvalidState           = "Target.InvalidState"
	ReasonDeregistrationProgress = "Target.DeregistrationInProgress"
)

var reasonDescriptions = map[string]string{
	ReasonRegistrationInProgress: "Target registration is in progress",
	ReasonInitialHealthChecking:  "Initial health checks in progress",
	ReasonFailedHealthChecks:     "Health checks failed",
	ReasonNotRegistered:          "Target is not registered to the target group",
	ReasonDeregistrationProgress: "Target deregistration is in progress",
}

type instance struct {
	id, az, privateIP string
	state             string
	launchTime        time.Time
	terminatedAt      time.Time
	tags              map[string]string
	agentOnline       bool
	appVersion        string
	appRunning        bool
	asg               string
	lifecycle         string // Auto Scaling lifecycle state, "" outside a group
	seq               int
	homeTGs           map[string]bool // target groups it has been registered in since creation
	outOfService      bool
	unhealthyChecks   int // consecutive failing checks while unhealthy, for ReplaceUnhealthy
	// stateGen counts state changes, so a timed transition (stopping ->
	// stopped, pending -> running, shutting-down -> terminated) scheduled
	// before another change does not fire after it.
	stateGen int
	// runningSince is when the instance last reached running; zero for
	// seeded instances, which have been running for long (status checks ok).
	runningSince time.Time
	everRunning  bool
	// launchVersion is the version the instance's launch template installed
	// (the group's launch version when it launched, the seeded app version
	// otherwise): the default termination policy prefers other versions.
	launchVersion string
}

type targetKey struct {
	id   string
	port int32
}

type target struct {
	key         targetKey
	state       string
	reason      string
	passes      int
	fails       int
	checks      int
	seq         uint64
	gen         int
	registered  time.Time
	drainingEnd time.Time
}

type targetGroup struct {
	arn, name, protocol, vpc string
	port                     int32
	interval                 time.Duration
	healthyThreshold         int
	unhealthyThreshold       int
	attrs                    map[string]string
	targets                  map[targetKey]*target
	healthy                  int
	healthyByID              map[string]int // healthy targets per instance id
	lbARNs                   []string
	seq                      int
	created                  time.Time
}

func (tg *targetGroup) deregistrationDelay() time.Duration {
	var secs int
	if _, err := fmt.Sscanf(tg.attrs["deregistration_delay.timeout_seconds"], "%d", &secs); err != nil {
		return 300 * time.Second
	}
	return time.Duration(secs) * time.Second
}

type loadBalancer struct {
	arn, name, dns string
	azs            []string
	created        time.Time
}

// TargetGroupConfig seeds a target group.
type TargetGroupConfig struct {
	Name                string
	Port                int32
	Protocol            string        // default HTTP
	HealthCheckInterval time.Duration // default 30s
	HealthyThreshold    int           // default 5
	UnhealthyThreshold  int           // default 2
	DeregistrationDelay time.Duration // default 300s
	// LoadBalancer names the ALB it is attached to; default "fleetsim-alb".
	// Use "-" for a target group attached to no load balancer.
	LoadBalancer string
}

// AddTargetGroup creates a target group and returns its ARN.
func (s *Sim) AddTargetGroup(c TargetGroupConfig) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	return s.addTargetGroupLocked(c).arn
}

func (s *Sim) addTargetGroupLocked(c TargetGroupConfig) *targetGroup {
	if c.Name == "" {
		c.Name = fmt.Sprintf("tg-%d", s.tgSeq+1)
	}
	if existing := s.targetGroupByNameLocked(c.Name); existing != nil {
		return existing
	}
	if c.Protocol == "" {
		c.Protocol = "HTTP"
	}
	if c.Port == 0 {
		c.Port = 80
	}
	if c.HealthCheckInterval <= 0 {
		c.HealthCheckInterval = 30 * time.Second
	}
	if c.HealthyThreshold <= 0 {
		c.HealthyThreshold = 5
	}
	if c.UnhealthyThreshold <= 0 {
		c.UnhealthyThreshold = 2
	}
	delay := c.DeregistrationDelay
	if delay < 0 {
		delay = 0
	} else if delay == 0 {
		delay = 300 * time.Second
	}
	s.tgSeq++
	tg := &targetGroup{
		arn:                fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", s.opts.Region, s.opts.AccountID, c.Name, s.hexLocked(16)),
		name:               c.Name,
		protocol:           c.Protocol,
		vpc:                "vpc-0f1e2d3c4b5a69788",
		port:               c.Port,
		interval:           c.HealthCheckInterval,
		healthyThreshold:   c.HealthyThreshold,
		unhealthyThreshold: c.UnhealthyThreshold,
		targets:            map[targetKey]*target{},
		healthyByID:        map[string]int{},
		seq:                s.tgSeq,
		created:            s.now,
		attrs: map[string]string{
			"deregistration_delay.timeout_seconds":  fmt.Sprint(int(delay / time.Second)),
			"stickiness.enabled":                    "false",
			"stickiness.type":                       "lb_cookie",
			"stickiness.lb_cookie.duration_seconds": "86400",
			"load_balancing.algorithm.type":         "round_robin",
			"slow_start.duration_seconds":           "0",
			"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
		},
	}
	lbName := c.LoadBalancer
	if lbName == "" {
		lbName = "fleetsim-alb"
	}
	if lbName != "-" {
		lb := s.loadBalancerLocked(lbName)
		tg.lbARNs = []string{lb.arn}
	}
	s.tgs[tg.arn] = tg
	s.recorder.trackTargetGroupLocked(tg)
	return tg
}

func (s *Sim) loadBalancerLocked(name string) *loadBalancer {
	for _, lb := range s.lbs {
		if lb.name == name {
			return lb
		}
	}
	id := s.hexLocked(16)
	lb := &loadBalancer{
		arn:     fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/app/%s/%s", s.opts.Region, s.opts.AccountID, name, id),
		name:    name,
		dns:     fmt.Sprintf("%s-%s.%s.elb.amazonaws.com", name, id[:10], s.opts.Region),
		azs:     s.defaultAZs(),
		created: s.now,
	}
	s.lbs[lb.arn] = lb
	return lb
}

func (s *Sim) defaultAZs() []string {
	r := s.opts.Region
	return []string{r + "a", r + "b", r + "c"}
}

func (s *Sim) targetGroupByNameLocked(name string) *targetGroup {
	for _, tg := range s.tgs {
		if tg.name == name {
			return tg
		}
	}
	return nil
}

func (s *Sim) sortedTargetGroupsLocked() []*targetGroup {
	out := make([]*targetGroup, 0, len(s.tgs))
	for _, tg := range s.tgs {
		out = append(out, tg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func sortedTargets(tg *targetGroup) []*target {
	out := make([]*target, 0, len(tg.targets))
	for _, t := range tg.targets {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// InstanceConfig seeds Count identical instances.
type InstanceConfig struct {
	Count            int
	AZs              []string          // round-robin; default region+"a","b","c"
	AppVersion       string            // installed and running, healthy
	Tags             map[string]string // e.g. {"rolling:version": "v1", "Name": "web"}
	TargetGroupARNs  []string          // registered (on the TG's port) and already healthy
	AutoScalingGroup string            // must exist; instances InService
	AgentOffline     bool
}

// AddInstances launches running instances (already healthy in their target
// groups) and returns their ids in launch order. Unknown target groups or
// groups are ignored rather than panicking.
func (s *Sim) AddInstances(c InstanceConfig) (ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	return s.addInstancesLocked(c)
}

func (s *Sim) addInstancesLocked(c InstanceConfig) []string {
	s.seeding = true
	defer func() { s.seeding = false }()
	azs := c.AZs
	if len(azs) == 0 {
		azs = s.defaultAZs()
	}
	group := s.asgs[c.AutoScalingGroup]
	tgARNs := append([]string(nil), c.TargetGroupARNs...)
	if group != nil {
		for _, arn := range group.tgARNs {
			if !containsString(tgARNs, arn) {
				tgARNs = append(tgARNs, arn)
			}
		}
	}
	var ids []string
	for i := 0; i < c.Count; i++ {
		inst := s.newInstanceLocked(azs[(s.instanceSeq)%len(azs)], c.AppVersion, c.Tags)
		inst.state = StateRunning
		inst.everRunning = true
		inst.launchVersion = c.AppVersion
		inst.appRunning = c.AppVersion != ""
		inst.agentOnline = !c.AgentOffline
		if group != nil {
			inst.asg = group.name
			inst.lifecycle = "InService"
			inst.tags["aws:autoscaling:groupName"] = group.name
			group.members = append(group.members, inst.id)
			group.desired++
			if group.desired > group.max {
				group.max = group.desired
			}
		}
		for _, arn := range tgARNs {
			tg := s.tgs[arn]
			if tg == nil {
				continue
			}
			t := s.registerLocked(tg, targetKey{inst.id, tg.port})
			t.passes = tg.healthyThreshold
			t.checks = tg.healthyThreshold
			s.setTargetStateLocked(tg, t, TargetHealthy, "")
		}
		ids = append(ids, inst.id)
	}
	return ids
}

func (s *Sim) newInstanceLocked(az, version string, tags map[string]string) *instance {
	s.instanceSeq++
	s.ipSeq++
	inst := &instance{
		id:         "i-0" + s.hexLocked(16),
		az:         az,
		privateIP:  fmt.Sprintf("10.0.%d.%d", (s.ipSeq/250)%250, s.ipSeq%250+4),
		state:      StatePending,
		launchTime: s.now,
		tags:       map[string]string{},
		appVersion: version,
		seq:        s.instanceSeq,
		homeTGs:    map[string]bool{},
	}
	for k, v := range s.opts.LaunchTags {
		inst.tags[k] = v
	}
	for k, v := range tags {
		inst.tags[k] = v
	}
	s.instances[inst.id] = inst
	return inst
}

func (s *Sim) sortedInstancesLocked() []*instance {
	out := make([]*instance, 0, len(s.instances))
	for _, inst := range s.instances {
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// registerLocked adds (or re-activates) a target in initial state and starts
// its health checks. The first check comes one interval after registration.
func (s *Sim) registerLocked(tg *targetGroup, key targetKey) *target {
	t := tg.targets[key]
	if t != nil && t.state != TargetDraining {
		return t
	}
	if t == nil {
		s.eventSeq++
		t = &target{key: key, seq: s.eventSeq}
		tg.targets[key] = t
	}
	t.gen++
	t.passes, t.fails, t.checks = 0, 0, 0
	t.registered = s.now
	if inst := s.instances[key.id]; inst != nil {
		inst.homeTGs[tg.arn] = true
		inst.unhealthyChecks = 0
	}
	s.setTargetStateLocked(tg, t, TargetInitial, ReasonRegistrationInProgress)
	s.scheduleCheckLocked(tg, t)
	return t
}

func (s *Sim) scheduleCheckLocked(tg *targetGroup, t *target) {
	gen := t.gen
	s.after(tg.interval, func() {
		if t.gen != gen || s.tgs[tg.arn] != tg || tg.targets[t.key] != t {
			return
		}
		s.healthCheckLocked(tg, t)
		s.scheduleCheckLocked(tg, t)
	})
}

// checkPassesLocked is the model's health check: the instance runs, the app
// is started and its installed version is not marked never-healthy.
func (s *Sim) checkPassesLocked(inst *instance) bool {
	if inst == nil || inst.state != StateRunning || !inst.appRunning {
		return false
	}
	return !s.faults.neverHealthyLocked(inst.appVersion, inst.id)
}

func (s *Sim) healthCheckLocked(tg *targetGroup, t *target) {
	inst := s.instances[t.key.id]
	if inst == nil || inst.state != StateRunning {
		// Stopped or terminated instances are not checked; their state was set
		// to unused when they left running.
		return
	}
	t.checks++
	pass := s.checkPassesLocked(inst)
	if pass {
		t.passes++
		t.fails = 0
	} else {
		t.fails++
		t.passes = 0
	}
	switch t.state {
	case TargetInitial, TargetUnused:
		switch {
		case pass && t.passes >= tg.healthyThreshold:
			s.setTargetStateLocked(tg, t, TargetHealthy, "")
		case !pass && t.fails >= tg.unhealthyThreshold:
			s.setTargetStateLocked(tg, t, TargetUnhealthy, ReasonFailedHealthChecks)
		default:
			s.setTargetStateLocked(tg, t, TargetInitial, ReasonInitialHealthChecking)
		}
	case TargetHealthy:
		if !pass && t.fails >= tg.unhealthyThreshold {
			s.setTargetStateLocked(tg, t, TargetUnhealthy, ReasonFailedHealthChecks)
		}
	case TargetUnhealthy:
		if pass && t.passes >= tg.healthyThreshold {
			s.setTargetStateLocked(tg, t, TargetHealthy, "")
		}
	}
	switch t.state {
	case TargetUnhealthy:
		inst.unhealthyChecks++
		s.considerReplacingLocked(inst, tg)
	case TargetHealthy:
		inst.unhealthyChecks = 0
	}
}

// deregisterLocked starts draining; the target disappears after the group's
// deregistration delay. Deregistering an absent target is a no-op, as in AWS.
func (s *Sim) deregisterLocked(tg *targetGroup, key targetKey) {
	t := tg.targets[key]
	if t == nil || t.state == TargetDraining {
		return
	}
	t.gen++
	delay := tg.deregistrationDelay()
	t.drainingEnd = s.now.Add(delay)
	s.setTargetStateLocked(tg, t, TargetDraining, ReasonDeregistrationProgress)
	gen := t.gen
	remove := func() {
		if t.gen != gen || tg.targets[key] != t {
			return
		}
		s.removeTargetLocked(tg, t)
	}
	if delay <= 0 {
		remove()
		return
	}
	s.after(delay, remove)
}

func (s *Sim) removeTargetLocked(tg *targetGroup, t *target) {
	s.setTargetStateLocked(tg, t, TargetUnused, ReasonNotRegistered)
	delete(tg.targets, t.key)
	t.gen++
	if inst := s.instances[t.key.id]; inst != nil {
		s.refreshOutOfServiceLocked(inst)
	}
	s.onTargetRemovedLocked(t.key.id)
}

// setTargetStateLocked is the only place target states change, so healthy
// counts, the out-of-service count and the recorder stay consistent.
func (s *Sim) setTargetStateLocked(tg *targetGroup, t *target, state, reason string) {
	was := t.state == TargetHealthy
	t.state, t.reason = state, reason
	now := t.state == TargetHealthy
	if was != now {
		if now {
			tg.healthy++
			tg.healthyByID[t.key.id]++
		} else {
			tg.healthy--
			if tg.healthyByID[t.key.id]--; tg.healthyByID[t.key.id] <= 0 {
				delete(tg.healthyByID, t.key.id)
			}
		}
		s.recorder.healthyChangedLocked(tg)
	}
	if inst := s.instances[t.key.id]; inst != nil {
		s.refreshOutOfServiceLocked(inst)
	}
}

// refreshOutOfServiceLocked recomputes whether an instance that belongs to
// the served fleet (registered in some target group since it was created) is
// out of service: not terminated and not healthy in one of those groups.
func (s *Sim) refreshOutOfServiceLocked(inst *instance) {
	out := false
	if inst.state != StateTerminated && len(inst.homeTGs) > 0 {
		for arn := range inst.homeTGs {
			tg := s.tgs[arn]
			if tg == nil {
				continue
			}
			if tg.healthyByID[inst.id] == 0 {
				out = true
				break
			}
		}
	}
	if out != inst.outOfService {
		inst.outOfService = out
		s.recorder.outOfServiceChangedLocked(out)
	}
}

// setInstanceStateLocked moves an instance between EC2 states and updates
// what depends on it: targets of a stopped or terminated instance become
// unused (Target.InvalidState); a started one is health-checked again.
func (s *Sim) setInstanceStateLocked(inst *instance, state string) {
	if inst.state == state {
		return
	}
	inst.state = state
	inst.stateGen++
	switch state {
	case StateTerminated:
		inst.terminatedAt = s.now
		s.after(terminatedVisibility, func() { s.forgetTerminatedTargetsLocked(inst) })
	case StateRunning:
		inst.runningSince = s.now
		inst.everRunning = true
	}
	switch state {
	case StateStopped, StateTerminated, StateStopping, StateShuttingDown:
		inst.appRunning = false
		for _, tg := range s.tgs {
			for key, t := range tg.targets {
				if key.id == inst.id && t.state != TargetDraining {
					t.gen++
					s.setTargetStateLocked(tg, t, TargetUnused, ReasonInvalidState)
				}
			}
		}
		s.abortInvocationsLocked(inst)
	case StateRunning:
		for _, tg := range s.tgs {
			for key, t := range tg.targets {
				if key.id == inst.id && t.state == TargetUnused {
					t.gen++
					t.passes, t.fails = 0, 0
					s.setTargetStateLocked(tg, t, TargetInitial, ReasonInitialHealthChecking)
					s.scheduleCheckLocked(tg, t)
				}
			}
		}
	}
	s.refreshOutOfServiceLocked(inst)
}

// terminatedVisibility is how long EC2 keeps listing a terminated instance.
const terminatedVisibility = time.Hour

// visibleToEC2Locked hides instances terminated more than an hour ago, as
// DescribeInstances does.
func (s *Sim) visibleToEC2Locked(inst *instance) bool {
	return inst.state != StateTerminated || s.now.Sub(inst.terminatedAt) < terminatedVisibility
}

func containsString(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func rollingTags(tags map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		if strings.HasPrefix(k, "rolling:") {
			out[k] = v
		}
	}
	return out
}

type alarm struct {
	name, arn, state, reason string
	updated                  time.Time
	seq                      int
}

// AddAlarm creates (or resets) a metric alarm in state OK, ALARM or
// INSUFFICIENT_DATA.
func (s *Sim) AddAlarm(name string, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.addAlarmLocked(name, state)
}

func (s *Sim) addAlarmLocked(name, state string) *alarm {
	switch state {
	case "OK", "ALARM", "INSUFFICIENT_DATA":
	default:
		state = "OK"
	}
	a := s.alarms[name]
	if a == nil {
		a = &alarm{name: name, arn: fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.opts.Region, s.opts.AccountID, name), seq: len(s.alarms) + 1}
		s.alarms[name] = a
	}
	a.state = state
	a.reason = "Seeded by fleetsim"
	a.updated = s.now
	return a
}

// InstanceSnapshot is one instance as the fleet snapshot and Instance report it.
type InstanceSnapshot struct {
	ID             string            `json:"id"`
	AZ             string            `json:"az"`
	State          string            `json:"state"`
	AppVersion     string            `json:"app_version"`
	AppRunning     bool              `json:"app_running"`
	AgentOnline    bool              `json:"agent_online"`
	Tags           map[string]string `json:"tags"`
	RollingTags    map[string]string `json:"rolling_tags"`
	ASG            string            `json:"asg,omitempty"`
	LifecycleState string            `json:"lifecycle_state,omitempty"`
	// Targets maps target group ARN to the instance's target state there.
	Targets    map[string]string `json:"targets"`
	LaunchTime time.Time         `json:"launch_time"`
}

// TargetGroupSnapshot summarises one target group.
type TargetGroupSnapshot struct {
	ARN     string           `json:"arn"`
	Name    string           `json:"name"`
	Port    int32            `json:"port"`
	Healthy int              `json:"healthy"`
	Targets []TargetSnapshot `json:"targets"`
}

// TargetSnapshot is one registered target.
type TargetSnapshot struct {
	ID     string `json:"id"`
	Port   int32  `json:"port"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// AlarmSnapshot is one alarm.
type AlarmSnapshot struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// FleetSnapshot is what GET /_sim/fleet returns: a stable, cheap view.
type FleetSnapshot struct {
	SimTime      time.Time             `json:"sim_time"`
	TimeScale    float64               `json:"time_scale"`
	Instances    []InstanceSnapshot    `json:"instances"`
	TargetGroups []TargetGroupSnapshot `json:"target_groups"`
	Alarms       []AlarmSnapshot       `json:"alarms"`
}

// Instance reports one instance for assertions.
func (s *Sim) Instance(id string) (InstanceSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	inst := s.instances[id]
	if inst == nil {
		return InstanceSnapshot{}, false
	}
	return s.instanceSnapshotLocked(inst), true
}

func (s *Sim) instanceSnapshotLocked(inst *instance) InstanceSnapshot {
	snap := InstanceSnapshot{
		ID: inst.id, AZ: inst.az, State: inst.state, AppVersion: inst.appVersion, AppRunning: inst.appRunning,
		AgentOnline: inst.agentOnline, Tags: map[string]string{}, RollingTags: rollingTags(inst.tags),
		ASG: inst.asg, LifecycleState: inst.lifecycle, Targets: map[string]string{}, LaunchTime: inst.launchTime,
	}
	for k, v := range inst.tags {
		snap.Tags[k] = v
	}
	for _, tg := range s.tgs {
		for key, t := range tg.targets {
			if key.id == inst.id {
				snap.Targets[tg.arn] = t.state
			}
		}
	}
	return snap
}

// Snapshot returns the whole fleet in launch order.
func (s *Sim) Snapshot() FleetSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.advanceLocked()
	snap := FleetSnapshot{SimTime: now, TimeScale: s.scale, Instances: []InstanceSnapshot{}, TargetGroups: []TargetGroupSnapshot{}, Alarms: []AlarmSnapshot{}}
	byInstance := map[string]map[string]string{}
	for _, tg := range s.sortedTargetGroupsLocked() {
		ts := TargetGroupSnapshot{ARN: tg.arn, Name: tg.name, Port: tg.port, Healthy: tg.healthy, Targets: []TargetSnapshot{}}
		for _, t := range sortedTargets(tg) {
			ts.Targets = append(ts.Targets, TargetSnapshot{ID: t.key.id, Port: t.key.port, State: t.state, Reason: t.reason})
			if byInstance[t.key.id] == nil {
				byInstance[t.key.id] = map[string]string{}
			}
			byInstance[t.key.id][tg.arn] = t.state
		}
		snap.TargetGroups = append(snap.TargetGroups, ts)
	}
	for _, inst := range s.sortedInstancesLocked() {
		is := InstanceSnapshot{
			ID: inst.id, AZ: inst.az, State: inst.state, AppVersion: inst.appVersion, AppRunning: inst.appRunning,
			AgentOnline: inst.agentOnline, Tags: map[string]string{}, RollingTags: rollingTags(inst.tags),
			ASG: inst.asg, LifecycleState: inst.lifecycle, Targets: map[string]string{}, LaunchTime: inst.launchTime,
		}
		for k, v := range inst.tags {
			is.Tags[k] = v
		}
		for k, v := range byInstance[inst.id] {
			is.Targets[k] = v
		}
		snap.Instances = append(snap.Instances, is)
	}
	for _, name := range sortedKeys(s.alarms) {
		snap.Alarms = append(snap.Alarms, AlarmSnapshot{Name: name, State: s.alarms[name].state})
	}
	return snap
}
