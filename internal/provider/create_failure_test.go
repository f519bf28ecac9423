package provider

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A create that fails with rollback = true rolls nothing back: there is no
// completed release to go back to. The error must say so; it said only
// "0 rolled back", which reads as a rollback that did not work.
func TestAccCreateFailure_saysWhyNothingWasRolledBack(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(3, "v1")
	cli := appDeployment(t, f, tg, "", "order = \"sorted\"", "rollback = true", "")
	f.sim.Faults().FailDeploy("v2", ids[1])
	code, out := cli.code("apply", "-auto-approve", "-no-color", "-input=false", "-var", "app_version=v2")
	if code == 0 {
		t.Fatalf("the apply succeeded:\n%s", out)
	}
	out = strings.Join(strings.Fields(out), " ") // terraform wraps the detail
	for _, want := range []string{
		"rollout failed (1 instance failed, more than the 0 tolerated): 1 updated, 0 rolled back",
		"Nothing was rolled back: rollback runs the steps of the last release whose rollout completed, which a create",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the error lacks %q:\n%s", want, out)
		}
	}
}

// terraform import with a target group's name instead of its ARN: the error
// says what the id must be. It was Terraform's "Cannot import non-existent
// remote object", which does not say why.
func TestAccImport_aNameInsteadOfAnARNIsAClearError(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(2, "v1")
	cli := appDeployment(t, f, tg, "", "", "", "")
	code, out := cli.code("import", "-no-color", "-input=false", "-var", "app_version=v1", "rolling_deployment.web", "web")
	out = strings.Join(strings.Fields(out), " ")
	if code == 0 || !strings.Contains(out, `Invalid import id "web" is not an ELBv2 target group ARN`) {
		t.Fatalf("import exited %d:\n%s", code, out)
	}
}

// instance_ids naming an instance the target groups do not register (a
// typo, an instance since terminated) is a warning naming it; the plan said
// only "all 1 instances are on it, nothing to roll out".
func TestAccScope_anInstanceIDOutsideTheTargetGroupsIsNamedInAWarning(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(2, "v1")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.tf"), requiredProviders+f.providerConfig()+fmt.Sprintf(`
resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  instance_ids      = [%q, "i-0123456789abcdef0"]
  version           = "v2"
  step {
    name     = "deploy"
    commands = ["app deploy v2"]
  }
  strategy {
    min_healthy_percent = 0
  }
}
`, tg, ids[0]))
	cli := newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))
	out := strings.Join(strings.Fields(cli.must("plan", "-no-color", "-input=false")), " ")
	for _, want := range []string{
		"Warning: Instances not in the target groups",
		"i-0123456789abcdef0 is registered in none of target_group_arns, so this deployment leaves it alone",
		"1 of 1 instances out of date",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, ids[0]+" is registered in none") {
		t.Errorf("the warning names an instance that is in the target group:\n%s", out)
	}
}
