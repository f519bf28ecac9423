package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// dataSourceConfig reads the target group through a provider block.
func (f *testFleet) dataSourceConfig(providerBody string) string {
	return fmt.Sprintf(`
provider "rolling" {
  region = "us-east-1"
  %s
  endpoints {
    ec2         = %[2]q
    elbv2       = %[2]q
    ssm         = %[2]q
    autoscaling = %[2]q
    cloudwatch  = %[2]q
    sts         = %[2]q
  }
}

data "rolling_target_group" "web" {
  name = "web"
}
`, providerBody, f.url)
}

// accessKeysSeen returns, per action, the access key ids that signed it.
func (f *testFleet) accessKeysSeen(action string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range f.sim.Recorder().Calls(action) {
		if !seen[c.AccessKeyID] {
			seen[c.AccessKeyID] = true
			out = append(out, c.AccessKeyID)
		}
	}
	return out
}

// readWith reads the data source once through a provider configured with
// providerBody, then runs check.
func (f *testFleet) readWith(t *testing.T, providerBody string, check resource.TestCheckFunc) {
	t.Helper()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps:                    []resource.TestStep{{Config: f.dataSourceConfig(providerBody), Check: check}},
	})
}

func expectKeys(f *testFleet, action string, want ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got := f.accessKeysSeen(action)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("%s was signed by %v, want %v", action, got, want)
		}
		return nil
	}
}

func TestAccProvider_staticKeysValidatedWithGetCallerIdentity(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	f.readWith(t, `access_key = "AKIDSTATIC"
  secret_key = "static-secret"`, resource.ComposeTestCheckFunc(
		expectKeys(f, "GetCallerIdentity", "AKIDSTATIC"),
		expectKeys(f, "DescribeTargetGroups", "AKIDSTATIC"),
	))
}

func TestAccProvider_skipCredentialsValidationMakesNoSTSCall(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	f.readWith(t, `access_key = "AKIDSTATIC"
  secret_key = "static-secret"
  skip_credentials_validation = true`, func(*terraform.State) error {
		if n := len(f.sim.Recorder().Calls("GetCallerIdentity")); n != 0 {
			return fmt.Errorf("%d GetCallerIdentity calls with skip_credentials_validation", n)
		}
		return nil
	})
}

func TestAccProvider_profileFromSharedFiles(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	conf := filepath.Join(dir, "config")
	if err := os.WriteFile(creds, []byte("[deploy]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[profile deploy]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.readWith(t, fmt.Sprintf(`profile = "deploy"
  shared_config_files      = [%q]
  shared_credentials_files = [%q]`, conf, creds), expectKeys(f, "DescribeTargetGroups", "AKIDPROFILE"))
}

func TestAccProvider_environmentCredentials(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_PROFILE", "")
	f.readWith(t, "", expectKeys(f, "DescribeTargetGroups", "AKIDFROMENV"))
}

func TestAccProvider_assumeRoleSignsWithTemporaryCredentials(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	f.readWith(t, `access_key = "AKIDBASE"
  secret_key = "base-secret"
  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/rolling-deployer"
    session_name = "acc-test"
    external_id  = "ext-123"
    duration     = "30m"
    tags         = { team = "web" }
  }`, resource.ComposeTestCheckFunc(
		expectKeys(f, "AssumeRole", "AKIDBASE"),
		func(*terraform.State) error {
			for _, key := range f.accessKeysSeen("DescribeTargetGroups") {
				if key == "AKIDBASE" || key == "" {
					return fmt.Errorf("DescribeTargetGroups signed with %q, want the assumed role's temporary key", key)
				}
			}
			return nil
		},
	))
}

func TestAccProvider_webIdentityTokenFile(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJjaSJ9."), 0o600); err != nil {
		t.Fatal(err)
	}
	f.readWith(t, fmt.Sprintf(`assume_role_with_web_identity {
    role_arn                = "arn:aws:iam::123456789012:role/ci"
    session_name            = "ci-run"
    web_identity_token_file = %q
  }`, token), func(*terraform.State) error {
		if n := len(f.sim.Recorder().Calls("AssumeRoleWithWebIdentity")); n == 0 {
			return fmt.Errorf("no AssumeRoleWithWebIdentity call")
		}
		if keys := f.accessKeysSeen("DescribeTargetGroups"); len(keys) != 1 || keys[0] == "" {
			return fmt.Errorf("DescribeTargetGroups signed by %v, want the web identity session's key", keys)
		}
		return nil
	})
}

func TestAccProvider_hcpTerraformDynamicCredentials(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	t.Setenv("TFC_AWS_PROVIDER_AUTH", "true")
	t.Setenv("TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::123456789012:role/tfc-run")
	t.Setenv("TFC_WORKLOAD_IDENTITY_TOKEN", "eyJhbGciOiJub25lIn0.eyJ0ZXJyYWZvcm1fcnVuX3BoYXNlIjoiYXBwbHkifQ.")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	f.readWith(t, "", func(*terraform.State) error {
		calls := f.sim.Recorder().Calls("AssumeRoleWithWebIdentity")
		if len(calls) == 0 {
			return fmt.Errorf("TFC dynamic credentials made no AssumeRoleWithWebIdentity call")
		}
		return nil
	})
}

func TestAccProvider_unknownAccessKeyIsRefusedNamingTheSource(t *testing.T) {
	f := newTestFleetWithCredentials(t, map[string]string{"AKIDKNOWN": "known-secret"})
	f.web(1, "v1")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config: f.dataSourceConfig(`access_key = "AKIDUNKNOWN"
  secret_key = "whatever"`),
			ExpectError: regexp.MustCompile(`(?s)static.*InvalidClientTokenId`),
		}},
	})
}

func TestAccProvider_retriesThrottlingAdaptively(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	// Half a token per wall second: the simulator's buckets refill in
	// simulated time, testTimeScale wall seconds per simulated second.
	f.sim.Faults().SetRateLimit("DescribeTargetGroups", 1, 0.5*testTimeScale)
	f.sim.Faults().SetThrottling(true)
	f.readWith(t, `access_key = "AKIDSTATIC"
  secret_key = "static-secret"
  retry_mode  = "adaptive"
  max_retries = 10`, func(*terraform.State) error {
		throttled := 0
		for _, c := range f.sim.Recorder().Calls("DescribeTargetGroups") {
			if c.ErrorCode != "" {
				throttled++
			}
		}
		if throttled == 0 {
			return fmt.Errorf("the simulator never throttled: the test proves nothing")
		}
		return nil
	})
}

func TestAccProvider_maxRetriesBoundsServerErrors(t *testing.T) {
	f := newTestFleet(t)
	f.web(1, "v1")
	f.sim.Faults().ServerErrors("DescribeTargetGroups", 1.0)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{{
			Config: f.dataSourceConfig(`access_key = "AKIDSTATIC"
  secret_key = "static-secret"
  max_retries = 2`),
			ExpectError: regexp.MustCompile(`DescribeTargetGroups`),
		}},
	})
	// max_retries counts retries after the first attempt, as in hashicorp/aws.
	if n := len(f.sim.Recorder().Calls("DescribeTargetGroups")); n != 3 {
		t.Fatalf("%d DescribeTargetGroups attempts with max_retries = 2, want 3", n)
	}
}

// A rollout outlives its assumed-role session (15 minutes, here 0.9 s of
// wall time): the credentials are refreshed and the rollout goes on.
func TestAccProvider_assumedRoleSessionExpiringMidRolloutIsRefreshed(t *testing.T) {
	f := newTestFleet(t)
	tg, ids := f.web(6, "v1")
	assume := `
  assume_role {
    role_arn = "arn:aws:iam::123456789012:role/rolling-deployer"
    duration = "15m"
  }`
	cfg := func(version string) string {
		base := f.config(deployment{TargetGroups: []string{tg}, Version: version, Strategy: "batch_size = 1\n    min_healthy_percent = 80"})
		return strings.Replace(base, "  secret_key = \"not-a-secret\"\n", "  secret_key = \"not-a-secret\"\n"+assume+"\n", 1)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: cfg("v1")},
			{
				PreConfig: func() { f.sim.Recorder().Reset() },
				Config:    cfg("v2"),
				Check: func(*terraform.State) error {
					if n := len(f.sim.Recorder().Calls("AssumeRole")); n < 2 {
						return fmt.Errorf("%d AssumeRole calls during a rollout longer than the session: no refresh happened", n)
					}
					for id, v := range f.versions(ids) {
						if v != "v2" {
							return fmt.Errorf("%s runs %s", id, v)
						}
					}
					return nil
				},
			},
		},
	})
}
