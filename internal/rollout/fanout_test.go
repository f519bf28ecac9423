package rollout

import (
	"context"
	"sync"
	"testing"
	"time"
)

// rendezvous lets calls wait, in real time, for the calls they should be
// in flight with. Made one after the other, the first would wait alone:
// it gives up after patience and counts a miss, so a test of calls made
// at once fails instead of hanging, and never sleeps when they are.
type rendezvous struct {
	mu       sync.Mutex
	want     int
	arrived  int
	release  chan struct{}
	misses   int
	patience time.Duration
}

func newRendezvous(want int) *rendezvous {
	return &rendezvous{want: want, release: make(chan struct{}), patience: 2 * time.Second}
}

// meet returns once want calls are waiting (the round then starts afresh)
// or after patience.
func (r *rendezvous) meet() {
	r.mu.Lock()
	r.arrived++
	release := r.release
	if r.arrived == r.want {
		close(r.release)
		r.arrived, r.release = 0, make(chan struct{})
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	select {
	case <-release:
	case <-time.After(r.patience):
		r.mu.Lock()
		r.misses++
		if r.release == release {
			r.arrived--
		}
		r.mu.Unlock()
	}
}

// perGroupWorld makes the load balancer calls of one kind meet: each call
// waits for the calls to the other target groups of the same moment.
type perGroupWorld struct {
	*world
	register, deregister, health, targetsHealth *rendezvous
}

func (p *perGroupWorld) TargetHealth(ctx context.Context, arn string) ([]TargetHealth, error) {
	p.health.meet()
	return p.world.TargetHealth(ctx, arn)
}

func (p *perGroupWorld) TargetsHealth(ctx context.Context, arn string, targets []Target) ([]TargetHealth, error) {
	p.targetsHealth.meet()
	return p.world.TargetsHealth(ctx, arn, targets)
}

func (p *perGroupWorld) Register(ctx context.Context, arn string, targets []Target) error {
	p.register.meet()
	return p.world.Register(ctx, arn, targets)
}

func (p *perGroupWorld) Deregister(ctx context.Context, arn string, targets []Target) error {
	p.deregister.meet()
	return p.world.Deregister(ctx, arn, targets)
}

// An instance in three target groups leaves and rejoins all three at
// once, and its health in all three is read at once, before a departure
// and while it drains, joins and bakes: one round trip each, not three.
func TestRun_leavesAndRejoinsEveryTargetGroupAtOnce(t *testing.T) {
	w := newWorld(fleetOpts{n: 4, tgs: 3})
	s := baseSpec(w)
	s.Strategy.BatchSize = 2
	s.Strategy.BakeTime = 20 * time.Second
	pw := &perGroupWorld{world: w, register: newRendezvous(3), deregister: newRendezvous(3),
		health: newRendezvous(3), targetsHealth: newRendezvous(3)}
	rec := &recorder{}
	p := w.ports(rec)
	p.LB = pw
	res, err := runWithFakeClock(t, w, s, p)
	mustSucceed(t, w, s, res, err)
	for name, r := range map[string]*rendezvous{"Register": pw.register, "Deregister": pw.deregister,
		"TargetHealth": pw.health, "TargetsHealth": pw.targetsHealth} {
		if r.misses > 0 {
			t.Errorf("%d %s calls waited alone: the target groups were called one after the other", r.misses, name)
		}
	}
	if w.countCalls("TargetsHealth") == 0 || w.countCalls("TargetHealth ") == 0 {
		t.Fatalf("no health read to check: %v", callsByKind(w))
	}
	if n := w.countCalls("Register"); n != 2*3 {
		t.Fatalf("%d Register calls, want one per target group per batch (6)", n)
	}
}

// blockingWorld holds every Invocations call until release is closed.
type blockingWorld struct {
	*world
	release chan struct{}
	tagged  chan struct{} // closed at the first SetTags
	once    sync.Once
}

func (b *blockingWorld) Invocations(ctx context.Context, byInstance map[string]string) ([]Invocation, error) {
	select {
	case <-b.release:
	case <-time.After(2 * time.Second):
	}
	out := make([]Invocation, 0, len(byInstance))
	for id, cmd := range byInstance {
		out = append(out, Invocation{InstanceID: id, CommandID: cmd, Status: InvocationInProgress, ExitCode: -1})
	}
	return out, nil
}

func (b *blockingWorld) SetTags(ctx context.Context, ids []string, tags map[string]string) error {
	b.once.Do(func() { close(b.tagged) })
	return b.world.SetTags(ctx, ids, tags)
}

// A departure that can go does not wait for a poll: with a group polling
// its step at the same moment, the departing instance is tagged and taken
// out while the poll's answer is still outstanding.
func TestIterate_aDepartureDoesNotWaitForAPoll(t *testing.T) {
	w := newWorld(fleetOpts{n: 4})
	s := baseSpec(w)
	s.Strategy = Strategy{BatchSize: 2, MinHealthyPercent: 50, Mode: ModeWindow}
	bw := &blockingWorld{world: w, release: make(chan struct{}), tagged: make(chan struct{})}
	p := w.ports(nil)
	p.Commands, p.Tags = bw, bw
	e, err := newEngine(context.Background(), s, p)
	if err != nil {
		t.Fatal(err)
	}
	now := w.clock.Now()
	e.mu.Lock()
	e.phase = phaseDeploying
	// i-0000 is out, polling its first step now; one more may leave.
	polling := e.queue[0]
	e.startGroup([]string{polling}, kindDeploy, now)
	g := e.groups[0]
	g.stage, g.step, g.wakeAt = stageStepWait, 0, now
	g.cmds, g.results, g.sentAt = map[string]string{polling: "cmd-1"}, map[string]Invocation{}, now
	g.deadline = now.Add(time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer e.mu.Unlock()
		e.iterate(now)
	}()
	select {
	case <-bw.tagged:
		close(bw.release)
	case <-time.After(3 * time.Second):
		close(bw.release)
		t.Fatal("the departure waited for the poll's answer")
	}
	<-done
	if len(e.groups) != 2 || e.groups[1].stage <= stageLeave || e.insts[e.groups[1].members[0]].outcome.Phase == "" {
		t.Fatalf("the departure did not leave: %d groups", len(e.groups))
	}
}

// runWithFakeClock is simulate with ports of the test's choosing.
func runWithFakeClock(t *testing.T, w *world, s Spec, p Ports) (Result, error) {
	t.Helper()
	w.minHealthyPercent = s.Strategy.MinHealthyPercent
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var res Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = Run(ctx, s, p)
	}()
	for {
		select {
		case <-done:
			w.mu.Lock()
			w.settle()
			w.mu.Unlock()
			return res, err
		case d := <-w.clock.AfterCalls():
			w.clock.AdvanceTo(d)
		case <-time.After(20 * time.Second):
			t.Fatal("engine neither waits on the clock nor returns")
		}
	}
}
