package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

func (f *testFleet) expectCommandsOn(n int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		touched := map[string]bool{}
		for _, c := range f.sim.Recorder().Calls("SendCommand") {
			for _, id := range c.InstanceIDs {
				touched[id] = true
			}
		}
		if len(touched) != n {
			return fmt.Errorf("commands ran on %d instances, want %d", len(touched), n)
		}
		return nil
	}
}

func TestAccRollingDeployment_strategyOrFailureChangeAloneStartsNoRollout(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(4, "v1")
	before := deployment{TargetGroups: []string{tg}, Version: "v1"}
	after := deployment{TargetGroups: []string{tg}, Version: "v1",
		Strategy: "batch_size = 1\n    min_healthy_percent = 75\n    mode = \"window\"",
		Failure:  "max_failed_instances = 1\n    rollback = false"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(before)},
			{
				PreConfig: func() { f.sim.Recorder().Reset() },
				Config:    f.config(after),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(resourceName, plancheck.ResourceActionUpdate),
					// The schedule of the adopting create stays: no rollout is planned.
					plancheck.ExpectKnownValue(resourceName, tfjsonpath.New("rollout_summary"), knownvalue.StringExact("#1 v1: all 4 instances are on it, nothing to roll out")),
				}},
				Check: f.expectCommandsOn(0),
			},
		},
	})
}

func TestAccRollingDeployment_triggersOrStepsChangeRedeploysEveryInstance(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(4, "v1")
	plain := deployment{TargetGroups: []string{tg}, Version: "v1"}
	triggered := deployment{TargetGroups: []string{tg}, Version: "v1", Extra: "triggers = { config_hash = \"abc\" }"}
	slower := triggered
	slower.StepTimeout = "20m"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(plain)},
			{
				PreConfig: func() { f.sim.Recorder().Reset() },
				Config:    f.config(triggered),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(resourceName, tfjsonpath.New("planned_batches"), knownvalue.ListSizeExact(4)),
				}},
				Check: f.expectCommandsOn(4),
			},
			{
				// A changed step (here its timeout) is a new release too.
				PreConfig: func() { f.sim.Recorder().Reset() },
				Config:    f.config(slower),
				Check:     f.expectCommandsOn(4),
			},
			{
				// And an unchanged configuration is a no-op.
				PreConfig: func() { f.sim.Recorder().Reset() },
				Config:    f.config(slower),
				Check:     f.expectCommandsOn(0),
			},
		},
	})
}

func TestAccRollingDeployment_removedFromStateWhenEveryTargetGroupIsGone(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(2, "v1")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(deployment{TargetGroups: []string{tg}, Version: "v1"})},
			{
				PreConfig: func() {
					if err := f.sim.Faults().DeleteTargetGroup(tg, 0); err != nil {
						t.Fatal(err)
					}
				},
				// Without the resource in the configuration, a deployment still
				// in state would plan a destroy: the plan is empty only because
				// refresh removed it.
				Config: f.providerConfig(),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
		},
	})
}

// Target groups with slow health checks (300 s x 5 = 25 minutes) get a
// default health_timeout long enough; an explicit one too short is refused
// at plan time, naming the group.
func TestAccRollingDeployment_healthTimeoutDefaultFollowsSlowHealthChecks(t *testing.T) {
	f := newTestFleet(t)
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "slow", Port: 80, HealthCheckInterval: 300 * time.Second, HealthyThreshold: 5})
	f.sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg}})
	strategy := "batch_size = 1\n    min_healthy_percent = 50"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{
				Config:      f.config(deployment{TargetGroups: []string{tg}, Version: "v2", Strategy: strategy + "\n    health_timeout = \"10m\""}),
				PlanOnly:    true,
				ExpectError: wrappedRegexp(`health_timeout \(10m0s\) must be longer than healthy_threshold x interval of target group slow`),
			},
			{
				Config: f.config(deployment{TargetGroups: []string{tg}, Version: "v2", Strategy: strategy}),
				Check:  f.expectCommandsOn(2),
			},
		},
	})
}

// A `terraform plan` reads the fleet once: the plan reuses what the refresh
// just read instead of asking AWS again.
func TestAccRollingDeployment_planReadsTheFleetOnce(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run terraform (make test does)")
	}
	f := newTestFleet(t)
	tg, _ := f.web(4, "v1")
	dir := t.TempDir()
	config := requiredProviders + f.config(deployment{TargetGroups: []string{tg}, Version: "v1"})
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))
	cli.must("apply", "-auto-approve")
	f.sim.Recorder().Reset()
	cli.must("plan", "-detailed-exitcode")
	if n := len(f.sim.Recorder().Calls("DescribeTargetHealth")); n != 1 {
		t.Fatalf("terraform plan made %d DescribeTargetHealth calls for one target group, want 1", n)
	}
}
