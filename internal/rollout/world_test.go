package rollout

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/clock"
)

// world is a fake AWS implementing every port, driven by a fake clock. It
// models what the engine's safety rests on (registrations, draining, health
// checks, standby, command effects on the application) and records what the
// engine did, so tests assert on the world's own record rather than on the
// engine's report of itself.
//
// The application on each instance is modelled by the steps' commands:
// "stop" stops it, "install <v>" installs version v, "start" starts it,
// "verify" fails unless it is up and working. It passes health checks when it
// is up and not broken; a failed step or installing a version listed in
// badVersion breaks it until the next good install.
type world struct {
	mu    sync.Mutex
	clock *clock.Fake
	start time.Time

	tgs   map[string]*fakeTG
	tgARN []string
	insts map[string]*fakeInst
	ids   []string
	asgs  map[string]*fakeASG

	cmds   map[string]*fakeCmd
	nextID int

	// Faults.
	stepTime time.Duration // how long a command runs (default 10s)
	// stepTimeOf (if set) replaces stepTime, drawn per invocation, for
	// run-time variance.
	stepTimeOf func(id, step string) time.Duration
	// noSSMTimes leaves Invocation.RequestedAt/FinishedAt out, as
	// GetCommandInvocation's answers do.
	noSSMTimes  bool
	slow        map[string]time.Duration // extra run time per instance
	failStep    map[string]string        // instance -> step name that exits 3
	hangStep    map[string]string        // instance -> step name that never finishes
	badVersion  map[string]string        // instance -> version that never gets healthy
	terminateAt map[string]time.Time
	alarmAt     time.Time // zero = never
	failTags    bool
	// flakyEvery > 0 makes every flakyEvery-th mutating or reading call
	// fail with a transient error before it does anything.
	flakyEvery int
	flakyState uint64 // xorshift state, seeded by the test
	// failHealthReads makes the next that many TargetHealth calls fail.
	failHealthReads int
	// healthDownFrom (if not zero): every TargetHealth call from then on
	// (until healthDownUntil, if not zero) fails, as when throttling
	// outlasts the SDK's retries.
	healthDownFrom, healthDownUntil time.Time
	// agentOffline: commands to the instance are Undeliverable (they
	// never run); offlineAfter: the agent goes offline once the named step
	// has run on the instance.
	agentOffline map[string]bool
	offlineAfter map[string]string
	// deleteTGAt deletes target groups (ARN -> when) from outside the run.
	deleteTGAt map[string]time.Time
	// noEC2 leaves the optional Instances port out.
	noEC2 bool

	// Capacity floor checked at every removal; floorOf (if > 0) is the
	// fleet size it is taken of.
	minHealthyPercent int
	floorOf           int
	// Surge faults (surge_world_test.go).
	launchNeverHealthy bool

	// Record.
	calls          []string
	violations     []string
	installs       map[string]map[string]int
	suspended      map[string]int
	minSeen        int
	standbyRefused int  // EnterStandby calls refused below the group's min
	readiness      bool // offer the Readiness port
	resumeCalls    int
}

type fakeTG struct {
	arn       string
	delay     time.Duration
	interval  time.Duration
	threshold int
	regs      map[Target]*registration
}

type registration struct {
	registeredAt   time.Time
	deregisteredAt time.Time // zero while registered
}

type fakeInst struct {
	id, az, asg string
	lifecycle   string
	inServiceAt time.Time // when Pending becomes InService after ExitStandby
	appUp       bool
	broken      bool
	version     string // installed application version
	tags        map[string]string
	terminated  bool
	home        map[string][]int32 // target group -> ports it belongs on
}

type fakeASG struct {
	name     string
	attached []string
	// min and desired as Auto Scaling enforces them for standby; sized is
	// false for a group whose sizes the fleet does not report.
	min, desired int
	sized        bool
	procs        []string // last suspended
	// Capacity (surge_world_test.go): max_size (0 = desired + 4), the
	// TagSurge record, members launched so far.
	max      int
	record   string
	launched int
}

type fakeCmd struct {
	cmd  Command
	step string
	invs map[string]*fakeInv
}

type fakeInv struct {
	instance string
	start    time.Time
	done     time.Time // zero = never (hangs)
	status   InvocationStatus
	exit     int
	stderr   string
	applied  bool
	timeout  time.Time
}

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func tgARN(name string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	return "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/" + name + "/" + fmt.Sprintf("%016x", h.Sum64())
}

// fleetOpts describes a fleet to build.
type fleetOpts struct {
	n        int
	azs      int
	tgs      int
	asgEvery int // every k-th instance is in an ASG (0 = none)
	// asgMin, asgDesired: the group's sizes (0, 0 = not reported; desired
	// defaults to the member count).
	asgMin, asgDesired int
	version            string
	delay              time.Duration
	interval           time.Duration
	threshold          int
	unhealthy          map[int]bool // instance index -> app down at start
	onVersion          map[int]string
	portsPerTG         int
}

func newWorld(o fleetOpts) *world {
	if o.version == "" {
		o.version = "v1"
	}
	if o.azs == 0 {
		o.azs = 1
	}
	if o.tgs == 0 {
		o.tgs = 1
	}
	if o.interval == 0 {
		o.interval = 10 * time.Second
	}
	if o.threshold == 0 {
		o.threshold = 2
	}
	if o.portsPerTG == 0 {
		o.portsPerTG = 1
	}
	w := &world{
		clock: clock.NewFake(epoch), start: epoch,
		tgs: map[string]*fakeTG{}, insts: map[string]*fakeInst{}, asgs: map[string]*fakeASG{},
		cmds: map[string]*fakeCmd{}, stepTime: 10 * time.Second,
		slow: map[string]time.Duration{}, failStep: map[string]string{}, hangStep: map[string]string{},
		badVersion: map[string]string{}, terminateAt: map[string]time.Time{},
		agentOffline: map[string]bool{}, offlineAfter: map[string]string{}, deleteTGAt: map[string]time.Time{},
		installs: map[string]map[string]int{}, suspended: map[string]int{}, minSeen: -1,
	}
	for i := 0; i < o.tgs; i++ {
		arn := tgARN(fmt.Sprintf("tg%d", i))
		w.tgs[arn] = &fakeTG{arn: arn, delay: o.delay, interval: o.interval, threshold: o.threshold, regs: map[Target]*registration{}}
		w.tgARN = append(w.tgARN, arn)
	}
	if o.asgEvery > 0 {
		// The ASG has the first target group attached; others are ours.
		w.asgs["asg-a"] = &fakeASG{name: "asg-a", attached: w.tgARN[:1], min: o.asgMin, desired: o.asgDesired, sized: o.asgMin > 0 || o.asgDesired > 0}
	}
	long := epoch.Add(-time.Hour)
	for i := 0; i < o.n; i++ {
		id := fmt.Sprintf("i-%04d", i)
		v := o.version
		if ov, ok := o.onVersion[i]; ok {
			v = ov
		}
		inst := &fakeInst{id: id, az: fmt.Sprintf("az-%c", 'a'+i%o.azs), appUp: !o.unhealthy[i], version: v,
			tags: map[string]string{TagVersion: v}, home: map[string][]int32{}}
		if o.asgEvery > 0 && i%o.asgEvery == 0 {
			inst.asg, inst.lifecycle = "asg-a", "InService"
		}
		for k, arn := range w.tgARN {
			for p := 0; p < o.portsPerTG; p++ {
				port := int32(80 + 1000*k + p)
				inst.home[arn] = append(inst.home[arn], port)
				w.tgs[arn].regs[Target{InstanceID: id, Port: port}] = &registration{registeredAt: long}
			}
		}
		w.insts[id] = inst
		w.ids = append(w.ids, id)
	}
	return w
}

func (w *world) ports(obs Observer) Ports {
	p := Ports{LB: w, Commands: w, Tags: w, Standby: w, Capacity: w, Alarms: w, Instances: w, Clock: w.clock, Observer: obs}
	if w.noEC2 {
		p.Instances = nil
	}
	if w.readiness {
		p.Readiness = w
	}
	return p
}

// Unready reports instances whose SSM agent is offline, as the provider's
// preflight does from DescribeInstanceInformation.
func (w *world) Unready(_ context.Context, ids []string) (map[string]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("Unready %d", len(ids))
	out := map[string]string{}
	for _, id := range ids {
		if w.agentOffline[id] {
			out[id] = "SSM agent ConnectionLost"
		}
	}
	return out, nil
}

// deleteTargetGroup deletes a target group as someone outside the rollout
// would: its registrations go with it.
func (w *world) deleteTargetGroup(arn string) {
	delete(w.tgs, arn)
	var keep []string
	for _, a := range w.tgARN {
		if a != arn {
			keep = append(keep, a)
		}
	}
	w.tgARN = keep
	for _, inst := range w.insts {
		delete(inst.home, arn)
	}
	for _, g := range w.asgs {
		g.attached = without(g.attached, []string{arn})
	}
}

func (w *world) now() time.Time { return w.clock.Now() }

// settle applies everything that has happened by now: terminations and the
// effects of finished commands, in time order.
func (w *world) settle() {
	now := w.now()
	for _, arn := range sortedKeys(w.deleteTGAt) {
		if _, exists := w.tgs[arn]; exists && !w.deleteTGAt[arn].After(now) {
			w.deleteTargetGroup(arn)
		}
	}
	for _, id := range w.ids {
		if at, ok := w.terminateAt[id]; ok && !at.After(now) && !w.insts[id].terminated {
			inst := w.insts[id]
			inst.terminated, inst.appUp = true, false
		}
	}
	var due []*fakeInv
	var cmdOf = map[*fakeInv]*fakeCmd{}
	for _, c := range w.cmds {
		for _, inv := range c.invs {
			if inv.applied || inv.status.Terminal() && inv.status != InvocationSuccess && inv.status != InvocationFailed {
				continue
			}
			if !inv.done.IsZero() && !inv.done.After(now) {
				due = append(due, inv)
				cmdOf[inv] = c
			} else if inv.done.IsZero() && !inv.timeout.After(now) && !inv.status.Terminal() {
				// Killed part way: nothing says what state the app is in.
				inv.status, inv.exit, inv.applied = InvocationTimedOut, -1, true
				w.insts[inv.instance].appUp, w.insts[inv.instance].broken = false, true
			}
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].done.Before(due[j].done) })
	for _, inv := range due {
		w.apply(cmdOf[inv], inv)
	}
}

func (w *world) apply(c *fakeCmd, inv *fakeInv) {
	inv.applied = true
	inst := w.insts[inv.instance]
	if at, ok := w.terminateAt[inst.id]; ok && inst.terminated && !at.After(inv.done) {
		inv.status, inv.exit = InvocationUndeliverable, -1
		return
	}
	if w.agentOffline[inst.id] {
		inv.status, inv.exit = InvocationUndeliverable, -1
		return
	}
	if w.offlineAfter[inst.id] == c.step {
		defer func() { w.agentOffline[inst.id] = true }()
	}
	if w.failStep[inst.id] == c.step {
		inv.status, inv.exit, inv.stderr = InvocationFailed, 3, "step "+c.step+" failed\nusing token=s3cr3t-token"
		inst.appUp, inst.broken = false, true
		return
	}
	ok := true
	for _, line := range c.cmd.Parameters["commands"] {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "stop":
			inst.appUp = false
		case "start":
			inst.appUp = true
		case "install":
			inst.version = f[1]
			inst.broken = w.badVersion[inst.id] == f[1]
			if w.installs[inst.id] == nil {
				w.installs[inst.id] = map[string]int{}
			}
			w.installs[inst.id][f[1]]++
		case "verify":
			ok = ok && inst.appUp && !inst.broken
		}
	}
	if ok {
		inv.status, inv.exit = InvocationSuccess, 0
	} else {
		inv.status, inv.exit, inv.stderr = InvocationFailed, 1, "verify: not healthy"
	}
}

func (w *world) appHealthy(inst *fakeInst) bool {
	return inst.appUp && !inst.broken && !inst.terminated
}

// state of one registration now.
func (w *world) state(tg *fakeTG, t Target, r *registration) (HealthState, string, bool) {
	now := w.now()
	inst := w.insts[t.InstanceID]
	if inst.terminated {
		return HealthUnused, "Target.InvalidState", true
	}
	if !r.deregisteredAt.IsZero() {
		if now.Before(r.deregisteredAt.Add(tg.delay)) {
			return HealthDraining, "Target.DeregistrationInProgress", true
		}
		return "", "", false
	}
	if now.Before(r.registeredAt.Add(time.Duration(tg.threshold) * tg.interval)) {
		return HealthInitial, "Elb.RegistrationInProgress", true
	}
	if w.appHealthy(inst) {
		return HealthHealthy, "", true
	}
	return HealthUnhealthy, "Target.FailedHealthChecks", true
}

// inService: running, registered and healthy on every home registration,
// and InService in its Auto Scaling group.
func (w *world) inService(inst *fakeInst) bool {
	if inst.terminated || !w.appHealthy(inst) {
		return false
	}
	if inst.asg != "" && w.lifecycle(inst) != "InService" {
		return false
	}
	for arn, ports := range inst.home {
		tg := w.tgs[arn]
		for _, p := range ports {
			t := Target{InstanceID: inst.id, Port: p}
			r, ok := tg.regs[t]
			if !ok {
				return false
			}
			if s, _, listed := w.state(tg, t, r); !listed || s != HealthHealthy {
				return false
			}
		}
	}
	return true
}

func (w *world) lifecycle(inst *fakeInst) string {
	if inst.lifecycle == "Pending" && !w.now().Before(inst.inServiceAt) {
		inst.lifecycle = "InService"
	}
	return inst.lifecycle
}

func (w *world) inServiceCount() (n, alive int) {
	for _, id := range w.ids {
		inst := w.insts[id]
		if !inst.terminated {
			alive++
		}
		if w.inService(inst) {
			n++
		}
	}
	return n, alive
}

// checkRemoval records a violation when a removal took an in-service
// instance out and left fewer in service than the floor.
func (w *world) checkRemoval(what string, before map[string]bool, ids []string) {
	n, alive := w.inServiceCount()
	if w.floorOf > 0 {
		alive = w.floorOf // a surge: the floor is over the fleet without it
	}
	floor := minInService(alive, w.minHealthyPercent)
	if w.minSeen < 0 || n < w.minSeen {
		w.minSeen = n
	}
	if n >= floor {
		return
	}
	for _, id := range ids {
		if before[id] && !w.inService(w.insts[id]) {
			w.violations = append(w.violations, fmt.Sprintf("%s at %s took %s out: %d in service, floor %d",
				what, w.now().Sub(w.start), id, n, floor))
			return
		}
	}
}

func (w *world) inServiceSet() map[string]bool {
	m := map[string]bool{}
	for _, id := range w.ids {
		if w.inService(w.insts[id]) {
			m[id] = true
		}
	}
	return m
}

func (w *world) record(format string, args ...any) {
	w.calls = append(w.calls, fmt.Sprintf(format, args...))
}

// flaky reports whether this call fails transiently (nothing done).
func (w *world) flaky() error {
	if w.flakyEvery <= 0 {
		return nil
	}
	// Pseudo-random (seeded) rather than periodic: a period could line up
	// with the engine's retry cycle and fail every retry forever.
	x := w.flakyState | 1
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	w.flakyState = x
	if x%uint64(w.flakyEvery) == 0 {
		return fmt.Errorf("Throttling: rate exceeded: %w", ErrThrottled)
	}
	return nil
}

func (w *world) countCalls(prefix string) int {
	n := 0
	for _, c := range w.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// --- LoadBalancer

func (w *world) Deregister(_ context.Context, arn string, targets []Target) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("Deregister %s %d", arn, len(targets))
	if err := w.flaky(); err != nil {
		return err
	}
	tg, ok := w.tgs[arn]
	if !ok {
		return fmt.Errorf("target group %s: %w", arn, ErrNotFound)
	}
	before := w.inServiceSet()
	var ids []string
	for _, t := range targets {
		if r, ok := tg.regs[t]; ok && r.deregisteredAt.IsZero() {
			r.deregisteredAt = w.now()
		}
		ids = append(ids, t.InstanceID)
	}
	w.checkRemoval("Deregister", before, ids)
	return nil
}

func (w *world) Register(_ context.Context, arn string, targets []Target) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("Register %s %d", arn, len(targets))
	if err := w.flaky(); err != nil {
		return err
	}
	tg, ok := w.tgs[arn]
	if !ok {
		return fmt.Errorf("target group %s: %w", arn, ErrNotFound)
	}
	for _, t := range targets {
		if w.insts[t.InstanceID].terminated {
			return fmt.Errorf("InvalidTarget: %s is not running", t.InstanceID)
		}
	}
	for _, t := range targets {
		if r, ok := tg.regs[t]; ok && r.deregisteredAt.IsZero() {
			continue
		}
		tg.regs[t] = &registration{registeredAt: w.now()}
	}
	return nil
}

func (w *world) TargetHealth(_ context.Context, arn string) ([]TargetHealth, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("TargetHealth %s", arn)
	if err := w.flaky(); err != nil {
		return nil, err
	}
	if w.failHealthReads > 0 {
		w.failHealthReads--
		return nil, fmt.Errorf("HealthUnavailable: %w", ErrThrottled)
	}
	if !w.healthDownFrom.IsZero() && !w.now().Before(w.healthDownFrom) &&
		(w.healthDownUntil.IsZero() || w.now().Before(w.healthDownUntil)) {
		return nil, fmt.Errorf("Throttling: rate exceeded: %w", ErrThrottled)
	}
	tg, ok := w.tgs[arn]
	if !ok {
		return nil, fmt.Errorf("target group %s: %w", arn, ErrNotFound)
	}
	var out []TargetHealth
	for t, r := range tg.regs {
		if s, reason, listed := w.state(tg, t, r); listed {
			out = append(out, TargetHealth{Target: t, State: s, Reason: reason})
		}
	}
	return out, nil
}

// TargetsHealth is TargetHealth for the given targets, as AWS answers
// DescribeTargetHealth with Targets: a target not registered is unused
// (Target.NotRegistered); an instance that no longer exists fails the call
// (InvalidTarget).
func (w *world) TargetsHealth(ctx context.Context, arn string, targets []Target) ([]TargetHealth, error) {
	w.mu.Lock()
	w.settle()
	for _, t := range targets {
		if i := w.insts[t.InstanceID]; i == nil || i.terminated {
			w.record("TargetsHealth %s", arn)
			w.mu.Unlock()
			return nil, fmt.Errorf("InvalidTarget: %s is not a valid instance", t.InstanceID)
		}
	}
	w.mu.Unlock()
	all, err := w.TargetHealth(ctx, arn)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.calls[len(w.calls)-1] = "TargetsHealth " + arn
	w.mu.Unlock()
	rows := map[Target]TargetHealth{}
	for _, h := range all {
		rows[h.Target] = h
	}
	out := make([]TargetHealth, 0, len(targets))
	for _, t := range targets {
		h, ok := rows[t]
		if !ok {
			h = TargetHealth{Target: t, State: HealthUnused, Reason: "Target.NotRegistered"}
		}
		out = append(out, h)
	}
	return out, nil
}

// --- CommandRunner

func (w *world) Send(_ context.Context, cmd Command, ids []string) (map[string]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	step := cmd.Comment[strings.LastIndex(cmd.Comment, ": ")+2:]
	w.record("Send %s %d", step, len(ids))
	if err := w.flaky(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if w.insts[id].terminated {
			// Like SSM: one bad instance id rejects the whole call.
			return nil, fmt.Errorf("InvalidInstanceId: %s is not valid for this command", id)
		}
	}
	w.nextID++
	cid := fmt.Sprintf("cmd-%04d", w.nextID)
	c := &fakeCmd{cmd: cmd, step: step, invs: map[string]*fakeInv{}}
	out := map[string]string{}
	now := w.now()
	for _, id := range ids {
		inv := &fakeInv{instance: id, start: now, status: InvocationInProgress, exit: -1, timeout: now.Add(cmd.Timeout)}
		d := w.stepTime + w.slow[id]
		if w.stepTimeOf != nil {
			d = w.stepTimeOf(id, step) + w.slow[id]
		}
		if w.hangStep[id] != step && d < cmd.Timeout {
			inv.done = now.Add(d)
		}
		c.invs[id] = inv
		out[id] = cid
	}
	w.cmds[cid] = c
	return out, nil
}

func (w *world) Invocations(_ context.Context, byInstance map[string]string) ([]Invocation, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	cmds := map[string]bool{}
	for _, cid := range byInstance {
		cmds[cid] = true
	}
	w.record("Invocations %d of %d commands", len(byInstance), len(cmds))
	if err := w.flaky(); err != nil {
		return nil, err
	}
	var out []Invocation
	for id, cid := range byInstance {
		c, ok := w.cmds[cid]
		if !ok {
			out = append(out, Invocation{InstanceID: id, CommandID: cid, Status: InvocationPending, ExitCode: -1})
			continue
		}
		inv := c.invs[id]
		r := Invocation{InstanceID: id, CommandID: cid, Status: inv.status, ExitCode: inv.exit, Stderr: inv.stderr}
		if inv.status.Terminal() && !inv.done.IsZero() && !w.noSSMTimes {
			// Like ListCommandInvocations with Details: SSM's own times.
			r.RequestedAt, r.FinishedAt = inv.start, inv.done
		}
		out = append(out, r)
	}
	return out, nil
}

func (w *world) Cancel(_ context.Context, byInstance map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("Cancel %d", len(byInstance))
	if err := w.flaky(); err != nil {
		return err
	}
	for id, cid := range byInstance {
		if c, ok := w.cmds[cid]; ok {
			if inv := c.invs[id]; !inv.status.Terminal() {
				inv.status, inv.applied = InvocationCancelled, true
				w.insts[id].appUp, w.insts[id].broken = false, true
			}
		}
	}
	return nil
}

// --- Tagger

var errTags = errors.New("tagging is broken")

func (w *world) SetTags(_ context.Context, ids []string, tags map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("SetTags %d %s", len(ids), tags[TagPhase])
	if err := w.flaky(); err != nil {
		return err
	}
	if w.failTags {
		return errTags
	}
	var missing []string
	for _, id := range ids {
		if w.insts[id].terminated {
			missing = append(missing, id) // like awsclient: tag the others, name the missing
			continue
		}
		for k, v := range tags {
			w.insts[id].tags[k] = v
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("instance(s) %s no longer exist: %w", strings.Join(missing, ", "), ErrNotFound)
	}
	return nil
}

func (w *world) RemoveTags(_ context.Context, ids []string, keys []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("RemoveTags %d", len(ids))
	if err := w.flaky(); err != nil {
		return err
	}
	if w.failTags {
		return errTags
	}
	for _, id := range ids {
		for _, k := range keys {
			delete(w.insts[id].tags, k)
		}
	}
	return nil
}

// --- Standby

func (w *world) EnterStandby(_ context.Context, group string, ids []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("EnterStandby %s %d", group, len(ids))
	if err := w.flaky(); err != nil {
		return err
	}
	for _, id := range ids {
		inst := w.insts[id]
		if inst.asg != group || w.lifecycle(inst) != "InService" {
			return fmt.Errorf("ValidationError: %s is not InService in %s", id, group)
		}
	}
	if g := w.asgs[group]; g.sized {
		// As Auto Scaling: standby decrements desired, never below min.
		if g.desired-len(ids) < g.min {
			w.standbyRefused++
			return fmt.Errorf("ValidationError: AutoScalingGroup %s has min-size=%d and desired-size=%d", group, g.min, g.desired)
		}
		g.desired -= len(ids)
	}
	before := w.inServiceSet()
	for _, id := range ids {
		inst := w.insts[id]
		inst.lifecycle = "Standby"
		for _, arn := range w.asgs[group].attached {
			for _, p := range inst.home[arn] {
				if r, ok := w.tgs[arn].regs[Target{InstanceID: id, Port: p}]; ok && r.deregisteredAt.IsZero() {
					r.deregisteredAt = w.now()
				}
			}
		}
	}
	w.checkRemoval("EnterStandby", before, ids)
	return nil
}

func (w *world) ExitStandby(_ context.Context, group string, ids []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("ExitStandby %s %d", group, len(ids))
	if err := w.flaky(); err != nil {
		return err
	}
	for _, id := range ids {
		inst := w.insts[id]
		if inst.asg != group || inst.lifecycle != "Standby" || inst.terminated {
			return fmt.Errorf("ValidationError: %s is not in Standby in %s", id, group)
		}
	}
	if g := w.asgs[group]; g.sized {
		g.desired += len(ids)
	}
	for _, id := range ids {
		inst := w.insts[id]
		inst.lifecycle, inst.inServiceAt = "Pending", w.now().Add(5*time.Second)
		for _, arn := range w.asgs[group].attached {
			for _, p := range inst.home[arn] {
				w.tgs[arn].regs[Target{InstanceID: id, Port: p}] = &registration{registeredAt: w.now()}
			}
		}
	}
	return nil
}

func (w *world) LifecycleStates(_ context.Context, ids []string) (map[string]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("LifecycleStates %d", len(ids))
	if err := w.flaky(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, id := range ids {
		if inst, ok := w.insts[id]; ok && inst.asg != "" && !inst.terminated {
			out[id] = w.lifecycle(inst)
		}
	}
	return out, nil
}

func (w *world) SuspendProcesses(_ context.Context, group string, procs []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.asgs[group].procs = procs
	w.record("SuspendProcesses %s", group)
	if err := w.flaky(); err != nil {
		return err
	}
	w.suspended[group]++
	return nil
}

func (w *world) ResumeProcesses(_ context.Context, group string, _ []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("ResumeProcesses %s", group)
	if err := w.flaky(); err != nil {
		return err
	}
	w.suspended[group]--
	w.resumeCalls++
	return nil
}

// --- Instances

func (w *world) States(_ context.Context, ids []string) (map[string]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	w.record("InstanceStates %d", len(ids))
	if err := w.flaky(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, id := range ids {
		if inst, ok := w.insts[id]; ok {
			out[id] = "running"
			if inst.terminated {
				out[id] = "terminated"
			}
		}
	}
	return out, nil
}

// --- Alarms

func (w *world) Firing(_ context.Context, names []string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("Firing")
	if err := w.flaky(); err != nil {
		return nil, err
	}
	if !w.alarmAt.IsZero() && !w.now().Before(w.alarmAt) && len(names) > 0 {
		return names[:1], nil
	}
	return nil, nil
}

// fleet is the snapshot the provider would read before a run.
func (w *world) fleet() Fleet {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settle()
	var f Fleet
	for _, arn := range w.tgARN {
		tg := w.tgs[arn]
		f.TargetGroups = append(f.TargetGroups, TargetGroup{ARN: arn, Name: arn[strings.Index(arn, "/")+1:],
			DeregistrationDelay: tg.delay, HealthCheckInterval: tg.interval, HealthyThreshold: tg.threshold, UnhealthyThreshold: 2})
	}
	for _, name := range sortedKeys(w.asgs) {
		g := w.asgs[name]
		f.AutoScalingGroups = append(f.AutoScalingGroups, w.groupOf(g))
	}
	for _, id := range w.ids {
		inst := w.insts[id]
		fi := Instance{ID: id, AZ: inst.az, State: "running", AutoScalingGroup: inst.asg, LifecycleState: w.lifecycle(inst),
			Targets: map[string][]Target{}, Health: map[string]TargetHealth{}, Tags: map[string]string{}}
		if inst.terminated {
			fi.State = "terminated"
		}
		for k, v := range inst.tags {
			fi.Tags[k] = v
		}
		for _, arn := range w.tgARN {
			tg := w.tgs[arn]
			for _, p := range inst.home[arn] {
				t := Target{InstanceID: id, Port: p}
				r, ok := tg.regs[t]
				if !ok || !r.deregisteredAt.IsZero() {
					continue
				}
				s, reason, _ := w.state(tg, t, r)
				fi.Targets[arn] = append(fi.Targets[arn], t)
				if cur, seen := fi.Health[arn]; !seen || cur.State == HealthHealthy {
					fi.Health[arn] = TargetHealth{Target: t, State: s, Reason: reason}
				}
			}
		}
		f.Instances = append(f.Instances, fi)
	}
	return f
}

// fatalT is what simulate needs of *testing.T and *rapid.T.
type fatalT interface {
	Helper()
	Fatalf(format string, args ...any)
}

// recorder is an Observer keeping every event.
type recorder struct{ events []Event }

func (r *recorder) Event(e Event) { r.events = append(r.events, e) }

func (r *recorder) kinds(k EventKind) []Event {
	var out []Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// simulate runs the engine against the world, advancing the fake clock to
// each wait the engine asks for; cancelAt (if not zero) cancels the context
// at that simulated time. It fails the test if the engine stops asking for
// time without returning, or runs for more than two simulated days.
func simulate(t fatalT, w *world, s Spec, cancelAt time.Duration) (Result, *recorder, error) {
	t.Helper()
	w.minHealthyPercent = s.Strategy.MinHealthyPercent
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var res Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = Run(ctx, s, w.ports(rec))
	}()
	limit := w.start.Add(48 * time.Hour)
	cancelled := cancelAt <= 0
	spins := 0
	for {
		select {
		case <-done:
			w.mu.Lock()
			w.settle()
			w.mu.Unlock()
			return res, rec, err
		case d := <-w.clock.AfterCalls():
			if !cancelled && d.After(w.start.Add(cancelAt)) {
				w.clock.AdvanceTo(w.start.Add(cancelAt))
				cancelled = true
				cancel()
				continue
			}
			if d.After(w.clock.Now()) {
				spins = 0
			} else if spins++; spins > 10000 {
				cancel()
				t.Fatalf("engine spins: 10000 waits in a row at %s without time passing", d.Sub(w.start))
			}
			if d.After(limit) {
				cancel()
				t.Fatalf("engine waits past two simulated days (until %s)", d.Sub(w.start))
			}
			w.clock.AdvanceTo(d)
		case <-time.After(20 * time.Second):
			t.Fatalf("engine neither waits on the clock nor returns")
		}
	}
}

// baseSpec is a three-step release of v2 over the world's fleet.
func baseSpec(w *world) Spec {
	return Spec{
		RolloutID: "ro-1",
		Fleet:     w.fleet(),
		Release: Release{Version: "v2", Steps: []Step{
			{Name: "stop", Commands: []string{"stop"}},
			{Name: "deploy", Commands: []string{"install v2"}, Timeout: 5 * time.Minute},
			{Name: "start", Commands: []string{"start"}},
			{Name: "verify", Commands: []string{"verify"}},
		}},
		// Named apart from the release's steps so faults target one or the other.
		Previous: &Release{Version: "v1", Steps: []Step{
			{Name: "prev-stop", Commands: []string{"stop"}},
			{Name: "prev-deploy", Commands: []string{"install v1"}},
			{Name: "prev-start", Commands: []string{"start"}},
		}},
		Strategy: Strategy{BatchSize: 1, MinHealthyPercent: 50, Mode: ModeBatch},
	}
}
