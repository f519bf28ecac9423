package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// deploymentSchemaVersion 1 made planned_batches one line per batch
// (a list of instance id lists printed one id per line) and replaced
// instances (per-instance data that changed on every rollout and made a
// plan at 100 instances run to hundreds of lines) with versions (instances
// per version); it added rollout_summary and numbered rollouts
// (last_rollout.number).
const deploymentSchemaVersion = 1

var _ resource.ResourceWithUpgradeState = (*deploymentResource)(nil)

func (r *deploymentResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: upgradeDeploymentV0},
	}
}

// upgradeDeploymentV0 works on the raw JSON of a version 0 state: nothing
// of the old schema is kept in code. Values it cannot derive are left
// null; the next refresh fills those that AWS holds.
func upgradeDeploymentV0(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
	if req.RawState == nil || len(req.RawState.JSON) == 0 {
		resp.Diagnostics.AddError("Cannot upgrade the state", "The state of rolling_deployment at schema version 0 is empty.")
		return
	}
	upgraded, err := upgradeDeploymentV0JSON(req.RawState.JSON)
	if err != nil {
		resp.Diagnostics.AddError("Cannot upgrade the state", "The state of rolling_deployment at schema version 0 could not be read: "+err.Error())
		return
	}
	resp.DynamicValue = &tfprotov6.DynamicValue{JSON: upgraded}
}

func upgradeDeploymentV0JSON(raw []byte) ([]byte, error) {
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	number := 0
	if lr, ok := st["last_rollout"].(map[string]any); ok {
		number = 1 // the rollouts before the upgrade count as one
		lr["number"] = number
	}

	// The last executed schedule, as schedule lines.
	var lines []string
	if batches, ok := st["planned_batches"].([]any); ok {
		for i, b := range batches {
			ids, _ := b.([]any)
			strs := make([]string, 0, len(ids))
			for _, id := range ids {
				if s, ok := id.(string); ok {
					strs = append(strs, s)
				}
			}
			lines = append(lines, fmt.Sprintf("#%d batch %d/%d: %s", max(number, 1), i+1, len(batches), strings.Join(strs, ", ")))
		}
	}
	if lines == nil {
		lines = []string{}
	}
	st["planned_batches"] = lines
	st["rollout_summary"] = ""
	if number > 0 {
		st["rollout_summary"] = fmt.Sprintf("#%d %v: the rollouts before schema version 1", number, st["version"])
	}

	// instances per version, from the per-instance map.
	if insts, ok := st["instances"].(map[string]any); ok {
		versions := map[string]int{}
		for _, v := range insts {
			if obj, ok := v.(map[string]any); ok {
				ver, _ := obj["version"].(string)
				versions[ver]++
			}
		}
		st["versions"] = versions
	}
	st["unready_instances"] = map[string]string{}
	delete(st, "instances")
	return json.Marshal(st)
}
