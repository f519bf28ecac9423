package provider

import (
	"context"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The page learns what AWS says from the engine's own calls: each port is
// wrapped to pass every call through unchanged and to note, from a
// successful answer, what it tells of the fleet. No call is added.

// wrap returns ports whose answers also feed the page.
func (p *progressPage) wrap(ports rollout.Ports) rollout.Ports {
	lb := &pageLB{page: p, inner: ports.LB}
	if reader, ok := ports.LB.(rollout.TargetsHealthReader); ok {
		// The optional targeted read must stay optional: the engine falls
		// back to whole reads when the LB lacks it.
		ports.LB = &pageTargetsLB{pageLB: lb, reader: reader}
	} else {
		ports.LB = lb
	}
	ports.Tags = &pageTags{page: p, inner: ports.Tags}
	if ports.Standby != nil {
		ports.Standby = &pageStandby{Standby: ports.Standby, page: p}
	}
	if ports.Instances != nil {
		ports.Instances = &pageInstances{page: p, inner: ports.Instances}
	}
	if ports.Alarms != nil {
		ports.Alarms = &pageAlarms{page: p, inner: ports.Alarms}
	}
	return ports
}

func instanceIDs(targets []rollout.Target) []string {
	ids := make([]string, 0, len(targets))
	for _, t := range targets {
		ids = append(ids, t.InstanceID)
	}
	return ids
}

type pageLB struct {
	page  *progressPage
	inner rollout.LoadBalancer
}

func (l *pageLB) Deregister(ctx context.Context, arn string, targets []rollout.Target) error {
	err := l.inner.Deregister(ctx, arn, targets)
	if err == nil {
		l.page.update(instanceIDs(targets), func(s *fleetsim.InstanceSnapshot) {
			if _, ok := s.Targets[arn]; ok {
				s.Targets[arn] = string(rollout.HealthDraining)
			}
		})
	}
	return err
}

func (l *pageLB) Register(ctx context.Context, arn string, targets []rollout.Target) error {
	err := l.inner.Register(ctx, arn, targets)
	if err == nil {
		l.page.update(instanceIDs(targets), func(s *fleetsim.InstanceSnapshot) { s.Targets[arn] = string(rollout.HealthInitial) })
	}
	return err
}

// TargetHealth reads every registered target: a known instance missing
// from the answer is registered no more; an unknown one joined the fleet.
func (l *pageLB) TargetHealth(ctx context.Context, arn string) ([]rollout.TargetHealth, error) {
	rows, err := l.inner.TargetHealth(ctx, arn)
	if err == nil {
		l.page.health(arn, rows, true)
	}
	return rows, err
}

type pageTargetsLB struct {
	*pageLB
	reader rollout.TargetsHealthReader
}

func (l *pageTargetsLB) TargetsHealth(ctx context.Context, arn string, targets []rollout.Target) ([]rollout.TargetHealth, error) {
	rows, err := l.reader.TargetsHealth(ctx, arn, targets)
	if err == nil {
		l.page.health(arn, rows, false)
	}
	return rows, err
}

// health notes a DescribeTargetHealth answer for arn; whole says it lists
// every registered target.
func (p *progressPage) health(arn string, rows []rollout.TargetHealth, whole bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	worst := map[string]string{}
	rank := map[rollout.HealthState]int{rollout.HealthHealthy: 0, rollout.HealthInitial: 1, rollout.HealthDraining: 2,
		rollout.HealthUnhealthy: 3, rollout.HealthUnavailable: 4, rollout.HealthUnused: 5}
	for _, r := range rows {
		id := r.InstanceID
		if cur, ok := worst[id]; ok && rank[rollout.HealthState(cur)] >= rank[r.State] {
			continue
		}
		worst[id] = string(r.State)
	}
	for id, state := range worst {
		s := p.insts[id]
		if s == nil {
			if state == string(rollout.HealthUnused) || state == string(rollout.HealthDraining) {
				continue
			}
			// Joined since the fleet was read (a scale-out): the engine
			// counts it in the floor, so the page shows it.
			s = &fleetsim.InstanceSnapshot{ID: id, State: "running", Tags: map[string]string{}, Targets: map[string]string{}}
			p.insts[id] = s
			p.order = append(p.order, id)
		}
		if state == string(rollout.HealthUnused) {
			delete(s.Targets, arn)
			continue
		}
		s.Targets[arn] = state
	}
	if !whole {
		return
	}
	for id, s := range p.insts {
		if _, listed := worst[id]; !listed {
			delete(s.Targets, arn)
		}
	}
}

type pageTags struct {
	page  *progressPage
	inner rollout.Tagger
}

func (t *pageTags) SetTags(ctx context.Context, ids []string, tags map[string]string) error {
	err := t.inner.SetTags(ctx, ids, tags)
	if err == nil {
		t.page.update(ids, func(s *fleetsim.InstanceSnapshot) {
			if v, ok := tags[rollout.TagVersion]; ok {
				s.AppVersion = v
			}
			if v, ok := tags[rollout.TagPhase]; ok {
				s.Tags[rollout.TagPhase] = v
			}
		})
	}
	return err
}

func (t *pageTags) RemoveTags(ctx context.Context, ids []string, keys []string) error {
	err := t.inner.RemoveTags(ctx, ids, keys)
	if err == nil {
		t.page.update(ids, func(s *fleetsim.InstanceSnapshot) {
			for _, k := range keys {
				delete(s.Tags, k)
			}
		})
	}
	return err
}

// pageStandby notes lifecycle states; the processes calls pass through.
type pageStandby struct {
	rollout.Standby
	page *progressPage
}

func (s *pageStandby) EnterStandby(ctx context.Context, group string, ids []string) error {
	err := s.Standby.EnterStandby(ctx, group, ids)
	if err == nil {
		s.page.update(ids, func(i *fleetsim.InstanceSnapshot) { i.LifecycleState = "EnteringStandby" })
	}
	return err
}

func (s *pageStandby) ExitStandby(ctx context.Context, group string, ids []string) error {
	err := s.Standby.ExitStandby(ctx, group, ids)
	if err == nil {
		s.page.update(ids, func(i *fleetsim.InstanceSnapshot) { i.LifecycleState = "Pending" })
	}
	return err
}

func (s *pageStandby) LifecycleStates(ctx context.Context, ids []string) (map[string]string, error) {
	states, err := s.Standby.LifecycleStates(ctx, ids)
	if err == nil {
		s.page.update(ids, func(i *fleetsim.InstanceSnapshot) {
			if st, ok := states[i.ID]; ok {
				i.LifecycleState = st
			}
		})
	}
	return states, err
}

type pageInstances struct {
	page  *progressPage
	inner rollout.Instances
}

func (i *pageInstances) States(ctx context.Context, ids []string) (map[string]string, error) {
	states, err := i.inner.States(ctx, ids)
	if err == nil {
		i.page.update(ids, func(s *fleetsim.InstanceSnapshot) {
			if st, ok := states[s.ID]; ok {
				s.State = st
			} else {
				s.State = "terminated" // EC2 no longer knows it
			}
		})
	}
	return states, err
}

type pageAlarms struct {
	page  *progressPage
	inner rollout.Alarms
}

func (a *pageAlarms) Firing(ctx context.Context, names []string) ([]string, error) {
	firing, err := a.inner.Firing(ctx, names)
	if err == nil {
		a.page.mu.Lock()
		for _, n := range names {
			a.page.alarms[n] = "OK"
		}
		for _, n := range firing {
			a.page.alarms[n] = "ALARM"
		}
		a.page.mu.Unlock()
	}
	return firing, err
}
