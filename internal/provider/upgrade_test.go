package provider

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// State written by the provider at schema version 0 (testdata/state-v0,
// made by tree aae1186 with Terraform 1.11: see its README) keeps working:
// put on the same fleet, the current provider upgrades it, finds nothing to
// do, and both plans are empty; the next version bump rolls out.
func TestAccStateUpgrade_schemaVersion0StateKeepsWorking(t *testing.T) {
	seed, err := fleetsim.LoadSeed("testdata/state-v0/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	opts := seed.Options()
	opts.TimeScale = testTimeScale
	sim := fleetsim.New(opts)
	if err := sim.ApplySeed(seed); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { recordUsedActions(sim); srv.Close(); sim.Close() })
	f := &testFleet{t: t, sim: sim, url: srv.URL}

	state, err := os.ReadFile("testdata/state-v0/terraform.tfstate")
	if err != nil {
		t.Fatal(err)
	}
	var v0 struct {
		Resources []struct {
			Instances []struct {
				SchemaVersion int            `json:"schema_version"`
				Attributes    map[string]any `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(state, &v0); err != nil {
		t.Fatal(err)
	}
	old := v0.Resources[0].Instances[0]
	if old.SchemaVersion != 0 || old.Attributes["instances"] == nil {
		t.Fatalf("the fixture is not a schema 0 state")
	}
	for id := range old.Attributes["instances"].(map[string]any) {
		if _, ok := sim.Instance(id); !ok {
			t.Fatalf("the seed does not rebuild the fixture's fleet: %s is missing", id)
		}
	}

	config, err := os.ReadFile("testdata/state-v0/main.tf.fixture")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.tf"), strings.ReplaceAll(string(config), "http://127.0.0.1:47999", srv.URL)+`
output "planned_batches" { value = rolling_deployment.web.planned_batches }
output "versions" { value = rolling_deployment.web.versions }
output "last_rollout" { value = rolling_deployment.web.last_rollout }
`)
	writeFile(t, filepath.Join(dir, "terraform.tfstate"), string(state))
	c := &contractRun{t: t, f: f, cli: newTerraformCLI(t, dir, "ROLLING_TIME_SCALE=0.001")}
	v2 := []string{"-var", "v=v2"}
	// A plan that refreshes upgrades the state in memory: no change, and the
	// outputs (new attributes) are the only thing to record.
	c.applyThenEmpty("upgrading a schema 0 state", v2...)
	if n := len(sim.Recorder().Calls("SendCommand")); n != 0 {
		t.Fatalf("upgrading the state redeployed: %d commands", n)
	}
	st := stateResource(t, c.cli)
	if lr, _ := st["last_rollout"].(map[string]any); lr == nil || lr["number"] != float64(1) || lr["id"] != "r-20261201T193101-090" {
		t.Errorf("last_rollout after the upgrade: %v", st["last_rollout"])
	}
	if v, _ := st["versions"].(map[string]any); v["v2"] != float64(4) {
		t.Errorf("versions after the upgrade: %v", st["versions"])
	}
	out := c.expectUpdate("a version bump after the upgrade", "-var", "v=v3")
	if !strings.Contains(out, "#2 v3: 4 of 4 instances out of date") {
		t.Errorf("the bump after the upgrade does not plan rollout #2:\n%s", out)
	}
	c.applyThenEmpty("the bump", "-var", "v=v3")
}
