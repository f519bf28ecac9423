package provider

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// A deployment's scope is its target groups, narrowed by instance_ids. No
// call that changes anything may name an instance outside it: not an
// instance of another target group, not one of its own groups excluded by
// instance_ids, and not an instance another deployment left out of service
// (tagged rolling:phase, its rolling:targets naming other groups, or naming
// ours while excluded). Exercised through create, a successful rollout, a
// failed one with rollback, and destroy.
func TestAccScope_mutatingCallsNeverNameInstancesOutsideTheDeployment(t *testing.T) {
	f := newTestFleet(t)
	web := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	other := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "other", Port: 80})
	v1Tags := map[string]string{"rolling:version": "v1", "Name": "web"}
	webIDs := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 6, AppVersion: "v1", Tags: v1Tags, TargetGroupARNs: []string{web}})
	sort.Strings(webIDs)
	inScope, excluded := webIDs[:4], webIDs[4:]
	otherIDs := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 3, AppVersion: "v1", Tags: v1Tags, TargetGroupARNs: []string{other}})
	// Left out of service by some other deployment: one from the other
	// group, one from ours but outside instance_ids.
	orphanOther := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v0", Tags: map[string]string{
		"rolling:version": "v0", "rolling:phase": "deploy", "rolling:rollout": "r-other",
		"rolling:targets": tgID(other) + ":80",
	}})
	orphanOurs := f.sim.AddInstances(fleetsim.InstanceConfig{Count: 1, AppVersion: "v0", Tags: map[string]string{
		"rolling:version": "v0", "rolling:phase": "deploy", "rolling:rollout": "r-other",
		"rolling:targets": tgID(web) + ":80",
	}})
	outsiders := append(append(append(append([]string{}, excluded...), otherIDs...), orphanOther...), orphanOurs...)
	before := map[string]fleetsim.InstanceSnapshot{}
	for _, id := range outsiders {
		before[id], _ = f.sim.Instance(id)
	}

	cfg := func(version string) string {
		quoted := make([]string, len(inScope))
		for i, id := range inScope {
			quoted[i] = fmt.Sprintf("%q", id)
		}
		return f.config(deployment{
			TargetGroups: []string{web}, Version: version, Failure: "rollback = true",
			Strategy: "batch_size = 2\n    min_healthy_percent = 50\n    order = \"sorted\"",
			Extra:    fmt.Sprintf("instance_ids = [%s]", strings.Join(quoted, ", ")),
		})
	}
	checkOutsiders := func() error {
		return outsidersUntouched(f, outsiders, inScope, web, before)
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: cfg("v1")},
			{
				Config: cfg("v2"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("versions"), knownvalue.MapExact(map[string]knownvalue.Check{"v2": knownvalue.Int64Exact(int64(len(inScope)))})),
				},
				Check: func(*terraform.State) error {
					for id, v := range f.versions(inScope) {
						if v != "v2" {
							return fmt.Errorf("%s runs %s, want v2: the rollout did not reach it", id, v)
						}
					}
					return checkOutsiders()
				},
			},
			{
				PreConfig:   func() { f.sim.Faults().FailDeploy("v3", inScope[2]) },
				Config:      cfg("v3"),
				ExpectError: regexp.MustCompile(`(?s)rolled back.*` + inScope[2]),
			},
			{
				PreConfig: func() { f.sim.Faults().Clear() },
				Config:    cfg("v3"),
				Check:     func(*terraform.State) error { return checkOutsiders() },
			},
		},
		// Destroy removes the provider's tags: only from its own instances.
		CheckDestroy: func(*terraform.State) error {
			if len(f.sim.Recorder().Calls("DeleteTags")) == 0 {
				return fmt.Errorf("destroy removed no tags: the scope check proves nothing about it")
			}
			return checkOutsiders()
		},
	})
}

func tgID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// outsidersUntouched checks the recorder (no mutating call names an
// outsider, registrations only in the deployment's group) and the
// outsiders' own state (tags, version, registrations as they were).
func outsidersUntouched(f *testFleet, outsiders, inScope []string, tg string, before map[string]fleetsim.InstanceSnapshot) error {
	out := map[string]bool{}
	for _, id := range outsiders {
		out[id] = true
	}
	var problems []string
	mutating := 0
	for _, c := range f.sim.Recorder().Calls("") {
		if strings.HasPrefix(c.Action, "Describe") || strings.HasPrefix(c.Action, "List") || strings.HasPrefix(c.Action, "Get") {
			continue
		}
		mutating++
		for _, id := range append(append([]string{}, c.InstanceIDs...), c.TargetIDs...) {
			if out[id] {
				problems = append(problems, fmt.Sprintf("%s named %s, outside the deployment", c.Action, id))
			}
		}
		if (c.Action == "RegisterTargets" || c.Action == "DeregisterTargets") && c.TargetGroupARN != tg {
			problems = append(problems, fmt.Sprintf("%s on %s, not the deployment's target group", c.Action, c.TargetGroupARN))
		}
	}
	if mutating == 0 {
		problems = append(problems, "no mutating call was recorded at all")
	}
	for _, id := range outsiders {
		now, _ := f.sim.Instance(id)
		was := before[id]
		if fmt.Sprint(now.Tags) != fmt.Sprint(was.Tags) || now.AppVersion != was.AppVersion ||
			now.AppRunning != was.AppRunning || fmt.Sprint(now.Targets) != fmt.Sprint(was.Targets) {
			problems = append(problems, fmt.Sprintf("%s changed: was %v %s %v, now %v %s %v",
				id, was.Tags, was.AppVersion, was.Targets, now.Tags, now.AppVersion, now.Targets))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("scope violated:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// The provider's credentials never appear in TF_LOG=trace logs, the state
// or terraform's output, whether they come from the provider block or the
// environment. The simulator verifies every signature with the secret, so
// the secret was in use throughout.
func TestAccScope_credentialsNeverLoggedOrStored(t *testing.T) {
	const (
		accessKey = "AKIDSCOPECREDS"
		secretKey = "Zq7-distinctive-SECRET-key-Xw9"
		token     = "FQoG-distinctive-SESSION-token-Pv4"
	)
	for _, source := range []string{"provider_block", "environment"} {
		t.Run(source, func(t *testing.T) {
			sim := fleetsim.New(fleetsim.Options{TimeScale: testTimeScale, RandSeed: 1,
				Credentials: map[string]string{accessKey: secretKey}})
			srv := httptest.NewServer(sim)
			t.Cleanup(func() {
				recordUsedActions(sim)
				srv.Close()
				sim.Close()
			})
			f := &testFleet{t: t, sim: sim, url: srv.URL}
			tg, _ := f.web(2, "v1")

			keys := fmt.Sprintf("access_key = %q\n  secret_key = %q\n  token      = %q", accessKey, secretKey, token)
			var env []string
			if source == "environment" {
				keys = ""
				env = []string{"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey, "AWS_SESSION_TOKEN=" + token}
			}
			dir := t.TempDir()
			logPath := filepath.Join(dir, "trace.log")
			config := fmt.Sprintf(`
terraform {
  required_providers {
    rolling = {
      source = "rollingdeploy/rolling"
    }
  }
}

provider "rolling" {
  region = "us-east-1"
  %[1]s
  endpoints {
    ec2         = %[2]q
    elbv2       = %[2]q
    ssm         = %[2]q
    autoscaling = %[2]q
    cloudwatch  = %[2]q
    sts         = %[2]q
  }
}

variable "app_version" {
  type = string
}

resource "rolling_deployment" "web" {
  target_group_arns = [%[3]q]
  version           = var.app_version
  step {
    name     = "deploy"
    commands = ["app stop", "app deploy ${var.app_version}", "app start"]
  }
  strategy {
    batch_size          = 1
    min_healthy_percent = 50
  }
}
`, keys, f.url, tg)
			if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			env = append(env, "TF_LOG=trace", "TF_LOG_PATH="+logPath, fmt.Sprintf("%s=%g", EnvTimeScale, testTimeScale))
			cli := newTerraformCLI(t, dir, env...)
			output := cli.must("apply", "-auto-approve", "-var", "app_version=v1")
			output += cli.must("apply", "-auto-approve", "-var", "app_version=v2")
			output += cli.must("show", "-json")

			// The secret was in use: every provider call was signed with it.
			signed := 0
			for _, c := range sim.Recorder().Calls("") {
				if c.AccessKeyID == accessKey && c.ErrorCode == "" {
					signed++
				}
			}
			if len(sim.Recorder().Calls("SendCommand")) == 0 || signed == 0 {
				t.Fatalf("the rollout made no signed calls (%d): nothing was proven", signed)
			}
			state, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
			if err != nil {
				t.Fatal(err)
			}
			logs, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(logs), "rollout_id") {
				t.Fatalf("the trace log has no rollout entries (%d bytes): nothing was proven", len(logs))
			}
			for name, content := range map[string]string{"state": string(state), "terraform output": output, "TF_LOG=trace log": string(logs)} {
				for what, secret := range map[string]string{"secret key": secretKey, "session token": token} {
					if strings.Contains(content, secret) {
						t.Errorf("the %s appears in the %s", what, name)
					}
				}
			}
		})
	}
}
