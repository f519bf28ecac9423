package provider

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// Each invalid configuration fails at plan time with its documented error,
// before any AWS call that changes anything.
func TestAccRollingDeployment_invalidConfigurationsFailAtPlanWithoutMutatingAWS(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(2, "v1")
	validTG := `"` + tg + `"`
	step := `step {
    name     = "deploy"
    commands = ["app deploy v2"]
  }`

	cases := []struct {
		name, body string
		want       string
	}{
		{"no target group", `target_group_arns = []
  version = "v2"
  ` + step, `at least 1`},
		{"malformed target group ARN", `target_group_arns = ["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]
  version = "v2"
  ` + step, `not an ELBv2 target group ARN`},
		{"empty version", `target_group_arns = [` + validTG + `]
  version = ""
  ` + step, `length`},
		{"no step", `target_group_arns = [` + validTG + `]
  version = "v2"`, `(?i)step`},
		{"duplicate step names", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + "\n  " + step, `names must be unique`},
		{"step with commands and document", `target_group_arns = [` + validTG + `]
  version = "v2"
  step {
    name          = "deploy"
    commands      = ["x"]
    document_name = "AWS-RunShellScript"
  }`, `give either commands .* or document_name, not both`},
		{"step with neither commands nor document", `target_group_arns = [` + validTG + `]
  version = "v2"
  step {
    name = "deploy"
  }`, `give either commands .* or document_name`},
		{"bad step name", `target_group_arns = [` + validTG + `]
  version = "v2"
  step {
    name     = "de ploy"
    commands = ["x"]
  }`, `letters, digits`},
		{"bad step timeout", `target_group_arns = [` + validTG + `]
  version = "v2"
  step {
    name     = "deploy"
    commands = ["x"]
    timeout  = "ten minutes"
  }`, `not a duration`},
		{"step timeout too short", `target_group_arns = [` + validTG + `]
  version = "v2"
  step {
    name     = "deploy"
    commands = ["x"]
    timeout  = "1s"
  }`, `outside the allowed range`},
		{"parameters without document", `target_group_arns = [` + validTG + `]
  version = "v2"
  step {
    name       = "deploy"
    commands   = ["x"]
    parameters = { a = ["b"] }
  }`, `document_name`},
		{"batch_size and batch_percent", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    batch_size    = 1
    batch_percent = 50
  }`, `set batch_size or batch_percent, not both`},
		{"batch_percent over 100", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    batch_percent = 150
  }`, `between 1 and 100`},
		{"negative min_healthy_percent", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    min_healthy_percent = -1
  }`, `between 0 and 100`},
		{"unknown mode", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    mode = "yolo"
  }`, `value must be one of`},
		{"bake_time not shorter than health_timeout", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    bake_time      = "10m"
    health_timeout = "5m"
  }`, `bake_time \(10m0s\) must be shorter than health_timeout \(5m0s\)`},
		{"canary_pause without canary_size", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    canary_pause = "1m"
  }`, `canary_pause needs canary_size`},
		{"lockstep in window mode", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    mode     = "window"
    lockstep = true
  }`, `lockstep applies to mode "batch" only`},
		{"impossible capacity floor", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  strategy {
    min_healthy_percent = 100
  }`, `(?i)min_healthy_percent`},
		{"max_failed both ways", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  failure {
    max_failed_instances = 1
    max_failed_percent   = 10
  }`, `set max_failed_instances or max_failed_percent, not both`},
		{"unknown suspend process", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  failure {
    suspend_processes = ["Everything"]
  }`, `value must be one of`},
		{"alarm that does not exist", `target_group_arns = [` + validTG + `]
  version = "v2"
  ` + step + `
  failure {
    alarm_names = ["no-such-alarm"]
  }`, `no-such-alarm`},
		{"malformed instance id", `target_group_arns = [` + validTG + `]
  instance_ids = ["web-1"]
  version = "v2"
  ` + step, `EC2 instance id`},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: f.factories(),
				Steps: []resource.TestStep{{
					Config:      f.providerConfig() + "resource \"rolling_deployment\" \"web\" {\n  " + tc.body + "\n}\n",
					PlanOnly:    true,
					ExpectError: wrappedRegexp(tc.want),
				}},
			})
		})
	}
	if m := f.mutatingCalls(); len(m) != 0 {
		t.Fatalf("invalid configurations made mutating AWS calls: %v", m)
	}
}

func TestAccProvider_invalidConfigurationFailsAtPlan(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(1, "v1")
	resourceBlock := `
resource "rolling_deployment" "web" {
  target_group_arns = ["` + tg + `"]
  version           = "v1"
  step {
    name     = "deploy"
    commands = ["app deploy v1"]
  }
}
`
	cases := []struct{ name, provider, want string }{
		{"unknown retry mode", `retry_mode = "sometimes"`, `value must be one of`},
		{"negative retries", `max_retries = -1`, `between 0 and 100`},
		{"endpoint not a URL", `endpoints {
    ec2 = "localhost:4566"
  }`, `not an absolute http`},
		{"malformed role ARN", `assume_role {
    role_arn = "arn:aws:iam::12345:user/bob"
  }`, `not an IAM role ARN`},
		{"bad region", `region = "Europe"`, `AWS Region`},
		{"access key without secret", `access_key = "AKIDONLY"`, `(?i)secret_key`},
		{"web identity with file and token", `assume_role_with_web_identity {
    role_arn                = "arn:aws:iam::123456789012:role/ci"
    web_identity_token_file = "/tmp/token"
    web_identity_token      = "abc"
  }`, `Set exactly one of web_identity_token_file and web_identity_token`},
		{"assume role duration too long", `assume_role {
    role_arn = "arn:aws:iam::123456789012:role/deploy"
    duration = "48h"
  }`, `outside the allowed range`},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: f.factories(),
				Steps: []resource.TestStep{{
					Config:      "provider \"rolling\" {\n  " + tc.provider + "\n}\n" + resourceBlock,
					PlanOnly:    true,
					ExpectError: wrappedRegexp(tc.want),
				}},
			})
		})
	}
	if m := f.mutatingCalls(); len(m) != 0 {
		t.Fatalf("invalid provider configurations made mutating AWS calls: %v", m)
	}
}

// wrappedRegexp matches a message however terraform wrapped its lines.
func wrappedRegexp(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(pattern, " ", `\s+`))
}
