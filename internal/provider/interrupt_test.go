package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// Interruptions with the real terraform CLI on the built provider binary:
// the simulator runs in this process, the provider in terraform's, both on
// the same time scale (ROLLING_TIME_SCALE).

// interruptFleet seeds 6 instances behind one target group with a long
// deregistration delay (3000 s, 3 s of wall time) so that the first batch
// stays out of service long enough to be interrupted, and writes a
// configuration taking version from var.app_version.
func interruptFleet(t *testing.T) (*testFleet, string, []string, *terraformCLI) {
	t.Helper()
	f := newTestFleet(t)
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: 3000 * time.Second})
	ids := f.sim.AddInstances(fleetsim.InstanceConfig{
		Count: 6, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg},
	})
	dir := t.TempDir()
	config := `
terraform {
  required_providers {
    rolling = {
      source = "rollingdeploy/rolling"
    }
  }
}
` + f.providerConfig() + fmt.Sprintf(`
variable "app_version" {
  type = string
}

resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = var.app_version
  step {
    name     = "stop"
    commands = ["app stop"]
  }
  step {
    name     = "deploy"
    commands = ["app deploy ${var.app_version}"]
  }
  step {
    name     = "start"
    commands = ["app start"]
  }
  strategy {
    batch_size          = 2
    min_healthy_percent = 60
    order               = "sorted"
  }
  failure {
    rollback = false
  }
}
`, tg)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))
	return f, tg, ids, cli
}

// startApply starts terraform apply in its own process group, so that the
// whole group (terraform and the provider plugin) can be signalled.
func startApply(t *testing.T, cli *terraformCLI, version string) (*exec.Cmd, *strings.Builder, chan error) {
	t.Helper()
	cmd := exec.Command("terraform", "apply", "-auto-approve", "-var", "app_version="+version)
	cmd.Dir = cli.dir
	cmd.Env = cli.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		// Never leave a terraform or provider process behind.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	return cmd, out, done
}

// waitFirstBatchOut waits until the rollout has deregistered its first
// batch and tagged it out of service, and returns those instance ids.
func waitFirstBatchOut(t *testing.T, f *testFleet, tg string, done chan error, out *strings.Builder) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("terraform exited (%v) before the first batch left:\n%s", err, out.String())
		default:
		}
		var gone []string
		for _, snap := range f.sim.Snapshot().Instances {
			if snap.Targets[tg] == "draining" && snap.Tags["rolling:phase"] != "" {
				gone = append(gone, snap.ID)
			}
		}
		if len(gone) > 0 {
			return gone
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the first batch never left the target group")
	return nil
}

func TestAccInterrupt_sigintStopsCleanlyRejoinsInstancesAndSavesState(t *testing.T) {
	f, tg, ids, cli := interruptFleet(t)
	cli.must("apply", "-auto-approve", "-var", "app_version=v1")

	cmd, out, done := startApply(t, cli, "v2")
	batch := waitFirstBatchOut(t, f, tg, done, out)
	interrupted := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("terraform did not exit within 30 s of SIGINT:\n%s", out.String())
	}
	// Grace period 30 s simulated; then the batch rejoins and passes its
	// health checks (5 x 30 s): well under 10 s of wall time at 1/1000.
	took := time.Since(interrupted)
	t.Logf("terraform exited %s after SIGINT", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("terraform took %s to stop after SIGINT", took)
	}
	if err == nil {
		t.Fatalf("terraform exited 0 after SIGINT mid-rollout:\n%s", out.String())
	}
	// The cancellation must not wait out the deregistration delay (3 s of
	// wall time here): only in-flight steps get the grace period (30 s
	// simulated, 30 ms), and a draining instance has none running.
	var rejoined time.Time
	for _, c := range f.sim.Recorder().Calls("RegisterTargets") {
		if c.ErrorCode == "" && c.WallTime.After(interrupted) {
			rejoined = c.WallTime
			break
		}
	}
	switch {
	case rejoined.IsZero():
		t.Errorf("the interrupted batch was never registered again")
	case rejoined.Sub(interrupted) > 1500*time.Millisecond:
		t.Errorf("the interrupted batch was registered again %s after SIGINT: the cancellation waited for the "+
			"3000 s (simulated) deregistration delay to end instead of stopping within its 30 s grace period",
			rejoined.Sub(interrupted).Round(time.Millisecond))
	}
	if !strings.Contains(out.String(), "cancelled") {
		t.Errorf("terraform's output does not say the rollout was cancelled:\n%s", out.String())
	}
	// No process of the group is left (the provider plugin exited too).
	if live := waitGroupGone(cmd.Process.Pid, 5*time.Second); len(live) > 0 {
		t.Errorf("processes of terraform's group still run after it exited: %v", live)
	}

	// The interrupted batch rejoined: every instance serves, none tagged out.
	waitAllHealthy(t, f, tg, ids, 10*time.Second)
	for _, id := range batch {
		snap, _ := f.sim.Instance(id)
		if snap.Tags["rolling:phase"] != "" {
			t.Errorf("%s rejoined but still carries rolling:phase=%s", id, snap.Tags["rolling:phase"])
		}
	}

	// The state was saved by the interrupted apply.
	res := stateResource(t, cli)
	if res == nil {
		t.Fatalf("the state has no rolling_deployment.web after the interrupted apply")
	}
	last, _ := res["last_rollout"].(map[string]any)
	if last["status"] != "cancelled" {
		t.Errorf("last_rollout in the state is %v, want the cancelled rollout", last)
	}

	// And the next apply finishes the job.
	cli.must("apply", "-auto-approve", "-var", "app_version=v2")
	assertConvergedOn(t, f, tg, ids, "v2")
}

func TestAccInterrupt_sigkillMidBatchLeavesTagsFromWhichTheNextRunRecovers(t *testing.T) {
	f, tg, ids, cli := interruptFleet(t)
	cli.must("apply", "-auto-approve", "-var", "app_version=v1")

	cmd, out, done := startApply(t, cli, "v2")
	batch := waitFirstBatchOut(t, f, tg, done, out)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("terraform survived SIGKILL")
	}
	if live := waitGroupGone(cmd.Process.Pid, 5*time.Second); len(live) > 0 {
		t.Fatalf("processes of the killed group still run: %v", live)
	}
	// Nobody puts the batch back: after the draining delay the instances are
	// out of the target group, found only through their tags.
	for _, id := range batch {
		snap, _ := f.sim.Instance(id)
		if snap.Tags["rolling:phase"] == "" || snap.Tags["rolling:targets"] == "" {
			t.Fatalf("%s was killed out of service without its recovery tags: %v", id, snap.RollingTags)
		}
	}

	// The next plan shows the recovery.
	planOut, ok := cli.run("plan", "-detailed-exitcode", "-out=recover.plan", "-var", "app_version=v2")
	if ok || !strings.Contains(planOut, "rolling_deployment.web") {
		t.Fatalf("the plan after the crash is empty or failed:\n%s", planOut)
	}
	var plan struct {
		PriorState struct {
			Values struct {
				RootModule struct {
					Resources []struct {
						Address         string         `json:"address"`
						AttributeValues map[string]any `json:"values"`
					} `json:"resources"`
				} `json:"root_module"`
			} `json:"values"`
		} `json:"prior_state"`
		PlannedValues struct {
			RootModule struct {
				Resources []struct {
					Address         string         `json:"address"`
					AttributeValues map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal([]byte(cli.must("show", "-json", "recover.plan")), &plan); err != nil {
		t.Fatal(err)
	}
	var outOfDate, planned []string
	for _, r := range plan.PriorState.Values.RootModule.Resources {
		if r.Address == resourceName {
			outOfDate = anyStrings(r.AttributeValues["out_of_date_instance_ids"])
		}
	}
	for _, r := range plan.PlannedValues.RootModule.Resources {
		if r.Address == resourceName {
			for _, b := range scheduleBatches(anyStrings(r.AttributeValues["planned_batches"])) {
				planned = append(planned, b...)
			}
		}
	}
	for _, id := range batch {
		if !containsID(outOfDate, id) {
			t.Errorf("refresh does not list %s (left out of service) in out_of_date_instance_ids %v", id, outOfDate)
		}
		if !containsID(planned, id) {
			t.Errorf("the schedule's batches %v do not include %s (left out of service)", planned, id)
		}
	}

	cli.must("apply", "recover.plan")
	assertConvergedOn(t, f, tg, ids, "v2")
}

// waitGroupGone waits until no live process (zombies do not count: an
// orphaned plugin may wait for a PID 1 that never reaps) is left in the
// process group, and returns those still alive at the deadline.
func waitGroupGone(pgid int, within time.Duration) []string {
	deadline := time.Now().Add(within)
	for {
		var live []string
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			// pid (comm) state ppid pgrp ...: comm may hold spaces.
			s := string(raw)
			fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(fields) >= 3 && fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" {
				live = append(live, e.Name()+" "+s[strings.IndexByte(s, '(')+1:strings.LastIndexByte(s, ')')])
			}
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return live
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func containsID(list []string, id string) bool {
	for _, x := range list {
		if x == id {
			return true
		}
	}
	return false
}

// stateResource reads rolling_deployment.web's attributes from terraform's
// state file (nil when absent).
func stateResource(t *testing.T, cli *terraformCLI) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cli.dir, "terraform.tfstate"))
	if err != nil {
		t.Fatalf("no state file: %v", err)
	}
	var st struct {
		Resources []struct {
			Type, Name string
			Instances  []struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Resources {
		if r.Type == "rolling_deployment" && r.Name == "web" && len(r.Instances) == 1 {
			return r.Instances[0].Attributes
		}
	}
	return nil
}

// waitAllHealthy waits (wall time) for every instance to be healthy in tg.
func waitAllHealthy(t *testing.T, f *testFleet, tg string, ids []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var bad []string
		for _, id := range ids {
			if snap, _ := f.sim.Instance(id); snap.Targets[tg] != "healthy" {
				bad = append(bad, fmt.Sprintf("%s=%q", id, snap.Targets[tg]))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances not back in service: %s", strings.Join(bad, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assertConvergedOn(t *testing.T, f *testFleet, tg string, ids []string, version string) {
	t.Helper()
	for _, id := range ids {
		snap, _ := f.sim.Instance(id)
		if snap.AppVersion != version || snap.Tags["rolling:version"] != version || snap.Tags["rolling:phase"] != "" || snap.Targets[tg] != "healthy" {
			t.Errorf("%s did not converge on %s: runs %s, tags %v, target %q", id, version, snap.AppVersion, snap.RollingTags, snap.Targets[tg])
		}
	}
}
