package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// The fault matrix holds the promise made to users under faults: capacity
// never drops below the floor, no healthy instance is left out of its target
// groups, the state says what runs where, the error names the instance and
// the cause, and the next apply (faults cleared) converges. Every scenario is
// a terraform-plugin-testing TestCase on its own simulator:
//
//  1. create on v1 (adopt, nothing deployed);
//  2. apply v2 under the faults;
//  3. after a failed apply only: a plan without refresh, whose prior state is
//     exactly what the failed apply saved, compared with the fleet's tags;
//  4. clear the faults and apply v2 again.
//
// The summary line is printed when every scenario has finished.

// providerAccessKey is the key the provider block signs with
// (providerConfig); the credential scenario revokes it mid-rollout.
const (
	providerAccessKey = "AKIDROLLINGTEST"
	providerSecretKey = "not-a-secret"
)

type fleetKind int

const (
	plainFleet       fleetKind = iota // 6 instances in one target group
	twoGroupFleet                     // 6 instances in two target groups
	autoScalingFleet                  // 6 Auto Scaling members in one target group
	surgeFleetKind                    // 6 members of web-asg (max 10) launching on v0, behind one target group
)

// faultScenario is one row of the matrix: faults + mode + rollback +
// expectations. Instance indexes refer to the fleet's ids, sorted, which is
// also the rollout order (order = "sorted", batch_size 2): batch 1 is i0, i1.
type faultScenario struct {
	name     string
	mode     string // batch | window
	order    string // strategy.order; "" = sorted
	rollback bool
	fleet    fleetKind
	alarm    bool   // seed alarm web-5xx (OK) and watch it
	failure  string // more lines of the failure block
	stepTime string // timeout of the deploy step
	// inject arms the faults just before the faulty apply starts.
	inject func(h *faultHarness)
	// wantErr is "" when the faulty apply must succeed, else a regexp the
	// error must match; {i0}..{i5} and {tg2} are replaced by ids and ARNs.
	wantErr string
	// neverHealthy: instances on which v2 fails every health check (the
	// app model's health, used to judge whether an instance out of service
	// should be back in).
	neverHealthy []int
	// rolledBack: after the faulty apply every surviving instance runs v1.
	rolledBack bool
	// floor is the capacity floor to hold; 0 means ceil(6 x 60%) = 4.
	floor int
	// gone: instances the fault terminates (not expected anywhere after).
	gone []int
	// leftOut: instances the faulty apply leaves on v1 because they cannot
	// be deployed (their SSM agent is offline); the converging apply, once
	// the faults are cleared, deploys them.
	leftOut []int
	// dropSecondGroup: the converging apply no longer lists the second
	// target group (it was deleted).
	dropSecondGroup bool
	// maxRetries, when set, is the provider's max_retries (SDK retries per
	// call), so that a storm can outlast them without minutes of backoff.
	maxRetries int
	// verify, when set, checks more after the faulty apply.
	verify func(h *faultHarness) error
	// revokesCredentials: instances the provider had taken out before its
	// key was revoked cannot be put back by it; they must stay tracked
	// (rolling:phase) instead.
	revokesCredentials bool
	// strategy: more lines of the strategy block; minHealthy replaces the
	// matrix's 60 % when set.
	strategy   string
	minHealthy int
}

// matrixTotals aggregates every scenario for the summary line.
type matrixTotals struct {
	scenarios, floorBreaches, stranded, stateMismatches atomic.Int64
}

func TestAccFaultMatrix(t *testing.T) {
	var totals matrixTotals
	t.Cleanup(func() {
		// fmt, not t.Logf: the line must show without -v, after every
		// parallel scenario has finished.
		fmt.Printf("fault matrix: %d scenarios, %d floor breaches, %d instances stranded, %d state mismatches\n",
			totals.scenarios.Load(), totals.floorBreaches.Load(), totals.stranded.Load(), totals.stateMismatches.Load())
	})
	for _, sc := range faultScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runFaultScenario(t, sc, &totals)
		})
	}
}

func faultScenarios() []faultScenario {
	failDeploy := func(idx ...int) func(h *faultHarness) {
		return func(h *faultHarness) { h.sim.Faults().FailDeploy("v2", h.pick(idx...)...) }
	}
	const deployFailed = `(?s){%s}.*deploy.*exit code 1.*installation failed`
	return []faultScenario{
		// Throttling storms: the SDK's retries absorb them.
		{name: "throttling_storm/batch/rollback", mode: "batch", rollback: true, inject: func(h *faultHarness) {
			h.sim.Faults().SetThrottling(true)
			h.sim.Faults().SetRateLimit("DescribeTargetHealth", 4, 40)
			h.sim.Faults().SetRateLimit("DescribeInstances", 3, 20)
		}},
		// A storm that outlasts the retries: health cannot be read at all
		// once the first batch has left.
		{name: "throttling_outlasts_retries/batch/rollback", mode: "batch", rollback: true, maxRetries: 1,
			inject: func(h *faultHarness) {
				h.onCall("DeregisterTargets", 1, func() { h.sim.Faults().SetRateLimit("DescribeTargetHealth", 0, 0) })
			},
			wantErr: `(?s){i0}.*(Throttling|throttled)`},
		{name: "throttling_storm/window/no_rollback", mode: "window", inject: func(h *faultHarness) {
			h.sim.Faults().SetThrottling(true)
			h.sim.Faults().SetRateLimit("ListCommandInvocations", 3, 20)
			h.sim.Faults().SetRateLimit("SendCommand", 2, 10)
		}},
		// 5xx bursts: retried, and a retried mutating call is not doubled.
		{name: "5xx_target_health/batch/rollback", mode: "batch", rollback: true, inject: func(h *faultHarness) {
			h.sim.Faults().ServerErrors("DescribeTargetHealth", 0.3)
		}},
		{name: "5xx_every_action/window/no_rollback", mode: "window", inject: func(h *faultHarness) {
			h.sim.Faults().ServerErrors("", 0.05)
		}},
		{name: "5xx_send_command/batch/no_rollback", mode: "batch", inject: func(h *faultHarness) {
			h.sim.Faults().ServerErrors("SendCommand", 0.3)
		}, verify: eachStepSentOncePerInstance},
		{name: "5xx_register_targets/window/rollback", mode: "window", rollback: true, inject: func(h *faultHarness) {
			h.sim.Faults().ServerErrors("RegisterTargets", 0.3)
			h.sim.Faults().ServerErrors("DeregisterTargets", 0.3)
		}},
		// A step failing on one instance.
		{name: "deploy_fails_on_one/batch/rollback", mode: "batch", rollback: true, inject: failDeploy(2),
			wantErr: fmt.Sprintf(deployFailed, "i2"), rolledBack: true},
		{name: "deploy_fails_on_one/batch/no_rollback", mode: "batch", inject: failDeploy(2),
			wantErr: fmt.Sprintf(deployFailed, "i2")},
		{name: "deploy_fails_on_one/window/rollback", mode: "window", rollback: true, inject: failDeploy(3),
			wantErr: fmt.Sprintf(deployFailed, "i3"), rolledBack: true},
		{name: "deploy_fails_on_one/window/no_rollback", mode: "window", inject: failDeploy(3),
			wantErr: fmt.Sprintf(deployFailed, "i3")},
		// A step failing on many (every) instance: the first batch stops it.
		{name: "deploy_fails_on_all/batch/rollback", mode: "batch", rollback: true, inject: failDeploy(),
			wantErr: fmt.Sprintf(deployFailed, "i0"), rolledBack: true},
		{name: "deploy_fails_on_many/window/no_rollback", mode: "window", failure: "max_failed_instances = 1",
			inject: failDeploy(1, 2, 4), wantErr: `(?s){i1}.*deploy.*exit code 1.*{i2}.*deploy.*exit code 1`},
		// Hanging commands hit the step timeout.
		{name: "deploy_hangs/batch/rollback", mode: "batch", rollback: true, stepTime: "30s",
			inject:  func(h *faultHarness) { h.sim.Faults().HangCommands("app deploy v2", h.pick(2)...) },
			wantErr: `(?s){i2}.*deploy.*TimedOut`, rolledBack: true},
		{name: "deploy_hangs/window/no_rollback", mode: "window", stepTime: "30s",
			inject:  func(h *faultHarness) { h.sim.Faults().HangCommands("app deploy v2", h.pick(2)...) },
			wantErr: `(?s){i2}.*deploy.*TimedOut`},
		// An instance that never becomes healthy on v2.
		{name: "never_healthy/batch/rollback", mode: "batch", rollback: true, neverHealthy: []int{2},
			inject:  func(h *faultHarness) { h.sim.Faults().NeverHealthy("v2", h.pick(2)...) },
			wantErr: `(?s){i2}.*(health|check)`, rolledBack: true},
		{name: "never_healthy/window/no_rollback", mode: "window", neverHealthy: []int{2},
			inject:  func(h *faultHarness) { h.sim.Faults().NeverHealthy("v2", h.pick(2)...) },
			wantErr: `(?s){i2}.*(health|check)`},
		// The SSM agent is offline before the plan: the preflight leaves the
		// instance out (a warning), the others are rolled.
		{name: "agent_offline/batch/rollback", mode: "batch", rollback: true, leftOut: []int{2},
			inject: func(h *faultHarness) { h.agentOffline(2) }},
		{name: "agent_offline/window/no_rollback", mode: "window", leftOut: []int{2},
			inject: func(h *faultHarness) { h.agentOffline(2) }},
		// It goes offline once the rollout runs: the check before its
		// batch leaves out the instance, never drained for nothing.
		{name: "agent_offline_mid_rollout/batch/rollback", mode: "batch", rollback: true, leftOut: []int{4},
			inject: func(h *faultHarness) {
				h.onCall("DeregisterTargets", 1, func() { h.agentOffline(4) })
			}},
		// The SSM agent dies while a step runs: the command is
		// undeliverable, the app untouched, so the instance goes back in.
		{name: "agent_dies_during_step/batch/rollback", mode: "batch", rollback: true,
			inject: func(h *faultHarness) {
				h.onCall("SendCommand", 1, func() { h.agentOffline(0) })
			},
			wantErr: `(?s){i0}.*Undeliverable`, rolledBack: true},
		// An instance terminated while its steps run (a scale-in): dropped,
		// and the rollout goes on.
		{name: "instance_terminated/batch/rollback", mode: "batch", rollback: true, gone: []int{0}, floor: 3,
			inject: func(h *faultHarness) {
				h.onCall("SendCommand", 1, func() { h.must(h.sim.Faults().TerminateInstance(h.ids[0], 0)) })
			}},
		{name: "instance_terminated/window/no_rollback", mode: "window", gone: []int{0}, floor: 3,
			inject: func(h *faultHarness) {
				h.onCall("SendCommand", 1, func() { h.must(h.sim.Faults().TerminateInstance(h.ids[0], 0)) })
			}},
		// The Auto Scaling group replaces an instance in standby: the
		// replacement, on the group's launch version, is rolled by the same
		// apply.
		{name: "asg_replaces_instance/batch/rollback", mode: "batch", rollback: true, fleet: autoScalingFleet, gone: []int{0},
			inject: func(h *faultHarness) {
				h.onCall("SendCommand", 1, func() { h.must(h.sim.Faults().ReplaceInstance(h.ids[0], 0)) })
			}},
		// An alarm fires after the first batch left.
		{name: "alarm_fires/batch/rollback", mode: "batch", rollback: true, alarm: true,
			inject: func(h *faultHarness) {
				h.onCall("RegisterTargets", 1, func() { h.must(h.sim.Faults().AlarmAt("web-5xx", 0)) })
			},
			wantErr: `(?s)web-5xx`, rolledBack: true},
		{name: "alarm_fires/window/no_rollback", mode: "window", alarm: true,
			inject: func(h *faultHarness) {
				h.onCall("RegisterTargets", 1, func() { h.must(h.sim.Faults().AlarmAt("web-5xx", 0)) })
			},
			wantErr: `(?s)web-5xx`},
		// A target group deleted mid-rollout.
		{name: "target_group_deleted/batch/rollback", mode: "batch", rollback: true, fleet: twoGroupFleet, dropSecondGroup: true,
			inject: func(h *faultHarness) {
				h.onCall("SendCommand", 1, func() { h.must(h.sim.Faults().DeleteTargetGroup(h.tgs[1], 0)) })
			},
			wantErr: `(?s)({tg2}|web2).*(not found|TargetGroupNotFound)`},
		// The provider's access key is revoked mid-rollout (as an expired
		// session would be refused).
		{name: "credentials_revoked/window/rollback", mode: "window", rollback: true, revokesCredentials: true,
			inject: func(h *faultHarness) {
				h.onCall("SendCommand", 1, func() { h.gate.revoke(providerAccessKey) })
			},
			wantErr: `(?s)(UnrecognizedClientException|InvalidClientTokenId|AuthFailure|security token)`},
		// Zone by zone: a step failing in the first zone stops the rollout
		// before any instance of another zone is touched.
		{name: "zone_fails_in_first/batch/rollback", mode: "batch", rollback: true, order: "zone_by_zone",
			inject: failInFirstZone, wantErr: `(?s)deploy.*exit code 1.*installation failed`, rolledBack: true,
			verify: noOtherZoneTouched},
		// In window mode the first zone's other instance is done long before
		// the hung one times out: its slot must not go to another zone.
		{name: "zone_hangs_in_first/window/no_rollback", mode: "window", order: "zone_by_zone", stepTime: "5m",
			inject: hangInFirstZone, wantErr: `(?s)deploy.*TimedOut`, verify: noOtherZoneTouched},
		// Combinations.
		{name: "throttling_and_failing_step/window/rollback", mode: "window", rollback: true,
			inject: func(h *faultHarness) {
				h.sim.Faults().SetThrottling(true)
				h.sim.Faults().SetRateLimit("DescribeTargetHealth", 4, 40)
				h.sim.Faults().FailDeploy("v2", h.ids[3])
			},
			wantErr: fmt.Sprintf(deployFailed, "i3"), rolledBack: true},
		// Surge (max_surge on an Auto Scaling fleet at a full floor): the
		// new instances never get healthy; the surge is undone, nothing
		// deployed, nothing left out of its target groups.
		{name: "surge_never_healthy/batch/rollback", mode: "batch", rollback: true, fleet: surgeFleetKind,
			strategy: "max_surge = 2", minHealthy: 100, floor: 6,
			inject:  func(h *faultHarness) { h.sim.Faults().NeverHealthy("v0") },
			wantErr: `(?s)surge: the new instances were not InService and healthy within 10m0s.*the surge was undone`,
			verify:  surgeUndoneAndNothingDeployed},
		// The group's max_size was lowered under the surge: a plan-time
		// error, and no mutating call.
		{name: "surge_max_reached/batch/rollback", mode: "batch", rollback: true, fleet: surgeFleetKind,
			strategy: "max_surge = 2", minHealthy: 100, floor: 6,
			inject: func(h *faultHarness) {
				h.must(h.sim.Faults().ResizeGroup("web-asg", 1, 7))
				h.callsAtFault = len(h.sim.Recorder().Calls(""))
				h.onClear = append(h.onClear, func() { h.must(h.sim.Faults().ResizeGroup("web-asg", 1, 10)) })
			},
			wantErr: `(?s)web-asg has desired capacity 6 and max_size 7,\s+so it cannot add 2`,
			verify:  noMutatingCallSinceTheFault},
		{name: "5xx_and_never_healthy/batch/no_rollback", mode: "batch", neverHealthy: []int{3},
			inject: func(h *faultHarness) {
				h.sim.Faults().ServerErrors("", 0.05)
				h.sim.Faults().NeverHealthy("v2", h.ids[3])
			},
			wantErr: `(?s){i3}.*(health|check)`},
	}
}

// faultHarness is a fleet seeded for one scenario, with the triggers that
// fire faults when the rollout reaches a given call.
type faultHarness struct {
	*testFleet
	gate *credentialGate
	tgs  []string // tgs[0] is the group every check uses
	ids  []string // sorted: the rollout order
	stop chan struct{}
	wg   sync.WaitGroup
	// callsBefore: per action, the calls recorded before the faulty apply.
	callsBefore map[string]int
	// onClear undoes faults clearFaults does not know (a resized group);
	// callsAtFault is how many calls were recorded when a fault was armed.
	onClear      []func()
	callsAtFault int
}

// credentialGate serialises the simulator's reads of its credential list
// with the test's edits, so that a key can be revoked mid-run without a
// data race (the simulator reads Options.Credentials only while serving).
type credentialGate struct {
	mu    sync.RWMutex
	creds map[string]string
	next  http.Handler
}

func (g *credentialGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.next.ServeHTTP(w, r)
}

func (g *credentialGate) revoke(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.creds, key)
}

func (g *credentialGate) restore(key, secret string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.creds[key] = secret
}

func newFaultHarness(t *testing.T, kind fleetKind, alarm bool) *faultHarness {
	t.Helper()
	creds := map[string]string{providerAccessKey: providerSecretKey, inspectorAccessKey: "secret"}
	sim := fleetsim.New(fleetsim.Options{TimeScale: testTimeScale, RandSeed: 1, Credentials: creds})
	gate := &credentialGate{creds: creds, next: sim}
	srv := httptest.NewServer(gate)
	h := &faultHarness{testFleet: &testFleet{t: t, sim: sim, url: srv.URL}, gate: gate, stop: make(chan struct{})}
	t.Cleanup(func() {
		close(h.stop)
		h.wg.Wait()
		recordUsedActions(sim)
		srv.Close()
		sim.Close()
	})
	tags := map[string]string{"rolling:version": "v1", "Name": "web"}
	switch kind {
	case plainFleet:
		tg, ids := h.web(6, "v1")
		h.tgs, h.ids = []string{tg}, ids
	case twoGroupFleet:
		h.tgs = []string{
			sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80}),
			sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web2", Port: 8080}),
		}
		h.ids = sim.AddInstances(fleetsim.InstanceConfig{Count: 6, AppVersion: "v1", Tags: tags, TargetGroupARNs: h.tgs})
	case surgeFleetKind:
		tg := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
		sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tg}, Min: 1, Max: 10, LaunchVersion: "v0"})
		h.tgs = []string{tg}
		h.ids = sim.AddInstances(fleetsim.InstanceConfig{Count: 6, AppVersion: "v1", Tags: tags, TargetGroupARNs: h.tgs, AutoScalingGroup: "web-asg"})
	case autoScalingFleet:
		tg := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
		sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tg}, Min: 1, Max: 10, LaunchVersion: "v1"})
		h.tgs = []string{tg}
		h.ids = sim.AddInstances(fleetsim.InstanceConfig{Count: 6, AppVersion: "v1", Tags: tags, TargetGroupARNs: h.tgs, AutoScalingGroup: "web-asg"})
	}
	sort.Strings(h.ids)
	if alarm {
		sim.AddAlarm("web-5xx", "OK")
	}
	return h
}

func (h *faultHarness) pick(idx ...int) []string {
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = h.ids[n]
	}
	return out
}

func (h *faultHarness) must(err error) {
	if err != nil {
		h.t.Errorf("injecting a fault: %v", err)
	}
}

func (h *faultHarness) agentOffline(idx int) {
	h.must(h.sim.Faults().SetAgentOnline(h.ids[idx], false))
}

// onCall runs act once the simulator has recorded n calls of action: a
// fault tied to the rollout's progress, not to a guess about timing.
func (h *faultHarness) onCall(action string, n int, act func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				if h.sim.Recorder().CallCount()[action] >= n {
					act()
					return
				}
			}
		}
	}()
}

// clearFaults lifts every fault a scenario can leave behind.
func (h *faultHarness) clearFaults() {
	h.sim.Faults().Clear()
	for _, undo := range h.onClear {
		undo()
	}
	h.onClear = nil
	h.gate.restore(providerAccessKey, providerSecretKey)
	for _, a := range h.sim.Snapshot().Alarms {
		h.sim.AddAlarm(a.Name, "OK") // re-seeding resets the state
	}
	for _, id := range h.ids {
		if snap, ok := h.sim.Instance(id); ok && snap.State == "running" && !snap.AgentOnline {
			h.must(h.sim.Faults().SetAgentOnline(id, true))
		}
	}
}

func (h *faultHarness) config(sc faultScenario, version string, tgs []string) string {
	order := "sorted"
	if sc.order != "" {
		order = sc.order
	}
	minHealthy := 60
	if sc.minHealthy > 0 {
		minHealthy = sc.minHealthy
	}
	strategy := fmt.Sprintf("batch_size = 2\n    min_healthy_percent = %d\n    order = %q\n    mode = %q\n    health_timeout = \"5m\"", minHealthy, order, sc.mode)
	if sc.strategy != "" {
		strategy += "\n    " + sc.strategy
	}
	if order == "zone_by_zone" {
		strategy += "\n    zone_bake_time = \"20s\""
	}
	failure := fmt.Sprintf("rollback = %t", sc.rollback)
	if sc.alarm {
		failure += "\n    alarm_names = [\"web-5xx\"]"
	}
	if sc.failure != "" {
		failure += "\n    " + sc.failure
	}
	cfg := h.testFleet.config(deployment{TargetGroups: tgs, Version: version, Strategy: strategy, Failure: failure, StepTimeout: sc.stepTime})
	if sc.maxRetries > 0 {
		secret := fmt.Sprintf("secret_key = %q", providerSecretKey)
		if !strings.Contains(cfg, secret) {
			h.t.Fatalf("the provider block has no %s to add max_retries after", secret)
		}
		cfg = strings.Replace(cfg, secret, fmt.Sprintf("%s\n  max_retries = %d", secret, sc.maxRetries), 1)
	}
	return cfg
}

func (h *faultHarness) expand(pattern string) *regexp.Regexp {
	for i, id := range h.ids {
		pattern = strings.ReplaceAll(pattern, fmt.Sprintf("{i%d}", i), id)
	}
	if len(h.tgs) > 1 {
		pattern = strings.ReplaceAll(pattern, "{tg2}", regexp.QuoteMeta(h.tgs[1]))
	}
	return regexp.MustCompile(pattern)
}

func (h *faultHarness) isGone(sc faultScenario, id string) bool {
	for _, n := range sc.gone {
		if h.ids[n] == id {
			return true
		}
	}
	return false
}

// existingGroups are the scenario's target groups that still exist.
func (h *faultHarness) existingGroups() []string {
	have := map[string]bool{}
	for _, g := range h.sim.Snapshot().TargetGroups {
		have[g.ARN] = true
	}
	var out []string
	for _, arn := range h.tgs {
		if have[arn] {
			out = append(out, arn)
		}
	}
	return out
}

func runFaultScenario(t *testing.T, sc faultScenario, totals *matrixTotals) {
	totals.scenarios.Add(1)
	h := newFaultHarness(t, sc.fleet, sc.alarm)
	convergeTGs := h.tgs
	if sc.dropSecondGroup {
		convergeTGs = h.tgs[:1]
	}
	v1 := h.config(sc, "v1", h.tgs)
	v2 := h.config(sc, "v2", h.tgs)
	v2Converge := h.config(sc, "v2", convergeTGs)
	floor := sc.floor
	if floor == 0 {
		floor = 4
	}

	// afterFault checks the fleet right after the faulty apply, faults
	// still in force.
	afterFault := func() {
		totals.stranded.Add(int64(h.checkNoneStranded(sc)))
		if sc.verify != nil {
			if err := sc.verify(h); err != nil {
				t.Error(err)
			}
		}
		if sc.rolledBack {
			// Instances an Auto Scaling group launched meanwhile were never
			// deployed by this resource: the next apply picks them up.
			for _, id := range h.ids {
				snap, _ := h.sim.Instance(id)
				if snap.State != "running" {
					continue
				}
				if snap.AppVersion != "v1" || snap.Tags["rolling:version"] != "v1" {
					t.Errorf("rollback left %s on %s (tag %q), want v1 everywhere", snap.ID, snap.AppVersion, snap.Tags["rolling:version"])
				}
			}
		}
	}
	stateCheck := func(st stateView, wantConverged bool) error {
		problems := h.stateMismatches(sc, st, wantConverged)
		totals.stateMismatches.Add(int64(len(problems)))
		if len(problems) > 0 {
			// Reported, not returned: the scenario goes on to show whether
			// the next apply still converges.
			t.Errorf("state differs from the fleet:\n  %s", strings.Join(problems, "\n  "))
		}
		return nil
	}

	faulty := resource.TestStep{
		PreConfig: func() { sc.inject(h) },
		Config:    v2,
	}
	steps := []resource.TestStep{{Config: v1}}
	if sc.wantErr == "" {
		faulty.Check = func(s *terraform.State) error {
			afterFault()
			var leftOut []string
			for _, n := range sc.leftOut {
				leftOut = append(leftOut, h.ids[n])
			}
			if err := h.checkConverged(sc, h.tgs, leftOut...); err != nil {
				return err
			}
			return stateCheck(flatmapStateView(s), true)
		}
		steps = append(steps, faulty)
	} else {
		faulty.ExpectError = h.expand(sc.wantErr)
		recovery := resource.TestStep{
			PreConfig: func() {
				afterFault()
				h.clearFaults()
			},
			// Without refresh the prior state is what the failed apply
			// saved; the plan must show that there is work left.
			Config:             v2Converge,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{
				priorStateCheck{check: func(st stateView) error { return stateCheck(st, false) }},
			}},
		}
		steps = append(steps, faulty, recovery)
	}
	steps = append(steps, resource.TestStep{
		PreConfig: h.clearFaults,
		Config:    v2Converge,
		Check: func(s *terraform.State) error {
			if err := h.checkConverged(sc, convergeTGs); err != nil {
				return err
			}
			return stateCheck(flatmapStateView(s), true)
		},
	})

	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: h.factories(), Steps: steps})

	for _, arn := range h.existingGroups() {
		if low := h.sim.Recorder().MinInService(arn); low < floor {
			totals.floorBreaches.Add(1)
			t.Errorf("in-service capacity of %s fell to %d, floor %d", arn, low, floor)
		}
	}
}

// healthyPerModel is the simulator's health predicate seen from outside:
// running, app started, and not on a version marked never-healthy there.
func (h *faultHarness) healthyPerModel(sc faultScenario, snap fleetsim.InstanceSnapshot) bool {
	if snap.State != "running" || !snap.AppRunning {
		return false
	}
	for _, n := range sc.neverHealthy {
		if h.ids[n] == snap.ID && snap.AppVersion == "v2" {
			return false
		}
	}
	return true
}

// checkNoneStranded counts instances that could serve but are not
// registered (healthy or still checking) in every existing target group,
// or sit in standby.
func (h *faultHarness) checkNoneStranded(sc faultScenario) int {
	groups := h.existingGroups()
	stranded := 0
	for _, snap := range h.sim.Snapshot().Instances {
		if !h.healthyPerModel(sc, snap) {
			continue
		}
		var why []string
		for _, arn := range groups {
			if s := snap.Targets[arn]; s != "healthy" && s != "initial" {
				why = append(why, fmt.Sprintf("%q in %s", s, arn))
			}
		}
		if snap.LifecycleState == "Standby" || snap.LifecycleState == "EnteringStandby" {
			why = append(why, "in standby")
		}
		if len(why) == 0 {
			continue
		}
		if sc.revokesCredentials && snap.Tags["rolling:phase"] != "" {
			// Taken out before the key was revoked: the provider cannot
			// call AWS any more, but the tag keeps track of it.
			continue
		}
		stranded++
		h.t.Errorf("%s could serve (v%s running) but is left out of service: %s; tags %v",
			snap.ID, strings.TrimPrefix(snap.AppVersion, "v"), strings.Join(why, ", "), snap.RollingTags)
	}
	return stranded
}

func (h *faultHarness) checkConverged(sc faultScenario, groups []string, leftOut ...string) error {
	var problems []string
	for _, snap := range h.sim.Snapshot().Instances {
		if snap.State == "terminated" {
			continue
		}
		want := "v2"
		if slices.Contains(leftOut, snap.ID) {
			want = "v1" // left out, untouched
		}
		if snap.AppVersion != want || snap.Tags["rolling:version"] != want || snap.Tags["rolling:phase"] != "" {
			problems = append(problems, fmt.Sprintf("%s runs %s with tags %v", snap.ID, snap.AppVersion, snap.RollingTags))
		}
		for _, arn := range groups {
			if snap.Targets[arn] != "healthy" {
				problems = append(problems, fmt.Sprintf("%s is %q in %s", snap.ID, snap.Targets[arn], arn))
			}
		}
		if snap.ASG != "" && snap.LifecycleState != "InService" {
			problems = append(problems, fmt.Sprintf("%s is %s in its Auto Scaling group", snap.ID, snap.LifecycleState))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the second apply did not converge:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// stateView is the part of the resource's state the matrix compares with
// the fleet.
type stateView struct {
	found     bool
	version   string
	versions  map[string]int // instances per rolling:version tag
	outOfDate []string
	unready   map[string]bool // in unready_instances: not out of date while so
}

func flatmapStateView(s *terraform.State) stateView {
	rs := s.RootModule().Resources[resourceName]
	if rs == nil || rs.Primary == nil {
		return stateView{}
	}
	attrs := rs.Primary.Attributes
	v := stateView{found: true, version: attrs["version"], versions: map[string]int{}, unready: map[string]bool{}}
	for key := range attrs {
		if id, ok := strings.CutPrefix(key, "unready_instances."); ok && id != "%" {
			v.unready[id] = true
		}
	}
	for key, val := range attrs {
		version, ok := strings.CutPrefix(key, "versions.")
		if !ok || version == "%" {
			continue
		}
		n, _ := strconv.Atoi(val)
		v.versions[version] = n
	}
	for i := 0; ; i++ {
		id, ok := attrs[fmt.Sprintf("out_of_date_instance_ids.%d", i)]
		if !ok {
			break
		}
		v.outOfDate = append(v.outOfDate, id)
	}
	return v
}

// priorStateCheck runs check on the prior state of a plan: with refresh off,
// exactly the state the previous apply saved.
type priorStateCheck struct {
	check func(stateView) error
}

func (c priorStateCheck) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	v := stateView{versions: map[string]int{}, unready: map[string]bool{}}
	if ps := req.Plan.PriorState; ps != nil && ps.Values != nil && ps.Values.RootModule != nil {
		for _, r := range ps.Values.RootModule.Resources {
			if r.Address != resourceName {
				continue
			}
			v.found = true
			v.version, _ = r.AttributeValues["version"].(string)
			unready, _ := r.AttributeValues["unready_instances"].(map[string]any)
			for id := range unready {
				v.unready[id] = true
			}
			versions, _ := r.AttributeValues["versions"].(map[string]any)
			for version, n := range versions {
				f, _ := n.(float64)
				v.versions[version] = int(f)
			}
			ids, _ := r.AttributeValues["out_of_date_instance_ids"].([]any)
			for _, id := range ids {
				s, _ := id.(string)
				v.outOfDate = append(v.outOfDate, s)
			}
		}
	}
	resp.Error = c.check(v)
}

// stateMismatches compares a saved state with the fleet's own truth, the
// rolling:* tags: how many instances are on each version, and the
// out-of-date list (which also names every instance left out of service).
func (h *faultHarness) stateMismatches(sc faultScenario, st stateView, wantConverged bool) []string {
	if !st.found {
		return []string{"the resource is not in the state"}
	}
	var problems []string
	groups := map[string]bool{}
	for _, arn := range h.existingGroups() {
		groups[arn] = true
	}
	wantOutOfDate := []string{}
	tagged := map[string]int{}
	for _, snap := range h.sim.Snapshot().Instances {
		member := snap.Tags["rolling:phase"] != ""
		for arn := range snap.Targets {
			member = member || groups[arn]
		}
		if !member || snap.State == "terminated" || h.isGone(sc, snap.ID) {
			continue
		}
		tagged[snap.Tags["rolling:version"]]++
		if snap.Tags["rolling:phase"] == "" && (!snap.AgentOnline || snap.State == "stopped" || st.unready[snap.ID]) {
			continue // cannot be deployed now: in unready_instances, not out of date
		}
		if snap.Tags["rolling:phase"] != "" || snap.Tags["rolling:version"] != st.version {
			wantOutOfDate = append(wantOutOfDate, snap.ID)
		}
	}
	if fmt.Sprint(tagged) != fmt.Sprint(st.versions) {
		problems = append(problems, fmt.Sprintf("versions is %v, the rolling:version tags say %v", st.versions, tagged))
	}
	sort.Strings(wantOutOfDate)
	got := append([]string{}, st.outOfDate...)
	sort.Strings(got)
	if wantConverged {
		wantOutOfDate = []string{}
	}
	if strings.Join(got, ",") != strings.Join(wantOutOfDate, ",") {
		problems = append(problems, fmt.Sprintf("out_of_date_instance_ids is %v, the tags say %v", got, wantOutOfDate))
	}
	return problems
}

// eachStepSentOncePerInstance: a SendCommand answered 5xx did nothing and
// is retried; the retries must not run a step twice on an instance (4 steps
// x 6 instances, in one call per step per batch of 2).
func eachStepSentOncePerInstance(h *faultHarness) error {
	perInstance := map[string]int{}
	accepted, refused := 0, 0
	for _, c := range h.sim.Recorder().Calls("SendCommand") {
		if c.ErrorCode != "" {
			refused++
			continue
		}
		accepted++
		for _, id := range c.InstanceIDs {
			perInstance[id]++
		}
	}
	if refused == 0 {
		return fmt.Errorf("no SendCommand was refused: the fault did not bite")
	}
	for _, id := range h.ids {
		if perInstance[id] != 4 {
			return fmt.Errorf("%s received %d commands for 4 steps (%d accepted, %d refused calls)", id, perInstance[id], accepted, refused)
		}
	}
	return nil
}

// firstZone is the zone a zone_by_zone rollout of h's fleet starts with:
// the zones are the same size, so the first by name; and its instances.
func (h *faultHarness) firstZone() (string, []string) {
	byZone := map[string][]string{}
	var zones []string
	for _, id := range h.ids {
		snap, _ := h.sim.Instance(id)
		if byZone[snap.AZ] == nil {
			zones = append(zones, snap.AZ)
		}
		byZone[snap.AZ] = append(byZone[snap.AZ], id)
	}
	sort.Strings(zones)
	return zones[0], byZone[zones[0]]
}

var zoneTouchingActions = []string{"DeregisterTargets", "RegisterTargets", "SendCommand", "EnterStandby", "CreateTags"}

// markCalls notes how many calls each action had before the faulty apply.
func (h *faultHarness) markCalls() {
	h.callsBefore = map[string]int{}
	for _, action := range zoneTouchingActions {
		h.callsBefore[action] = len(h.sim.Recorder().Calls(action))
	}
}

func failInFirstZone(h *faultHarness) {
	h.markCalls()
	_, ids := h.firstZone()
	h.sim.Faults().FailDeploy("v2", ids[len(ids)-1])
}

func hangInFirstZone(h *faultHarness) {
	h.markCalls()
	_, ids := h.firstZone()
	h.sim.Faults().HangCommands("app deploy v2", ids[0])
}

// noOtherZoneTouched: no call of the faulty apply named an instance outside
// the first zone, from the simulator's record.
func noOtherZoneTouched(h *faultHarness) error {
	zone, ids := h.firstZone()
	if len(h.sim.Recorder().Calls("SendCommand")) == h.callsBefore["SendCommand"] {
		return fmt.Errorf("nothing was sent to %v: the rollout did not start", ids)
	}
	for _, action := range zoneTouchingActions {
		calls := h.sim.Recorder().Calls(action)
		for _, c := range calls[min(h.callsBefore[action], len(calls)):] {
			for _, id := range append(append([]string{}, c.InstanceIDs...), c.TargetIDs...) {
				if snap, ok := h.sim.Instance(id); ok && snap.AZ != zone {
					return fmt.Errorf("%s named %s in %s, outside the first zone %s", action, id, snap.AZ, zone)
				}
			}
		}
	}
	return nil
}

// noMutatingCallSinceTheFault: nothing changed in AWS since the fault was
// armed.
func noMutatingCallSinceTheFault(h *faultHarness) error {
	for _, c := range h.sim.Recorder().Calls("")[h.callsAtFault:] {
		read := strings.HasPrefix(c.Action, "Describe") || strings.HasPrefix(c.Action, "List") || strings.HasPrefix(c.Action, "Get")
		if !read {
			return fmt.Errorf("a plan-time error made a mutating call: %s %s", c.Service, c.Action)
		}
	}
	return nil
}

// surgeUndoneAndNothingDeployed: after a failed surge web-asg is back at
// desired 6 without its record, every instance it launched is terminated
// and out of the target group, and no step ran.
func surgeUndoneAndNothingDeployed(h *faultHarness) error {
	g, _ := h.sim.AutoScalingGroup("web-asg")
	if g.Desired != 6 || g.Tags["rolling:surge"] != "" || len(g.Members) != 6 {
		return fmt.Errorf("web-asg: desired %d, %d members, record %q; want the surge undone", g.Desired, len(g.Members), g.Tags["rolling:surge"])
	}
	launched := 0
	for _, snap := range h.sim.Snapshot().Instances {
		if slices.Contains(h.ids, snap.ID) {
			continue
		}
		launched++
		if snap.State != "terminated" || snap.Targets[h.tgs[0]] != "" {
			return fmt.Errorf("surge instance %s is %s, target %q", snap.ID, snap.State, snap.Targets[h.tgs[0]])
		}
	}
	if launched < 2 {
		return fmt.Errorf("%d instances launched: the surge never happened", launched)
	}
	if n := len(h.sim.Recorder().Calls("SendCommand")); n != 0 {
		return fmt.Errorf("%d SendCommand calls: nothing may be deployed when the surge fails", n)
	}
	return nil
}
