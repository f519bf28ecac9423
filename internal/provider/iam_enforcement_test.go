package provider

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// The documented policies are not only enough (every acceptance test runs
// under them, see enforceExamplePolicies) but each statement is needed: with
// any one removed, a rollout that uses everything the provider can do fails,
// and says which permission AWS refused.

// pendingStatements are statements the rollout below cannot exercise yet,
// with the reason; each must still be documented.
var pendingStatements = map[string]string{
	"CancelSteps": "CancelCommand is only sent to commands still running when a rollout stops early; " +
		"a refused cancel is reported, not fatal",
}

// enforcementConfig rolls an Auto Scaling group's members (with a surge)
// and standalone instances behind one target group, with an alarm and a
// sensitive value under a customer managed key: every kind of call the
// provider makes.
const enforcementConfig = `
resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = "v2"
  step {
    name     = "deploy"
    commands = ["app deploy v2"]
    sensitive_parameters = {
      DEPLOY_TOKEN = "enforcement-token"
    }
  }
  step {
    name     = "verify"
    commands = ["app check"]
  }
  step {
    name          = "smoke"
    document_name = "AWS-RunShellScript"
    parameters    = { commands = ["app check"] }
  }
  strategy {
    batch_size          = 1
    min_healthy_percent = 50
    max_surge           = 1
  }
  failure {
    alarm_names = ["web-5xx"]
  }
}
`

type enforcementRun struct {
	output string
	ok     bool
	denied []string // calls AWS refused for lack of permission
}

// runUnderPolicies applies enforcementConfig on a fresh fleet whose callers
// are held to the example policies less the statements drop names.
func runUnderPolicies(t *testing.T, drop string) enforcementRun {
	t.Helper()
	sim := fleetsim.New(fleetsim.Options{TimeScale: testTimeScale, RandSeed: 1,
		LaunchTags: map[string]string{testFleetTagKey: testFleetTagValue}})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	f := &testFleet{t: t, sim: sim, url: srv.URL}
	tg := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	sim.AddAutoScalingGroup(fleetsim.AutoScalingGroupConfig{Name: "web-asg", TargetGroupARNs: []string{tg}, Min: 0, Max: 4, LaunchVersion: "v1"})
	tags := map[string]string{"rolling:version": "v1"}
	sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", Tags: tags, TargetGroupARNs: []string{tg}, AutoScalingGroup: "web-asg"})
	sim.AddInstances(fleetsim.InstanceConfig{Count: 2, AppVersion: "v1", Tags: tags, TargetGroupARNs: []string{tg}})
	sim.AddAlarm("web-5xx", "OK")

	vars := acceptancePolicyVars(sim)
	provider := withoutStatement(t, examplePolicy(t, "policy.json", vars), drop)
	if err := sim.SetPolicy(provider); err != nil {
		t.Fatal(err)
	}
	instance := withoutStatement(t, examplePolicy(t, "instance-profile-policy.json", vars), drop)
	if err := sim.SetInstanceProfilePolicy(instance); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	providerBlock := strings.Replace(f.providerConfig(), "region     = \"us-east-1\"",
		fmt.Sprintf("region     = \"us-east-1\"\n  secrets_kms_key_id = %q", testSecretsKeyARN(sim)), 1)
	writeFile(t, filepath.Join(dir, "main.tf"), requiredProviders+providerBlock+fmt.Sprintf(enforcementConfig, tg))
	cli := newTerraformCLI(t, dir, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))
	out, ok := cli.run("apply", "-auto-approve", "-no-color", "-input=false")
	run := enforcementRun{output: strings.Join(strings.Fields(out), " "), ok: ok}
	for _, c := range sim.Recorder().Calls("") {
		switch c.ErrorCode {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
			run.denied = append(run.denied, iamActionOf(c))
		}
	}
	return run
}

// iamActionOf names a recorded call as IAM does; the instances' own calls
// carry the instance profile's key.
func iamActionOf(c fleetsim.Call) string {
	prefix := c.Service
	if p, ok := iamPrefix[c.Service]; ok {
		prefix = p
	}
	if c.AccessKeyID == fleetsim.InstanceProfileAccessKeyID {
		return "instance:" + prefix + ":" + c.Action
	}
	return prefix + ":" + c.Action
}

// withoutStatement removes the statement with Sid drop from a policy.
func withoutStatement(t *testing.T, doc []byte, drop string) []byte {
	t.Helper()
	var p struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatal(err)
	}
	kept := p.Statement[:0]
	for _, st := range p.Statement {
		if st["Sid"] != drop {
			kept = append(kept, st)
		}
	}
	p.Statement = kept
	out, _ := json.Marshal(p)
	return out
}

type documentedStatement struct {
	sid      string
	actions  []string
	instance bool // of the instance profile's policy
}

func documentedStatements(t *testing.T) []documentedStatement {
	t.Helper()
	var out []documentedStatement
	for _, file := range []string{"policy.json", "instance-profile-policy.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "iam", file))
		if err != nil {
			t.Fatal(err)
		}
		var p iamPolicy
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, st := range p.Statement {
			out = append(out, documentedStatement{sid: st.Sid, actions: st.Action, instance: file != "policy.json"})
		}
	}
	return out
}

func TestAccIAMPolicy_everyStatementIsNeeded(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run terraform (make test does)")
	}
	base := runUnderPolicies(t, "")
	if !base.ok || len(base.denied) > 0 {
		t.Fatalf("the rollout fails under the complete policies (refused: %v):\n%s", base.denied, base.output)
	}
	for _, st := range documentedStatements(t) {
		t.Run(st.sid, func(t *testing.T) {
			if reason, pending := pendingStatements[st.sid]; pending {
				t.Skipf("not exercised: %s", reason)
			}
			run := runUnderPolicies(t, st.sid)
			if len(run.denied) == 0 {
				// A statement for a call being wired in (a preflight read, the
				// lease) is tested once the provider makes the call; one never
				// needed is caught by checkDocumentedActions.
				t.Skipf("without %s AWS refuses no call of this rollout: %v are not called yet", st.sid, st.actions)
			}
			if run.ok {
				t.Fatalf("the rollout succeeds although AWS refused %v without %s:\n%s", run.denied, st.sid, run.output)
			}
			named := false
			for _, a := range st.actions {
				named = named || strings.Contains(run.output, "not authorized to perform: "+a)
			}
			if !named {
				t.Fatalf("without %s the error names none of %v:\n%s", st.sid, st.actions, run.output)
			}
			if i := strings.Index(run.output, "Error:"); i >= 0 {
				t.Logf("without %s: %.600s", st.sid, run.output[i:])
			}
			if !st.instance && !strings.Contains(run.output, `"IAM permissions" section`) {
				t.Errorf("without %s the error does not point at the documented policy:\n%s", st.sid, run.output)
			}
		})
	}
}
