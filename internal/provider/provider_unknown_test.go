package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// A provider configured from a resource that does not exist yet cannot read
// the fleet at plan time: the schedule is unknown in the plan and computed at
// apply, when Terraform configures the provider again with known values.
func TestAccProvider_unknownConfigurationAtPlanTime(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(4, "v1")
	config := fmt.Sprintf(`
resource "terraform_data" "endpoint" {
  input = %q
}

provider "rolling" {
  region     = "us-east-1"
  access_key = "AKIDROLLINGTEST"
  secret_key = "not-a-secret"
  endpoints {
    ec2         = terraform_data.endpoint.output
    elbv2       = terraform_data.endpoint.output
    ssm         = terraform_data.endpoint.output
    autoscaling = terraform_data.endpoint.output
    cloudwatch  = terraform_data.endpoint.output
    sts         = terraform_data.endpoint.output
  }
}
`, f.url)
	resourceBlock := strings.SplitN(f.config(deployment{TargetGroups: []string{tg}, Version: "v2"}), "\nresource ", 2)[1]
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config: config + "\nresource " + resourceBlock,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(resourceName, tfjsonpath.New("planned_batches")),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("updated"), knownvalue.Int64Exact(4)),
			},
		}},
	})
}

// The SDK's AWS_ENDPOINT_URL works when no endpoints block is given.
func TestAccProvider_endpointFromEnvironment(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	t.Setenv("AWS_ENDPOINT_URL", f.url)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config: `
provider "rolling" {
  region     = "us-east-1"
  access_key = "AKIDFROMENDPOINTENV"
  secret_key = "secret"
}

data "rolling_target_group" "web" {
  name = "web"
}
`,
			Check: expectKeys(f, "DescribeTargetGroups", "AKIDFROMENDPOINTENV"),
		}},
	})
}
