package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetview"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// The live page of a real rollout: the demo's fleet page (internal/fleetview)
// served by the provider process while an apply rolls, when the user asks
// for it. It is fed by what the rollout learns anyway, the fleet read before
// it, the engine's events and the answers to the calls the engine makes
// (target health, tag writes, standby, instance states, alarms), so watching
// it costs no AWS call at all.

// EnvProgressAddr turns the page on: the address to serve it on, e.g.
// 127.0.0.1:8099. Only loopback addresses are accepted unless
// EnvProgressAllowRemote is 1 too: the page shows the fleet to whoever
// reaches it, without authentication.
const (
	EnvProgressAddr        = "ROLLING_PROGRESS_ADDR"
	EnvProgressAllowRemote = "ROLLING_PROGRESS_ALLOW_REMOTE"
)

// progressLinger is how long (wall time, as the browser's) the page stays
// up after the rollout ends, so that an open browser receives the final
// frame: fleetview looks for a change every 200 ms.
const progressLinger = 600 * time.Millisecond

// checkProgressAddr refuses what would expose the page beyond this machine
// without the second opt-in: an empty host (every interface) or a host that
// is not a loopback address.
func checkProgressAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q is not HOST:PORT: %v", EnvProgressAddr, addr, err)
	}
	if port == "" {
		return fmt.Errorf("%s=%q has no port", EnvProgressAddr, addr)
	}
	if allowRemote || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("%s=%q is not a loopback address, and the page shows the fleet to anyone who reaches it; "+
		"use 127.0.0.1:PORT, or set %s=1 as well to serve it there", EnvProgressAddr, addr, EnvProgressAllowRemote)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// progressPage holds one rollout's fleet as the page shows it.
type progressPage struct {
	addr    string // where it listens
	clock   rollout.Clock
	tracker *fleetview.Tracker
	srv     *http.Server
	stop    context.CancelFunc
	done    chan struct{}

	mu     sync.Mutex
	insts  map[string]*fleetsim.InstanceSnapshot
	order  []string
	alarms map[string]string
}

// startProgressPage serves the page when EnvProgressAddr asks for it: nil
// and no error when it does not, an error (reported as a warning) when the
// address is refused or cannot be listened on.
func startProgressPage(fleet rollout.Fleet, title string, minHealthyPercent int, clk rollout.Clock) (*progressPage, error) {
	addr := os.Getenv(EnvProgressAddr)
	if addr == "" {
		return nil, nil
	}
	allowRemote := os.Getenv(EnvProgressAllowRemote) == "1"
	if err := checkProgressAddr(addr, allowRemote); err != nil {
		return nil, fmt.Errorf("no live page: %w", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("no live page: %s=%s: %v (another rollout of this apply may be showing there)", EnvProgressAddr, addr, err)
	}
	p := &progressPage{addr: l.Addr().String(), clock: clk, insts: map[string]*fleetsim.InstanceSnapshot{}, alarms: map[string]string{}, done: make(chan struct{})}
	for _, inst := range fleet.Instances {
		p.add(inst)
	}
	p.tracker = fleetview.NewTrackerFunc(p.snapshot, fleetview.Options{Title: title, MinHealthyPercent: minHealthyPercent, SampleEvery: 200 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	handler := p.tracker.Handler()
	if !allowRemote {
		handler = loopbackOnly(handler)
	}
	p.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go p.tracker.Run(ctx)
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return
		}
	}()
	return p, nil
}

// loopbackOnly refuses requests whose Host is not this machine's, so that
// a web page elsewhere cannot read the fleet through DNS rebinding.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !isLoopbackHost(strings.Trim(host, "[]")) {
			http.Error(w, "the rollout's live page answers only requests for a loopback host", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// close ends the page shortly after the rollout, when its last frame has
// had time to reach an open browser.
func (p *progressPage) close() {
	time.Sleep(progressLinger)
	p.stop()
	_ = p.srv.Close()
	<-p.done
}

func (p *progressPage) add(inst rollout.Instance) {
	if _, ok := p.insts[inst.ID]; ok {
		return
	}
	state := inst.State
	if state == "" {
		state = "running"
	}
	s := &fleetsim.InstanceSnapshot{ID: inst.ID, AZ: inst.AZ, State: state, AppVersion: inst.Tags[rollout.TagVersion],
		ASG: inst.AutoScalingGroup, LifecycleState: inst.LifecycleState, Tags: map[string]string{}, Targets: map[string]string{}}
	if phase := inst.Tags[rollout.TagPhase]; phase != "" {
		s.Tags[rollout.TagPhase] = phase
	}
	for arn := range inst.Targets {
		s.Targets[arn] = string(rollout.HealthHealthy)
		if h, ok := inst.Health[arn]; ok {
			s.Targets[arn] = string(h.State)
		}
	}
	p.insts[inst.ID] = s
	p.order = append(p.order, inst.ID)
}

// snapshot is the fleet as the page's source: a copy, since fleetview
// samples it from other goroutines.
func (p *progressPage) snapshot() fleetsim.FleetSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := fleetsim.FleetSnapshot{SimTime: p.clock.Now(), TimeScale: 1}
	for _, id := range p.order {
		s := *p.insts[id]
		s.Tags, s.Targets = copyMap(s.Tags), copyMap(s.Targets)
		snap.Instances = append(snap.Instances, s)
	}
	names := make([]string, 0, len(p.alarms))
	for n := range p.alarms {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		snap.Alarms = append(snap.Alarms, fleetsim.AlarmSnapshot{Name: n, State: p.alarms[n]})
	}
	return snap
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// update applies fn to each known instance among ids.
func (p *progressPage) update(ids []string, fn func(*fleetsim.InstanceSnapshot)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if s := p.insts[id]; s != nil {
			fn(s)
		}
	}
}

// event follows the engine's phases, which it writes to rolling:phase only
// when it leaves (to save calls): the page shows each step as it runs.
func (p *progressPage) event(e rollout.Event) {
	if e.InstanceID == "" {
		return
	}
	switch e.Kind {
	case rollout.EventInstancePhase:
		if e.Phase != "" {
			p.update([]string{e.InstanceID}, func(s *fleetsim.InstanceSnapshot) { s.Tags[rollout.TagPhase] = e.Phase })
		}
	case rollout.EventInstanceDone:
		p.update([]string{e.InstanceID}, func(s *fleetsim.InstanceSnapshot) { delete(s.Tags, rollout.TagPhase) })
	}
}
