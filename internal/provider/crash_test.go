package provider

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// Crash resume: SIGKILL of terraform (the whole process group) or of the
// provider process alone, while the second batch drains, runs a step or
// rejoins. The next apply must never deploy again an instance the killed
// rollout had finished: the recorder of the next apply shows no SendCommand
// to one.

type crashPhase struct {
	name string
	// reached reports whether the second batch is in this phase now.
	reached func(f *testFleet, tg string, batch []string) bool
}

func crashPhases() []crashPhase {
	state := func(f *testFleet, tg string, batch []string, want string) bool {
		for _, id := range batch {
			snap, _ := f.sim.Instance(id)
			if snap.Targets[tg] != want {
				return false
			}
		}
		return true
	}
	sent := func(f *testFleet, batch []string) bool {
		for _, c := range f.sim.Recorder().Calls("SendCommand") {
			for _, id := range c.InstanceIDs {
				if id == batch[0] {
					return true
				}
			}
		}
		return false
	}
	return []crashPhase{
		{"draining", func(f *testFleet, tg string, b []string) bool { return state(f, tg, b, "draining") }},
		{"step", func(f *testFleet, tg string, b []string) bool { return sent(f, b) && state(f, tg, b, "") }},
		{"rejoining", func(f *testFleet, tg string, b []string) bool { return sent(f, b) && state(f, tg, b, "initial") }},
	}
}

func TestAccCrash_aKilledApplyIsResumedWithoutRedeployingFinishedInstances(t *testing.T) {
	for _, victim := range []string{"terraform", "provider"} {
		for _, phase := range crashPhases() {
			t.Run(victim+"/"+phase.name, func(t *testing.T) {
				t.Parallel()
				runCrash(t, victim, phase)
			})
		}
	}
}

func runCrash(t *testing.T, victim string, phase crashPhase) {
	f := newTestFleet(t)
	// Slow enough phases to be caught: 300 s of draining (0.3 s of wall
	// time), 200 s steps, health checks of 30 s x 3.
	f.sim.SetTiming(fleetsim.Timing{StepMean: 200 * time.Second, StepSigma: 0.01})
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 300 * time.Second,
		HealthCheckInterval: 30 * time.Second, HealthyThreshold: 3})
	ids := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 6, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg}})
	cli := appDeployment(t, f, tg, `timeout = "30m"`, "batch_size = 2\n    min_healthy_percent = 60\n    order = \"sorted\"", "rollback = false", "")
	cli.must("apply", "-auto-approve", "-var", "app_version=v1")

	cmd, out, done := startApply(t, cli, "v2")
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	second := sorted[2:4]
	deadline := time.Now().Add(90 * time.Second)
	for !phase.reached(f, tg, second) {
		select {
		case err := <-done:
			t.Fatalf("terraform exited (%v) before batch 2 was %s:\n%s", err, phase.name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch 2 never reached %s:\n%s", phase.name, out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	target := -cmd.Process.Pid
	if victim == "provider" {
		pid := providerPID(cmd.Process.Pid)
		if pid == 0 {
			t.Fatal("no provider process in terraform's process group")
		}
		target = pid
	}
	if err := syscall.Kill(target, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if victim == "terraform" {
		<-done
	} else {
		select {
		case <-done: // terraform notices its plugin died and fails
		case <-time.After(30 * time.Second):
			t.Fatal("terraform did not exit after its provider was killed")
		}
	}

	finished := map[string]bool{}
	for _, id := range ids {
		snap, _ := f.sim.Instance(id)
		if snap.Tags["rolling:version"] == "v2" && snap.Tags["rolling:phase"] == "" {
			finished[id] = true
		}
	}
	if len(finished) < 2 {
		t.Fatalf("batch 1 had not finished when batch 2 was %s: %v", phase.name, finished)
	}
	f.sim.Recorder().Reset()
	cli.must("apply", "-auto-approve", "-var", "app_version=v2")
	for _, c := range f.sim.Recorder().Calls("SendCommand") {
		for _, id := range c.InstanceIDs {
			if finished[id] {
				t.Errorf("the next apply deployed %s again, which the killed rollout had finished", id)
			}
		}
	}
	assertConvergedOn(t, f, tg, ids, "v2")
}

// providerPID finds the provider plugin among the processes of terraform's
// process group.
func providerPID(pgid int) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), "terraform-provider-rolling") {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid {
			return pid
		}
	}
	return 0
}
