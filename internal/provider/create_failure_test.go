package provider

import (
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
