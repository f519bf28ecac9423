package provider

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/clock"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/motoserver"
)

// testTimeScale runs AWS time a thousand times faster: a 300 s
// deregistration delay takes 0.3 s, a 30 s x 5 health check 0.15 s.
const testTimeScale = 0.001

func TestMain(m *testing.M) {
	// The environment may name a CLI config file that does not exist, which
	// makes terraform warn on every command: point it at a real, empty one.
	if f := os.Getenv("TF_CLI_CONFIG_FILE"); f != "" {
		if _, err := os.Stat(f); err != nil {
			dir, _ := os.MkdirTemp("", "rolling-tfrc")
			rc := filepath.Join(dir, "terraformrc")
			_ = os.WriteFile(rc, []byte("disable_checkpoint = true\n"), 0o600)
			os.Setenv("TF_CLI_CONFIG_FILE", rc)
		}
	}
	if os.Getenv("TF_ACC") != "" {
		// TERRAFORM=tofu (or TF_ACC_TERRAFORM_PATH) picks the CLI of
		// terraform-plugin-testing and of the CLI-driven tests alike.
		if err := devprovider.SetAcceptanceEnv(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	motoserver.Stop()
	if code == 0 && os.Getenv("TF_ACC") != "" {
		if err := checkDocumentedActions("../../examples/iam/policy.json"); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testFleet is an in-process fleet simulator with a provider pointed at it.
type testFleet struct {
	t   *testing.T
	sim *fleetsim.Sim
	url string
}

func newTestFleet(t *testing.T) *testFleet {
	t.Helper()
	return newTestFleetWithCredentials(t, nil)
}

// newTestFleetWithCredentials refuses access keys not in creds (nil = any).
// The provider is held to the documented IAM policy (iam_policy_test.go).
func newTestFleetWithCredentials(t *testing.T, creds map[string]string) *testFleet {
	t.Helper()
	sim := fleetsim.New(fleetsim.Options{TimeScale: testTimeScale, RandSeed: 1, Credentials: creds,
		LaunchTags: map[string]string{testFleetTagKey: testFleetTagValue}})
	enforceExamplePolicies(t, sim)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		recordUsedActions(sim)
		srv.Close()
		sim.Close()
	})
	return &testFleet{t: t, sim: sim, url: srv.URL}
}

func (f *testFleet) factories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"rolling": NewServer("test", Options{Clock: clock.Scaled(testTimeScale)}),
	}
}

// providerConfig points every service at the simulator.
func (f *testFleet) providerConfig() string {
	return endpointsProvider(f.url, "AKIDROLLINGTEST", "not-a-secret")
}

// endpointsProvider is a provider block with static keys and every service
// at url.
func endpointsProvider(url, accessKey, secretKey string) string {
	return fmt.Sprintf(`
provider "rolling" {
  region     = "us-east-1"
  access_key = %[2]q
  secret_key = %[3]q
  endpoints {
    ec2         = %[1]q
    elbv2       = %[1]q
    ssm         = %[1]q
    autoscaling = %[1]q
    cloudwatch  = %[1]q
    sts         = %[1]q
  }
}
`, url, accessKey, secretKey)
}

// web seeds a target group with n instances on version v1 (tagged as
// deployed by us) and returns the group's ARN and the instance ids, sorted.
func (f *testFleet) web(n int, version string) (string, []string) {
	arn := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	ids := f.sim.AddInstances(fleetsim.InstanceConfig{
		Count:           n,
		AppVersion:      version,
		Tags:            map[string]string{"rolling:version": version, "Name": "web"},
		TargetGroupARNs: []string{arn},
	})
	sort.Strings(ids)
	return arn, ids
}

// mutatingCalls counts the recorded calls that change something in AWS.
func (f *testFleet) mutatingCalls() map[string]int {
	out := map[string]int{}
	for action, n := range f.sim.Recorder().CallCount() {
		if !strings.HasPrefix(action, "Describe") && !strings.HasPrefix(action, "List") && !strings.HasPrefix(action, "Get") {
			out[action] = n
		}
	}
	return out
}

// versions returns instance id -> installed application version.
func (f *testFleet) versions(ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		snap, ok := f.sim.Instance(id)
		if !ok {
			f.t.Fatalf("instance %s not in the simulator", id)
		}
		out[id] = snap.AppVersion
	}
	return out
}
