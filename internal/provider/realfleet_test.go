package provider

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// What an infrastructure team meets in its first week: Auto Scaling groups
// at or near their minimum, stopped and unreachable instances, documents
// that do not exist. Real terraform CLI on the built provider.

// appDeployment is a working directory with one rolling_deployment of
// var.app_version over tg whose single step deploys it: stepExtra, strategy
// and failure are the bodies' extra lines, outputs any outputs. It returns
// the terraform CLI for that directory.
func appDeployment(t *testing.T, f *testFleet, tg, stepExtra, strategy, failure, outputs string) *terraformCLI {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.tf"), requiredProviders+f.providerConfig()+fmt.Sprintf(`
variable "app_version" {
  type = string
}
resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = var.app_version
  step {
    name     = "deploy"
    commands = ["app deploy ${var.app_version}"]
    %s
  }
  strategy {
    %s
  }
  failure {
    %s
  }
}
%s`, tg, stepExtra, strategy, failure, outputs))
	return newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))
}

// realFleetRun is a contractRun over a fleet the test builds.
func realFleetRun(t *testing.T, f *testFleet, tg string, strategy, failure string) *contractRun {
	t.Helper()
	cli := appDeployment(t, f, tg, "", strategy, failure, `
output "planned_batches" { value = rolling_deployment.web.planned_batches }
output "out_of_date_instance_ids" { value = rolling_deployment.web.out_of_date_instance_ids }
output "versions" { value = rolling_deployment.web.versions }
`)
	return &contractRun{t: t, f: f, tg: tg, cli: cli}
}

func TestAccRealFleet_autoScalingGroupsNearOrAtTheirMinimum(t *testing.T) {
	f := newTestFleet(t)
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	v1tags := map[string]string{"rolling:version": "v1"}
	// api-asg: min 2, desired 3 (room for one member in standby); fixed:
	// min = desired = 2 (no room); and three plain instances.
	f.sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "api-asg", TargetGroupARNs: []string{tg}, Min: 2, Max: 8, LaunchVersion: "v1"})
	f.sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "fixed", TargetGroupARNs: []string{tg}, Min: 2, Max: 2, LaunchVersion: "v1"})
	api := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 3, AppVersion: "v1", Tags: v1tags, AutoScalingGroup: "api-asg"})
	fixed := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", Tags: v1tags, AutoScalingGroup: "fixed"})
	plain := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 3, AppVersion: "v1", Tags: v1tags, TargetGroupARNs: []string{tg}})
	c := realFleetRun(t, f, tg, "batch_size = 4\n    min_healthy_percent = 50", "rollback = true")
	v1, v2 := []string{"-var", "app_version=v1"}, []string{"-var", "app_version=v2"}
	c.applyThenEmpty("adopting the fleet", v1...)

	out := c.expectUpdate("a version bump", v2...)
	member := map[string]string{}
	for _, id := range api {
		member[id] = "api-asg"
	}
	for _, id := range fixed {
		member[id] = "fixed"
	}
	for _, line := range regexp.MustCompile(`"#2 batch [^"]*"`).FindAllString(out, -1) {
		n := 0
		for _, id := range instanceIDInLine.FindAllString(line, -1) {
			if member[id] == "api-asg" {
				n++
			}
		}
		if n > 1 {
			t.Errorf("planned %s takes %d members of api-asg, which has room for one in standby", line, n)
		}
	}
	c.f.sim.Recorder().Reset()
	c.applyThenEmpty("the rollout", v2...)
	for _, call := range c.f.sim.Recorder().Calls("EnterStandby") {
		if call.ErrorCode != "" {
			t.Errorf("EnterStandby of %v refused: %s", call.InstanceIDs, call.ErrorCode)
		}
	}
	for id, v := range f.versions(append(append(append([]string{}, api...), fixed...), plain...)) {
		if v != "v2" {
			t.Errorf("%s (%s) runs %s, want v2", id, member[id], v)
		}
	}
	// The group at its minimum was never asked to go below it: its members
	// left the target group directly.
	for _, call := range c.f.sim.Recorder().Calls("EnterStandby") {
		for _, id := range call.InstanceIDs {
			if member[id] == "fixed" {
				t.Errorf("%s of fixed (min = desired) was put in standby", id)
			}
		}
	}
}

func TestAccRealFleet_stoppedAndUnreachableInstancesAreLeftOutAndNeverBlock(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(4, "v1")
	c := realFleetRun(t, f, tg, "batch_size = 1\n    min_healthy_percent = 50\n    order = \"sorted\"", "rollback = true")
	v1, v2 := []string{"-var", "app_version=v1"}, []string{"-var", "app_version=v2"}
	c.applyThenEmpty("create", v1...)

	if err := f.sim.Faults().StopInstance(ids[0], 0); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.Faults().SetAgentOnline(ids[1], false); err != nil {
		t.Fatal(err)
	}
	out := c.expectUpdate("a version bump with one instance stopped and one unreachable", v2...)
	flat := strings.Join(strings.Fields(out), " ") // warnings are wrapped
	for _, want := range []string{ids[0] + " (stopped)", ids[1] + " (SSM agent ConnectionLost)", "left out"} {
		if !strings.Contains(flat, want) {
			t.Errorf("the plan does not warn %q:\n%s", want, out)
		}
	}
	for _, id := range ids[:2] {
		if regexp.MustCompile(`"#2 batch [^"]*` + id).MatchString(out) {
			t.Errorf("the plan schedules %s, which it cannot deploy:\n%s", id, out)
		}
	}
	c.applyThenEmpty("the rollout of the others", v2...)
	c.applyThenEmpty("a second apply while they stay out", v2...)

	// Back: both show as drift, and one apply rolls them.
	if err := f.sim.Faults().StartInstance(ids[0], 0); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.Faults().SetAgentOnline(ids[1], true); err != nil {
		t.Fatal(err)
	}
	f.sim.Advance(2 * time.Minute) // the start: pending, then running with its checks
	out = c.expectUpdate("the instances are back", v2...)
	if !strings.Contains(out, ids[0]) || !strings.Contains(out, ids[1]) {
		t.Errorf("the plan does not roll the instances that came back:\n%s", out)
	}
	c.applyThenEmpty("rolling them", v2...)
	for id, v := range f.versions(ids) {
		if v != "v2" {
			t.Errorf("%s runs %s, want v2", id, v)
		}
	}
}

func TestAccRealFleet_unreadyInstancesFailThePlanWhenAsked(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(3, "v1")
	c := realFleetRun(t, f, tg, "batch_size = 1", `unready_instances = "fail"`)
	c.applyThenEmpty("create", "-var", "app_version=v1")
	if err := f.sim.Faults().SetStatusChecks(ids[2], "impaired", "", 0); err != nil {
		t.Fatal(err)
	}
	f.sim.Recorder().Reset()
	code, out := c.cli.code("plan", "-no-color", "-var", "app_version=v2")
	if code == 0 || !strings.Contains(out, ids[2]) || !strings.Contains(out, "impaired") {
		t.Fatalf("plan exited %d, want an error naming %s impaired:\n%s", code, ids[2], out)
	}
	if m := f.mutatingCalls(); len(m) != 0 {
		t.Errorf("the plan made mutating calls: %v", m)
	}
}

func TestAccRealFleet_documentsAreCheckedAtPlan(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(2, "v1")
	f.sim.AddDocument(fleetsim.DocumentConfig{Name: "Web-Deploy", Versions: 2, Parameters: []string{"version"}})
	step := func(body string) string {
		return f.providerConfig() + fmt.Sprintf(`
resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = "v2"
  step {
    name = "deploy"
    %s
  }
}
`, tg, body)
	}
	cases := []struct{ name, body, want string }{
		{"missing document", `document_name = "No-Such-Doc"`, `SSM document not found`},
		{"missing version", "document_name = \"Web-Deploy\"\n    document_version = \"7\"", `has no version "7"`},
		{"undeclared parameter", "document_name = \"Web-Deploy\"\n    parameters = { verzion = [\"v2\"] }", `does not declare verzion; it takes: version`},
		{"run shell script without commands", `document_name = "AWS-RunShellScript"`, `needs commands`},
		{"a parameter given twice", "document_name = \"Web-Deploy\"\n    parameters = { version = [\"v2\"] }\n    sensitive_parameters = { version = \"v2\" }", `version is given both in parameters and in sensitive_parameters`},
	}
	var steps []resource.TestStep
	for _, c := range cases {
		steps = append(steps, resource.TestStep{Config: step(c.body), PlanOnly: true, ExpectError: wrappedRegexp(c.want)})
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: f.factories(), Steps: steps})
	if m := f.mutatingCalls(); len(m) != 0 {
		t.Errorf("plans made mutating calls: %v", m)
	}
}
