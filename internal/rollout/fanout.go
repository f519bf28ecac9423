package rollout

import (
	"context"
	"sync"
	"time"
)

// The engine's I/O fans out; its decisions do not. Every port call is made
// with the engine's mutex released, and every piece of the engine's logic
// runs with it held, so several groups' stages (or one stage's calls to
// several target groups) can wait on AWS at once while the engine's state
// is only ever touched by one goroutine at a time. AWS answers in 50-200
// ms: made one after the other, the calls of a 1,000-instance window would
// add up to minutes of the engine not looking at anything.
//
// Decisions (decide, apply) never run while stages are in flight: they run
// in the loop, between passes, on a state no goroutine is changing.

// lockPorts wraps p's AWS ports so that each call releases e.mu for its
// duration. The clock and the observer are not I/O: they stay as they are.
func (e *engine) lockPorts(p Ports) Ports {
	out := p
	if p.LB != nil {
		lb := lockedLB{e: e, inner: p.LB}
		if reader, ok := p.LB.(TargetsHealthReader); ok {
			out.LB = lockedTargetsLB{lockedLB: lb, reader: reader}
		} else {
			out.LB = lb
		}
	}
	if p.Commands != nil {
		out.Commands = lockedCommands{e: e, inner: p.Commands}
	}
	if p.Tags != nil {
		out.Tags = lockedTags{e: e, inner: p.Tags}
	}
	if p.Standby != nil {
		out.Standby = lockedStandby{e: e, inner: p.Standby}
	}
	if p.Alarms != nil {
		out.Alarms = lockedAlarms{e: e, inner: p.Alarms}
	}
	if p.Instances != nil {
		out.Instances = lockedInstances{e: e, inner: p.Instances}
	}
	if p.Readiness != nil {
		out.Readiness = lockedReadiness{e: e, inner: p.Readiness}
	}
	return out
}

// unlocked runs a port call with the engine's mutex released.
func unlocked[T any](e *engine, call func() (T, error)) (T, error) {
	e.mu.Unlock()
	defer e.mu.Lock()
	return call()
}

func unlockedErr(e *engine, call func() error) error {
	_, err := unlocked(e, func() (struct{}, error) { return struct{}{}, call() })
	return err
}

// together runs fns at once, each holding e.mu (released by its port
// calls), and returns when all are done. The caller holds e.mu. One fn
// runs in the caller's goroutine: most passes have one thing to do.
func (e *engine) together(fns ...func()) {
	switch len(fns) {
	case 0:
		return
	case 1:
		fns[0]()
		return
	}
	// Each fn starts once the one before it has let go of the engine (at
	// its first port call, or at its end), so they start in order, as if
	// run one after the other, and only their waits overlap.
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		started := make(chan struct{})
		go func() {
			defer wg.Done()
			e.mu.Lock()
			close(started)
			defer e.mu.Unlock()
			fn()
		}()
		e.mu.Unlock()
		<-started
		e.mu.Lock()
	}
	e.mu.Unlock()
	wg.Wait()
	e.mu.Lock()
}

type lockedLB struct {
	e     *engine
	inner LoadBalancer
}

// Deregister and Register change the group's health: what this iteration
// read of it before is stale once they have been sent (a group whose
// deregistration delay is 0 looks at its draining in the same pass).
func (l lockedLB) Deregister(ctx context.Context, arn string, targets []Target) error {
	defer l.e.forgetHealth(arn)
	return unlockedErr(l.e, func() error { return l.inner.Deregister(ctx, arn, targets) })
}

func (l lockedLB) Register(ctx context.Context, arn string, targets []Target) error {
	defer l.e.forgetHealth(arn)
	return unlockedErr(l.e, func() error { return l.inner.Register(ctx, arn, targets) })
}

func (l lockedLB) TargetHealth(ctx context.Context, arn string) ([]TargetHealth, error) {
	return unlocked(l.e, func() ([]TargetHealth, error) { return l.inner.TargetHealth(ctx, arn) })
}

// forgetHealth drops this iteration's reads of a target group, and makes
// a read in flight meanwhile not kept (healthGen).
func (e *engine) forgetHealth(arn string) {
	delete(e.healthCache, arn)
	delete(e.healthErr, arn)
	delete(e.targetCache, arn)
	if e.healthGen == nil {
		e.healthGen = map[string]int{}
	}
	e.healthGen[arn]++
}

// lockedTargetsLB keeps the optional TargetsHealthReader visible.
type lockedTargetsLB struct {
	lockedLB
	reader TargetsHealthReader
}

func (l lockedTargetsLB) TargetsHealth(ctx context.Context, arn string, targets []Target) ([]TargetHealth, error) {
	return unlocked(l.e, func() ([]TargetHealth, error) { return l.reader.TargetsHealth(ctx, arn, targets) })
}

type lockedCommands struct {
	e     *engine
	inner CommandRunner
}

func (c lockedCommands) Send(ctx context.Context, cmd Command, ids []string) (map[string]string, error) {
	return unlocked(c.e, func() (map[string]string, error) { return c.inner.Send(ctx, cmd, ids) })
}

func (c lockedCommands) Invocations(ctx context.Context, byInstance map[string]string) ([]Invocation, error) {
	return unlocked(c.e, func() ([]Invocation, error) { return c.inner.Invocations(ctx, byInstance) })
}

func (c lockedCommands) Cancel(ctx context.Context, byInstance map[string]string) error {
	return unlockedErr(c.e, func() error { return c.inner.Cancel(ctx, byInstance) })
}

type lockedTags struct {
	e     *engine
	inner Tagger
}

func (t lockedTags) SetTags(ctx context.Context, ids []string, tags map[string]string) error {
	return unlockedErr(t.e, func() error { return t.inner.SetTags(ctx, ids, tags) })
}

func (t lockedTags) RemoveTags(ctx context.Context, ids []string, keys []string) error {
	return unlockedErr(t.e, func() error { return t.inner.RemoveTags(ctx, ids, keys) })
}

type lockedStandby struct {
	e     *engine
	inner Standby
}

// EnterStandby and ExitStandby change lifecycle states and the attached
// target groups' health: this iteration's reads of them are stale.
func (s lockedStandby) EnterStandby(ctx context.Context, group string, ids []string) error {
	defer s.e.forgetStandby(group)
	return unlockedErr(s.e, func() error { return s.inner.EnterStandby(ctx, group, ids) })
}

func (s lockedStandby) ExitStandby(ctx context.Context, group string, ids []string) error {
	defer s.e.forgetStandby(group)
	return unlockedErr(s.e, func() error { return s.inner.ExitStandby(ctx, group, ids) })
}

func (e *engine) forgetStandby(group string) {
	e.lifeCache, e.lifeAsked = nil, nil
	e.standbyGen++
	for _, arn := range e.asgs[group].TargetGroupARNs {
		e.forgetHealth(arn)
	}
}

func (s lockedStandby) LifecycleStates(ctx context.Context, ids []string) (map[string]string, error) {
	return unlocked(s.e, func() (map[string]string, error) { return s.inner.LifecycleStates(ctx, ids) })
}

func (s lockedStandby) SuspendProcesses(ctx context.Context, group string, processes []string) error {
	return unlockedErr(s.e, func() error { return s.inner.SuspendProcesses(ctx, group, processes) })
}

func (s lockedStandby) ResumeProcesses(ctx context.Context, group string, processes []string) error {
	return unlockedErr(s.e, func() error { return s.inner.ResumeProcesses(ctx, group, processes) })
}

type lockedAlarms struct {
	e     *engine
	inner Alarms
}

func (a lockedAlarms) Firing(ctx context.Context, names []string) ([]string, error) {
	return unlocked(a.e, func() ([]string, error) { return a.inner.Firing(ctx, names) })
}

type lockedInstances struct {
	e     *engine
	inner Instances
}

func (i lockedInstances) States(ctx context.Context, ids []string) (map[string]string, error) {
	return unlocked(i.e, func() (map[string]string, error) { return i.inner.States(ctx, ids) })
}

type lockedReadiness struct {
	e     *engine
	inner Readiness
}

func (r lockedReadiness) Unready(ctx context.Context, ids []string) (map[string]string, error) {
	return unlocked(r.e, func() (map[string]string, error) { return r.inner.Unready(ctx, ids) })
}

// prefetch makes, at once, the reads the groups due now will make: a
// health read per target group covering all of them, their Auto Scaling
// lifecycle states, the invocations of the steps they poll. It keeps the
// answers for this loop iteration; the stages then find them in the
// caches, so a poll is one round trip whatever the number of groups and
// target groups. departing: a departure reads every target group's health
// meanwhile (depart), which the polls then share. A read that fails is not
// kept: the stage reads again itself, and deals with the error as it would
// have.
func (e *engine) prefetch(now time.Time, departing bool) {
	due := func(g *group) bool {
		return len(g.members) > 0 && g.stage <= stageFinish && (!g.wakeAt.After(now) || e.pulledIn(g, now))
	}
	observing := map[string]*group{} // a due group per target group
	var asgMembers []string
	var stepWait *group
	for _, g := range e.groups {
		if !due(g) {
			continue
		}
		switch g.stage {
		case stageDrain, stageHealth, stageBake:
			for _, id := range g.members {
				st := e.insts[id]
				for arn := range st.targets {
					if observing[arn] == nil {
						observing[arn] = g
					}
				}
				if st.inst.AutoScalingGroup != "" {
					asgMembers = append(asgMembers, id)
				}
			}
		case stageStepWait:
			if stepWait == nil && len(e.pendingOf(g)) > 0 {
				stepWait = g
			}
		}
	}
	prev := e.pollDue
	e.pollDue = due
	defer func() { e.pollDue = prev }()
	var tasks []func()
	if !departing {
		for _, arn := range sortedKeys(observing) {
			g := observing[arn]
			tasks = append(tasks, func() { _, _ = e.healthOf(arn, g) })
		}
	}
	if len(asgMembers) > 0 && e.ports.Standby != nil {
		tasks = append(tasks, func() {
			gen := e.standbyGen
			if states, err := e.ports.Standby.LifecycleStates(e.ctx, asgMembers); err == nil && gen == e.standbyGen {
				e.lifeCache = states
				e.lifeAsked = asgMembers
			}
		})
	}
	if stepWait != nil {
		tasks = append(tasks, func() { _, _ = e.invocations(e.pendingOf(stepWait)) })
	}
	e.together(tasks...)
}

// pendingOf is g's members whose step has not ended yet, with their
// command ids.
func (e *engine) pendingOf(g *group) map[string]string {
	pending := map[string]string{}
	for _, id := range g.members {
		if r, ok := g.results[id]; !ok || !r.Status.Terminal() {
			if cmd := g.cmds[id]; cmd != "" {
				pending[id] = cmd
			}
		}
	}
	return pending
}

// lifecycleStates reads the lifecycle states of ids, from this iteration's
// prefetched answer when it covers them.
func (e *engine) lifecycleStates(ids []string) (map[string]string, error) {
	if e.lifeCache != nil {
		asked := map[string]bool{}
		for _, id := range e.lifeAsked {
			asked[id] = true
		}
		covered := true
		for _, id := range ids {
			covered = covered && asked[id]
		}
		if covered {
			return e.lifeCache, nil
		}
	}
	return e.ports.Standby.LifecycleStates(e.ctx, ids)
}
