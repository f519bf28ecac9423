package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A deploy token given through a write-only argument reaches the instances
// and nothing else: not the state, not the plan, not the output, not
// TF_LOG=trace logs. Runs the real terraform on the built provider binary.
func TestAccRollingDeployment_sensitiveParametersNeverReachStatePlanOrLogs(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run terraform (make test does)")
	}
	f := newTestFleet(t)
	tg, ids := f.web(2, "v1")
	const secret = "s3cr3t-Tok3n-4242"
	dir := t.TempDir()
	logPath := filepath.Join(dir, "trace.log")
	config := requiredProviders + f.providerConfig() + fmt.Sprintf(`
variable "app_version" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = var.app_version

  step {
    name     = "deploy"
    commands = ["app deploy ${var.app_version}"]
    sensitive_parameters = {
      DEPLOY_TOKEN = var.token
    }
  }
  strategy {
    batch_size          = 1
    min_healthy_percent = 50
  }
}
`, tg)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := newTerraformCLI(t, dir, "TF_LOG=trace", "TF_LOG_PATH="+logPath,
		fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale), "TF_VAR_token="+secret)

	outputs := cli.must("apply", "-auto-approve", "-var", "app_version=v1")
	outputs += cli.must("plan", "-out=v2.plan", "-var", "app_version=v2")
	outputs += cli.must("show", "-json", "v2.plan")
	outputs += cli.must("apply", "v2.plan")
	outputs += cli.must("show", "-json")
	// Terraform's contract holds with a write-only value in the steps.
	for _, args := range [][]string{
		{"plan", "-detailed-exitcode", "-var", "app_version=v2"},
		{"plan", "-refresh-only", "-detailed-exitcode", "-var", "app_version=v2"},
	} {
		code, out := cli.code(args...)
		outputs += out
		if code != 0 {
			t.Errorf("terraform %v exited %d after a successful apply:\n%s", args, code, out)
		}
	}

	state, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := os.ReadFile(filepath.Join(dir, "v2.plan"))
	for name, content := range map[string]string{"state": string(state), "plan file": string(plan), "terraform output": outputs, "TF_LOG=trace log": string(logs)} {
		if strings.Contains(content, secret) {
			t.Errorf("the secret appears in the %s", name)
		}
	}
	// The test can fail for the right reason only if the provider logged the
	// rollout and the token was delivered.
	if !strings.Contains(string(logs), "rollout_id") {
		t.Fatalf("the trace log has no rollout entries (%d bytes)", len(logs))
	}
	// The token reached the instances through Parameter Store alone.
	assertSecretOnlyInParameterStore(t, f, secret, "DEPLOY_TOKEN", ids)
}
