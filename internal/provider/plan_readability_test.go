package provider

import (
	"regexp"
	"strings"
	"testing"
)

// A version bump over 100 instances in 10 batches reads in a screenful:
// one line per batch with its instances, the canary labelled, the expected
// duration and how many instances are out of date; no per-instance lines.
func TestAccPlanReadability_versionBumpOver100InstancesFitsInAScreenful(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(100, "v1")
	cli := appDeployment(t, f, tg, "", "batch_size = 10\n    canary_size = 10\n    min_healthy_percent = 80", "", `
output "planned_batches" { value = rolling_deployment.web.planned_batches }
output "rollout_summary" { value = rolling_deployment.web.rollout_summary }
output "versions" { value = rolling_deployment.web.versions }
`)
	cli.must("apply", "-auto-approve", "-no-color", "-var", "app_version=v1")

	out := cli.must("plan", "-no-color", "-var", "app_version=v2")
	body := out[strings.Index(out, "Terraform used the selected providers"):]
	lines := strings.Count(body, "\n")
	t.Logf("the plan of a version bump over 100 instances in 10 batches is %d lines", lines)
	if lines > 120 {
		t.Errorf("the plan is %d lines, want about 120 at most:\n%s", lines, body)
	}
	for _, want := range []string{
		"#2 v2: 100 of 100 instances out of date, 10 batches (batch 1 is the canary)",
		"expected ",
		"#2 batch 1/10 (canary): ",
		"#2 batch 10/10: ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the plan does not show %q:\n%s", want, body)
		}
	}
	if n := len(regexp.MustCompile(`"#2 batch \d+/10`).FindAllString(body, -1)); n != 20 { // resource and output
		t.Errorf("%d batch lines, want 10 in the resource and 10 in the outputs", n)
	}
	perInstance := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.Count(line, "i-") == 1 && strings.Contains(line, ids[0][:4]) && !strings.Contains(line, "batch") {
			perInstance++
		}
	}
	if perInstance > 0 {
		t.Errorf("%d lines name a single instance outside the batches", perInstance)
	}
}
