package provider

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

const resourceName = "rolling_deployment.web"

// deployment renders a rolling_deployment whose steps follow the
// simulator's command convention (app stop / deploy / start / check).
type deployment struct {
	TargetGroups []string
	Version      string
	Strategy     string // body of the strategy block
	Failure      string // body of the failure block
	Extra        string // more arguments
	StepTimeout  string // timeout of the deploy step; "" = the default
}

func (f *testFleet) config(d deployment) string {
	quoted := make([]string, len(d.TargetGroups))
	for i, a := range d.TargetGroups {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	strategy := d.Strategy
	if strategy == "" {
		strategy = "batch_size = 2\n    min_healthy_percent = 60\n    order = \"sorted\""
	}
	timeout := ""
	if d.StepTimeout != "" {
		timeout = fmt.Sprintf("timeout = %q", d.StepTimeout)
	}
	return f.providerConfig() + fmt.Sprintf(`
resource "rolling_deployment" "web" {
  target_group_arns = [%s]
  version           = %q
  %s

  step {
    name     = "stop"
    commands = ["app stop"]
  }
  step {
    name     = "deploy"
    commands = ["app deploy %s"]
    %s
  }
  step {
    name     = "start"
    commands = ["app start"]
  }
  step {
    name     = "verify"
    commands = ["app check"]
  }

  strategy {
    %s
  }
  failure {
    %s
  }
}
`, strings.Join(quoted, ", "), d.Version, d.Extra, d.Version, timeout, strategy, d.Failure)
}

func TestAccRollingDeployment_rollsOutNewVersionInPlannedBatches(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2"}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{
				// Every instance is already on v1: adopted, nothing deployed.
				Config: f.config(v1),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("out_of_date_instance_ids"), knownvalue.ListExact([]knownvalue.Check{})),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("rollout_summary"), knownvalue.StringExact("#1 v1: all 6 instances are on it, nothing to roll out")),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("planned_batches"), knownvalue.ListExact([]knownvalue.Check{})),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("versions"), knownvalue.MapExact(map[string]knownvalue.Check{"v1": knownvalue.Int64Exact(6)})),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("status"), knownvalue.StringExact("noop")),
				},
				Check: func(*terraform.State) error {
					if n := len(f.sim.Recorder().Calls("SendCommand")); n != 0 {
						return fmt.Errorf("adopting a fleet already on v1 sent %d commands", n)
					}
					f.sim.Recorder().Reset()
					return nil
				},
			},
			{
				Config: f.config(v2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(resourceName, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(resourceName, tfjsonpath.New("planned_batches"), scheduleOf(2, ids[0:2], ids[2:4], ids[4:6])),
					plancheck.ExpectKnownValue(resourceName, tfjsonpath.New("out_of_date_instance_ids"), knownvalue.ListExact([]knownvalue.Check{})),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("status"), knownvalue.StringExact("succeeded")),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("updated"), knownvalue.Int64Exact(6)),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("number"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("versions"), knownvalue.MapExact(map[string]knownvalue.Check{"v2": knownvalue.Int64Exact(6)})),
				},
				Check: func(s *terraform.State) error {
					for id, v := range f.versions(ids) {
						if v != "v2" {
							return fmt.Errorf("%s runs %s after the rollout, want v2", id, v)
						}
					}
					rec := f.sim.Recorder()
					// Capacity floor: 60% of 6 rounds up to 4 in service.
					if low := rec.MinInService(tg); low < 4 {
						return fmt.Errorf("in-service capacity fell to %d, floor is 4", low)
					}
					// Batches executed in the planned order, one deregistration per batch.
					planned := stateBatches(s)
					deregs := rec.Calls("DeregisterTargets")
					if len(deregs) != len(planned) {
						return fmt.Errorf("%d DeregisterTargets calls for %d planned batches", len(deregs), len(planned))
					}
					for i, call := range deregs {
						got := append([]string(nil), call.TargetIDs...)
						sort.Strings(got)
						if strings.Join(got, ",") != strings.Join(planned[i], ",") {
							return fmt.Errorf("batch %d took %v, planned %v", i+1, got, planned[i])
						}
					}
					if n := len(rec.Calls("RegisterTargets")); n != 3 {
						return fmt.Errorf("%d RegisterTargets calls, want one per batch (3)", n)
					}
					if n := len(rec.Calls("SendCommand")); n != 12 {
						return fmt.Errorf("%d SendCommand calls, want 4 steps x 3 batches", n)
					}
					return nil
				},
			},
		},
		CheckDestroy: func(*terraform.State) error {
			for _, id := range ids {
				snap, _ := f.sim.Instance(id)
				for _, key := range rollout.ProviderTags {
					if v, ok := snap.Tags[key]; ok {
						return fmt.Errorf("%s still has tag %s=%s after destroy", id, key, v)
					}
				}
				if snap.AppVersion != "v2" || !snap.AppRunning {
					return fmt.Errorf("destroy touched the application on %s: %+v", id, snap)
				}
			}
			return nil
		},
	})
}

func TestAccRollingDeployment_rollsBackOnFailedStep(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1", Failure: "rollback = true"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2", Failure: "rollback = true"}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				PreConfig: func() { f.sim.Faults().FailDeploy("v2", ids[3]) },
				Config:    f.config(v2),
				// The error names the batch, the instance, the step and the exit code.
				ExpectError: regexp.MustCompile(`(?s)failed; rolled back 4 of 4.*batch 2, ` + ids[3] + `.*deploy.*exit code 1.*installation failed`),
			},
			{
				PreConfig: func() {
					for id, v := range f.versions(ids) {
						if v != "v1" {
							t.Errorf("%s runs %s after the rollback, want v1", id, v)
						}
						snap, _ := f.sim.Instance(id)
						if snap.Tags["rolling:version"] != "v1" || snap.Tags["rolling:phase"] != "" {
							t.Errorf("%s tags after rollback: %v", id, snap.Tags)
						}
						if snap.Targets[tg] != "healthy" {
							t.Errorf("%s is %q in the target group after rollback, want healthy", id, snap.Targets[tg])
						}
					}
					if low := f.sim.Recorder().MinInService(tg); low < 4 {
						t.Errorf("capacity fell to %d during the failed rollout and rollback, floor 4", low)
					}
				},
				// The state still wants v2: the plan shows every instance to do.
				Config:             f.config(v2),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

// After a failed and rolled-back v2, the state names v2; a failing v3
// must still roll back to v1, the last release that completed, not to v2.
func TestAccRollingDeployment_rollbackAfterAFailedRolloutReturnsToTheLastCompletedRelease(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1")
	at := func(v string) deployment {
		return deployment{TargetGroups: []string{tg}, Version: v, Failure: "rollback = true"}
	}
	allOn := func(want string) error {
		for id, v := range f.versions(ids) {
			if v != want {
				return fmt.Errorf("%s runs %s, want %s", id, v, want)
			}
			snap, _ := f.sim.Instance(id)
			if snap.Tags["rolling:version"] != want || snap.Tags["rolling:phase"] != "" || snap.Targets[tg] != "healthy" {
				return fmt.Errorf("%s: tags %v, target %q", id, snap.Tags, snap.Targets[tg])
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(at("v1"))},
			{
				PreConfig:   func() { f.sim.Faults().FailDeploy("v2", ids[3]) },
				Config:      f.config(at("v2")),
				ExpectError: regexp.MustCompile(`failed; rolled back 4 of 4`),
			},
			{
				PreConfig: func() {
					if err := allOn("v1"); err != nil {
						t.Fatalf("after the first rollback: %v", err)
					}
					f.sim.Faults().FailDeploy("v3", ids[3])
				},
				Config:      f.config(at("v3")),
				ExpectError: regexp.MustCompile(`failed; rolled back 4 of 4`),
			},
			{
				PreConfig: func() {
					if err := allOn("v1"); err != nil {
						t.Errorf("after the second rollback: %v", err)
					}
				},
				// Once v4 completes, the next failure rolls back to v4.
				Config: f.config(at("v4")),
				Check:  func(*terraform.State) error { return allOn("v4") },
			},
			{
				PreConfig:   func() { f.sim.Faults().FailDeploy("v5", ids[3]) },
				Config:      f.config(at("v5")),
				ExpectError: regexp.MustCompile(`failed; rolled back 4 of 4`),
			},
			{
				PreConfig: func() {
					if err := allOn("v4"); err != nil {
						t.Errorf("after the rollback of v5: %v", err)
					}
				},
				Config:             f.config(at("v5")),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

func TestAccRollingDeployment_withoutRollbackNextApplyFinishesOnlyTheRest(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1", Failure: "rollback = false"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2", Failure: "rollback = false"}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				PreConfig:   func() { f.sim.Faults().FailDeploy("v2", ids[2]) },
				Config:      f.config(v2),
				ExpectError: regexp.MustCompile(`(?s)` + ids[2] + `.*deploy.*exit code 1`),
			},
			{
				PreConfig: func() {
					got := f.versions(ids)
					for _, id := range []string{ids[0], ids[1], ids[3]} {
						if got[id] != "v2" {
							t.Errorf("%s runs %s, want v2 (updated before the failure)", id, got[id])
						}
					}
					for _, id := range []string{ids[4], ids[5]} {
						if got[id] != "v1" {
							t.Errorf("%s runs %s, want v1 (not reached)", id, got[id])
						}
					}
					failed, _ := f.sim.Instance(ids[2])
					if failed.Tags["rolling:phase"] == "" {
						t.Errorf("failed instance %s carries no rolling:phase tag: %v", ids[2], failed.Tags)
					}
					f.sim.Faults().Clear()
					f.sim.Recorder().Reset()
				},
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(resourceName, plancheck.ResourceActionUpdate),
				}},
				Config: f.config(v2),
				Check: func(*terraform.State) error {
					for id, v := range f.versions(ids) {
						if v != "v2" {
							return fmt.Errorf("%s runs %s after the resumed rollout", id, v)
						}
					}
					touched := map[string]bool{}
					for _, c := range f.sim.Recorder().Calls("SendCommand") {
						for _, id := range c.InstanceIDs {
							touched[id] = true
						}
					}
					want := map[string]bool{ids[2]: true, ids[4]: true, ids[5]: true}
					if fmt.Sprint(touched) != fmt.Sprint(want) {
						return fmt.Errorf("resumed rollout ran commands on %v, want only %v", touched, want)
					}
					return nil
				},
			},
		},
	})
}

func TestAccRollingDeployment_alarmStopsRollout(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1")
	f.sim.AddAlarm("web-5xx", "OK")
	failure := "rollback = true\n    alarm_names = [\"web-5xx\"]"
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1", Failure: failure}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2", Failure: failure}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				PreConfig: func() {
					f.sim.Recorder().Reset()
					if err := f.sim.Faults().AlarmAfterCalls("web-5xx", 1); err != nil {
						t.Fatal(err)
					}
				},
				Config:      f.config(v2),
				ExpectError: regexp.MustCompile(`(?s)web-5xx`),
			},
			{
				PreConfig: func() {
					got := f.versions(ids)
					for _, id := range ids[2:] {
						if got[id] != "v1" {
							t.Errorf("%s was updated to %s after the alarm fired", id, got[id])
						}
					}
				},
				Config:             f.config(v2),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

func TestAccRollingDeployment_newInstanceShowsAsDriftInPlan(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(4, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1"}
	var newcomer []string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				// An Auto Scaling-style newcomer on an older build, never deployed by us.
				PreConfig: func() {
					newcomer = f.sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v0", TargetGroupARNs: []string{tg}})
				},
				Config:             f.config(v1),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(resourceName, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(resourceName, tfjsonpath.New("out_of_date_instance_ids"), knownvalue.ListExact([]knownvalue.Check{})),
					plancheck.ExpectKnownValue(resourceName, tfjsonpath.New("planned_batches"), knownvalue.ListSizeExact(1)),
				}},
			},
			{
				Config: f.config(v1),
				Check: func(*terraform.State) error {
					if v := f.versions(newcomer)[newcomer[0]]; v != "v1" {
						return fmt.Errorf("the new instance runs %s after apply, want v1", v)
					}
					return nil
				},
			},
		},
	})
}

func TestAccRollingDeployment_importRoundTrip(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(3, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1"}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				ResourceName:      resourceName,
				ImportState:       true,
				ImportStateId:     tg,
				ImportStateVerify: true,
				// Steps, strategy and failure live only in the configuration;
				// the rollout summary only in the state that ran it.
				ImportStateVerifyIgnore: []string{"step", "strategy", "failure", "timeouts", "last_rollout", "expected_duration", "rollout_summary", "planned_batches"},
			},
		},
	})
}

func TestAccRollingDeployment_autoScalingMembersGoThroughStandby(t *testing.T) {
	f := newTestFleet(t)
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	f.sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tg}, Min: 1, Max: 10, LaunchVersion: "v1"})
	ids := f.sim.AddInstances(fleetsim.InstanceConfig{
		Count: 4, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"},
		TargetGroupARNs: []string{tg}, AutoScalingGroup: "web-asg",
	})
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1", Strategy: "batch_size = 2\n    min_healthy_percent = 50"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2", Strategy: "batch_size = 2\n    min_healthy_percent = 50"}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				PreConfig: func() { f.sim.Recorder().Reset() },
				Config:    f.config(v2),
				Check: func(*terraform.State) error {
					rec := f.sim.Recorder()
					for _, action := range []string{"EnterStandby", "ExitStandby", "SuspendProcesses", "ResumeProcesses"} {
						if len(rec.Calls(action)) == 0 {
							return fmt.Errorf("no %s call for Auto Scaling members", action)
						}
					}
					if n := len(rec.Calls("DeregisterTargets")); n != 0 {
						return fmt.Errorf("%d DeregisterTargets calls: ASG members must leave through standby", n)
					}
					for _, id := range ids {
						snap, _ := f.sim.Instance(id)
						if snap.AppVersion != "v2" || snap.LifecycleState != "InService" {
							return fmt.Errorf("%s ended %s/%s, want v2/InService", id, snap.AppVersion, snap.LifecycleState)
						}
					}
					return nil
				},
			},
		},
	})
}

func TestAccTargetGroupDataSource_readsInstancesHealthAndVersion(t *testing.T) {
	f := newTestFleet(t)
	_, ids := f.web(2, "v7")
	sort.Strings(ids)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config: f.providerConfig() + `
data "rolling_target_group" "web" {
  name = "web"
}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.rolling_target_group.web", tfjsonpath.New("deregistration_delay"), knownvalue.Int64Exact(300)),
				statecheck.ExpectKnownValue("data.rolling_target_group.web", tfjsonpath.New("instances"), knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"id": knownvalue.StringExact(ids[0]), "port": knownvalue.Int64Exact(80),
						"health_state": knownvalue.StringExact("healthy"), "version": knownvalue.StringExact("v7"),
					}),
					knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"id": knownvalue.StringExact(ids[1]), "health_state": knownvalue.StringExact("healthy"),
					}),
				})),
			},
		}},
	})
}

func TestAccRollingDeployment_timeoutStopsCleanlyAndNextApplyRecovers(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1")
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1", Failure: "rollback = false"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2", Failure: "rollback = false"}
	v2Timeout := v2
	v2Timeout.Extra = "timeouts {\n    update = \"2s\"\n  }"
	v2Timeout.StepTimeout = "48h"

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				// The deploy step hangs on the first batch; the update timeout
				// cancels the rollout.
				PreConfig:   func() { f.sim.Faults().HangCommands("app deploy v2", ids[0], ids[1]) },
				Config:      f.config(v2Timeout),
				ExpectError: regexp.MustCompile(`(?s)cancelled`),
			},
			{
				PreConfig: func() {
					rec := f.sim.Recorder()
					if len(rec.Calls("CancelCommand")) == 0 {
						t.Errorf("the hanging commands were not cancelled")
					}
					if low := rec.MinInService(tg); low < 4 {
						t.Errorf("capacity fell to %d, floor 4", low)
					}
					for _, id := range ids[2:] {
						snap, _ := f.sim.Instance(id)
						if snap.AppVersion != "v1" || snap.Targets[tg] != "healthy" || snap.Tags["rolling:phase"] != "" {
							t.Errorf("%s not reached by the cancelled rollout but ended %+v", id, snap)
						}
					}
					for _, id := range ids[:2] {
						snap, _ := f.sim.Instance(id)
						if snap.Targets[tg] == "healthy" && snap.Tags["rolling:phase"] != "" {
							t.Errorf("%s is healthy in service but still tagged out of service: %v", id, snap.Tags)
						}
					}
					f.sim.Faults().Clear()
				},
				Config: f.config(v2),
				Check: func(*terraform.State) error {
					for _, id := range ids {
						snap, _ := f.sim.Instance(id)
						if snap.AppVersion != "v2" || snap.Targets[tg] != "healthy" || snap.Tags["rolling:phase"] != "" {
							return fmt.Errorf("%s after the recovering apply: %+v", id, snap)
						}
					}
					return nil
				},
			},
		},
	})
}
