package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// Terraform's workflow contract, tried as users meet it: the real terraform
// CLI on the built provider, a configuration written the way modules are
// (variables that may be null, outputs of every computed attribute), and
// after every successful apply both
//
//	terraform plan -detailed-exitcode
//	terraform plan -refresh-only -detailed-exitcode
//
// must exit 0. terraform-plugin-testing's post-apply check looks at neither
// outputs nor refresh-only plans, so these run the CLI directly.

// contractConfig is a module-style configuration: strategy values from
// variables whose defaults are null, outputs of every computed attribute.
const contractConfig = `
terraform {
  required_providers {
    rolling = {
      source = "rollingdeploy/rolling"
    }
  }
}
%s
variable "app_version" {
  type = string
}
variable "batch_size" {
  type    = number
  default = null
}
variable "batch_percent" {
  type    = number
  default = 50
}
variable "min_healthy_percent" {
  type    = number
  default = 50
}
variable "alarm_names" {
  type    = list(string)
  default = null
}

resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = var.app_version
  step {
    name     = "deploy"
    commands = ["app deploy ${var.app_version}"]
  }
  step {
    name     = "verify"
    commands = ["app check"]
  }
  strategy {
    batch_size          = var.batch_size
    batch_percent       = var.batch_percent
    min_healthy_percent = var.min_healthy_percent
    order               = "sorted"
  }
  failure {
    alarm_names = var.alarm_names
    rollback    = true
  }
}

output "id" { value = rolling_deployment.web.id }
output "rollout_summary" { value = rolling_deployment.web.rollout_summary }
output "planned_batches" { value = rolling_deployment.web.planned_batches }
output "expected_duration" { value = rolling_deployment.web.expected_duration }
output "out_of_date_instance_ids" { value = rolling_deployment.web.out_of_date_instance_ids }
output "versions" { value = rolling_deployment.web.versions }
output "unready_instances" { value = rolling_deployment.web.unready_instances }
output "last_rollout" { value = rolling_deployment.web.last_rollout }
`

type contractRun struct {
	t   *testing.T
	f   *testFleet
	tg  string
	ids []string
	cli *terraformCLI
}

func newContractRun(t *testing.T, n int) *contractRun {
	t.Helper()
	f := newTestFleet(t)
	tg, ids := f.web(n, "v1")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.tf"), fmt.Sprintf(contractConfig, f.providerConfig(), tg))
	return &contractRun{t: t, f: f, tg: tg, ids: ids,
		cli: newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))}
}

// tagInstance changes a tag the way an operator's hotfix does: through the
// EC2 API.
func (f *testFleet) tagInstance(id, key, value string) {
	f.t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDROLLINGTEST", "not-a-secret", "")}
	client := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(f.url) })
	if _, err := client.CreateTags(context.Background(), &ec2.CreateTagsInput{
		Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String(value)}},
	}); err != nil {
		f.t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// applyThenEmpty applies and checks that both plans are empty afterwards.
func (c *contractRun) applyThenEmpty(what string, args ...string) string {
	c.t.Helper()
	out := c.cli.must(append([]string{"apply", "-auto-approve", "-no-color", "-input=false"}, args...)...)
	c.expectEmpty(what, args...)
	return out
}

// expectEmpty: both plans exit 0, outputs included.
func (c *contractRun) expectEmpty(what string, args ...string) {
	c.t.Helper()
	vars := varsOnly(args)
	if code, out := c.cli.code(append([]string{"plan", "-detailed-exitcode", "-no-color", "-input=false"}, vars...)...); code != 0 {
		c.t.Errorf("after %s: terraform plan -detailed-exitcode exited %d, want 0:\n%s", what, code, out)
	}
	if code, out := c.cli.code(append([]string{"plan", "-refresh-only", "-detailed-exitcode", "-no-color", "-input=false"}, vars...)...); code != 0 {
		c.t.Errorf("after %s: terraform plan -refresh-only -detailed-exitcode exited %d, want 0:\n%s", what, code, out)
	}
}

// expectUpdate: the plan shows an update of the deployment.
func (c *contractRun) expectUpdate(what string, args ...string) string {
	c.t.Helper()
	code, out := c.cli.code(append([]string{"plan", "-detailed-exitcode", "-no-color", "-input=false"}, varsOnly(args)...)...)
	if code != 2 || !strings.Contains(out, "rolling_deployment.web will be updated in-place") {
		c.t.Fatalf("%s: terraform plan exited %d, want 2 with an update of rolling_deployment.web:\n%s", what, code, out)
	}
	return out
}

func varsOnly(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-var" && i+1 < len(args) {
			out = append(out, args[i], args[i+1])
			i++
		}
	}
	return out
}

func TestAccContract_everySuccessfulApplyLeavesBothPlansEmpty(t *testing.T) {
	c := newContractRun(t, 4)
	v1, v2 := []string{"-var", "app_version=v1"}, []string{"-var", "app_version=v2"}

	c.applyThenEmpty("a create that adopts a fleet already on v1", v1...)
	if n := len(c.f.sim.Recorder().Calls("SendCommand")); n != 0 {
		t.Fatalf("adopting a fleet already on v1 sent %d commands", n)
	}

	out := c.expectUpdate("a version bump", v2...)
	for _, want := range []string{"#2 v2: 4 of 4 instances out of date", "#2 batch 1/2: ", "#2 batch 2/2: ", "expected "} {
		if !strings.Contains(out, want) {
			t.Errorf("the version bump's plan does not show %q:\n%s", want, out)
		}
	}
	c.applyThenEmpty("a version bump", v2...)

	c.applyThenEmpty("a strategy-only change", append(v2, "-var", "min_healthy_percent=25")...)

	// Drift: a new instance not on v2, and a hotfixed tag.
	c.f.sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v0", TargetGroupARNs: []string{c.tg}})
	if code, _ := c.cli.code(append([]string{"plan", "-refresh-only", "-detailed-exitcode", "-no-color"}, v2...)...); code != 2 {
		t.Errorf("a refresh-only plan after a new instance joined exited %d, want 2 (drift)", code)
	}
	out = c.expectUpdate("a new instance", v2...)
	if !strings.Contains(out, "#3 v2: 1 of 5 instances out of date") {
		t.Errorf("the drift plan does not show the new instance's rollout:\n%s", out)
	}
	c.applyThenEmpty("rolling the new instance", v2...)

	c.f.tagInstance(c.ids[0], "rolling:version", "hotfix-1")
	out = c.expectUpdate("a hotfixed tag", v2...)
	if !strings.Contains(out, c.ids[0]) {
		t.Errorf("the plan after a hotfix does not name %s:\n%s", c.ids[0], out)
	}
	c.applyThenEmpty("rolling the hotfixed instance", v2...)
}

func TestAccContract_failedRolloutResumesAndThenPlansAreEmpty(t *testing.T) {
	c := newContractRun(t, 4)
	v1, v2 := []string{"-var", "app_version=v1"}, []string{"-var", "app_version=v2"}
	c.applyThenEmpty("create", v1...)

	// The second batch fails to deploy; without a rollback of v2 the run
	// stops with 2 instances on v2.
	c.f.sim.Faults().FailDeploy("v2", c.ids[2])
	code, out := c.cli.code(append([]string{"apply", "-auto-approve", "-no-color", "-var", "alarm_names=null"}, v2...)...)
	if code == 0 {
		t.Fatalf("the rollout with a failing deploy succeeded:\n%s", out)
	}
	if regexp.MustCompile(`batch 0\b`).MatchString(out) {
		t.Errorf("an error counts batches from 0:\n%s", out)
	}
	c.f.sim.Faults().Clear()
	c.expectUpdate("a failed rollout", v2...)
	c.applyThenEmpty("the resumed rollout", v2...)
}

func TestAccContract_replaceAndTaintRedeployEveryInstanceInOneApply(t *testing.T) {
	c := newContractRun(t, 4)
	v1 := []string{"-var", "app_version=v1"}
	c.applyThenEmpty("create", v1...)

	for _, how := range []string{"replace", "taint"} {
		c.f.sim.Recorder().Reset()
		args := append([]string{"-replace=rolling_deployment.web"}, v1...)
		if how == "taint" {
			c.cli.must("taint", "rolling_deployment.web")
			args = v1
		}
		plan := c.cli.must(append([]string{"plan", "-no-color"}, args...)...)
		if !strings.Contains(plan, "replacement: all 4 instances are redeployed") {
			t.Errorf("%s: the plan does not say every instance is redeployed:\n%s", how, plan)
		}
		c.applyThenEmpty(how, args...)
		sent := map[string]bool{}
		for _, call := range c.f.sim.Recorder().Calls("SendCommand") {
			for _, id := range call.InstanceIDs {
				sent[id] = true
			}
		}
		if len(sent) != 4 {
			t.Errorf("%s redeployed %d of 4 instances", how, len(sent))
		}
		if st := stateResource(t, c.cli); st == nil {
			t.Errorf("%s left the resource out of the state", how)
		}
	}
}

func TestAccContract_savedPlanAppliedAfterTheFleetChanged(t *testing.T) {
	c := newContractRun(t, 4)
	v1, v2 := []string{"-var", "app_version=v1"}, []string{"-var", "app_version=v2"}
	c.applyThenEmpty("create", v1...)
	c.cli.must(append([]string{"plan", "-out", "v2.tfplan", "-no-color"}, v2...)...)

	// Between the plan and its apply, the fleet scales out.
	joined := c.f.sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{c.tg}})
	code, out := c.cli.code("apply", "-no-color", "v2.tfplan")
	if code != 0 || strings.Contains(out, "bug in the provider") {
		t.Fatalf("applying the saved plan after a scale-out exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, joined[0]) || !strings.Contains(out, "joined the fleet") {
		t.Errorf("the apply does not warn about %s, which joined after the plan:\n%s", joined[0], out)
	}
	out = c.expectUpdate("a saved plan applied after a scale-out", v2...)
	if !strings.Contains(out, joined[0]) {
		t.Errorf("the next plan does not roll %s:\n%s", joined[0], out)
	}
	c.applyThenEmpty("rolling the newcomer", v2...)
}

func TestAccContract_importThenApplyLeavesBothPlansEmpty(t *testing.T) {
	c := newContractRun(t, 3)
	v1 := []string{"-var", "app_version=v1"}
	c.cli.must(append(append([]string{"import", "-no-color"}, v1...), "rolling_deployment.web", c.tg)...)
	c.applyThenEmpty("import and apply", v1...)
	if n := len(c.f.sim.Recorder().Calls("SendCommand")); n != 0 {
		t.Errorf("importing a fleet on v1 and applying sent %d commands", n)
	}
}
