package provider

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

func TestFleetSecretsPath_namesTheFirstTargetGroupAndTellsFleetsApart(t *testing.T) {
	web := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
	tls := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tls/fedcba9876543210"
	a, b := fleetSecretsPath([]string{tls, web}), fleetSecretsPath([]string{web})
	if !strings.HasPrefix(a, "/rolling/secrets/web/") || !strings.HasPrefix(b, "/rolling/secrets/web/") || a == b {
		t.Fatalf("paths %s and %s", a, b)
	}
	if a != fleetSecretsPath([]string{web, tls}) {
		t.Fatal("the path depends on the order of the ARNs")
	}
}

func TestAddSecrets_readsEveryValueBeforeExportingAndLeavesDocumentsAlone(t *testing.T) {
	step := rollout.Step{Commands: []string{"app deploy v2"}}
	addSecrets(&step, map[string]string{
		"B": secretReadLine("eu-west-1", "B", "/rolling/secrets/web/0a/r-1/deploy/B"),
		"A": secretReadLine("eu-west-1", "A", "/rolling/secrets/web/0a/r-1/deploy/A"),
	})
	want := []string{
		`A="$(aws ssm get-parameter --region eu-west-1 --name '/rolling/secrets/web/0a/r-1/deploy/A' --with-decryption --query Parameter.Value --output text)" || exit 1`,
		`B="$(aws ssm get-parameter --region eu-west-1 --name '/rolling/secrets/web/0a/r-1/deploy/B' --with-decryption --query Parameter.Value --output text)" || exit 1`,
		"export A B",
		"app deploy v2",
	}
	if strings.Join(step.Commands, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands:\n%s", strings.Join(step.Commands, "\n"))
	}
	doc := rollout.Step{DocumentName: "Deploy"}
	addSecrets(&doc, map[string]string{"A": "x"})
	if len(doc.Commands)+len(doc.Parameters) != 0 {
		t.Fatalf("a document step got %+v", doc)
	}
}

func TestRedact_keepsValuesOutOfErrorsButUnwraps(t *testing.T) {
	base := fmt.Errorf("ValidationException: Value 'hunter2' at 'value' failed")
	err := redact(base, []string{"hunter2"})
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "***") {
		t.Fatalf("%v", err)
	}
	if redact(base, []string{"other"}) != base {
		t.Fatal("an error without the value must stay as it is")
	}
}

// secretsConfig is a fleet deployment whose deploy step takes one
// sensitive value from a variable, or whose step is a document.
func (f *testFleet) secretsConfig(tg, version, step string) string {
	return f.providerConfig() + fmt.Sprintf(`
variable "token" {
  type      = string
  sensitive = true
  ephemeral = true
  default   = "tok-Secret-4242"
}

resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = %q
  step {
    name = "deploy"
    %s
    sensitive_parameters = {
      DEPLOY_TOKEN = var.token
    }
  }
  strategy {
    batch_size          = 1
    min_healthy_percent = 50
  }
}
`, tg, version, step)
}

const testSecret = "tok-Secret-4242"

// The value exists in Parameter Store only while the rollout runs: written
// before the first command, deleted after the last, and the instances read
// it there.
func TestAccRollingDeployment_secretLivesInParameterStoreOnlyDuringTheRollout(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(2, "v1")
	deploy := `commands = ["app deploy ${var.app_version}"]`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config: `variable "app_version" { default = "v2" }` + f.secretsConfig(tg, "v2", deploy),
			Check: func(*terraform.State) error {
				assertSecretOnlyInParameterStore(t, f, testSecret, "DEPLOY_TOKEN", ids)
				var put, firstSend, lastSend, del = -1, -1, -1, -1
				for i, c := range f.sim.Recorder().Calls("") {
					switch {
					case c.Action == "PutParameter" && put < 0:
						put = i
					case c.Action == "SendCommand":
						if firstSend < 0 {
							firstSend = i
						}
						lastSend = i
					case c.Action == "DeleteParameters":
						del = i
					}
				}
				if put < 0 || firstSend < put || del < lastSend {
					return fmt.Errorf("order of calls: PutParameter #%d, SendCommand #%d..#%d, DeleteParameters #%d", put, firstSend, lastSend, del)
				}
				return nil
			},
		}},
	})
}

// A rollout killed before it deleted its values leaves them under the
// fleet's path; the fleet's next apply deletes them, and nobody else's.
func TestAccRollingDeployment_nextApplyDeletesWhatACrashedRolloutStaged(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(4, "v1")
	mine := fleetSecretsPath([]string{tg}) + "/r-20200101T000000-000/deploy/DEPLOY_TOKEN"
	other := fleetSecretsPath([]string{tg, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0123456789abcdef"}) +
		"/r-20200101T000000-000/deploy/DEPLOY_TOKEN"
	c := inspectorSSM(f)
	withoutPolicy(f.sim, func() {
		for _, name := range []string{mine, other} {
			if _, err := c.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("old"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
				t.Fatal(err)
			}
		}
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			// No sensitive value in this apply: the leftovers go all the same.
			Config: f.config(deployment{TargetGroups: []string{tg}, Version: "v2"}),
			Check: func(*terraform.State) error {
				var left []string
				for _, p := range f.sim.Parameters() {
					left = append(left, p.Name)
				}
				if strings.Join(left, ",") != other {
					return fmt.Errorf("parameters after the apply: %v, want only the other fleet's %s", left, other)
				}
				return nil
			},
		}},
	})
}

func TestAccRollingDeployment_documentStepRefusesSensitiveParametersAtPlan(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(2, "v1")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config:      f.secretsConfig(tg, "v2", `document_name = "AWS-RunShellScript"`+"\n    parameters = { commands = [\"true\"] }"),
			ExpectError: regexp.MustCompile(`sensitive_parameters work only with commands`),
		}},
	})
	if n := f.mutatingCalls(); len(n) != 0 {
		t.Fatalf("a refused plan made calls: %v", n)
	}
}

// An instance profile that may not read the fleet's values fails the step
// with AWS's own words, and the values are deleted all the same.
func TestAccRollingDeployment_instanceProfileWithoutReadFailsTheStepClearly(t *testing.T) {
	f := newTestFleet(t)
	tg, _ := f.web(2, "v1")
	if err := f.sim.SetInstanceProfilePolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
	  "Action":"ssm:GetParameter","Resource":"arn:aws:ssm:us-east-1:123456789012:parameter/rolling/secrets/api/*"}]}`)); err != nil {
		t.Fatal(err)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config:      `variable "app_version" { default = "v2" }` + f.secretsConfig(tg, "v2", `commands = ["app deploy v2"]`),
			ExpectError: regexp.MustCompile(`(?s)AccessDeniedException.*not authorized to perform: ssm:GetParameter`),
		}},
	})
	if left := f.sim.Parameters(); len(left) != 0 {
		t.Fatalf("a failed rollout left %v", left)
	}
}

func inspectorSSM(f *testFleet) *ssm.Client {
	return ssm.New(ssm.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(f.url),
		Credentials: credentials.NewStaticCredentialsProvider(inspectorAccessKey, "secret", ""),
	})
}

// assertSecretOnlyInParameterStore checks what AWS shows of a rollout that
// used secret as variable: the AWS CLI's list-commands, list-command-
// invocations and get-command-invocation, and every request the simulator
// recorded, never contain it; every instance in ids received it; and no
// staged parameter is left.
func assertSecretOnlyInParameterStore(t *testing.T, f *testFleet, secret, variable string, ids []string) {
	t.Helper()
	withoutPolicy(f.sim, func() { assertCommandHistoryClean(t, f, secret, variable, ids) })
	for _, call := range f.sim.Recorder().Calls("") {
		raw, _ := json.Marshal(call)
		if strings.Contains(string(raw), secret) {
			t.Errorf("the simulator recorded the secret in %s: %s", call.Action, raw)
		}
	}
	sum := sha256.Sum256([]byte(secret))
	want := "sha256:" + hex.EncodeToString(sum[:])
	got := map[string]bool{}
	for _, c := range f.sim.Recorder().Calls("SendCommand") {
		if !strings.Contains(c.Params["commands"], variable+`="$(aws ssm get-parameter`) {
			continue
		}
		for _, id := range c.InstanceIDs {
			if f.sim.InvocationEnv(c.CommandID, id)[variable] == want {
				got[id] = true
			}
		}
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("instance %s never received %s", id, variable)
		}
	}
	for _, p := range f.sim.Parameters() {
		if strings.HasPrefix(p.Name, secretsRoot+"/") {
			t.Errorf("staged parameter %s outlived the rollout", p.Name)
		}
	}
}

// assertCommandHistoryClean: what the AWS CLI shows of the commands never
// holds secret, and some command reads variable from Parameter Store.
func assertCommandHistoryClean(t *testing.T, f *testFleet, secret, variable string, ids []string) {
	t.Helper()
	listed := awsCLIOutput(t, f, "ssm", "list-commands")
	if strings.Contains(listed, secret) {
		t.Errorf("aws ssm list-commands shows the secret")
	}
	var cmds struct{ Commands []struct{ CommandId string } }
	if err := json.Unmarshal([]byte(listed), &cmds); err != nil {
		t.Fatalf("list-commands: %v\n%s", err, listed)
	}
	if len(cmds.Commands) == 0 || !strings.Contains(listed, variable+`=\"$(aws ssm get-parameter`) {
		t.Fatalf("no command reads %s from Parameter Store:\n%s", variable, listed)
	}
	for _, c := range cmds.Commands {
		if out := awsCLIOutput(t, f, "ssm", "list-command-invocations", "--command-id", c.CommandId, "--details"); strings.Contains(out, secret) {
			t.Errorf("list-command-invocations %s shows the secret", c.CommandId)
		}
		for _, id := range ids {
			if out, ok := awsCLIRun(t, f, "ssm", "get-command-invocation", "--command-id", c.CommandId, "--instance-id", id); ok && strings.Contains(out, secret) {
				t.Errorf("get-command-invocation %s %s shows the secret", c.CommandId, id)
			}
		}
	}
}

// awsCLIRun runs the AWS CLI against the fleet's simulator with the
// inspector's keys (not counted as the provider's calls).
func awsCLIRun(t *testing.T, f *testFleet, args ...string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skipf("the AWS CLI is not installed: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--endpoint-url", f.url, "--output", "json"}, args...)...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=" + inspectorAccessKey, "AWS_SECRET_ACCESS_KEY=secret", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
	}
	if py := os.Getenv("PYENV_ROOT"); py != "" {
		cmd.Env = append(cmd.Env, "PYENV_ROOT="+py)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String() + errOut.String(), false
	}
	return out.String(), true
}

func awsCLIOutput(t *testing.T, f *testFleet, args ...string) string {
	t.Helper()
	out, ok := awsCLIRun(t, f, args...)
	if !ok {
		t.Fatalf("aws %v: %s", args, out)
	}
	return out
}
